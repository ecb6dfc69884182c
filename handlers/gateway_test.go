package handlers

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/gateway"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/golang-jwt/jwt/v5"
)

// upstreamSeen is what the test upstream saw of one request.
type upstreamSeen struct {
	Method, Path, Query string
	Header              http.Header
}

// testUpstream is the protected app: it answers every request with what
// it saw (JSON), and serves /api/stream, /api/upload, /api/ws and
// /api/slow specially.
type testUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []upstreamSeen
	// proceed lets /api/stream send its second part; gotFirst says
	// /api/upload read its first part.
	proceed, gotFirst chan struct{}
}

func newTestUpstream(t *testing.T) *testUpstream {
	u := &testUpstream{proceed: make(chan struct{}), gotFirst: make(chan struct{})}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, upstreamSeen{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header.Clone()})
		u.mu.Unlock()
		switch r.URL.Path {
		case "/api/stream":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "first\n")
			w.(http.Flusher).Flush()
			select {
			case <-u.proceed:
			case <-time.After(10 * time.Second):
			}
			io.WriteString(w, "second\n")
			return
		case "/api/upload":
			buf := make([]byte, 5)
			if _, err := io.ReadFull(r.Body, buf); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			close(u.gotFirst)
			rest, _ := io.ReadAll(r.Body)
			io.WriteString(w, string(buf)+string(rest))
			return
		case "/api/ws":
			if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				http.Error(w, "want an upgrade", 400)
				return
			}
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			rw.Flush()
			io.Copy(conn, rw) // echo
			return
		case "/api/echo-body":
			b, err := io.ReadAll(r.Body)
			if err != nil {
				return // the proxy cut the body: no answer
			}
			w.Write(b)
			return
		case "/api/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(upstreamSeen{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header})
	}))
	t.Cleanup(u.Close)
	return u
}

// paths returns every path the upstream was asked for.
func (u *testUpstream) paths() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]string, len(u.seen))
	for i, s := range u.seen {
		out[i] = s.Path
	}
	return out
}

// writeFunctions writes the test functions file for the upstream and
// returns its path.
func writeFunctions(t *testing.T, upstream string) string {
	t.Helper()
	file := fmt.Sprintf(`upstream: %s
functions:
  - name: api::post.post.find
    method: GET
    path: /api/posts
  - name: api::post.post.findOne
    method: GET
    path: /api/posts/:id
  - name: api::post.post.create
    method: POST
    path: /api/posts
  - name: api::post.post.stats
    method: GET
    path: /api/posts/admin/stats
  - name: api::post.post.stream
    method: GET
    path: /api/stream
  - name: api::post.post.upload
    method: POST
    path: /api/upload
  - name: api::post.post.live
    method: GET
    path: /api/ws
  - name: api::post.post.slow
    method: GET
    path: /api/slow
  - name: api::post.post.legacy
    method: GET
    path: /api/legacy/:id
    rewrite: /v1/items/:id
  - name: api::health.health.check
    method: GET
    path: /api/healthz
    public: true
  - name: api::post.post.update
    method: PUT
    path: /api/posts/:id
    passAuthorization: true
  - name: api::post.post.import
    method: POST
    path: /api/import
    rewrite: /api/echo-body
    maxBody: 64
  - name: api::post.post.echo
    method: POST
    path: /api/echo-body
  - name: api::down.down.find
    method: GET
    path: /api/down
    upstream: http://127.0.0.1:1
`, upstream)
	path := filepath.Join(t.TempDir(), "functions.yaml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// gatewayGrants are the test policy's rows for the app's functions.
var gatewayGrants = []policy.Rule{
	{Type: "p", Values: []string{"public", "/api/posts", "GET"}},
	{Type: "p", Values: []string{"authenticated", "/api/posts/:id", "GET"}},
	{Type: "p", Values: []string{"authenticated", "/api/posts", "POST"}},
	{Type: "p", Values: []string{"authenticated", "/api/posts/:id", "PUT"}},
	{Type: "p", Values: []string{"public", "/api/import", "POST"}},
	{Type: "p", Values: []string{"public", "/api/echo-body", "POST"}},
	{Type: "p", Values: []string{"authenticated", "/api/stream", "GET"}},
	{Type: "p", Values: []string{"authenticated", "/api/upload", "POST"}},
	{Type: "p", Values: []string{"authenticated", "/api/ws", "GET"}},
	{Type: "p", Values: []string{"authenticated", "/api/slow", "GET"}},
	{Type: "p", Values: []string{"authenticated", "/api/legacy/:id", "GET"}},
	{Type: "p", Values: []string{"public", "/api/down", "GET"}},
	{Type: "p", Values: []string{"admin", "/api/posts/admin/stats", "GET"}},
}

// newGatewayEnv is a test env with the functions file of upstream and the
// grants above; gatewayMode turns the proxy on.
func newGatewayEnv(t *testing.T, upstream string, gatewayMode bool, opts ...func(*Config)) *testEnv {
	t.Helper()
	routes, err := gateway.NewRoutes(writeFunctions(t, upstream), OwnRoutes(), nil)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]func(*Config){func(c *Config) {
		c.Functions, c.Gateway, c.GatewayTimeout = routes, gatewayMode, 2*time.Second
	}}, opts...)
	e := newTestEnv(t, opts...)
	if err := e.enforcer.Add(gatewayGrants); err != nil {
		t.Fatal(err)
	}
	return e
}

// verifyRequest sends GET /api/authz/verify from peer with the headers.
func (e *testEnv) verifyRequest(peer string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, VerifyRoute, nil)
	req.RemoteAddr = peer
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	e.server.ServeHTTP(rec, req)
	return rec
}

func TestForwardAuthVerify(t *testing.T) {
	e := newGatewayEnv(t, "http://127.0.0.1:3000", false)
	alice, root := e.users["authenticated"], e.users["admin"]
	bearer := func(id uint) string { return "Bearer " + e.token(id) }
	const loopback = "127.0.0.1:40000"
	cases := []struct {
		name                 string
		peer                 string
		header               map[string]string
		wantStatus           int
		wantUser, wantRole   string
		wantFunction, inBody string
	}{
		{"anonymous with a public grant", loopback, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/posts?page=2"}, 200, "", "public", "api::post.post.find", ""},
		{"signed in, allowed", loopback, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/posts/7", "Authorization": bearer(alice.ID)}, 200, strconv.Itoa(int(alice.ID)), "authenticated", "api::post.post.findOne", ""},
		{"nginx's X-Original headers", loopback, map[string]string{"X-Original-Method": "POST", "X-Original-URI": "/api/posts", "Authorization": bearer(alice.ID)}, 200, strconv.Itoa(int(alice.ID)), "authenticated", "api::post.post.create", ""},
		{"HEAD decided as GET", loopback, map[string]string{"X-Forwarded-Method": "HEAD", "X-Forwarded-Uri": "/api/posts/7", "Authorization": bearer(alice.ID)}, 200, strconv.Itoa(int(alice.ID)), "authenticated", "api::post.post.findOne", ""},
		{"anonymous, denied", loopback, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/posts/7"}, 403, "", "", "", `"name":"ForbiddenError"`},
		{"signed in, denied", loopback, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/posts/admin/stats", "Authorization": bearer(alice.ID)}, 403, "", "", "", `"name":"ForbiddenError"`},
		{"admin, allowed", loopback, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/posts/admin/stats", "Authorization": bearer(root.ID)}, 200, strconv.Itoa(int(root.ID)), "admin", "api::post.post.stats", ""},
		{"forged token", loopback, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/posts", "Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJpZCI6MX0."}, 401, "", "", "", `"name":"UnauthorizedError"`},
		{"public function ignores the token", loopback, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/healthz", "Authorization": "Bearer nonsense"}, 200, "", "", "api::health.health.check", ""},
		{"unmatched → 404", loopback, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/secrets", "Authorization": bearer(root.ID)}, 404, "", "", "", `"name":"NotFoundError"`},
		{"wrong method → 404", loopback, map[string]string{"X-Forwarded-Method": "DELETE", "X-Forwarded-Uri": "/api/posts/1", "Authorization": bearer(root.ID)}, 404, "", "", "", `"name":"NotFoundError"`},
		{"Gatehouse's own route is no function", loopback, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/users/me", "Authorization": bearer(alice.ID)}, 404, "", "", "", ""},
		{"dot-dot", loopback, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/posts/7/../admin/stats", "Authorization": bearer(alice.ID)}, 400, "", "", "", `"name":"ValidationError"`},
		{"encoded dot-dot", loopback, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/posts/%2e%2e/posts/admin/stats", "Authorization": bearer(alice.ID)}, 400, "", "", "", ""},
		{"encoded slash", loopback, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/posts/admin%2Fstats", "Authorization": bearer(alice.ID)}, 400, "", "", "", ""},
		{"double slash", loopback, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "//api/posts/admin/stats", "Authorization": bearer(alice.ID)}, 400, "", "", "", ""},
		{"case is the stricter function", loopback, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/API/Posts/ADMIN/stats", "Authorization": bearer(alice.ID)}, 403, "", "", "", ""},
		{"trailing slash", loopback, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/posts/admin/stats/", "Authorization": bearer(alice.ID)}, 403, "", "", "", ""},
		{"query cannot change the path", loopback, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/posts?/../admin/stats"}, 200, "", "public", "api::post.post.find", ""},
		{"absolute URI", loopback, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "http://evil/api/posts"}, 400, "", "", "", ""},
		{"untrusted peer", "203.0.113.9:40000", map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/posts"}, 403, "", "", "", "FORWARD_AUTH_PROXIES"},
		{"no forwarded request", loopback, map[string]string{"Authorization": bearer(alice.ID)}, 400, "", "", "", "X-Forwarded-Method"},
		{"half a pair", loopback, map[string]string{"X-Forwarded-Uri": "/api/posts"}, 400, "", "", "", ""},
		{"pairs disagree", loopback, map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/api/posts", "X-Original-Method": "GET", "X-Original-URI": "/api/posts/admin/stats"}, 400, "", "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range c.header {
				h.Set(k, v)
			}
			h.Set(gateway.HeaderUserID, "999") // spoofed: must never come back
			rec := e.verifyRequest(c.peer, h)
			if rec.Code != c.wantStatus {
				t.Fatalf("verify %v: status = %d, want %d\n%s", c.header, rec.Code, c.wantStatus, rec.Body)
			}
			if got := rec.Header().Get(gateway.HeaderUserID); got != c.wantUser {
				t.Errorf("%s = %q, want %q", gateway.HeaderUserID, got, c.wantUser)
			}
			if got := rec.Header().Get(gateway.HeaderRole); got != c.wantRole {
				t.Errorf("%s = %q, want %q", gateway.HeaderRole, got, c.wantRole)
			}
			if got := rec.Header().Get(gateway.HeaderFunction); got != c.wantFunction {
				t.Errorf("%s = %q, want %q", gateway.HeaderFunction, got, c.wantFunction)
			}
			if !strings.Contains(rec.Body.String(), c.inBody) {
				t.Errorf("body lacks %q: %s", c.inBody, rec.Body)
			}
			if rec.Code >= 400 && !json.Valid(rec.Body.Bytes()) {
				t.Errorf("error body is not JSON: %s", rec.Body)
			}
		})
	}
}

// TestForwardAuthTraefikContract sends what Traefik's ForwardAuth sends
// (its documented X-Forwarded-* set, the original Authorization copied):
// Traefik is not packaged by Debian, so no end-to-end test runs it.
func TestForwardAuthTraefikContract(t *testing.T) {
	e := newGatewayEnv(t, "http://127.0.0.1:3000", false)
	alice := e.users["authenticated"]
	h := http.Header{}
	h.Set("X-Forwarded-Method", "GET")
	h.Set("X-Forwarded-Proto", "https")
	h.Set("X-Forwarded-Host", "app.example.com")
	h.Set("X-Forwarded-Uri", "/api/posts/12?draft=1")
	h.Set("X-Forwarded-For", "198.51.100.7")
	h.Set("Authorization", "Bearer "+e.token(alice.ID))
	rec := e.verifyRequest("127.0.0.1:50000", h)
	if rec.Code != http.StatusOK || rec.Header().Get(gateway.HeaderUserID) != strconv.Itoa(int(alice.ID)) || rec.Header().Get(gateway.HeaderRole) != "authenticated" {
		t.Fatalf("Traefik-style verify: status %d, headers %v\n%s", rec.Code, rec.Header(), rec.Body)
	}
	h.Set("X-Forwarded-Uri", "/api/posts/admin/stats")
	if rec := e.verifyRequest("127.0.0.1:50000", h); rec.Code != http.StatusForbidden {
		t.Errorf("Traefik-style verify of a denied function: status %d, want 403", rec.Code)
	}
}

// TestForwardAuthRefreshCookie: in refresh mode a browser's refresh cookie
// authenticates a forward-auth request (read, never rotated); a revoked
// session's does not.
func TestForwardAuthRefreshCookie(t *testing.T) {
	e := newGatewayEnv(t, "http://127.0.0.1:3000", false, func(c *Config) { c.JWTManagement = jwtRefresh })
	login := e.request(http.MethodPost, "/api/auth/local", `{"identifier":"alice@example.com","password":"`+testPassword+`"}`,
		http.Header{"X-Strapi-Refresh-Cookie": {"httpOnly"}})
	if login.Code != http.StatusOK {
		t.Fatalf("login: %d %s", login.Code, login.Body)
	}
	var cookie *http.Cookie
	for _, c := range login.Result().Cookies() {
		if c.Name == "strapi_up_refresh" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("login set no refresh cookie")
	}
	h := http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/api/posts/3"}, "Cookie": {cookie.String()}}
	for range 2 { // read twice: it was not rotated
		rec := e.verifyRequest("127.0.0.1:1", h)
		if rec.Code != http.StatusOK || rec.Header().Get(gateway.HeaderRole) != "authenticated" {
			t.Fatalf("verify with the refresh cookie: %d %v %s", rec.Code, rec.Header(), rec.Body)
		}
	}
	h.Set("Cookie", "strapi_up_refresh=not-a-token")
	if rec := e.verifyRequest("127.0.0.1:1", h); rec.Code != http.StatusUnauthorized {
		t.Errorf("verify with a bad refresh cookie: %d, want 401", rec.Code)
	}
}

// TestFunctionCookieCSRF: a request to the app authenticated by the refresh
// cookie alone (gateway mode and forward-auth) with an unsafe method must
// come from PUBLIC_URL or a CORS origin, by Origin or else Referer, whatever
// the cookie's SameSite; safe methods and bearer tokens are not checked.
func TestFunctionCookieCSRF(t *testing.T) {
	up := newTestUpstream(t)
	e := newGatewayEnv(t, up.URL, true, func(c *Config) {
		c.JWTManagement, c.PublicURL = jwtRefresh, "https://app.example.com"
	})
	srv := gatewayServer(t, e)
	addr := strings.TrimPrefix(srv.URL, "http://")
	login := e.request(http.MethodPost, "/api/auth/local", `{"identifier":"alice@example.com","password":"`+testPassword+`"}`,
		http.Header{"X-Strapi-Refresh-Cookie": {"httpOnly"}, "Origin": {"https://app.example.com"}})
	var cookie string
	for _, c := range login.Result().Cookies() {
		if c.Name == "strapi_up_refresh" {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" {
		t.Fatalf("login set no refresh cookie: %d %s", login.Code, login.Body)
	}
	bearer := "Bearer " + e.token(e.users["authenticated"].ID)
	cases := []struct {
		name, method, target string
		header               map[string]string
		wantStatus           int
	}{
		{"POST, own origin", "POST", "/api/posts", map[string]string{"Origin": "https://app.example.com"}, 200},
		{"POST, foreign origin", "POST", "/api/posts", map[string]string{"Origin": "https://evil.example"}, 403},
		{"POST, opaque origin", "POST", "/api/posts", map[string]string{"Origin": "null"}, 403},
		{"POST, no origin, own referer", "POST", "/api/posts", map[string]string{"Referer": "https://app.example.com/editor?x=1"}, 200},
		{"POST, no origin, foreign referer", "POST", "/api/posts", map[string]string{"Referer": "https://evil.example/"}, 403},
		{"POST, neither", "POST", "/api/posts", map[string]string{}, 403},
		{"PUT, foreign origin", "PUT", "/api/posts/3", map[string]string{"Origin": "https://evil.example"}, 403},
		{"GET, foreign origin", "GET", "/api/posts/3", map[string]string{"Origin": "https://evil.example"}, 200},
		{"GET, neither", "GET", "/api/posts/3", map[string]string{}, 200},
		{"POST by bearer token, foreign origin", "POST", "/api/posts", map[string]string{"Authorization": bearer, "Origin": "https://evil.example"}, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range c.header {
				h.Set(k, v)
			}
			if h.Get("Authorization") == "" {
				h.Set("Cookie", cookie)
			}
			before := len(up.paths())
			res, body := rawRequest(t, addr, c.method, c.target, h)
			if res.StatusCode != c.wantStatus {
				t.Fatalf("gateway %s %s %v: status = %d, want %d\n%s", c.method, c.target, c.header, res.StatusCode, c.wantStatus, body)
			}
			if reached := len(up.paths()) > before; reached != (c.wantStatus == 200) {
				t.Errorf("gateway: the upstream was reached: %v", reached)
			}
			if c.wantStatus == 403 && !strings.Contains(body, `"name":"ForbiddenError"`) {
				t.Errorf("gateway: not the error format: %s", body)
			}
			h.Set("X-Forwarded-Method", c.method)
			h.Set("X-Forwarded-Uri", c.target)
			if rec := e.verifyRequest("127.0.0.1:1", h); rec.Code != c.wantStatus {
				t.Errorf("verify %s %s %v: status = %d, want %d\n%s", c.method, c.target, c.header, rec.Code, c.wantStatus, rec.Body)
			}
		})
	}
}

// TestFunctionsJoinTheCatalogue: the roles API lists the app's functions
// like Gatehouse's own, with the policy's decisions.
func TestFunctionsJoinTheCatalogue(t *testing.T) {
	e := newGatewayEnv(t, "http://127.0.0.1:3000", false)
	header := http.Header{"Authorization": {"Bearer " + e.token(e.users["admin"].ID)}}
	rec := e.request(http.MethodGet, "/api/users-permissions/permissions", "", header)
	if rec.Code != http.StatusOK {
		t.Fatalf("permissions: %d %s", rec.Code, rec.Body)
	}
	for _, want := range []string{`"api::post"`, `"findOne"`, `"api::health"`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("permissions lack %s: %s", want, rec.Body)
		}
	}
	role, err := e.store.Roles().ByType(t.Context(), "public")
	if err != nil {
		t.Fatal(err)
	}
	rec = e.request(http.MethodGet, "/api/users-permissions/roles/"+strconv.Itoa(int(role.ID)), "", header)
	var body struct {
		Role struct {
			Permissions map[string]struct {
				Controllers map[string]map[string]struct{ Enabled bool }
			}
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("role: %v %s", err, rec.Body)
	}
	post := body.Role.Permissions["api::post"].Controllers["post"]
	if !post["find"].Enabled || post["findOne"].Enabled {
		t.Errorf("public role: find %v, findOne %v; want true, false\n%s", post["find"].Enabled, post["findOne"].Enabled, rec.Body)
	}
}

// gatewayServer serves the env over a real listener (WebSockets need one).
func gatewayServer(t *testing.T, e *testEnv) *httptest.Server {
	srv := httptest.NewServer(e.server)
	t.Cleanup(srv.Close)
	return srv
}

// rawRequest sends a request line exactly as written (no client cleans or
// escapes it) and returns the answer.
func rawRequest(t *testing.T, addr, method, target string, header http.Header) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: gatehouse.test\r\nConnection: close\r\n", method, target)
	header.Write(&b)
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(body)
}

func TestGatewayProxies(t *testing.T) {
	up := newTestUpstream(t)
	e := newGatewayEnv(t, up.URL, true)
	srv := gatewayServer(t, e)
	addr := strings.TrimPrefix(srv.URL, "http://")
	alice, root := e.users["authenticated"], e.users["admin"]
	bearer := func(id uint) http.Header { return http.Header{"Authorization": {"Bearer " + e.token(id)}} }
	spoofed := func(h http.Header) http.Header {
		h = h.Clone()
		h.Set("X-Gatehouse-User-Id", "1")
		h.Set("X-Gatehouse-Role", "admin")
		h.Set("X-Gatehouse-Anything", "x")
		h.Set("X-Forwarded-For", "10.9.9.9")
		return h
	}
	cases := []struct {
		name, method, target string
		header               http.Header
		wantStatus           int
		// upstream: the path it must have been asked for ("" = not asked)
		upstream, wantUser, wantRole string
	}{
		{"anonymous with a public grant", "GET", "/api/posts?page=2", http.Header{}, 200, "/api/posts", "", "public"},
		{"allowed", "GET", "/api/posts/7", bearer(alice.ID), 200, "/api/posts/7", strconv.Itoa(int(alice.ID)), "authenticated"},
		{"spoofed identity headers are replaced", "GET", "/api/posts/8", spoofed(bearer(alice.ID)), 200, "/api/posts/8", strconv.Itoa(int(alice.ID)), "authenticated"},
		{"spoofed identity headers are stripped (anonymous)", "GET", "/api/posts", spoofed(http.Header{}), 200, "/api/posts", "", "public"},
		{"public function", "GET", "/api/healthz", http.Header{"Authorization": {"Bearer junk"}}, 200, "/api/healthz", "", ""},
		{"trailing slash", "GET", "/api/posts/9/", bearer(alice.ID), 200, "/api/posts/9", strconv.Itoa(int(alice.ID)), "authenticated"},
		{"rewrite", "GET", "/api/legacy/caf%C3%A9?x=1", bearer(alice.ID), 200, "/v1/items/caf%C3%A9", strconv.Itoa(int(alice.ID)), "authenticated"},
		{"admin allowed", "GET", "/api/posts/admin/stats", bearer(root.ID), 200, "/api/posts/admin/stats", strconv.Itoa(int(root.ID)), "admin"},
		{"denied", "GET", "/api/posts/admin/stats", bearer(alice.ID), 403, "", "", ""},
		{"anonymous denied", "GET", "/api/posts/7", http.Header{}, 403, "", "", ""},
		{"forged token", "GET", "/api/posts", http.Header{"Authorization": {"Bearer eyJhbGciOiJub25lIn0.eyJpZCI6MX0."}}, 401, "", "", ""},
		{"no function", "GET", "/api/secrets", bearer(root.ID), 404, "", "", ""},
		{"no function for the method", "DELETE", "/api/posts/7", bearer(root.ID), 404, "", "", ""},
		// Path tricks aimed at /api/posts/admin/stats, which alice may not call.
		{"dot-dot", "GET", "/api/posts/7/../admin/stats", bearer(alice.ID), 400, "", "", ""},
		{"encoded dot-dot", "GET", "/api/posts/%2e%2e/posts/admin/stats", bearer(alice.ID), 400, "", "", ""},
		{"encoded upper-case dot-dot", "GET", "/api/posts/7/%2E%2E/admin/stats", bearer(alice.ID), 400, "", "", ""},
		{"encoded slash", "GET", "/api/posts/admin%2Fstats", bearer(alice.ID), 400, "", "", ""},
		{"double slash", "GET", "//api/posts/admin/stats", bearer(alice.ID), 400, "", "", ""},
		{"inner double slash", "GET", "/api/posts//admin/stats", bearer(alice.ID), 400, "", "", ""},
		{"case", "GET", "/API/POSTS/ADMIN/STATS", bearer(alice.ID), 403, "", "", ""},
		{"trailing slash on the forbidden one", "GET", "/api/posts/admin/stats/", bearer(alice.ID), 403, "", "", ""},
		{"matrix parameter", "GET", "/api/posts/admin;x=1/stats", bearer(alice.ID), 400, "", "", ""},
		{"encoded letter", "GET", "/api/posts/%61dmin/stats", bearer(alice.ID), 400, "", "", ""},
		{"backslash", "GET", "/api/posts/admin%5Cstats", bearer(alice.ID), 400, "", "", ""},
		// Gatehouse's own routes are served by Gatehouse, never proxied.
		{"Gatehouse's own route", "GET", "/api/users/me", bearer(alice.ID), 200, "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(up.paths())
			res, body := rawRequest(t, addr, c.method, c.target, c.header)
			if res.StatusCode != c.wantStatus {
				t.Fatalf("%s %s: status = %d, want %d\n%s", c.method, c.target, res.StatusCode, c.wantStatus, body)
			}
			if res.StatusCode >= 400 && !json.Valid([]byte(body)) {
				t.Errorf("error body is not JSON: %s", body)
			}
			after := up.paths()[before:]
			if c.upstream == "" {
				if len(after) > 0 {
					t.Fatalf("%s %s reached the upstream: %v", c.method, c.target, after)
				}
				return
			}
			if len(after) != 1 || after[0] != c.upstream {
				t.Fatalf("upstream asked for %v, want [%s]", after, c.upstream)
			}
			up.mu.Lock()
			seen := up.seen[len(up.seen)-1]
			up.mu.Unlock()
			if got := seen.Header.Get(gateway.HeaderUserID); got != c.wantUser {
				t.Errorf("upstream saw %s %q, want %q", gateway.HeaderUserID, got, c.wantUser)
			}
			if got := seen.Header.Get(gateway.HeaderRole); got != c.wantRole {
				t.Errorf("upstream saw %s %q, want %q", gateway.HeaderRole, got, c.wantRole)
			}
			if got := seen.Header.Get("X-Gatehouse-Anything"); got != "" {
				t.Errorf("upstream saw a client's X-Gatehouse-Anything: %q", got)
			}
			if got := seen.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
				t.Errorf("upstream saw X-Forwarded-For %q, want the client's address only", got)
			}
			if got := seen.Header.Get("X-Forwarded-Host"); got != "gatehouse.test" {
				t.Errorf("upstream saw X-Forwarded-Host %q", got)
			}
		})
	}
	for _, p := range up.paths() {
		if strings.Contains(strings.ToLower(p), "admin") && !strings.HasPrefix(p, "/api/posts/admin/stats") {
			t.Errorf("the upstream was asked for %q", p)
		}
	}
}

// TestGatewayStripsCredentials: the upstream never receives what would let
// it act as the user against Gatehouse — the bearer token (unless the
// function opts in with passAuthorization) and Gatehouse's own cookies —
// while the app's own cookies and other Authorization schemes pass.
func TestGatewayStripsCredentials(t *testing.T) {
	up := newTestUpstream(t)
	e := newGatewayEnv(t, up.URL, true)
	srv := gatewayServer(t, e)
	addr := strings.TrimPrefix(srv.URL, "http://")
	token := "Bearer " + e.token(e.users["authenticated"].ID)
	cookies := "strapi_up_refresh=secret-refresh; theme=dark; gatehouse_oauth_state=s1; gatehouse_oauth_session=s2"
	cases := []struct {
		name, method, target, authorization, cookie string
		wantAuthorization, wantCookie               string
	}{
		{"decided function", "GET", "/api/posts/7", token, cookies, "", "theme=dark"},
		{"lower-case scheme", "GET", "/api/posts/7", "bearer " + e.token(e.users["authenticated"].ID), "", "", ""},
		{"public function with a token", "GET", "/api/healthz", token, "strapi_up_refresh=secret-refresh", "", ""},
		{"anonymous, cookies only", "GET", "/api/posts", "", "a=1;strapi_up_refresh=x;b=2", "", "a=1; b=2"},
		{"another scheme is the app's", "GET", "/api/healthz", "Basic dXNlcjpwdw==", "", "Basic dXNlcjpwdw==", ""},
		{"passAuthorization", "PUT", "/api/posts/7", token, cookies, token, "theme=dark"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{"Authorization": {c.authorization}}
			if c.cookie != "" {
				h.Set("Cookie", c.cookie)
			}
			before := len(up.paths())
			res, body := rawRequest(t, addr, c.method, c.target, h)
			if res.StatusCode != http.StatusOK || len(up.paths()) != before+1 {
				t.Fatalf("%s %s: status = %d, want 200 from the upstream\n%s", c.method, c.target, res.StatusCode, body)
			}
			up.mu.Lock()
			seen := up.seen[len(up.seen)-1]
			up.mu.Unlock()
			if got := seen.Header.Get("Authorization"); got != c.wantAuthorization {
				t.Errorf("upstream saw Authorization %q, want %q", got, c.wantAuthorization)
			}
			if got := strings.Join(seen.Header.Values("Cookie"), " | "); got != c.wantCookie {
				t.Errorf("upstream saw Cookie %q, want %q", got, c.wantCookie)
			}
		})
	}
}

func TestGatewayStreamsResponses(t *testing.T) {
	up := newTestUpstream(t)
	e := newGatewayEnv(t, up.URL, true)
	srv := gatewayServer(t, e)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/stream", nil)
	req.Header.Set("Authorization", "Bearer "+e.token(e.users["authenticated"].ID))
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	r := bufio.NewReader(res.Body)
	first, err := r.ReadString('\n')
	if err != nil || first != "first\n" {
		t.Fatalf("first part: %q, %v", first, err)
	}
	// The upstream sends the rest only now: the first part came through
	// while the response was still open.
	close(up.proceed)
	rest, err := io.ReadAll(r)
	if err != nil || string(rest) != "second\n" {
		t.Fatalf("second part: %q, %v", rest, err)
	}
}

func TestGatewayStreamsRequestBodies(t *testing.T) {
	up := newTestUpstream(t)
	e := newGatewayEnv(t, up.URL, true, func(c *Config) { c.BodyLimit = 1024 })
	srv := gatewayServer(t, e)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/upload", pr)
	req.Header.Set("Authorization", "Bearer "+e.token(e.users["authenticated"].ID))
	go func() {
		io.WriteString(pw, "part1")
		select {
		case <-up.gotFirst: // the upstream read it before the rest was sent
		case <-time.After(10 * time.Second):
		}
		// More than BODY_LIMIT: the app's bodies are the app's business.
		io.WriteString(pw, strings.Repeat("x", 4096))
		pw.Close()
	}()
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	select {
	case <-up.gotFirst:
	default:
		t.Fatal("the upstream never read the first part")
	}
	if res.StatusCode != 200 || string(body) != "part1"+strings.Repeat("x", 4096) {
		t.Fatalf("upload: %d %q", res.StatusCode, body)
	}
}

// TestGatewayBodyLimits: a proxied body over the function's maxBody (else
// GATEWAY_MAX_BODY) is 413 in the error format — up front when its
// Content-Length says so (the upstream is never asked), as it streams past
// the limit otherwise; bodies within it pass whole.
func TestGatewayBodyLimits(t *testing.T) {
	up := newTestUpstream(t)
	e := newGatewayEnv(t, up.URL, true, func(c *Config) { c.GatewayMaxBody = 2048 })
	srv := gatewayServer(t, e)
	cases := []struct {
		name, path string
		size       int
		chunked    bool
		wantStatus int
		// wantAsked: whether the upstream sees the request; a body cut
		// while streaming may be cut before or after it does ("either").
		wantAsked string
	}{
		{"within maxBody", "/api/import", 64, false, 200, "yes"},
		{"within maxBody, streamed", "/api/import", 64, true, 200, "yes"},
		{"over maxBody, declared", "/api/import", 65, false, 413, "no"},
		{"over maxBody, streamed", "/api/import", 4096, true, 413, "either"},
		{"within GATEWAY_MAX_BODY", "/api/echo-body", 2048, false, 200, "yes"},
		{"over GATEWAY_MAX_BODY, declared", "/api/echo-body", 2049, false, 413, "no"},
		{"over GATEWAY_MAX_BODY, streamed", "/api/echo-body", 100 << 10, true, 413, "either"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			payload := strings.Repeat("x", c.size)
			var body io.Reader = strings.NewReader(payload)
			if c.chunked {
				body = io.MultiReader(body) // no length: sent chunked
			}
			req, _ := http.NewRequest(http.MethodPost, srv.URL+c.path, body)
			before := len(up.paths())
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != c.wantStatus {
				t.Fatalf("POST %s (%d bytes): status = %d, want %d\n%.200s", c.path, c.size, res.StatusCode, c.wantStatus, got)
			}
			if c.wantStatus == 200 && string(got) != payload {
				t.Errorf("the upstream got %d bytes, want %d", len(got), c.size)
			}
			if c.wantStatus == 413 && !strings.Contains(string(got), `"name":"PayloadTooLargeError"`) {
				t.Errorf("413 not in the error format: %s", got)
			}
			if asked := len(up.paths()) > before; c.wantAsked != "either" && asked != (c.wantAsked == "yes") {
				t.Errorf("upstream asked: %v, want %v", asked, c.wantAsked)
			}
		})
	}
}

// TestGatewayBodyTimeout: a client sending a proxied body too slowly
// (slow loris) is cut at GATEWAY_BODY_TIMEOUT with 408 in the error format;
// a body sent in time is not.
func TestGatewayBodyTimeout(t *testing.T) {
	up := newTestUpstream(t)
	e := newGatewayEnv(t, up.URL, true, func(c *Config) { c.GatewayBodyTimeout = 300 * time.Millisecond })
	srv := gatewayServer(t, e)
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(srv.URL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	io.WriteString(conn, "POST /api/echo-body HTTP/1.1\r\nHost: gatehouse.test\r\nContent-Length: 100\r\n\r\n0123456789")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("a slow body was never answered: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), `"name":"RequestTimeoutError"`) {
		t.Fatalf("slow body: %d %s, want 408 in the error format", res.StatusCode, body)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("slow body answered after %v", took)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/echo-body", strings.NewReader("in time"))
	res, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(got) != "in time" {
		t.Errorf("a body sent in time: %d %q", res.StatusCode, got)
	}
}

func TestGatewayWebSocket(t *testing.T) {
	up := newTestUpstream(t)
	e := newGatewayEnv(t, up.URL, true)
	srv := gatewayServer(t, e)
	dial := func(auth string) (net.Conn, *bufio.Reader, *http.Response) {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(srv.URL, "http://"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "GET /api/ws HTTP/1.1\r\nHost: gatehouse.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n%s\r\n", auth)
		r := bufio.NewReader(conn)
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		return conn, r, res
	}
	conn, r, res := dial("Authorization: Bearer " + e.token(e.users["authenticated"].ID) + "\r\n")
	defer conn.Close()
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: status %d", res.StatusCode)
	}
	for _, msg := range []string{"hello", "again, both ways"} {
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(r, got); err != nil || string(got) != msg {
			t.Fatalf("echo: %q, %v; want %q", got, err, msg)
		}
	}
	anon, _, res := dial("")
	defer anon.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous upgrade: status %d, want 403", res.StatusCode)
	}
}

func TestGatewayUpstreamFailures(t *testing.T) {
	up := newTestUpstream(t)
	e := newGatewayEnv(t, up.URL, true, func(c *Config) { c.GatewayTimeout = 300 * time.Millisecond })
	srv := gatewayServer(t, e)
	auth := http.Header{"Authorization": {"Bearer " + e.token(e.users["authenticated"].ID)}}
	res, body := rawRequest(t, strings.TrimPrefix(srv.URL, "http://"), "GET", "/api/down", http.Header{})
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, `"name":"BadGatewayError"`) {
		t.Errorf("upstream down: %d %s, want 502 BadGatewayError", res.StatusCode, body)
	}
	start := time.Now()
	res, body = rawRequest(t, strings.TrimPrefix(srv.URL, "http://"), "GET", "/api/slow", auth)
	if res.StatusCode != http.StatusGatewayTimeout || !strings.Contains(body, `"name":"GatewayTimeoutError"`) {
		t.Errorf("slow upstream: %d %s, want 504 GatewayTimeoutError", res.StatusCode, body)
	}
	if elapsed := time.Since(start); elapsed > 8*time.Second {
		t.Errorf("slow upstream: answered after %s, want about GatewayTimeout", elapsed)
	}
}

// TestGatewayReload: a reloaded functions file changes what is proxied and
// the catalogue at once; a bad one changes nothing.
func TestGatewayReload(t *testing.T) {
	up := newTestUpstream(t)
	e := newGatewayEnv(t, up.URL, true)
	path := e.cfg.Functions.Path()
	srv := gatewayServer(t, e)
	get := func(target string) int {
		res, _ := rawRequest(t, strings.TrimPrefix(srv.URL, "http://"), "GET", target, http.Header{})
		return res.StatusCode
	}
	if code := get("/api/posts"); code != 200 {
		t.Fatalf("before reload: %d", code)
	}
	if err := os.WriteFile(path, []byte("functions: [oops"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.cfg.Functions.Reload(); err == nil {
		t.Fatal("reload of a broken file: no error")
	}
	if code := get("/api/posts"); code != 200 {
		t.Fatalf("after a refused reload: %d", code)
	}
	if err := os.WriteFile(path, []byte("upstream: "+up.URL+"\nfunctions:\n  - name: api::note.note.find\n    method: GET\n    path: /api/notes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.cfg.Functions.Reload(); err != nil {
		t.Fatal(err)
	}
	if code := get("/api/posts"); code != 404 {
		t.Errorf("a function gone after reload: %d, want 404", code)
	}
	if _, ok := e.server.Catalog().ByName("api::note.note.find"); !ok {
		t.Error("the new function is not in the catalogue")
	}
	if _, ok := e.server.Catalog().ByName("api::post.post.find"); ok {
		t.Error("the removed function is still in the catalogue")
	}
}

// TestGatewayMetricsNameTheFunction: proxied requests and forward-auth
// decisions are counted under the function's route pattern, not as
// unmatched.
func TestGatewayMetricsNameTheFunction(t *testing.T) {
	up := newTestUpstream(t)
	m := metrics.New()
	e := newGatewayEnv(t, up.URL, true, func(c *Config) { c.Metrics = m })
	srv := gatewayServer(t, e)
	auth := http.Header{"Authorization": {"Bearer " + e.token(e.users["authenticated"].ID)}}
	for _, target := range []string{"/api/posts/1", "/api/posts/2", "/api/nothing"} {
		rawRequest(t, strings.TrimPrefix(srv.URL, "http://"), "GET", target, auth)
	}
	families := scrape(t, m)
	if got := sample(families, "gatehouse_http_requests_total", map[string]string{"route": "/api/posts/:id", "method": "GET", "code": "2xx"}); got != 2 {
		t.Errorf("requests counted under /api/posts/:id: %v, want 2", got)
	}
	if got := sample(families, "gatehouse_http_requests_total", map[string]string{"route": "unmatched", "method": "GET", "code": "4xx"}); got != 1 {
		t.Errorf("unmatched requests: %v, want 1", got)
	}
}

// testUpstreamSecret signs X-Gatehouse-Token in the tests that turn it on.
const testUpstreamSecret = "upstream-secret-upstream-secret-0123456789"

// checkUpstreamToken verifies an X-Gatehouse-Token as an app would: the
// upstream secret, HS256, aud upstream, not expired; it returns the claims.
func checkUpstreamToken(t *testing.T, token string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return []byte(testUpstreamSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithAudience("upstream"), jwt.WithExpirationRequired(), jwt.WithIssuer("gatehouse"))
	if err != nil {
		t.Fatalf("X-Gatehouse-Token %q: %v", token, err)
	}
	return claims
}

// TestUpstreamToken: with UpstreamTokenSecret the upstream receives a
// signed decision, a client's own X-Gatehouse-Token never; the secret must
// not be the JWT secret.
func TestUpstreamToken(t *testing.T) {
	up := newTestUpstream(t)
	e := newGatewayEnv(t, up.URL, true, func(c *Config) { c.UpstreamTokenSecret = []byte(testUpstreamSecret) })
	srv := gatewayServer(t, e)
	alice := e.users["authenticated"]
	h := http.Header{"Authorization": {"Bearer " + e.token(alice.ID)}, "X-Gatehouse-Token": {"forged"}}
	if res, body := rawRequest(t, strings.TrimPrefix(srv.URL, "http://"), "GET", "/api/posts/7", h); res.StatusCode != 200 {
		t.Fatalf("GET /api/posts/7: %d %s", res.StatusCode, body)
	}
	up.mu.Lock()
	seen := up.seen[len(up.seen)-1]
	up.mu.Unlock()
	claims := checkUpstreamToken(t, seen.Header.Get(gateway.HeaderToken))
	if claims["sub"] != strconv.Itoa(int(alice.ID)) || claims["role"] != "authenticated" || claims["fn"] != "api::post.post.findOne" {
		t.Errorf("token claims = %v", claims)
	}
	rec := e.verifyRequest("127.0.0.1:1", http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/api/posts"}})
	claims = checkUpstreamToken(t, rec.Header().Get(gateway.HeaderToken))
	if _, ok := claims["sub"]; ok || claims["role"] != "public" {
		t.Errorf("anonymous token claims = %v", claims)
	}
	for _, secret := range []string{"short", string(e.cfg.Secret)} {
		cfg := e.cfg
		cfg.UpstreamTokenSecret = []byte(secret)
		if _, err := New(cfg); err == nil {
			t.Errorf("New with UpstreamTokenSecret %q: no error", secret)
		}
	}
}
