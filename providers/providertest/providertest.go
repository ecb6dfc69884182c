// Package providertest runs fake OAuth 2.0 and OpenID Connect providers on
// httptest servers, for the tests of package providers and for end-to-end
// tests of the connect flow.
//
// Each fake has a URL and a Settings method that returns a
// providers.Settings pointing at itself (endpoint overrides, key, secret,
// enabled). Fakes check what a real provider checks: client credentials,
// single-use codes bound to their redirect_uri, PKCE S256 when a challenge
// was sent, and Bearer tokens on the API. They close with the test.
//
//	gh := providertest.NewGitHub(t, providertest.GitHubUser{Login: "octocat", …})
//	p, _ := providers.NewRegistry(providers.Defaults()...).Get("github")
//	s := gh.Settings()
package providertest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Request is one API request a fake received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
}

// TokenRequest is one call to a fake's token endpoint.
type TokenRequest struct {
	ClientAuth string // "basic" or "post" (how the client authenticated), "" if it did not
	Form       url.Values
}

// grant is what an authorization code stands for.
type grant struct {
	redirectURI string
	challenge   string
	nonce       string
	subject     any // the fake's user, copied at authorize time
}

// server is the OAuth 2.0 part shared by the fakes.
type server struct {
	clientID, clientSecret string
	formAnswer             bool // answer the token endpoint form-encoded (GitHub)

	mu         sync.Mutex
	codes      map[string]grant
	tokens     map[string]any // access token → user
	tokenDown  bool
	authorizes []url.Values
	tokenReqs  []TokenRequest
	requests   []Request

	// pick returns the user a new code stands for; extra adds fields to the
	// token answer (the id_token). Both run without mu held.
	pick  func() any
	extra func(g grant) map[string]any
}

func newServer(id, secret string) *server {
	return &server{
		clientID: id, clientSecret: secret,
		codes: map[string]grant{}, tokens: map[string]any{},
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// SetTokenDown makes the token endpoint answer 503 with an HTML page, as a
// provider in an outage does.
func (s *server) SetTokenDown(down bool) {
	s.mu.Lock()
	s.tokenDown = down
	s.mu.Unlock()
}

// Authorizations returns the query of every authorize request received.
func (s *server) Authorizations() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.authorizes...)
}

// TokenRequests returns every token request received.
func (s *server) TokenRequests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TokenRequest(nil), s.tokenReqs...)
}

// Requests returns every API (profile) request received.
func (s *server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// AccessToken mints a valid access token for the current user without the
// authorize and token legs.
func (s *server) AccessToken() string {
	u := s.pick()
	tok := "at_" + randomHex(16)
	s.mu.Lock()
	s.tokens[tok] = u
	s.mu.Unlock()
	return tok
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// authorize answers like a provider whose user has already consented: a 302
// to redirect_uri with code and state.
func (s *server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	s.authorizes = append(s.authorizes, q)
	s.mu.Unlock()
	if q.Get("client_id") != s.clientID {
		oauthError(w, http.StatusBadRequest, "invalid_client", "unknown client_id")
		return
	}
	if q.Get("response_type") != "code" {
		oauthError(w, http.StatusBadRequest, "unsupported_response_type", "response_type must be code")
		return
	}
	ru, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || !ru.IsAbs() {
		oauthError(w, http.StatusBadRequest, "invalid_request", "redirect_uri must be absolute")
		return
	}
	challenge := q.Get("code_challenge")
	if challenge != "" && q.Get("code_challenge_method") != "S256" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "only S256 is supported")
		return
	}
	g := grant{redirectURI: q.Get("redirect_uri"), challenge: challenge, nonce: q.Get("nonce"), subject: s.pick()}
	code := "code_" + randomHex(16)
	s.mu.Lock()
	s.codes[code] = g
	s.mu.Unlock()

	back := ru.Query()
	back.Set("code", code)
	if st := q.Get("state"); st != "" {
		back.Set("state", st)
	}
	ru.RawQuery = back.Encode()
	http.Redirect(w, r, ru.String(), http.StatusFound)
}

// token exchanges a code: client authentication (Basic or form), a
// single-use code, the same redirect_uri, and the PKCE verifier.
func (s *server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	down := s.tokenDown
	s.mu.Unlock()
	if down {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("<html><body><h1>503 Service Unavailable</h1></body></html>"))
		return
	}
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "POST only")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	f := r.PostForm
	tr := TokenRequest{Form: f}
	id, secret, basic := r.BasicAuth()
	if basic {
		tr.ClientAuth = "basic"
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else if f.Get("client_id") != "" {
		tr.ClientAuth = "post"
		id, secret = f.Get("client_id"), f.Get("client_secret")
	}
	s.mu.Lock()
	s.tokenReqs = append(s.tokenReqs, tr)
	s.mu.Unlock()
	if id != s.clientID || secret != s.clientSecret {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return
	}
	if f.Get("grant_type") != "authorization_code" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code")
		return
	}
	s.mu.Lock()
	g, ok := s.codes[f.Get("code")]
	delete(s.codes, f.Get("code"))
	s.mu.Unlock()
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "The code is incorrect or expired.")
		return
	}
	if f.Get("redirect_uri") != g.redirectURI {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri mismatch")
		return
	}
	if g.challenge != "" {
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "code_verifier mismatch")
			return
		}
	}
	at := "at_" + randomHex(16)
	s.mu.Lock()
	s.tokens[at] = g.subject
	s.mu.Unlock()

	ans := map[string]any{"access_token": at, "token_type": "bearer", "scope": "", "expires_in": 3600}
	if s.extra != nil {
		for k, v := range s.extra(g) {
			ans[k] = v
		}
	}
	if s.formAnswer {
		v := url.Values{}
		for k, val := range ans {
			if str, ok := val.(string); ok {
				v.Set(k, str)
			}
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		_, _ = w.Write([]byte(v.Encode()))
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// user records the API request and returns the user its Bearer token (or
// access_token query parameter) stands for.
func (s *server) user(r *http.Request) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone()})
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		tok = r.URL.Query().Get("access_token")
	}
	u, found := s.tokens[tok]
	return u, found && tok != ""
}

func unauthorized(w http.ResponseWriter) {
	writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
}

// FollowAuthorize requests authURL like a browser whose user consents, without
// following the redirect back, and returns the query of that redirect
// (code and state, or error).
func FollowAuthorize(t testing.TB, authURL string) url.Values {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatalf("providertest: GET %s: %v", authURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("providertest: GET %s: status = %d, want %d", authURL, resp.StatusCode, http.StatusFound)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("providertest: bad Location %q: %v", resp.Header.Get("Location"), err)
	}
	return loc.Query()
}
