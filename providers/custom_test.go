package providers_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
	"golang.org/x/oauth2"
)

// custom returns the custom provider of s under name, from a registry of
// the defaults.
func custom(t testing.TB, name string, s providers.Settings) providers.Provider {
	t.Helper()
	p, err := providers.NewRegistry(providers.Defaults()...).Custom(name, s)
	if err != nil {
		t.Fatalf("Custom(%q) error = %v", name, err)
	}
	return p
}

func TestCustomNames(t *testing.T) {
	r := providers.NewRegistry(providers.Defaults()...)
	oidc := providers.Settings{Type: providers.TypeOIDC, Issuer: "https://sso.example.com"}
	for _, name := range []string{"github", "twitter", "email", "local", "", "Corp", "corp/x", "../x", "corp%2F", strings.Repeat("a", 65)} {
		if _, err := r.Custom(name, oidc); err == nil {
			t.Errorf("Custom(%q) = nil error, want a refusal", name)
		}
	}
	if _, err := r.Custom("corp", providers.Settings{Type: "saml"}); !errors.Is(err, providers.ErrMisconfigured) {
		t.Errorf("Custom(type saml) = %v, want ErrMisconfigured", err)
	}
	if _, err := r.Custom("corp-sso_2", oidc); err != nil {
		t.Errorf("Custom(corp-sso_2) error = %v", err)
	}
}

func TestCustomOIDC(t *testing.T) {
	iss := providertest.NewIssuer(t, ann)
	s := iss.CustomSettings()
	p := custom(t, "corp", s)
	ctx := context.Background()
	if !p.PKCE || !p.UsesIDToken() {
		t.Fatalf("custom OIDC: PKCE = %v, UsesIDToken = %v; want both", p.PKCE, p.UsesIDToken())
	}

	t.Run("discovery", func(t *testing.T) {
		cfg, err := p.OAuth2Config(ctx, s, "http://localhost:1337/api/connect/corp/callback")
		if err != nil {
			t.Fatalf("OAuth2Config() error = %v", err)
		}
		if cfg.Endpoint.AuthURL != iss.URL+"/authorize" || cfg.Endpoint.TokenURL != iss.URL+"/token" {
			t.Errorf("endpoints = %+v, want the issuer's discovered ones", cfg.Endpoint)
		}
	})
	t.Run("flow with PKCE and nonce, default claims", func(t *testing.T) {
		iss.QueueUser(providertest.User{Subject: "sub-bob", Email: "Bob@Example.com", EmailVerified: true, Username: "bob"})
		tok, nonce := exchange(t, p, s)
		auth := iss.Authorizations()
		last := auth[len(auth)-1]
		if last.Get("code_challenge") == "" || last.Get("code_challenge_method") != "S256" || last.Get("nonce") != nonce {
			t.Errorf("authorization = %v, want an S256 challenge and the nonce", last)
		}
		if err := p.VerifyIDToken(ctx, s, tok, nonce); err != nil {
			t.Fatalf("VerifyIDToken() error = %v", err)
		}
		got, err := p.FetchProfile(ctx, s, tok)
		checkProfile(t, got, err, providers.Profile{ID: "sub-bob", Username: "bob", Email: "bob@example.com", EmailVerified: true}, nil, "")
	})
	t.Run("claim names", func(t *testing.T) {
		s := s
		s.EmailClaim, s.UsernameClaim = "mail", "upn"
		u := providertest.User{Subject: "sub-cy", EmailVerified: true, Username: "not-this",
			Claims: map[string]any{"mail": "cy@corp.example", "upn": "cy.corp"}}
		got, err := p.FetchProfile(ctx, s, idToken(iss.IDToken(u)))
		checkProfile(t, got, err, providers.Profile{ID: "sub-cy", Username: "cy.corp", Email: "cy@corp.example", EmailVerified: true}, nil, "")

		// The standard email claim is not read when another is named
		// (no access token: no userinfo to ask either).
		u = providertest.User{Subject: "sub-dee", Email: "dee@example.com", EmailVerified: true}
		tok := (&oauth2.Token{}).WithExtra(map[string]any{"id_token": iss.IDToken(u)})
		_, err = p.FetchProfile(ctx, s, tok)
		checkProfile(t, providers.Profile{}, err, providers.Profile{}, providers.ErrNoEmail, "Email was not available.")
	})
	for _, tt := range []struct {
		name    string
		token   string
		wantErr error
		wantMsg string
	}{
		{"email not verified", iss.IDToken(providertest.User{Subject: "s", Email: "victim@example.com", EmailVerified: false}),
			providers.ErrEmailNotVerified, "Email not verified by Corp SSO"},
		{"email_verified absent", iss.IDToken(providertest.User{Subject: "s", Email: "victim@example.com"}),
			providers.ErrEmailNotVerified, "Email not verified by Corp SSO"},
		{"alg none", iss.Forge(providertest.AlgNone, ann), providers.ErrInvalidToken, "There was an error verifying the token"},
		{"signed by another key", iss.Forge(providertest.WrongKey, ann), providers.ErrInvalidToken, ""},
		{"wrong audience", iss.Forge(providertest.WrongAudience, ann), providers.ErrInvalidToken, ""},
		{"wrong issuer", iss.Forge(providertest.WrongIssuer, ann), providers.ErrInvalidToken, ""},
		{"expired", iss.Forge(providertest.Expired, ann), providers.ErrInvalidToken, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.FetchProfile(ctx, s, idToken(tt.token))
			checkProfile(t, got, err, providers.Profile{}, tt.wantErr, tt.wantMsg)
		})
	}
	t.Run("nonce of another sign-in", func(t *testing.T) {
		earlier, _ := exchange(t, p, s)
		_, nonce := exchange(t, p, s)
		if err := p.VerifyIDToken(ctx, s, earlier, nonce); !errors.Is(err, providers.ErrInvalidToken) {
			t.Errorf("VerifyIDToken() = %v, want ErrInvalidToken", err)
		}
	})
}

// acmeUser is a userinfo document in the shape OAuth2.Settings' paths read.
func acmeUser(id any, login, email string, verified any) map[string]any {
	contact := map[string]any{"email": email}
	if verified != nil {
		contact["verified"] = verified
	}
	return map[string]any{"data": map[string]any{"id": id, "login": login, "contact": contact}}
}

func TestCustomOAuth2(t *testing.T) {
	ctx := context.Background()
	srv := providertest.NewOAuth2(t, acmeUser(json.Number("9007199254740993"), "ann", "Ann@Acme.example", true))
	srv.RequirePKCE(true)
	s := srv.Settings()
	p := custom(t, "acme", s)

	t.Run("flow with PKCE, JSON paths", func(t *testing.T) {
		tok, err := connect(t, p, s)
		if err != nil {
			t.Fatalf("connect() error = %v", err)
		}
		auth := srv.Authorizations()
		if q := auth[len(auth)-1]; q.Get("code_challenge_method") != "S256" || q.Get("scope") != "profile email" || q.Has("nonce") {
			t.Errorf("authorization = %v, want S256 PKCE, the scopes, no nonce", q)
		}
		reqs := srv.TokenRequests()
		if tr := reqs[len(reqs)-1]; tr.ClientAuth != "basic" || tr.Form.Get("code_verifier") == "" {
			t.Errorf("token request: client auth %q, verifier %q; want basic and a verifier", tr.ClientAuth, tr.Form.Get("code_verifier"))
		}
		got, err := p.FetchProfile(ctx, s, tok)
		checkProfile(t, got, err, providers.Profile{ID: "9007199254740993", Username: "ann", Email: "ann@acme.example", EmailVerified: true}, nil, "")
	})
	t.Run("wrong verifier", func(t *testing.T) {
		authURL, err := p.AuthCodeURL(ctx, s, "http://localhost:1337/api/connect/acme/callback", "st", oauth2.GenerateVerifier(), "")
		if err != nil {
			t.Fatal(err)
		}
		q := providertest.FollowAuthorize(t, authURL)
		_, err = p.Exchange(ctx, s, "http://localhost:1337/api/connect/acme/callback", q.Get("code"), oauth2.GenerateVerifier())
		if !errors.Is(err, providers.ErrExchange) {
			t.Errorf("Exchange(another verifier) = %v, want ErrExchange", err)
		}
	})
	t.Run("PKCE off", func(t *testing.T) {
		off := s
		off.PKCE = new(bool)
		if custom(t, "acme", off).PKCE {
			t.Error("pkce:false: PKCE = true")
		}
		srv.RequirePKCE(false)
		defer srv.RequirePKCE(true)
		tok, err := connect(t, custom(t, "acme", off), off)
		if err != nil {
			t.Fatalf("connect() error = %v", err)
		}
		auth := srv.Authorizations()
		if auth[len(auth)-1].Has("code_challenge") {
			t.Error("pkce:false: the authorization has a code_challenge")
		}
		if _, err := p.FetchProfile(ctx, s, tok); err != nil {
			t.Errorf("FetchProfile() error = %v", err)
		}
	})

	for _, tt := range []struct {
		name    string
		doc     any
		change  func(*providers.Settings)
		want    providers.Profile
		wantErr error
		wantMsg string
	}{
		{name: "string id, string true", doc: acmeUser("u-1", "bo", "bo@acme.example", "true"),
			want: providers.Profile{ID: "u-1", Username: "bo", Email: "bo@acme.example", EmailVerified: true}},
		{name: "unverified email refused", doc: acmeUser(1, "x", "victim@example.com", false),
			wantErr: providers.ErrEmailNotVerified, wantMsg: "Email not verified by Acme"},
		{name: "verified flag missing: refused", doc: acmeUser(1, "x", "victim@example.com", nil),
			wantErr: providers.ErrEmailNotVerified, wantMsg: "Email not verified by Acme"},
		{name: "verified flag of another type: refused", doc: acmeUser(1, "x", "victim@example.com", 1),
			wantErr: providers.ErrEmailNotVerified},
		{name: "no verification path: no claim", doc: acmeUser(7, "cy", "cy@acme.example", nil),
			change: func(s *providers.Settings) { s.EmailVerifiedPath = "" },
			want:   providers.Profile{ID: "7", Username: "cy", Email: "cy@acme.example", EmailVerified: false}},
		{name: "username defaults to the local part", doc: acmeUser(8, "", "dee@acme.example", true),
			want: providers.Profile{ID: "8", Username: "dee", Email: "dee@acme.example", EmailVerified: true}},
		{name: "array index", doc: map[string]any{"sub": "s9", "emails": []any{map[string]any{"value": "eve@acme.example", "verified": true}}},
			change: func(s *providers.Settings) {
				s.IDPath, s.EmailPath, s.EmailVerifiedPath, s.UsernamePath = "sub", "emails.0.value", "emails.0.verified", "emails.1.value"
			},
			want: providers.Profile{ID: "s9", Username: "eve", Email: "eve@acme.example", EmailVerified: true}},
		{name: "no email", doc: acmeUser(1, "x", "", true), wantErr: providers.ErrNoEmail, wantMsg: "Email was not available."},
		{name: "email of another type", doc: map[string]any{"data": map[string]any{"id": 1, "contact": map[string]any{"email": []any{"a@b.c"}, "verified": true}}},
			wantErr: providers.ErrNoEmail},
		{name: "no id", doc: map[string]any{"data": map[string]any{"contact": map[string]any{"email": "f@acme.example", "verified": true}}},
			wantErr: providers.ErrUpstream, wantMsg: "Invalid response from provider"},
		{name: "not an object", doc: []any{1, 2}, wantErr: providers.ErrUpstream},
		{name: "userinfo URL missing", doc: acmeUser(1, "x", "a@acme.example", true),
			change: func(s *providers.Settings) { s.UserinfoURL = "" }, wantErr: providers.ErrMisconfigured},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv.SetUser(tt.doc)
			s := srv.Settings()
			if tt.change != nil {
				tt.change(&s)
			}
			got, err := custom(t, "acme", s).FetchProfile(ctx, s, &oauth2.Token{AccessToken: srv.AccessToken()})
			checkProfile(t, got, err, tt.want, tt.wantErr, tt.wantMsg)
		})
	}
	t.Run("a foreign token", func(t *testing.T) {
		_, err := p.FetchProfile(ctx, s, &oauth2.Token{AccessToken: "at_forged"})
		if !errors.Is(err, providers.ErrUpstream) {
			t.Errorf("FetchProfile(forged token) = %v, want ErrUpstream", err)
		}
	})
}

func TestJSONPath(t *testing.T) {
	var doc any
	if err := json.Unmarshal([]byte(`{"a":{"b":[10,{"c":"x"}]},"n":null,"t":true}`), &doc); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		want any
	}{
		{"a.b.0", float64(10)}, {"a.b.1.c", "x"}, {"t", true}, {"n", nil}, {"", nil},
		{"a.b.2", nil}, {"a.b.-1", nil}, {"a.b.x", nil}, {"a.b.0.c", nil}, {"missing.path", nil},
	} {
		if got := providers.JSONPath(doc, tt.path); got != tt.want {
			t.Errorf("JSONPath(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
	for p, want := range map[string]bool{
		"data.id": true, "emails.0.value": true, "cognito:username": true, "": false, "a..b": false,
		".a": false, "a.": false, "a b": false, "a\nb": false, strings.Repeat("a", 201): false,
	} {
		if got := providers.ValidJSONPath(p); got != want {
			t.Errorf("ValidJSONPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// FuzzJSONPath: any userinfo answer and any path — the provider's answer is
// untrusted — give a value or nil, never a panic; a path ValidJSONPath
// accepts has only non-empty segments, and one it refuses is never used.
func FuzzJSONPath(f *testing.F) {
	f.Add(`{"data":{"id":1,"emails":[{"value":"a@b.c"}]}}`, "data.emails.0.value")
	f.Add(`[1,[2,[3]]]`, "1.1.0")
	f.Add(`{"":{"":1}}`, ".")
	f.Add(`{"a":null}`, "a.b.c")
	f.Add(`"x"`, "-1")
	f.Fuzz(func(t *testing.T, raw, path string) {
		var doc any
		if json.Unmarshal([]byte(raw), &doc) != nil {
			return
		}
		_ = providers.JSONPath(doc, path)
		if providers.ValidJSONPath(path) {
			for _, seg := range strings.Split(path, ".") {
				if seg == "" || strings.ContainsAny(seg, " \t\r\n") {
					t.Fatalf("ValidJSONPath(%q) = true with segment %q", path, seg)
				}
			}
		}
	})
}
