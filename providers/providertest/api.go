package providertest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Response is a canned answer of an API fake.
type Response struct {
	Status int // 0 means 200
	Body   any // encoded as JSON
}

// API is a fake provider API answering canned JSON by path, for the
// providers whose profile is one or two GET requests (Google, Facebook,
// Keycloak, Patreon…). A request must carry AccessToken as a Bearer token
// or as the access_token query parameter (Google's tokeninfo), else 401.
type API struct {
	URL         string
	AccessToken string

	mu       sync.Mutex
	routes   map[string]Response
	requests []Request
}

// NewAPI starts an API fake. routes maps a path ("/user", without query) to
// a Response or to a body answered with 200.
func NewAPI(t testing.TB, accessToken string, routes map[string]any) *API {
	t.Helper()
	a := &API{AccessToken: accessToken, routes: map[string]Response{}}
	for p, v := range routes {
		a.Set(p, v)
	}
	srv := httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

// Set replaces the answer for path.
func (a *API) Set(path string, v any) {
	r, ok := v.(Response)
	if !ok {
		r = Response{Body: v}
	}
	if r.Status == 0 {
		r.Status = http.StatusOK
	}
	a.mu.Lock()
	a.routes[path] = r
	a.mu.Unlock()
}

// Requests returns every request received.
func (a *API) Requests() []Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Request(nil), a.requests...)
}

func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.requests = append(a.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone()})
	resp, ok := a.routes[r.URL.Path]
	a.mu.Unlock()
	tok, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !bearer {
		tok = r.URL.Query().Get("access_token")
	}
	switch {
	case tok == "" || tok != a.AccessToken:
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "Invalid Value"})
	case !ok:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	default:
		writeJSON(w, resp.Status, resp.Body)
	}
}
