package providers_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
	"golang.org/x/oauth2"
)

// provider returns the default provider called name.
func provider(t testing.TB, name string) providers.Provider {
	t.Helper()
	p, err := providers.NewRegistry(providers.Defaults()...).Get(name)
	if err != nil {
		t.Fatalf("Get(%q) error = %v", name, err)
	}
	return p
}

// message returns the client message of err's *providers.Error.
func message(t testing.TB, err error) string {
	t.Helper()
	var pe *providers.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *providers.Error", err, err)
	}
	return pe.Message
}

// connect runs the browser side of the flow against a fake: authorize URL,
// the fake's consent redirect, the state check, the code exchange.
func connect(t testing.TB, p providers.Provider, s providers.Settings) (*oauth2.Token, error) {
	t.Helper()
	tok, _, err := connectNonce(t, p, s)
	return tok, err
}

// connectNonce is connect that also returns the nonce sent, for providers
// that UsesIDToken ("" for the others).
func connectNonce(t testing.TB, p providers.Provider, s providers.Settings) (*oauth2.Token, string, error) {
	t.Helper()
	ctx := context.Background()
	redirect := "http://localhost:1337/api/connect/" + p.Name + "/callback"
	state, err := providers.NewState()
	if err != nil {
		t.Fatal(err)
	}
	verifier := ""
	if p.PKCE {
		verifier = oauth2.GenerateVerifier()
	}
	nonce := ""
	if p.UsesIDToken() {
		if nonce, err = providers.NewNonce(); err != nil {
			t.Fatal(err)
		}
	}
	authURL, err := p.AuthCodeURL(ctx, s, redirect, state, verifier, nonce)
	if err != nil {
		t.Fatalf("AuthCodeURL() error = %v", err)
	}
	q := providertest.FollowAuthorize(t, authURL)
	if err := providers.CheckState(state, q.Get("state")); err != nil {
		t.Fatalf("CheckState() error = %v", err)
	}
	tok, err := p.Exchange(ctx, s, redirect, q.Get("code"), verifier)
	return tok, nonce, err
}

func TestRegistry(t *testing.T) {
	r := providers.NewRegistry(providers.Defaults()...)
	want := []string{"auth0", "cas", "cognito", "discord", "facebook", "github", "gitlab", "google",
		"instagram", "keycloak", "linkedin", "microsoft", "patreon", "reddit", "twitch", "twitter", "vk"}
	if got := r.Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	for _, name := range []string{"email", "GitHub", ""} {
		_, err := r.Get(name)
		if !errors.Is(err, providers.ErrUnknownProvider) {
			t.Errorf("Get(%q) = %v, want ErrUnknownProvider", name, err)
			continue
		}
		if got, want := message(t, err), "Unknown auth provider"; got != want {
			t.Errorf("Get(%q) message = %q, want %q", name, got, want)
		}
	}
	for _, p := range []providers.Provider{
		{Name: "", Profile: providers.Defaults()[0].Profile},
		{Name: "email", Profile: providers.Defaults()[0].Profile},
		{Name: "local", Profile: providers.Defaults()[0].Profile},
		{Name: "Bad/Name", Profile: providers.Defaults()[0].Profile},
		{Name: "noprofile"},
	} {
		if err := r.Add(p); err == nil {
			t.Errorf("Add(%q) succeeded, want an error", p.Name)
		}
	}
	if err := r.Add(providers.NewOIDC("corp", "https://sso.example.com")); err != nil {
		t.Errorf("Add(NewOIDC) error = %v", err)
	}
	if _, ok := r.DefaultSettings("")["corp"]; !ok {
		t.Error("Registry.DefaultSettings has no entry for an added provider")
	}
}

// An embedding application adds its own provider in a few lines.
func TestCustomProvider(t *testing.T) {
	api := providertest.NewAPI(t, "tok", map[string]any{
		"/me": map[string]any{"uid": 7, "handle": "ann", "mail": "Ann@Example.com", "mail_ok": true},
	})
	r := providers.NewRegistry(providers.Defaults()...)
	err := r.Add(providers.Provider{
		Name: "acme", DisplayName: "Acme",
		Endpoint: oauth2.Endpoint{AuthURL: "https://acme.example/authorize", TokenURL: "https://acme.example/token"},
		APIURL:   api.URL,
		Profile: func(ctx context.Context, c *http.Client, tok *oauth2.Token, s providers.Settings) (providers.Profile, error) {
			var b struct {
				Handle, Mail string
				OK           bool `json:"mail_ok"`
			}
			if err := providers.GetJSON(ctx, c, s.APIURL+"/me", tok, nil, &b); err != nil {
				return providers.Profile{}, err
			}
			return providers.Profile{Username: b.Handle, Email: b.Mail, EmailVerified: b.OK}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Get("acme")
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.FetchProfile(context.Background(), providers.Settings{Key: "k"}, &oauth2.Token{AccessToken: "tok"})
	if err != nil {
		t.Fatalf("FetchProfile() error = %v", err)
	}
	want := providers.Profile{Username: "ann", Email: "ann@example.com", EmailVerified: true}
	if got != want {
		t.Errorf("FetchProfile() = %+v, want %+v", got, want)
	}
}

func TestExchange(t *testing.T) {
	gh := providertest.NewGitHub(t, providertest.GitHubUser{ID: 1, Login: "octocat", Email: "octo@example.com",
		Emails: []providertest.GitHubEmail{{Email: "octo@example.com", Primary: true, Verified: true}}})
	p := provider(t, "github")

	tok, err := connect(t, p, gh.Settings())
	if err != nil {
		t.Fatalf("connect() error = %v", err)
	}
	if tok.AccessToken == "" {
		t.Fatal("Exchange() returned no access token")
	}
	reqs := gh.TokenRequests()
	if got, want := reqs[len(reqs)-1].ClientAuth, "post"; got != want {
		t.Errorf("github client auth = %q, want %q", got, want)
	}
	if got := reqs[len(reqs)-1].Form.Get("code_verifier"); got == "" {
		t.Error("github exchange sent no code_verifier")
	}
	auths := gh.Authorizations()
	if got, want := auths[len(auths)-1].Get("scope"), "user,user:email"; got != want {
		t.Errorf("authorize scope = %q, want %q", got, want)
	}
}

func TestExchangeFailures(t *testing.T) {
	ctx := context.Background()
	gh := providertest.NewGitHub(t, providertest.GitHubUser{ID: 1, Login: "octocat"})
	p := provider(t, "github")
	s := gh.Settings()
	const redirect = "http://localhost:1337/api/connect/github/callback"

	authorize := func(t *testing.T, verifier string) string {
		t.Helper()
		u, err := p.AuthCodeURL(ctx, s, redirect, "st", verifier, "")
		if err != nil {
			t.Fatal(err)
		}
		return providertest.FollowAuthorize(t, u).Get("code")
	}

	t.Run("code reused", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		code := authorize(t, v)
		if _, err := p.Exchange(ctx, s, redirect, code, v); err != nil {
			t.Fatalf("first Exchange() error = %v", err)
		}
		_, err := p.Exchange(ctx, s, redirect, code, v)
		if !errors.Is(err, providers.ErrExchange) {
			t.Fatalf("second Exchange() = %v, want ErrExchange", err)
		}
		if got, want := message(t, err), "The code is incorrect or expired."; got != want {
			t.Errorf("message = %q, want %q", got, want)
		}
	})
	t.Run("wrong PKCE verifier", func(t *testing.T) {
		code := authorize(t, oauth2.GenerateVerifier())
		_, err := p.Exchange(ctx, s, redirect, code, oauth2.GenerateVerifier())
		if got, want := message(t, err), "code_verifier mismatch"; got != want {
			t.Errorf("message = %q, want %q", got, want)
		}
	})
	t.Run("other redirect_uri", func(t *testing.T) {
		code := authorize(t, "")
		_, err := p.Exchange(ctx, s, "http://evil.example/cb", code, "")
		if !errors.Is(err, providers.ErrExchange) {
			t.Errorf("Exchange() = %v, want ErrExchange", err)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		code := authorize(t, "")
		bad := s
		bad.Secret = "not-the-secret"
		_, err := p.Exchange(ctx, bad, redirect, code, "")
		if !errors.Is(err, providers.ErrExchange) {
			t.Fatalf("Exchange() = %v, want ErrExchange", err)
		}
		if strings.Contains(err.Error(), "not-the-secret") {
			t.Errorf("error leaks the secret: %v", err)
		}
	})
	t.Run("empty code", func(t *testing.T) {
		_, err := p.Exchange(ctx, s, redirect, "", "")
		if !errors.Is(err, providers.ErrExchange) {
			t.Errorf("Exchange(\"\") = %v, want ErrExchange", err)
		}
	})
	t.Run("token endpoint down", func(t *testing.T) {
		code := authorize(t, "")
		gh.SetTokenDown(true)
		defer gh.SetTokenDown(false)
		start := time.Now()
		_, err := p.Exchange(ctx, s, redirect, code, "")
		if !errors.Is(err, providers.ErrExchange) {
			t.Fatalf("Exchange() = %v, want ErrExchange", err)
		}
		if got, want := message(t, err), "Token exchange failed (503)"; got != want {
			t.Errorf("message = %q, want %q", got, want)
		}
		if strings.Contains(err.Error(), "<html>") {
			t.Errorf("error carries the response body: %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Exchange() took %v with the endpoint down", d)
		}
	})
	t.Run("token endpoint unreachable", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		bad := s
		bad.TokenURL = dead.URL + "/token"
		start := time.Now()
		_, err := p.Exchange(ctx, bad, redirect, "some-code", "")
		if !errors.Is(err, providers.ErrExchange) {
			t.Fatalf("Exchange() = %v, want ErrExchange", err)
		}
		if got, want := message(t, err), "Token exchange failed"; got != want {
			t.Errorf("message = %q, want %q", got, want)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Exchange() took %v with the endpoint unreachable", d)
		}
	})
	t.Run("token endpoint hangs", func(t *testing.T) {
		release := make(chan struct{})
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer hang.Close()
		defer close(release)
		bad := s
		bad.TokenURL = hang.URL + "/token"
		for _, tc := range []struct {
			name string
			ctx  func() (context.Context, context.CancelFunc)
		}{
			{"context deadline", func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, 200*time.Millisecond)
			}},
			{"client timeout", func() (context.Context, context.CancelFunc) {
				return providers.WithHTTPClient(ctx, &http.Client{Timeout: 200 * time.Millisecond}), func() {}
			}},
		} {
			c, cancel := tc.ctx()
			start := time.Now()
			_, err := p.Exchange(c, bad, redirect, "some-code", "")
			cancel()
			if !errors.Is(err, providers.ErrExchange) {
				t.Errorf("%s: Exchange() = %v, want ErrExchange", tc.name, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("%s: Exchange() took %v", tc.name, d)
			}
		}
	})
}

func TestExchangeBasicAuth(t *testing.T) {
	// Reddit wants the client credentials in an Authorization: Basic header.
	gh := providertest.NewGitHub(t, providertest.GitHubUser{ID: 1, Login: "x"})
	s := gh.Settings()
	if _, err := connect(t, provider(t, "reddit"), s); err != nil {
		t.Fatalf("connect(reddit) error = %v", err)
	}
	reqs := gh.TokenRequests()
	last := reqs[len(reqs)-1]
	if got, want := last.ClientAuth, "basic"; got != want {
		t.Errorf("reddit client auth = %q, want %q", got, want)
	}
	if last.Form.Has("client_secret") {
		t.Error("reddit exchange sent client_secret in the body")
	}
}

func TestFetchProfileNilToken(t *testing.T) {
	_, err := provider(t, "github").FetchProfile(context.Background(), providers.Settings{}, nil)
	if !errors.Is(err, providers.ErrInvalidToken) {
		t.Errorf("FetchProfile(nil) = %v, want ErrInvalidToken", err)
	}
}
