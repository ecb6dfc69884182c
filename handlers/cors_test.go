package handlers

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// preflight is the header of a browser's preflight from origin for a POST
// with a JSON body and a token. Browsers send the requested headers lower
// case and sorted (Fetch standard), which rs/cors relies on.
func preflight(origin string) http.Header {
	return http.Header{
		"Origin":                         {origin},
		"Access-Control-Request-Method":  {"POST"},
		"Access-Control-Request-Headers": {"authorization,content-type"},
	}
}

func withCORS(origins []string, credentials bool) func(*Config) {
	return func(c *Config) { c.CORS = CORS{Origins: origins, Credentials: credentials} }
}

// wantHeaders checks the response headers; "" means absent.
func wantHeaders(want map[string]string) func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
	return func(t *testing.T, _ *testEnv, rec *httptest.ResponseRecorder) {
		t.Helper()
		for k, v := range want {
			if got := rec.Header().Get(k); got != v {
				t.Errorf("header %s = %q, want %q", k, got, v)
			}
		}
	}
}

func TestCORS(t *testing.T) {
	const front = "http://localhost:3000"
	dev := withCORS([]string{"http://localhost:*", "http://127.0.0.1:*"}, true)
	login := `{"identifier":"alice","password":"` + testPassword + `"}`
	allowed := map[string]string{
		"Access-Control-Allow-Origin":      front,
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Max-Age":           "31536000",
		"Access-Control-Allow-Methods":     "POST",
		"Access-Control-Allow-Headers":     "authorization,content-type",
	}
	refused := map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Credentials": "", "Access-Control-Allow-Methods": ""}
	runScenarios(t, []scenario{
		// Spec §0.x: Strapi's preflight answer.
		{name: "preflight from an allowed origin: 204 with the headers", method: "OPTIONS", url: "/api/auth/local", header: preflight(front),
			envOpts: []func(*Config){dev}, wantStatus: 204, check: wantHeaders(allowed)},
		{name: "preflight on a route that needs a token: 204, no authentication", method: "OPTIONS", url: "/api/users/me", header: preflight(front),
			envOpts: []func(*Config){dev}, wantStatus: 204, check: wantHeaders(allowed)},
		{name: "preflight with a bad token: still 204", method: "OPTIONS", url: "/api/users/me", header: preflight(front), caller: "bearer:Bearer not.a.token",
			envOpts: []func(*Config){dev}, wantStatus: 204, check: wantHeaders(allowed)},
		{name: "preflight on an unknown route: 204", method: "OPTIONS", url: "/api/nothing/here", header: preflight(front),
			envOpts: []func(*Config){dev}, wantStatus: 204, check: wantHeaders(allowed)},
		{name: "preflight from 127.0.0.1 on another port", method: "OPTIONS", url: "/api/auth/local", header: preflight("http://127.0.0.1:5173"),
			envOpts: []func(*Config){dev}, wantStatus: 204, check: wantHeaders(map[string]string{"Access-Control-Allow-Origin": "http://127.0.0.1:5173"})},
		{name: "preflight from another origin: 204 without the headers", method: "OPTIONS", url: "/api/auth/local", header: preflight("https://evil.example"),
			envOpts: []func(*Config){dev}, wantStatus: 204, check: wantHeaders(refused)},
		{name: "preflight from a look-alike host", method: "OPTIONS", url: "/api/auth/local", header: preflight("http://localhost.evil.example"),
			envOpts: []func(*Config){dev}, wantStatus: 204, check: wantHeaders(refused)},
		{name: "preflight with no origin configured: 204 without the headers", method: "OPTIONS", url: "/api/auth/local", header: preflight(front),
			wantStatus: 204, check: wantHeaders(refused)},
		{name: "preflight asking for a header Strapi does not allow", method: "OPTIONS", url: "/api/auth/local",
			header:  http.Header{"Origin": {front}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"x-custom"}},
			envOpts: []func(*Config){dev}, wantStatus: 204, check: wantHeaders(refused)},
		{name: "preflight asking for refresh mode's x-strapi-refresh-cookie: allowed", method: "OPTIONS", url: "/api/auth/local",
			header:  http.Header{"Origin": {front}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"content-type,x-strapi-refresh-cookie"}},
			envOpts: []func(*Config){dev}, wantStatus: 204,
			check: wantHeaders(map[string]string{"Access-Control-Allow-Origin": front, "Access-Control-Allow-Headers": "content-type,x-strapi-refresh-cookie"})},
		{name: "OPTIONS that is not a preflight: 405 as before", method: "OPTIONS", url: "/api/auth/local",
			envOpts: []func(*Config){dev}, wantStatus: 405},
		{name: "a real answer carries the origin", method: "POST", url: "/api/auth/local", body: login, header: http.Header{"Origin": {front}},
			envOpts: []func(*Config){dev}, wantStatus: 200,
			check: wantHeaders(map[string]string{"Access-Control-Allow-Origin": front, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"})},
		{name: "an error answer carries it too", method: "POST", url: "/api/auth/local", body: `{"identifier":"alice","password":"wrong"}`,
			header: http.Header{"Origin": {front}}, envOpts: []func(*Config){dev}, wantStatus: 400,
			check: wantHeaders(map[string]string{"Access-Control-Allow-Origin": front, "Access-Control-Allow-Credentials": "true"})},
		{name: "a 403 carries it too", method: "GET", url: "/api/users/me", header: http.Header{"Origin": {front}},
			envOpts: []func(*Config){dev}, wantStatus: 403, check: wantHeaders(map[string]string{"Access-Control-Allow-Origin": front})},
		{name: "a real answer to another origin: served, without the headers", method: "POST", url: "/api/auth/local", body: login,
			header: http.Header{"Origin": {"https://evil.example"}}, envOpts: []func(*Config){dev}, wantStatus: 200, check: wantHeaders(refused)},
		{name: "any origin without credentials", method: "OPTIONS", url: "/api/auth/local", header: preflight("https://anywhere.example"),
			envOpts: []func(*Config){withCORS([]string{"*"}, false)}, wantStatus: 204,
			check: wantHeaders(map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": ""})},
	})
}

func TestCORSRefusesAnyOriginWithCredentials(t *testing.T) {
	e := newTestEnv(t)
	cfg := e.cfg
	cfg.CORS = CORS{Origins: []string{"*"}, Credentials: true}
	if _, err := New(cfg); err == nil {
		t.Error("New with CORS * and credentials: err = nil, want a refusal")
	}
}

// TestPreflightIsNotRateLimited sends more preflights than the limit allows,
// then a real request, which must still be the first one counted.
func TestPreflightIsNotRateLimited(t *testing.T) {
	const limit = 3
	e := newTestEnv(t, withCORS([]string{"http://localhost:*"}, true), func(c *Config) {
		c.RateLimit = RateLimit{Enabled: true, Max: limit, Interval: time.Minute}
	})
	for i := range 3 * limit {
		rec := e.request("OPTIONS", "/api/auth/local", "", preflight("http://localhost:3000"))
		if rec.Code != http.StatusNoContent || rec.Header().Get("X-RateLimit-Remaining") != "" {
			t.Fatalf("preflight %d: status = %d, X-RateLimit-Remaining = %q; want 204 and no rate-limit header",
				i+1, rec.Code, rec.Header().Get("X-RateLimit-Remaining"))
		}
	}
	rec := e.request("POST", "/api/auth/local", `{"identifier":"alice","password":"`+testPassword+`"}`, http.Header{"Origin": {"http://localhost:3000"}})
	if rec.Code != http.StatusOK || rec.Header().Get("X-RateLimit-Remaining") != "2" {
		t.Errorf("login after the preflights: status = %d, X-RateLimit-Remaining = %q; want 200 and 2\n%s",
			rec.Code, rec.Header().Get("X-RateLimit-Remaining"), rec.Body)
	}
}
