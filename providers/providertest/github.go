package providertest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/providers"
)

// GitHubUser is the account a GitHub fake signs in.
type GitHubUser struct {
	ID     int64
	Login  string
	Email  string        // the public email; "" when the user keeps it private
	Emails []GitHubEmail // what /user/emails lists
}

// GitHubEmail is one entry of /user/emails.
type GitHubEmail struct {
	Email      string  `json:"email"`
	Primary    bool    `json:"primary"`
	Verified   bool    `json:"verified"`
	Visibility *string `json:"visibility"`
}

// GitHub is a fake github.com + api.github.com: /login/oauth/authorize,
// /login/oauth/access_token (form-encoded answer, as GitHub's default),
// /user and /user/emails.
//
// Shared with the other fakes: SetTokenDown, AccessToken, Authorizations,
// TokenRequests and Requests.
type GitHub struct {
	*server
	URL          string
	ClientID     string
	ClientSecret string

	mu      sync.Mutex
	account GitHubUser
}

// NewGitHub starts a GitHub fake signing in u.
func NewGitHub(t testing.TB, u GitHubUser) *GitHub {
	t.Helper()
	g := &GitHub{server: newServer("gh-client-id", "gh-client-secret"), account: u}
	g.ClientID, g.ClientSecret = g.clientID, g.clientSecret
	g.formAnswer = true
	g.pick = func() any { g.mu.Lock(); defer g.mu.Unlock(); return g.account }

	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", g.authorize)
	mux.HandleFunc("/login/oauth/access_token", g.token)
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		u, ok := g.user(r)
		if !ok {
			unauthorized(w)
			return
		}
		gu := u.(GitHubUser)
		var email any
		if gu.Email != "" {
			email = gu.Email
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": gu.ID, "login": gu.Login, "email": email})
	})
	mux.HandleFunc("GET /user/emails", func(w http.ResponseWriter, r *http.Request) {
		u, ok := g.user(r)
		if !ok {
			unauthorized(w)
			return
		}
		emails := u.(GitHubUser).Emails
		if emails == nil {
			emails = []GitHubEmail{}
		}
		writeJSON(w, http.StatusOK, emails)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

// SetUser changes the account signed in by later authorizations.
func (g *GitHub) SetUser(u GitHubUser) {
	g.mu.Lock()
	g.account = u
	g.mu.Unlock()
}

// Settings returns enabled github settings pointing at the fake.
func (g *GitHub) Settings() providers.Settings {
	return providers.Settings{
		Enabled:      true,
		Icon:         "github",
		Key:          g.ClientID,
		Secret:       g.ClientSecret,
		Callback:     "http://localhost:3000/connect/github/redirect",
		Scope:        []string{"user", "user:email"},
		AuthorizeURL: g.URL + "/login/oauth/authorize",
		TokenURL:     g.URL + "/login/oauth/access_token",
		APIURL:       g.URL,
	}
}
