package providers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/providers"
	"golang.org/x/oauth2"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func TestDefaultSettingsGolden(t *testing.T) {
	got, err := json.MarshalIndent(providers.DefaultSettings("http://localhost:1337/api/auth"), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "default-settings.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("DefaultSettings JSON differs from %s (go test -update to accept):\n%s", path, got)
	}
}

func TestDefaultSettings(t *testing.T) {
	m := providers.DefaultSettings("http://localhost:1337/api/auth")
	wantNames := []string{"auth0", "cas", "cognito", "discord", "email", "facebook", "github", "gitlab",
		"google", "instagram", "keycloak", "linkedin", "microsoft", "patreon", "reddit", "twitch", "twitter", "vk"}
	var names []string
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	if !slices.Equal(names, wantNames) {
		t.Errorf("DefaultSettings names = %v, want %v", names, wantNames)
	}
	for n, s := range m {
		if got, want := s.Enabled, n == "email"; got != want {
			t.Errorf("DefaultSettings[%q].Enabled = %v, want %v (only email is enabled)", n, got, want)
		}
		if s.Key != "" || s.Secret != "" {
			t.Errorf("DefaultSettings[%q] has a key or secret", n)
		}
	}
	tests := []struct {
		name      string
		icon      string
		scope     []string
		subdomain string
	}{
		{"email", "envelope", nil, ""},
		{"discord", "discord", []string{"identify", "email"}, ""},
		{"facebook", "facebook-square", []string{"email"}, ""},
		{"google", "google", []string{"email"}, ""},
		{"github", "github", []string{"user", "user:email"}, ""},
		{"microsoft", "windows", []string{"user.read"}, ""},
		{"instagram", "instagram", []string{"user_profile"}, ""},
		{"vk", "vk", []string{"email"}, ""},
		{"twitch", "twitch", []string{"user:read:email"}, ""},
		{"twitter", "twitter", []string{"users.read", "tweet.read", "users.email"}, ""},
		{"linkedin", "linkedin", []string{"r_liteprofile", "r_emailaddress"}, ""},
		{"cognito", "aws", []string{"email", "openid", "profile"}, "my.subdomain.com"},
		{"reddit", "reddit", []string{"identity"}, ""},
		{"auth0", "", []string{"openid", "email", "profile"}, "my-tenant.eu"},
		{"cas", "book", []string{"openid email"}, "my.subdomain.com/cas"},
		{"patreon", "", []string{"identity", "identity[email]"}, ""},
		{"keycloak", "", []string{"openid", "email", "profile"}, "myKeycloakProvider.com/realms/myrealm"},
		{"gitlab", "gitlab", []string{"read_user"}, "gitlab.com"},
	}
	for _, tt := range tests {
		s := m[tt.name]
		if s.Icon != tt.icon {
			t.Errorf("DefaultSettings[%q].Icon = %q, want %q", tt.name, s.Icon, tt.icon)
		}
		if !slices.Equal(s.Scope, tt.scope) {
			t.Errorf("DefaultSettings[%q].Scope = %q, want %q", tt.name, s.Scope, tt.scope)
		}
		if s.Subdomain != tt.subdomain {
			t.Errorf("DefaultSettings[%q].Subdomain = %q, want %q", tt.name, s.Subdomain, tt.subdomain)
		}
	}
}

// Strapi's providers-registry test: the callback URL for several API prefixes;
// the first ten providers store it as callbackUrl, the others as callback.
func TestDefaultSettingsCallback(t *testing.T) {
	legacy := map[string]bool{"discord": true, "facebook": true, "google": true, "github": true,
		"microsoft": true, "instagram": true, "vk": true, "twitch": true, "linkedin": true, "twitter": true}
	for _, prefix := range []string{"/api", "/v1", "", "/api/v2"} {
		base := "http://localhost:1337" + prefix + "/auth"
		for n, s := range providers.DefaultSettings(base) {
			if n == providers.Email {
				if s.Callback != "" || s.CallbackURL != "" {
					t.Errorf("prefix %q: email has a callback", prefix)
				}
				continue
			}
			want := "http://localhost:1337" + prefix + "/auth/" + n + "/callback"
			got := s.Callback
			if legacy[n] {
				got = s.CallbackURL
				if s.Callback != "" {
					t.Errorf("prefix %q: %s.callback = %q, want empty (Strapi stores callbackUrl)", prefix, n, s.Callback)
				}
			} else if s.CallbackURL != "" {
				t.Errorf("prefix %q: %s.callbackUrl = %q, want empty", prefix, n, s.CallbackURL)
			}
			if got != want {
				t.Errorf("prefix %q: %s callback = %q, want %q", prefix, n, got, want)
			}
		}
	}
}

func TestSettingsJSON(t *testing.T) {
	s := providers.Settings{Enabled: true, Icon: "aws", Key: "k", Secret: "s", Callback: "https://app/cb",
		CallbackURL: "https://api/cb", Scope: []string{"openid"}, Subdomain: "sub", JWKSURL: "https://j",
		Issuer: "https://i", AuthorizeURL: "https://a", TokenURL: "https://t", APIURL: "https://api"}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"enabled":true,"icon":"aws","key":"k","secret":"s","callback":"https://app/cb","callbackUrl":"https://api/cb",` +
		`"scope":["openid"],"subdomain":"sub","jwksurl":"https://j","issuer":"https://i","authorizeUrl":"https://a",` +
		`"tokenUrl":"https://t","apiUrl":"https://api"}`
	if got := string(b); got != want {
		t.Errorf("json.Marshal(Settings) =\n%s\nwant\n%s", got, want)
	}
	var back providers.Settings
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if b2, _ := json.Marshal(back); string(b2) != want {
		t.Errorf("round trip = %s, want %s", b2, want)
	}
	b, _ = json.Marshal(providers.Settings{Enabled: true, Icon: "envelope"})
	if got, want := string(b), `{"enabled":true,"icon":"envelope"}`; got != want {
		t.Errorf("json.Marshal(email toggle) = %s, want %s", got, want)
	}
}

// Stored settings merge over the defaults by decoding into a copy.
func TestSettingsMergeOverDefaults(t *testing.T) {
	s := providers.DefaultSettings("http://localhost:1337/api/auth")["cognito"]
	stored := `{"enabled":true,"key":"k","secret":"s","subdomain":"auth.example.com","jwksurl":"https://cognito-idp.eu-west-1.amazonaws.com/pool/.well-known/jwks.json","custom":1}`
	if err := json.Unmarshal([]byte(stored), &s); err != nil {
		t.Fatal(err)
	}
	if !s.Enabled || s.Key != "k" || s.Subdomain != "auth.example.com" || s.Icon != "aws" ||
		!slices.Equal(s.Scope, []string{"email", "openid", "profile"}) {
		t.Errorf("merged settings = %+v", s)
	}
}

func TestEndpointsAndScopes(t *testing.T) {
	tests := []struct {
		name      string
		subdomain string // "" keeps the default placeholder
		wantAuth  string
		wantToken string
		wantScope string
		wantStyle oauth2.AuthStyle
		wantPKCE  bool
	}{
		{"discord", "", "https://discord.com/api/oauth2/authorize", "https://discord.com/api/oauth2/token", "identify email", oauth2.AuthStyleInParams, false},
		{"facebook", "", "https://www.facebook.com/dialog/oauth", "https://graph.facebook.com/oauth/access_token", "email", oauth2.AuthStyleInParams, false},
		{"google", "", "https://accounts.google.com/o/oauth2/v2/auth", "https://oauth2.googleapis.com/token", "email", oauth2.AuthStyleInParams, true},
		{"github", "", "https://github.com/login/oauth/authorize", "https://github.com/login/oauth/access_token", "user,user:email", oauth2.AuthStyleInParams, true},
		{"microsoft", "", "https://login.microsoftonline.com/common/oauth2/v2.0/authorize", "https://login.microsoftonline.com/common/oauth2/v2.0/token", "user.read", oauth2.AuthStyleInParams, true},
		{"instagram", "", "https://api.instagram.com/oauth/authorize", "https://api.instagram.com/oauth/access_token", "user_profile", oauth2.AuthStyleInParams, false},
		{"vk", "", "https://oauth.vk.com/authorize", "https://oauth.vk.com/access_token", "email", oauth2.AuthStyleInParams, false},
		{"twitch", "", "https://id.twitch.tv/oauth2/authorize", "https://id.twitch.tv/oauth2/token", "user:read:email", oauth2.AuthStyleInParams, false},
		{"twitter", "", "https://x.com/i/oauth2/authorize", "https://api.x.com/2/oauth2/token", "users.read tweet.read users.email", oauth2.AuthStyleInHeader, true},
		{"linkedin", "", "https://www.linkedin.com/oauth/v2/authorization", "https://www.linkedin.com/oauth/v2/accessToken", "r_liteprofile r_emailaddress", oauth2.AuthStyleInParams, false},
		{"cognito", "", "https://my.subdomain.com/oauth2/authorize", "https://my.subdomain.com/oauth2/token", "email openid profile", oauth2.AuthStyleInParams, true},
		{"cognito", "auth.example.com", "https://auth.example.com/oauth2/authorize", "https://auth.example.com/oauth2/token", "email openid profile", oauth2.AuthStyleInParams, true},
		{"reddit", "", "https://ssl.reddit.com/api/v1/authorize", "https://ssl.reddit.com/api/v1/access_token", "identity", oauth2.AuthStyleInHeader, false},
		{"auth0", "", "https://my-tenant.eu.auth0.com/authorize", "https://my-tenant.eu.auth0.com/oauth/token", "openid email profile", oauth2.AuthStyleInParams, true},
		{"auth0", "acme", "https://acme.auth0.com/authorize", "https://acme.auth0.com/oauth/token", "openid email profile", oauth2.AuthStyleInParams, true},
		{"cas", "", "https://my.subdomain.com/cas/oidc/authorize", "https://my.subdomain.com/cas/oidc/token", "openid email", oauth2.AuthStyleInParams, true},
		{"patreon", "", "https://www.patreon.com/oauth2/authorize", "https://www.patreon.com/api/oauth2/token", "identity identity[email]", oauth2.AuthStyleInParams, false},
		{"keycloak", "", "https://myKeycloakProvider.com/realms/myrealm/protocol/openid-connect/auth", "https://myKeycloakProvider.com/realms/myrealm/protocol/openid-connect/token", "openid email profile", oauth2.AuthStyleInParams, true},
		{"keycloak", "sso.example.com/realms/staff", "https://sso.example.com/realms/staff/protocol/openid-connect/auth", "https://sso.example.com/realms/staff/protocol/openid-connect/token", "openid email profile", oauth2.AuthStyleInParams, true},
		{"gitlab", "", "https://gitlab.com/oauth/authorize", "https://gitlab.com/oauth/token", "read_user", oauth2.AuthStyleInParams, true},
		{"gitlab", "git.example.com", "https://git.example.com/oauth/authorize", "https://git.example.com/oauth/token", "read_user", oauth2.AuthStyleInParams, true},
	}
	covered := map[string]bool{}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.subdomain, func(t *testing.T) {
			covered[tt.name] = true
			p := provider(t, tt.name)
			s := providers.DefaultSettings("http://localhost:1337/api/auth")[tt.name]
			s.Key, s.Secret = "client-id", "client-secret"
			if tt.subdomain != "" {
				s.Subdomain = tt.subdomain
			}
			ru := "http://localhost:1337/api/connect/" + tt.name + "/callback"
			cfg, err := p.OAuth2Config(ctx, s, ru)
			if err != nil {
				t.Fatalf("OAuth2Config() error = %v", err)
			}
			if got := cfg.Endpoint.AuthURL; got != tt.wantAuth {
				t.Errorf("AuthURL = %q, want %q", got, tt.wantAuth)
			}
			if got := cfg.Endpoint.TokenURL; got != tt.wantToken {
				t.Errorf("TokenURL = %q, want %q", got, tt.wantToken)
			}
			if got := cfg.Endpoint.AuthStyle; got != tt.wantStyle {
				t.Errorf("AuthStyle = %v, want %v", got, tt.wantStyle)
			}
			if got := p.PKCE; got != tt.wantPKCE {
				t.Errorf("PKCE = %v, want %v", got, tt.wantPKCE)
			}
			verifier := ""
			if p.PKCE {
				verifier = oauth2.GenerateVerifier()
			}
			nonce := ""
			if p.UsesIDToken() {
				nonce = "the-nonce"
			}
			raw, err := p.AuthCodeURL(ctx, s, ru, "the-state", verifier, nonce)
			if err != nil {
				t.Fatalf("AuthCodeURL() error = %v", err)
			}
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			u.RawQuery = ""
			if got := u.String(); got != tt.wantAuth {
				t.Errorf("AuthCodeURL base = %q, want %q", got, tt.wantAuth)
			}
			for k, want := range map[string]string{
				"client_id": "client-id", "response_type": "code", "redirect_uri": ru,
				"state": "the-state", "scope": tt.wantScope,
			} {
				if got := q.Get(k); got != want {
					t.Errorf("AuthCodeURL %s = %q, want %q", k, got, want)
				}
			}
			if got, want := q.Get("code_challenge") != "", tt.wantPKCE; got != want {
				t.Errorf("AuthCodeURL has code_challenge = %v, want %v", got, want)
			}
			if tt.wantPKCE {
				if got, want := q.Get("code_challenge"), oauth2.S256ChallengeFromVerifier(verifier); got != want {
					t.Errorf("code_challenge = %q, want %q", got, want)
				}
				if got := q.Get("code_challenge_method"); got != "S256" {
					t.Errorf("code_challenge_method = %q, want S256", got)
				}
			}
			if got, want := q.Get("nonce"), nonce; got != want {
				t.Errorf("AuthCodeURL nonce = %q, want %q (only providers that verify an id_token get one)", got, want)
			}
			if q.Has("client_secret") {
				t.Errorf("AuthCodeURL leaks client_secret: %s", raw)
			}
		})
	}
	for _, p := range providers.Defaults() {
		if !covered[p.Name] {
			t.Errorf("provider %q has no endpoint row", p.Name)
		}
	}
}

func TestOAuth2ConfigOverridesAndScopes(t *testing.T) {
	ctx := context.Background()
	p := provider(t, "keycloak")
	s := providers.Settings{Key: "k", Subdomain: "ignored.example.com",
		AuthorizeURL: "http://localhost:8080/auth", TokenURL: "http://localhost:8080/token",
		Scope: []string{"openid", "", "email"}}
	cfg, err := p.OAuth2Config(ctx, s, "http://x/cb")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Endpoint.AuthURL, "http://localhost:8080/auth"; got != want {
		t.Errorf("AuthURL = %q, want %q", got, want)
	}
	if got, want := cfg.Scopes, []string{"openid email"}; !slices.Equal(got, want) {
		t.Errorf("Scopes = %q, want %q", got, want)
	}
	s.Scope = []string{}
	cfg, _ = p.OAuth2Config(ctx, s, "http://x/cb")
	if len(cfg.Scopes) != 0 {
		t.Errorf("Scopes with an empty stored list = %q, want none", cfg.Scopes)
	}
	s.Scope = nil
	cfg, _ = p.OAuth2Config(ctx, s, "http://x/cb")
	if got, want := cfg.Scopes, []string{"openid email profile"}; !slices.Equal(got, want) {
		t.Errorf("Scopes with none stored = %q, want the defaults %q", got, want)
	}
}

func TestOAuth2ConfigMisconfigured(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		provider string
		settings providers.Settings
	}{
		{"no key", "github", providers.Settings{}},
		{"no subdomain", "cognito", providers.Settings{Key: "k"}},
		{"subdomain with @", "auth0", providers.Settings{Key: "k", Subdomain: "evil.com@tenant"}},
		{"subdomain with ?", "keycloak", providers.Settings{Key: "k", Subdomain: "evil.com?x="}},
		{"subdomain with #", "cas", providers.Settings{Key: "k", Subdomain: "evil.com#"}},
		{"override not absolute", "github", providers.Settings{Key: "k", AuthorizeURL: "/authorize"}},
		{"override javascript", "github", providers.Settings{Key: "k", TokenURL: "javascript:alert(1)"}},
		{"override with user info", "github", providers.Settings{Key: "k", TokenURL: "https://u:p@evil.example/token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := provider(t, tt.provider).OAuth2Config(ctx, tt.settings, "http://x/cb")
			if !errors.Is(err, providers.ErrMisconfigured) {
				t.Errorf("OAuth2Config(%+v) = %v, want ErrMisconfigured", tt.settings, err)
			}
		})
	}
	if _, err := provider(t, "github").AuthCodeURL(ctx, providers.Settings{Key: "k"}, "http://x/cb", "", "", ""); err == nil {
		t.Error("AuthCodeURL with an empty state succeeded, want an error")
	}
	cognito := providers.Settings{Key: "k", Subdomain: "auth.example.com"}
	if _, err := provider(t, "cognito").AuthCodeURL(ctx, cognito, "http://x/cb", "st", "", ""); err == nil {
		t.Error("cognito AuthCodeURL with an empty nonce succeeded, want an error")
	}
}
