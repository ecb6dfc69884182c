package handlers

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/guard/ginguard"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/ratelimit"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
)

func decodeSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// sign builds a token with any method and claims, for forgery tests.
func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthentication(t *testing.T) {
	secret := []byte("test-secret-test-secret-test-secret")
	now := time.Now()
	valid := func(id any) jwt.MapClaims {
		return jwt.MapClaims{"id": id, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	unsigned := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid(1))
	missing := errorJSONFor(401, "UnauthorizedError", "Missing or invalid credentials")
	invalid := errorJSONFor(401, "UnauthorizedError", "Invalid credentials")
	const me = "/api/users/me"
	// alice is user 1 in every fresh environment.
	runScenarios(t, []scenario{
		{name: "valid token", method: "GET", url: me, caller: "authenticated", wantStatus: 200},
		{name: "scheme is case-insensitive", method: "GET", url: me, caller: "bearer:BEARER " + sign(t, jwt.SigningMethodHS256, secret, valid(1)), wantStatus: 200},
		{name: "no token: public may not call /me", method: "GET", url: me, wantStatus: 403, want: []string{errorJSONFor(403, "ForbiddenError", "Forbidden")}},
		{name: "three parts: token absent", method: "GET", url: me, caller: "bearer:Bearer a b", wantStatus: 403},
		{name: "other scheme: token absent", method: "GET", url: me, caller: "bearer:Basic YWxpY2U6cGFzcw==", wantStatus: 403},
		{name: "garbage token", method: "GET", url: me, caller: "bearer:Bearer not.a.token", wantStatus: 401, want: []string{missing}},
		{name: "garbage token on a public route never falls back to public", method: "POST", url: "/api/auth/local",
			body: `{"identifier":"alice","password":"` + testPassword + `"}`, caller: "bearer:Bearer xyz", wantStatus: 401, want: []string{missing}},
		{name: "alg none", method: "GET", url: me, caller: "bearer:Bearer " + unsigned, wantStatus: 401, want: []string{missing}},
		{name: "HS384 with the right secret", method: "GET", url: me, caller: "bearer:Bearer " + sign(t, jwt.SigningMethodHS384, secret, valid(1)), wantStatus: 401},
		{name: "HS512 with the right secret", method: "GET", url: me, caller: "bearer:Bearer " + sign(t, jwt.SigningMethodHS512, secret, valid(1)), wantStatus: 401},
		{name: "RS256", method: "GET", url: me, caller: "bearer:Bearer " + sign(t, jwt.SigningMethodRS256, rsaKey, valid(1)), wantStatus: 401},
		{name: "wrong secret", method: "GET", url: me, caller: "bearer:Bearer " + sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret"), valid(1)), wantStatus: 401},
		{name: "expired", method: "GET", url: me, caller: "bearer:Bearer " + sign(t, jwt.SigningMethodHS256, secret,
			jwt.MapClaims{"id": 1, "iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}), wantStatus: 401, want: []string{missing}},
		{name: "no exp", method: "GET", url: me, caller: "bearer:Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"id": 1, "iat": now.Unix()}), wantStatus: 401},
		{name: "no id", method: "GET", url: me, caller: "bearer:Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}), wantStatus: 401},
		{name: "id not a number", method: "GET", url: me, caller: "bearer:Bearer " + sign(t, jwt.SigningMethodHS256, secret, valid("1 OR 1=1")), wantStatus: 401},
		{name: "negative id", method: "GET", url: me, caller: "bearer:Bearer " + sign(t, jwt.SigningMethodHS256, secret, valid(-1)), wantStatus: 401},
		{name: "issued in the future", method: "GET", url: me, caller: "bearer:Bearer " + sign(t, jwt.SigningMethodHS256, secret,
			jwt.MapClaims{"id": 1, "iat": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix()}), wantStatus: 401},
		{name: "user gone", method: "GET", url: me, caller: "bearer:Bearer " + sign(t, jwt.SigningMethodHS256, secret, valid(999)), wantStatus: 401, want: []string{invalid}},
		{name: "blocked user", method: "GET", url: me, caller: "bearer:Bearer " + sign(t, jwt.SigningMethodHS256, secret, valid(3)),
			setup: func(e *testEnv) {
				e.createUser("bob", "bob@example.com", "authenticated", func(u *store.User) { u.Blocked = true })
			},
			wantStatus: 401, want: []string{invalid}},
		{name: "unconfirmed user while confirmation is on", method: "GET", url: me, caller: "bearer:Bearer " + sign(t, jwt.SigningMethodHS256, secret, valid(3)),
			setup: func(e *testEnv) {
				e.createUser("bob", "bob@example.com", "authenticated", func(u *store.User) { u.Confirmed = false })
				e.setAdvanced(func(a *store.Advanced) { a.EmailConfirmation = true })
			},
			wantStatus: 401, want: []string{invalid}},
		{name: "token issued before a password change", method: "GET", url: me, caller: "bearer:Bearer " + sign(t, jwt.SigningMethodHS256, secret,
			jwt.MapClaims{"id": 3, "iat": now.Add(-time.Hour).Unix(), "exp": now.Add(time.Hour).Unix()}),
			setup: func(e *testEnv) {
				e.createUser("bob", "bob@example.com", "authenticated", func(u *store.User) { u.TokensValidAfter = now.UTC() })
			},
			wantStatus: 401, want: []string{missing}},
	})
}

// TestPathTricks proves that no spelling of a path reaches a handler the
// policy forbids: authorization is decided on the matched route pattern.
func TestPathTricks(t *testing.T) {
	e := newTestEnv(t)
	user := http.Header{"Authorization": {"Bearer " + e.token(e.users["authenticated"].ID)}}
	for _, tt := range []struct {
		path   string
		header http.Header
		want   int
	}{
		{"/api/users", nil, 403},
		{"/api/users/", nil, 403},
		{"//api/users", nil, 404},
		{"/api//users", nil, 404},
		{"/api/users/me/../1", user, 404},
		{"/api/users/./1", user, 404},
		{"/api/users/me/..%2F1", user, 404},
		{"/api/users%2F1", user, 403},
		{"/API/USERS", nil, 404},
		{"/api/Users/1", user, 404},
		{"/api/users/1", user, 403},
		{"/api/users/1/", user, 403},
		{"/api/users/count", user, 403},
		{"/api/users/me", user, 200},
		{"/api/users/me/", user, 200},
		{"/api/users%2Fme", user, 200},
		{"/api/users/me%00", user, 403},
		{"/api/users-permissions/roles", user, 403},
		{"/api/users-permissions/roles/1", nil, 403},
		{"/api/users-permissions//roles", user, 404},
	} {
		rec := e.request("GET", tt.path, "", tt.header)
		if rec.Code != tt.want {
			t.Errorf("GET %s: status = %d, want %d\n%s", tt.path, rec.Code, tt.want, rec.Body)
		}
		if rec.Code == 200 && strings.Contains(tt.path, "1") {
			t.Errorf("GET %s reached a handler", tt.path)
		}
	}
}

func TestErrorEnvelopeEverywhere(t *testing.T) {
	big := strings.Repeat("a", 2<<20)
	runScenarios(t, []scenario{
		{name: "unknown route", method: "GET", url: "/nope", wantStatus: 404, want: []string{errorJSONFor(404, "NotFoundError", "Not Found")}},
		{name: "unknown method", method: "PATCH", url: "/api/auth/local", wantStatus: 405, want: []string{`"name":"MethodNotAllowedError"`, `"data":null`}},
		{name: "body too large", method: "POST", url: "/api/auth/local", body: `{"identifier":"` + big + `"}`, wantStatus: 413,
			want: []string{errorJSONFor(413, "PayloadTooLargeError", "Entity too large")}},
		{name: "health", method: "GET", url: "/_health", wantStatus: 204},
	})
}

func TestPanicIsA500InTheEnvelope(t *testing.T) {
	e := newTestEnv(t)
	// Opted out of the policy, so the request reaches the handler.
	ginguard.Public(e.server.guard, e.server.engine, "GET", "/boom", func(c *gin.Context) { panic("kaboom") })
	rec := e.request("GET", "/boom", "", nil)
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), errorJSONFor(500, "InternalServerError", "Internal Server Error")) {
		t.Errorf("GET /boom: %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "kaboom") {
		t.Errorf("the panic value leaked: %s", rec.Body)
	}
}

func TestRateLimit(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.RateLimit = RateLimit{Enabled: true, Max: 3, Interval: time.Minute, IPMax: 100} })
	post := func(path, body string) int {
		return e.request("POST", path, body, nil).Code
	}
	// Login is identifier-less: rotating emails and path spellings share one bucket.
	for i := 0; i < 3; i++ {
		if got := post([]string{"/api/auth/local", "/api/auth/local/", "/api/auth/local"}[i], fmt.Sprintf(`{"identifier":"u%d@example.com","password":"x","email":"e%d@x.io"}`, i, i)); got != 400 {
			t.Fatalf("login %d: status = %d, want 400", i, got)
		}
	}
	rec := e.request("POST", "/api/auth/local", `{"identifier":"alice","password":"`+testPassword+`","email":"other@x.io"}`, nil)
	if rec.Code != 429 || !strings.Contains(rec.Body.String(), errorJSONFor(429, "RateLimitError", "Too many requests, please try again later.")) {
		t.Errorf("4th login: %d %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("X-RateLimit-Limit") != "3" || rec.Header().Get("X-RateLimit-Remaining") != "0" || rec.Header().Get("X-RateLimit-Reset") == "" {
		t.Errorf("headers = %v", rec.Header())
	}
	// Register keys on the body email: another email has its own bucket.
	for i := 0; i < 3; i++ {
		post("/api/auth/local/register", `{"username":"x`+fmt.Sprint(i)+`","email":"same@example.com","password":"secret123"}`)
	}
	if got := post("/api/auth/local/register", `{"username":"zz1","email":"same@example.com","password":"secret123"}`); got != 429 {
		t.Errorf("4th register with one email: status = %d, want 429", got)
	}
	if got := post("/api/auth/local/register", `{"username":"zz2","email":"fresh@example.com","password":"secret123"}`); got != 200 {
		t.Errorf("register with another email: status = %d, want 200", got)
	}
}

// TestRateLimitKeysAreBounded (issue 11 point 1): 200 forgot-password
// requests with a different 1 MB email each, 200 with 12 KB emails and 200
// connect requests with 8 KB provider names leave the limiter's memory less
// than 5 MB larger (the heap after a collection). Keys used to be the raw
// email: 200 MB.
func TestRateLimitKeysAreBounded(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.RateLimit = RateLimit{Enabled: true, Max: 10, Interval: time.Minute} })
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	e.request("POST", "/api/auth/forgot-password", `{"email":"warm@example.com"}`, nil) // first-use allocations
	before := heap()
	email := []byte(strings.Repeat("a", 1<<20-64))
	for i := range 200 {
		copy(email, fmt.Sprintf("%08d", i)) // a new key each time, were the email the key
		rec := e.request("POST", "/api/auth/forgot-password", `{"email":"`+string(email)+`@example.com"}`, nil)
		if rec.Code != 400 && rec.Code != 429 {
			t.Fatalf("forgot-password with a 1 MB email: status = %d, want 400 or 429\n%.300s", rec.Code, rec.Body)
		}
		// An email under the size at which the body is not parsed at all.
		mid := fmt.Sprintf(`{"email":"%08d%s@example.com"}`, i, strings.Repeat("m", 12<<10))
		if rec := e.request("POST", "/api/auth/forgot-password", mid, nil); rec.Code != 400 && rec.Code != 429 {
			t.Fatalf("forgot-password with a 12 KB email: status = %d, want 400 or 429\n%.300s", rec.Code, rec.Body)
		}
		path := fmt.Sprintf("/api/connect/%08d%s", i, strings.Repeat("p", 8<<10))
		if rec := e.request("GET", path, "", nil); rec.Code != 404 && rec.Code != 400 && rec.Code != 429 {
			t.Fatalf("GET /api/connect/<8 KB>: status = %d\n%.300s", rec.Code, rec.Body)
		}
	}
	after := heap()
	grown := int64(after) - int64(before)
	t.Logf("heap after 200 × 1 MB emails, 200 × 12 KB emails and 200 × 8 KB paths: %+d bytes", grown)
	if grown >= 5<<20 {
		t.Errorf("heap grew by %d bytes over 600 rate-limited requests, want < 5 MB", grown)
	}
	if n := e.server.limiter.Store.(*ratelimit.Memory).Len(); n > 3*600 {
		t.Errorf("the limiter keeps %d counters, want at most 3 per request", n)
	}
}

// TestRateLimitPerIPAcrossEmails (issue 11 point 3): one IP rotating emails
// gets RATE_LIMIT_IP_MAX requests per window on each sign-in route, not a
// fresh budget per email; change-password counts per user across IPs.
func TestRateLimitPerIPAcrossEmails(t *testing.T) {
	newEnv := func(t *testing.T) *testEnv {
		return newTestEnv(t, func(c *Config) {
			c.RateLimit = RateLimit{Enabled: true, Max: 10, Interval: time.Minute}
			c.TrustedProxies = []string{"192.0.2.1"} // httptest's RemoteAddr; X-Forwarded-For names the client
		})
	}
	from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	for _, tc := range []struct {
		route string
		body  func(i int) string
		want  int // the status of the first 10
	}{
		{"/api/auth/local/register", func(i int) string {
			return fmt.Sprintf(`{"username":"user%d","email":"user%d@example.com","password":"secret123"}`, i, i)
		}, 200},
		{"/api/auth/forgot-password", func(i int) string { return fmt.Sprintf(`{"email":"user%d@example.com"}`, i) }, 200},
		{"/api/auth/send-email-confirmation", func(i int) string { return fmt.Sprintf(`{"email":"user%d@example.com"}`, i) }, 200},
		{"/api/auth/local", func(i int) string { return fmt.Sprintf(`{"identifier":"user%d@example.com","password":"x"}`, i) }, 400},
	} {
		t.Run(tc.route, func(t *testing.T) {
			e := newEnv(t)
			var got []int
			for i := range 15 {
				got = append(got, e.request("POST", tc.route, tc.body(i), from("203.0.113.5")).Code)
			}
			want := slices.Repeat([]int{tc.want}, 10)
			want = append(want, 429, 429, 429, 429, 429)
			if !slices.Equal(got, want) {
				t.Errorf("15 requests with 15 emails from one IP: statuses = %v, want %v", got, want)
			}
			if rec := e.request("POST", tc.route, tc.body(99), from("203.0.113.6")); rec.Code != tc.want {
				t.Errorf("from another IP: status = %d, want %d\n%s", rec.Code, tc.want, rec.Body)
			}
		})
	}
	t.Run("change-password per user", func(t *testing.T) {
		e := newEnv(t)
		auth := "Bearer " + e.token(e.users["authenticated"].ID)
		body := `{"currentPassword":"wrong-password","password":"NewPassw0rd!","passwordConfirmation":"NewPassw0rd!"}`
		var got []int
		for i := range 11 {
			h := from(fmt.Sprintf("203.0.113.%d", 10+i)) // a new IP each time
			h.Set("Authorization", auth)
			got = append(got, e.request("POST", "/api/auth/change-password", body, h).Code)
		}
		want := append(slices.Repeat([]int{400}, 10), 429)
		if !slices.Equal(got, want) {
			t.Errorf("11 change-password attempts by one user from 11 IPs: statuses = %v, want %v", got, want)
		}
	})
}

func TestRateLimitPrefix(t *testing.T) {
	for _, tt := range []struct{ path, email, want string }{
		{"/api/auth/local", "a@b.c", "noIdentifier:/api/auth/local"},
		{"/API/Auth/Local/", "", "noIdentifier:/api/auth/local"},
		{"//api//auth//local", "", "noIdentifier:/api/auth/local"},
		{"/api/auth/reset-password/../local", "", "noIdentifier:/api/auth/local"},
		{"/api/auth/change-password", "x@y.z", "noIdentifier:/api/auth/change-password"},
		{"/api/connect/github", "x@y.z", "noIdentifier:/api/connect/github"},
		{"/api/auth/local/register", "Foo@Bar.com", "foo@bar.com:/api/auth/local/register"},
		{"/api/auth/forgot-password", "", "unknownIdentifier:/api/auth/forgot-password"},
	} {
		if got := rateLimitPrefix(canonicalPath(tt.path), tt.email); got != tt.want {
			t.Errorf("rateLimitPrefix(%q, %q) = %q, want %q", tt.path, tt.email, got, tt.want)
		}
	}
}

func FuzzVerifyToken(f *testing.F) {
	tokens := Tokens{Secret: []byte("fuzz-secret-fuzz-secret"), TTL: time.Hour, Now: time.Now}
	good, _ := tokens.Issue(7)
	for _, s := range []string{good, "", "a.b.c", "eyJhbGciOiJub25lIn0.eyJpZCI6MX0.", good + "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		id, _, err := tokens.Verify(token)
		if err == nil && token != good {
			// Only a token signed with the secret verifies; any accepted
			// token must re-sign to itself.
			if id == 0 {
				t.Fatalf("Verify(%q) accepted id 0", token)
			}
		}
		if _, ok := guard.BearerToken("Bearer " + token); ok && strings.ContainsAny(token, " \t\n") {
			t.Fatalf("BearerToken accepted a token with spaces: %q", token)
		}
	})
}

// TestRateLimitIgnoresForgedForwardedFor: without TRUSTED_PROXIES a client
// cannot get fresh buckets by sending X-Forwarded-For; behind a trusted
// proxy each forwarded client has its own bucket.
func TestRateLimitIgnoresForgedForwardedFor(t *testing.T) {
	login := `{"identifier":"x","password":"y"}`
	for _, tc := range []struct {
		name    string
		proxies []string
		want    int // status of the 3rd request from a "different" client
	}{
		{"no trusted proxy", nil, 429},
		{"trusted proxy", []string{"192.0.2.1"}, 400}, // httptest's RemoteAddr is 192.0.2.1
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, func(c *Config) {
				c.RateLimit = RateLimit{Enabled: true, Max: 2, Interval: time.Minute}
				c.TrustedProxies = tc.proxies
			})
			for i := 0; i < 2; i++ {
				e.request("POST", "/api/auth/local", login, http.Header{"X-Forwarded-For": {"203.0.113.1"}})
			}
			rec := e.request("POST", "/api/auth/local", login, http.Header{"X-Forwarded-For": {"203.0.113.99"}})
			if rec.Code != tc.want {
				t.Errorf("3rd login with another X-Forwarded-For: status = %d, want %d", rec.Code, tc.want)
			}
		})
	}
}

// TestPublicWithoutPermissions: Strapi's Public role authenticates anonymous
// callers only while it has at least one permission; with none, an
// anonymous request is 401, not 403. Signed-in callers still get 403.
func TestPublicWithoutPermissions(t *testing.T) {
	missing := errorJSONFor(401, "UnauthorizedError", "Missing or invalid credentials")
	forbidden := errorJSONFor(403, "ForbiddenError", "Forbidden")
	dropPublic := func(e *testEnv) {
		t.Helper()
		if err := e.enforcer.RemoveRole(context.Background(), PublicRole, nil); err != nil {
			t.Fatal(err)
		}
	}
	inheritOnly := func(e *testEnv) {
		t.Helper()
		dropPublic(e)
		// Public's only permission comes from a role it inherits.
		if err := e.enforcer.Add([]policy.Rule{
			{Type: "p", Values: []string{"reader", "/api/users/count", "GET"}},
			{Type: "g", Values: []string{PublicRole, "reader"}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	runScenarios(t, []scenario{
		{name: "default policy: anonymous denied is 403", method: "GET", url: "/api/users/me", wantStatus: 403, want: []string{forbidden}},
		{name: "public has no permission: anonymous is 401", method: "GET", url: "/api/users/me", setup: dropPublic, wantStatus: 401, want: []string{missing}},
		{name: "public has no permission: login route is 401 too", method: "POST", url: "/api/auth/local", body: `{"identifier":"alice","password":"x"}`, setup: dropPublic, wantStatus: 401, want: []string{missing}},
		{name: "public has no permission: signed-in denial stays 403", method: "GET", url: "/api/users", caller: "authenticated", setup: dropPublic, wantStatus: 403, want: []string{forbidden}},
		{name: "public has no permission: signed-in allowed route", method: "GET", url: "/api/users/me", caller: "authenticated", setup: dropPublic, wantStatus: 200},
		{name: "public inherits one permission: other routes are 403", method: "GET", url: "/api/users/me", setup: inheritOnly, wantStatus: 403, want: []string{forbidden}},
		{name: "public inherits one permission: that route is allowed", method: "GET", url: "/api/users/count", setup: inheritOnly, wantStatus: 200},
	})
}
