package providers_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
	"golang.org/x/oauth2"
)

func idToken(raw string) *oauth2.Token {
	return (&oauth2.Token{AccessToken: "at"}).WithExtra(map[string]any{"id_token": raw})
}

var ann = providertest.User{Subject: "sub-ann", Email: "Ann@Example.com", EmailVerified: true, Username: "ann"}

// CVE-2023-22893: a Cognito id_token must be verified, not decoded.
func TestCognitoIDToken(t *testing.T) {
	iss := providertest.NewIssuer(t, ann)
	p := provider(t, "cognito")
	const (
		notValid  = "The provided token is not valid"
		verifying = "There was an error verifying the token"
	)
	tests := []struct {
		name    string
		token   string
		want    providers.Profile
		wantErr error
		wantMsg string
	}{
		{name: "valid", token: iss.IDToken(ann),
			want: providers.Profile{ID: "sub-ann", Username: "ann", Email: "ann@example.com", EmailVerified: true}},
		{name: "alg none", token: iss.Forge(providertest.AlgNone, ann), wantErr: providers.ErrInvalidToken, wantMsg: verifying},
		{name: "HS256 with the client secret", token: iss.Forge(providertest.HS256ClientSecret, ann), wantErr: providers.ErrInvalidToken, wantMsg: verifying},
		{name: "HS256 with the public key", token: iss.Forge(providertest.HS256PublicKey, ann), wantErr: providers.ErrInvalidToken, wantMsg: verifying},
		{name: "signed by another key", token: iss.Forge(providertest.WrongKey, ann), wantErr: providers.ErrInvalidToken, wantMsg: verifying},
		{name: "expired", token: iss.Forge(providertest.Expired, ann), wantErr: providers.ErrInvalidToken, wantMsg: verifying},
		{name: "wrong audience", token: iss.Forge(providertest.WrongAudience, ann), wantErr: providers.ErrInvalidToken, wantMsg: verifying},
		{name: "wrong issuer", token: iss.Forge(providertest.WrongIssuer, ann), wantErr: providers.ErrInvalidToken, wantMsg: verifying},
		{name: "no kid", token: iss.Forge(providertest.NoKeyID, ann), wantErr: providers.ErrInvalidToken, wantMsg: notValid},
		{name: "garbage", token: "not.a.jwt", wantErr: providers.ErrInvalidToken, wantMsg: notValid},
		{name: "payload swapped", token: swapPayload(iss.IDToken(ann), iss.IDToken(providertest.User{Subject: "x", Email: "victim@example.com", EmailVerified: true})),
			wantErr: providers.ErrInvalidToken, wantMsg: verifying},
		{name: "email_verified false", token: iss.IDToken(providertest.User{Subject: "s", Email: "victim@example.com", EmailVerified: false}),
			wantErr: providers.ErrEmailNotVerified, wantMsg: "Email not verified by Cognito"},
		{name: "email_verified string", token: iss.IDToken(providertest.User{Subject: "s", Email: "victim@example.com", EmailVerified: "true"}),
			wantErr: providers.ErrEmailNotVerified, wantMsg: "Email not verified by Cognito"},
		{name: "email_verified absent", token: iss.IDToken(providertest.User{Subject: "s", Email: "victim@example.com"}),
			wantErr: providers.ErrEmailNotVerified},
		{name: "no id_token", token: "",
			wantErr: providers.ErrInvalidToken, wantMsg: "Cognito authentication requires a completed OAuth session"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.FetchProfile(context.Background(), iss.CognitoSettings(), idToken(tt.token))
			checkProfile(t, got, err, tt.want, tt.wantErr, tt.wantMsg)
		})
	}

	t.Run("no jwksurl", func(t *testing.T) {
		s := iss.CognitoSettings()
		s.JWKSURL = ""
		_, err := p.FetchProfile(context.Background(), s, idToken(iss.IDToken(ann)))
		if !errors.Is(err, providers.ErrMisconfigured) {
			t.Errorf("FetchProfile() = %v, want ErrMisconfigured", err)
		}
	})
	t.Run("JWKS unreachable", func(t *testing.T) {
		s := iss.CognitoSettings()
		s.JWKSURL = iss.URL + "/nope/.well-known/jwks.json"
		_, err := p.FetchProfile(context.Background(), s, idToken(iss.IDToken(ann)))
		checkProfile(t, providers.Profile{}, err, providers.Profile{}, providers.ErrInvalidToken, verifying)
	})
	t.Run("explicit issuer must match", func(t *testing.T) {
		s := iss.CognitoSettings()
		s.Issuer = "https://cognito-idp.eu-west-1.amazonaws.com/other-pool"
		_, err := p.FetchProfile(context.Background(), s, idToken(iss.IDToken(ann)))
		checkProfile(t, providers.Profile{}, err, providers.Profile{}, providers.ErrInvalidToken, verifying)
	})
	t.Run("through the code exchange", func(t *testing.T) {
		tok, err := connect(t, p, iss.CognitoSettings())
		if err != nil {
			t.Fatalf("connect() error = %v", err)
		}
		// The session keeps only the id_token (GrantResponse), as Strapi 5.53.
		back, err := providers.ParseGrantResponse(p.GrantResponse(tok))
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.FetchProfile(context.Background(), iss.CognitoSettings(), back)
		checkProfile(t, got, err, providers.Profile{ID: "sub-ann", Username: "ann", Email: "ann@example.com", EmailVerified: true}, nil, "")
	})
	t.Run("forged token through the code exchange", func(t *testing.T) {
		iss.QueueIDToken(iss.Forge(providertest.AlgNone, providertest.User{Subject: "x", Email: "admin@example.com", EmailVerified: true}))
		tok, err := connect(t, p, iss.CognitoSettings())
		if err != nil {
			t.Fatalf("connect() error = %v", err)
		}
		_, err = p.FetchProfile(context.Background(), iss.CognitoSettings(), tok)
		if !errors.Is(err, providers.ErrInvalidToken) {
			t.Errorf("FetchProfile() = %v, want ErrInvalidToken", err)
		}
	})
}

// swapPayload keeps a's header and signature around b's claims.
func swapPayload(a, b string) string {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	return pa[0] + "." + pb[1] + "." + pa[2]
}

func TestOIDCProvider(t *testing.T) {
	iss := providertest.NewIssuer(t, ann)
	p := providers.NewOIDC("corp", iss.URL)
	p.DisplayName = "Corp SSO"
	ctx := context.Background()

	t.Run("discovery", func(t *testing.T) {
		cfg, err := p.OAuth2Config(ctx, iss.Settings(), "http://localhost:1337/api/connect/corp/callback")
		if err != nil {
			t.Fatalf("OAuth2Config() error = %v", err)
		}
		if got, want := cfg.Endpoint.AuthURL, iss.URL+"/authorize"; got != want {
			t.Errorf("AuthURL = %q, want %q", got, want)
		}
		if got, want := cfg.Endpoint.TokenURL, iss.URL+"/token"; got != want {
			t.Errorf("TokenURL = %q, want %q", got, want)
		}
		if got, want := cfg.Endpoint.AuthStyle, oauth2.AuthStyleInHeader; got != want {
			t.Errorf("AuthStyle = %v, want %v", got, want)
		}
	})
	t.Run("full flow", func(t *testing.T) {
		iss.QueueUser(providertest.User{Subject: "sub-bob", Email: "bob@example.com", EmailVerified: "true", Username: "bob"})
		tok, err := connect(t, p, iss.Settings())
		if err != nil {
			t.Fatalf("connect() error = %v", err)
		}
		got, err := p.FetchProfile(ctx, iss.Settings(), tok)
		checkProfile(t, got, err, providers.Profile{ID: "sub-bob", Username: "bob", Email: "bob@example.com", EmailVerified: true}, nil, "")
		reqs := iss.TokenRequests()
		if got, want := reqs[len(reqs)-1].ClientAuth, "basic"; got != want {
			t.Errorf("client auth = %q, want %q", got, want)
		}
	})
	t.Run("email from userinfo", func(t *testing.T) {
		// The id_token has no email; userinfo, for the same subject, has it.
		iss.QueueUser(providertest.User{Subject: "sub-carl", Email: "carl@example.com", EmailVerified: true, Username: "carl"})
		iss.QueueIDToken(iss.IDToken(providertest.User{Subject: "sub-carl", Username: "carl"}))
		tok, err := connect(t, p, iss.Settings())
		if err != nil {
			t.Fatalf("connect() error = %v", err)
		}
		got, err := p.FetchProfile(ctx, iss.Settings(), tok)
		checkProfile(t, got, err, providers.Profile{ID: "sub-carl", Username: "carl", Email: "carl@example.com", EmailVerified: true}, nil, "")
	})
	t.Run("userinfo of another subject", func(t *testing.T) {
		iss.QueueUser(providertest.User{Subject: "sub-victim", Email: "victim@example.com", EmailVerified: true})
		iss.QueueIDToken(iss.IDToken(providertest.User{Subject: "sub-dan"}))
		tok, err := connect(t, p, iss.Settings())
		if err != nil {
			t.Fatalf("connect() error = %v", err)
		}
		_, err = p.FetchProfile(ctx, iss.Settings(), tok)
		if !errors.Is(err, providers.ErrInvalidToken) {
			t.Errorf("FetchProfile() = %v, want ErrInvalidToken", err)
		}
	})

	tests := []struct {
		name    string
		token   string
		wantErr error
		wantMsg string
	}{
		{"alg none", iss.Forge(providertest.AlgNone, ann), providers.ErrInvalidToken, "There was an error verifying the token"},
		{"HS256 with the client secret", iss.Forge(providertest.HS256ClientSecret, ann), providers.ErrInvalidToken, ""},
		{"HS256 with the public key", iss.Forge(providertest.HS256PublicKey, ann), providers.ErrInvalidToken, ""},
		{"signed by another key", iss.Forge(providertest.WrongKey, ann), providers.ErrInvalidToken, ""},
		{"expired", iss.Forge(providertest.Expired, ann), providers.ErrInvalidToken, ""},
		{"wrong audience", iss.Forge(providertest.WrongAudience, ann), providers.ErrInvalidToken, ""},
		{"wrong issuer", iss.Forge(providertest.WrongIssuer, ann), providers.ErrInvalidToken, ""},
		{"email not verified", iss.IDToken(providertest.User{Subject: "s", Email: "victim@example.com", EmailVerified: false}),
			providers.ErrEmailNotVerified, "Email not verified by Corp SSO"},
		{"no id_token", "", providers.ErrInvalidToken, "No id_token."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.FetchProfile(ctx, iss.Settings(), idToken(tt.token))
			checkProfile(t, got, err, providers.Profile{}, tt.wantErr, tt.wantMsg)
		})
	}

	t.Run("issuer unreachable", func(t *testing.T) {
		s := iss.Settings()
		s.Issuer = iss.URL + "/missing"
		_, err := p.OAuth2Config(ctx, s, "http://x/cb")
		if !errors.Is(err, providers.ErrUpstream) {
			t.Errorf("OAuth2Config() = %v, want ErrUpstream", err)
		}
	})
	t.Run("no issuer", func(t *testing.T) {
		_, err := providers.NewOIDC("x", "").OAuth2Config(ctx, providers.Settings{Key: "k"}, "http://x/cb")
		if !errors.Is(err, providers.ErrMisconfigured) {
			t.Errorf("OAuth2Config() = %v, want ErrMisconfigured", err)
		}
	})
}

// Keycloak reads userinfo with the access token from the code exchange.
func TestKeycloakFlow(t *testing.T) {
	iss := providertest.NewIssuer(t, ann)
	p := provider(t, "keycloak")
	tok, err := connect(t, p, iss.KeycloakSettings())
	if err != nil {
		t.Fatalf("connect() error = %v", err)
	}
	got, err := p.FetchProfile(context.Background(), iss.KeycloakSettings(), tok)
	checkProfile(t, got, err, providers.Profile{ID: "sub-ann", Username: "ann", Email: "ann@example.com", EmailVerified: true}, nil, "")

	iss.QueueUser(providertest.User{Subject: "sub-x", Email: "victim@example.com", EmailVerified: false, Username: "x"})
	tok, err = connect(t, p, iss.KeycloakSettings())
	if err != nil {
		t.Fatalf("connect() error = %v", err)
	}
	_, err = p.FetchProfile(context.Background(), iss.KeycloakSettings(), tok)
	checkProfile(t, providers.Profile{}, err, providers.Profile{}, providers.ErrEmailNotVerified, "Email not verified by Keycloak")
}

func TestUsesIDToken(t *testing.T) {
	withProfile := providers.NewOIDC("corp", "https://sso.example.com")
	withProfile.Profile = func(context.Context, *http.Client, *oauth2.Token, providers.Settings) (providers.Profile, error) {
		return providers.Profile{}, nil
	}
	for _, tt := range []struct {
		name string
		p    providers.Provider
		want bool
	}{
		{"cognito", provider(t, "cognito"), true},
		{"NewOIDC", providers.NewOIDC("corp", "https://sso.example.com"), true},
		{"NewOIDC with a Profile", withProfile, false},
		{"google (tokeninfo)", provider(t, "google"), false},
		{"keycloak (userinfo)", provider(t, "keycloak"), false},
		{"github", provider(t, "github"), false},
	} {
		if got := tt.p.UsesIDToken(); got != tt.want {
			t.Errorf("%s: UsesIDToken() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestIDTokenNonce: the nonce sent with the authorization must come back
// in the id_token of the code exchange; anything else is refused like any
// other id_token failure.
func TestIDTokenNonce(t *testing.T) {
	const verifying = "There was an error verifying the token"
	iss := providertest.NewIssuer(t, ann)
	ctx := context.Background()
	for _, pc := range []struct {
		name     string
		p        providers.Provider
		settings providers.Settings
	}{
		{"cognito", provider(t, "cognito"), iss.CognitoSettings()},
		{"oidc", providers.NewOIDC("corp", iss.URL), iss.Settings()},
		{"custom oidc", custom(t, "corp", iss.CustomSettings()), iss.CustomSettings()},
	} {
		tests := []struct {
			name string
			// run returns the token to verify and the nonce kept for it.
			run     func(t *testing.T) (*oauth2.Token, string)
			wantErr error
		}{
			{name: "nonce echoed", run: func(t *testing.T) (*oauth2.Token, string) {
				return exchange(t, pc.p, pc.settings)
			}},
			{name: "no nonce claim", wantErr: providers.ErrInvalidToken, run: func(t *testing.T) (*oauth2.Token, string) {
				iss.SetNonceMode(providertest.OmitNonce)
				defer iss.SetNonceMode(providertest.EchoNonce)
				return exchange(t, pc.p, pc.settings)
			}},
			{name: "another nonce", wantErr: providers.ErrInvalidToken, run: func(t *testing.T) (*oauth2.Token, string) {
				iss.SetNonceMode(providertest.AlterNonce)
				defer iss.SetNonceMode(providertest.EchoNonce)
				return exchange(t, pc.p, pc.settings)
			}},
			{name: "no nonce kept for the sign-in", wantErr: providers.ErrInvalidToken, run: func(t *testing.T) (*oauth2.Token, string) {
				tok, _ := exchange(t, pc.p, pc.settings)
				return tok, ""
			}},
			{name: "id_token of another sign-in", wantErr: providers.ErrInvalidToken, run: func(t *testing.T) (*oauth2.Token, string) {
				earlier, _ := exchange(t, pc.p, pc.settings)
				_, nonce := exchange(t, pc.p, pc.settings)
				return earlier, nonce
			}},
			{name: "forged, with the nonce", wantErr: providers.ErrInvalidToken, run: func(t *testing.T) (*oauth2.Token, string) {
				u := providertest.User{Subject: "x", Email: "root@example.com", EmailVerified: true, Claims: map[string]any{"nonce": "n-1"}}
				return idToken(iss.Forge(providertest.WrongKey, u)), "n-1"
			}},
			{name: "no id_token", wantErr: providers.ErrInvalidToken, run: func(t *testing.T) (*oauth2.Token, string) {
				return &oauth2.Token{AccessToken: "at"}, "n-1"
			}},
		}
		for _, tt := range tests {
			t.Run(pc.name+"/"+tt.name, func(t *testing.T) {
				tok, nonce := tt.run(t)
				err := pc.p.VerifyIDToken(ctx, pc.settings, tok, nonce)
				if tt.wantErr == nil {
					if err != nil {
						t.Fatalf("VerifyIDToken() error = %v", err)
					}
					return
				}
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("VerifyIDToken() = %v, want %v", err, tt.wantErr)
				}
				if msg := message(t, err); tt.name != "no id_token" && msg != verifying {
					t.Errorf("message = %q, want %q", msg, verifying)
				}
			})
		}
	}
	t.Run("provider without id_token", func(t *testing.T) {
		err := provider(t, "github").VerifyIDToken(ctx, providers.Settings{Key: "k"}, idToken(iss.IDToken(ann)), "n-1")
		if !errors.Is(err, providers.ErrMisconfigured) {
			t.Errorf("VerifyIDToken() = %v, want ErrMisconfigured", err)
		}
	})
}

// exchange runs the flow and checks that the authorization carried the
// nonce it returns.
func exchange(t *testing.T, p providers.Provider, s providers.Settings) (*oauth2.Token, string) {
	t.Helper()
	tok, nonce, err := connectNonce(t, p, s)
	if err != nil {
		t.Fatalf("connect() error = %v", err)
	}
	if len(nonce) != 64 {
		t.Fatalf("nonce = %q, want 32 random bytes in hex", nonce)
	}
	return tok, nonce
}
