package providertest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/providers"
)

// DiscordUser is the account a Discord fake signs in.
type DiscordUser struct {
	ID            string
	Username      string
	Discriminator string // "0" for migrated accounts
	Email         string
	Verified      *bool // nil: the field is absent
}

// Discord is a fake discord.com: /api/oauth2/authorize, /api/oauth2/token
// (JSON answer) and /api/users/@me.
//
// Shared with the other fakes: SetTokenDown, AccessToken, Authorizations,
// TokenRequests and Requests.
type Discord struct {
	*server
	URL          string
	ClientID     string
	ClientSecret string

	mu      sync.Mutex
	account DiscordUser
}

// NewDiscord starts a Discord fake signing in u.
func NewDiscord(t testing.TB, u DiscordUser) *Discord {
	t.Helper()
	d := &Discord{server: newServer("discord-client-id", "discord-client-secret"), account: u}
	d.ClientID, d.ClientSecret = d.clientID, d.clientSecret
	d.pick = func() any { d.mu.Lock(); defer d.mu.Unlock(); return d.account }

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/oauth2/authorize", d.authorize)
	mux.HandleFunc("/api/oauth2/token", d.token)
	mux.HandleFunc("GET /api/users/@me", func(w http.ResponseWriter, r *http.Request) {
		u, ok := d.user(r)
		if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "401: Unauthorized", "code": 0})
			return
		}
		du := u.(DiscordUser)
		body := map[string]any{"id": du.ID, "username": du.Username, "discriminator": du.Discriminator, "email": du.Email}
		if du.Verified != nil {
			body["verified"] = *du.Verified
		}
		writeJSON(w, http.StatusOK, body)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	d.URL = srv.URL
	return d
}

// SetUser changes the account signed in by later authorizations.
func (d *Discord) SetUser(u DiscordUser) {
	d.mu.Lock()
	d.account = u
	d.mu.Unlock()
}

// Settings returns enabled discord settings pointing at the fake.
func (d *Discord) Settings() providers.Settings {
	return providers.Settings{
		Enabled:      true,
		Icon:         "discord",
		Key:          d.ClientID,
		Secret:       d.ClientSecret,
		Callback:     "http://localhost:3000/connect/discord/redirect",
		Scope:        []string{"identify", "email"},
		AuthorizeURL: d.URL + "/api/oauth2/authorize",
		TokenURL:     d.URL + "/api/oauth2/token",
		APIURL:       d.URL + "/api",
	}
}
