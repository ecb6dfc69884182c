package handlers

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestVerifiedTokenCache: a token served from the cache of verified tokens
// stops working at its exp, and no other spelling of it (another signature,
// another secret) rides on its entry.
func TestVerifiedTokenCache(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	e := newTestEnv(t, func(c *Config) { c.Now = clock.now; c.TokenTTL = time.Hour })
	token := e.token(e.users["authenticated"].ID)
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	missing := errorJSONFor(401, "UnauthorizedError", "Missing or invalid credentials")

	for i := range 2 { // the second request is answered from the cache
		if rec := e.request("GET", "/api/users/me", "", bearer(token)); rec.Code != 200 {
			t.Fatalf("GET /api/users/me #%d: status = %d, want 200\n%s", i+1, rec.Code, rec.Body)
		}
	}
	// Another signature on the same header and claims (the first character
	// of the signature changed: the last one carries padding bits only).
	sig := strings.LastIndexByte(token, '.') + 1
	flipped := byte('A')
	if token[sig] == 'A' {
		flipped = 'B'
	}
	forged := token[:sig] + string(flipped) + token[sig+1:]
	if rec := e.request("GET", "/api/users/me", "", bearer(forged)); rec.Code != 401 {
		t.Errorf("GET /api/users/me with a re-signed token: status = %d, want 401\n%s", rec.Code, rec.Body)
	}
	// The same claims signed with another secret.
	other := Tokens{Secret: []byte("another-secret-another-secret-another"), TTL: time.Hour, Now: clock.now}
	if tok, _ := other.Issue(e.users["authenticated"].ID); tok != "" {
		if rec := e.request("GET", "/api/users/me", "", bearer(tok)); rec.Code != 401 {
			t.Errorf("GET /api/users/me with another secret: status = %d, want 401", rec.Code)
		}
	}
	// Past its exp the cached token is refused like any expired token.
	clock.advance(time.Hour)
	rec := e.request("GET", "/api/users/me", "", bearer(token))
	if rec.Code != 401 || rec.Body.String() != missing {
		t.Errorf("GET /api/users/me at exp: status = %d, want 401 %s\n%s", rec.Code, missing, rec.Body)
	}
}
