package providertest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/providers"
)

// OAuth2 is a fake generic OAuth 2.0 server, as an admin adds one without
// code (providers.TypeOAuth2): /authorize, /token (JSON answer, client
// authentication by HTTP Basic or form), and /userinfo answering the
// current user document as it is, for the JSON paths to find their values
// in. With RequirePKCE, an authorization without an S256 code_challenge is
// refused, as X's and other public-client servers do.
//
// Shared with the other fakes: SetTokenDown, AccessToken, Authorizations,
// TokenRequests and Requests.
type OAuth2 struct {
	*server
	URL          string
	ClientID     string
	ClientSecret string

	mu          sync.Mutex
	doc         any
	requirePKCE bool
}

// NewOAuth2 starts a generic OAuth 2.0 fake whose userinfo answer is doc.
func NewOAuth2(t testing.TB, doc any) *OAuth2 {
	t.Helper()
	o := &OAuth2{server: newServer("oauth2-client-id", "oauth2-client-secret"), doc: doc}
	o.ClientID, o.ClientSecret = o.clientID, o.clientSecret
	o.pick = func() any { o.mu.Lock(); defer o.mu.Unlock(); return o.doc }
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		require := o.requirePKCE
		o.mu.Unlock()
		if require && r.URL.Query().Get("code_challenge") == "" {
			oauthError(w, http.StatusBadRequest, "invalid_request", "code_challenge is required")
			return
		}
		o.authorize(w, r)
	})
	mux.HandleFunc("/token", o.token)
	mux.HandleFunc("GET /userinfo", func(w http.ResponseWriter, r *http.Request) {
		doc, ok := o.user(r)
		if !ok {
			unauthorized(w)
			return
		}
		writeJSON(w, http.StatusOK, doc)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	o.URL = srv.URL
	return o
}

// SetUser changes the userinfo document of later authorizations.
func (o *OAuth2) SetUser(doc any) {
	o.mu.Lock()
	o.doc = doc
	o.mu.Unlock()
}

// RequirePKCE makes /authorize refuse a request without a code_challenge.
func (o *OAuth2) RequirePKCE(require bool) {
	o.mu.Lock()
	o.requirePKCE = require
	o.mu.Unlock()
}

// Settings returns enabled custom TypeOAuth2 settings pointing at the fake,
// with the JSON paths of a document shaped {"data":{"id","login",
// "contact":{"email","verified"}}} (see the tests that use it).
func (o *OAuth2) Settings() providers.Settings {
	return providers.Settings{
		Type:              providers.TypeOAuth2,
		DisplayName:       "Acme",
		Enabled:           true,
		Key:               o.ClientID,
		Secret:            o.ClientSecret,
		Callback:          "http://localhost:3000/connect/acme/redirect",
		Scope:             []string{"profile", "email"},
		AuthorizeURL:      o.URL + "/authorize",
		TokenURL:          o.URL + "/token",
		UserinfoURL:       o.URL + "/userinfo",
		IDPath:            "data.id",
		EmailPath:         "data.contact.email",
		UsernamePath:      "data.login",
		EmailVerifiedPath: "data.contact.verified",
	}
}

// CustomSettings returns enabled custom TypeOIDC settings for the issuer.
func (i *Issuer) CustomSettings() providers.Settings {
	s := i.Settings()
	s.Type = providers.TypeOIDC
	s.DisplayName = "Corp SSO"
	return s
}
