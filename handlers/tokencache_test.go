package handlers

import (
	"crypto/sha256"
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

func TestVerifiedTokensBounded(t *testing.T) {
	v := newVerifiedTokens()
	exp := time.Now().Add(time.Hour)
	for i := range verifiedTokensMax + 10 {
		v.put(sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)}), verifiedToken{userID: 1, expires: exp})
	}
	if n := len(v.tokens); n > verifiedTokensMax {
		t.Errorf("cache holds %d entries, want at most %d", n, verifiedTokensMax)
	}
	if _, ok := v.get(sha256.Sum256([]byte("absent")), time.Now()); ok {
		t.Error("get of an absent key: found")
	}
}

// TestBearerTokenFastPath: the allocation-free path of bearerToken answers
// exactly as Strapi's split on whitespace.
func TestBearerTokenFastPath(t *testing.T) {
	reference := func(header string) (string, bool) {
		parts := strings.Fields(header)
		if len(parts) != 2 || !strings.EqualFold(parts[0], "bearer") {
			return "", false
		}
		return parts[1], true
	}
	for _, h := range []string{
		"", "Bearer", "Bearer ", "Bearer  ", "Bearer a", "bearer a.b.c", "BEARER a", "Bearer  a", " Bearer a", "Bearer a ",
		"Bearer a b", "Bearer a\tb", "Bearer\ta", "Bearer a\u00a0b", "Bearer a\u0085", "Bearer a\u2003b", "Bearer é",
		"Basic a", "Bearerx a", "Bearer\u00a0a", "Bearer a\x00", "Bearer a\vb", "Bearer \xff",
	} {
		gotTok, gotOK := bearerToken(h)
		wantTok, wantOK := reference(h)
		if gotTok != wantTok || gotOK != wantOK {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", h, gotTok, gotOK, wantTok, wantOK)
		}
	}
}
