package handlers

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/store"
	"github.com/golang-jwt/jwt/v5"
)

// refreshMode turns refresh mode on.
func refreshMode(c *Config) { c.JWTManagement = jwtRefresh }

// withSessions sets refresh mode with the settings.
func withSessions(s Sessions) func(*Config) {
	return func(c *Config) { c.JWTManagement = jwtRefresh; c.Sessions = s }
}

func withClock(clock *testClock) func(*Config) { return func(c *Config) { c.Now = clock.Now } }

const (
	chromeOnMac   = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	firefoxOnLinx = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
)

// signIn is a decoded refresh-mode sign-in (or refresh) answer.
type signIn struct {
	JWT          string `json:"jwt"`
	RefreshToken string `json:"refreshToken"`
	rec          *httptest.ResponseRecorder
}

// loginAs logs the user in (testPassword) with the extra body fields and
// header, and wants a 200.
func (e *testEnv) loginAs(identifier string, extra map[string]any, header http.Header) signIn {
	e.t.Helper()
	body := map[string]any{"identifier": identifier, "password": testPassword}
	for k, v := range extra {
		body[k] = v
	}
	raw, _ := json.Marshal(body)
	rec := e.request("POST", "/api/auth/local", string(raw), header)
	if rec.Code != http.StatusOK {
		e.t.Fatalf("POST /api/auth/local as %s: status = %d, want 200\n%s", identifier, rec.Code, rec.Body)
	}
	var s signIn
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil || s.JWT == "" {
		e.t.Fatalf("POST /api/auth/local: body = %s, want a jwt", rec.Body)
	}
	s.rec = rec
	return s
}

// refreshWith posts the refresh token in the body.
func (e *testEnv) refreshWith(token string) *httptest.ResponseRecorder {
	raw, _ := json.Marshal(map[string]string{"refreshToken": token})
	return e.request("POST", "/api/auth/refresh", string(raw), nil)
}

func bearer(jwt string) http.Header { return http.Header{"Authorization": {"Bearer " + jwt}} }

// setCookie returns the response's Set-Cookie line for name, or "".
func setCookie(rec *httptest.ResponseRecorder, name string) string {
	for _, line := range rec.Result().Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, name+"=") {
			return line
		}
	}
	return ""
}

// cookieValue is the value of the response's cookie called name.
func cookieValue(rec *httptest.ResponseRecorder, name string) string {
	for _, c := range rec.Result().Cookies() {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// jwtClaims decodes a JWT's payload (no verification).
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a JWT", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// sessionsOf lists the user's live sessions from the store.
func (e *testEnv) sessionsOf(userID uint) []store.Session {
	e.t.Helper()
	rows, err := e.store.Sessions().List(context.Background(), userID, e.server.now())
	if err != nil {
		e.t.Fatal(err)
	}
	return rows
}

func TestRefreshRoutesInLegacyMode(t *testing.T) {
	notFound := errorJSONFor(404, "NotFoundError", "Not Found")
	login := `{"identifier":"alice","password":"` + testPassword + `"}`
	runScenarios(t, []scenario{
		{name: "refresh", method: "POST", url: "/api/auth/refresh", body: `{"refreshToken":"x"}`, wantStatus: 404, want: []string{notFound}},
		{name: "refresh without a token", method: "POST", url: "/api/auth/refresh", wantStatus: 404, want: []string{notFound}},
		{name: "logout", method: "POST", url: "/api/auth/logout", caller: "authenticated", wantStatus: 404, want: []string{notFound}},
		{name: "sessions", method: "GET", url: "/api/auth/sessions", caller: "authenticated", wantStatus: 404, want: []string{notFound}},
		{name: "revoke a session", method: "DELETE", url: "/api/auth/sessions/abc", caller: "admin", wantStatus: 404, want: []string{notFound}},
		// As in Strapi, the permission check comes first: anonymous callers
		// of the authenticated routes get 403 before the mode is looked at.
		{name: "anonymous sessions", method: "GET", url: "/api/auth/sessions", wantStatus: 403},
		{name: "login is unchanged: {jwt, user}, no cookie even when asked", method: "POST", url: "/api/auth/local", body: login,
			header: http.Header{"X-Strapi-Refresh-Cookie": {"httpOnly"}}, wantStatus: 200, want: []string{`{"jwt":"`, `"user":{`}, notWant: []string{"refreshToken"},
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				if sc := rec.Header().Get("Set-Cookie"); sc != "" {
					t.Errorf("Set-Cookie = %q, want none", sc)
				}
				var a signIn
				json.Unmarshal(rec.Body.Bytes(), &a)
				if claims := jwtClaims(t, a.JWT); len(claims) != 3 || claims["sessionId"] != nil {
					t.Errorf("legacy JWT claims = %v, want exactly {id, iat, exp}", claims)
				}
				if n := len(e.sessionsOf(e.users["authenticated"].ID)); n != 0 {
					t.Errorf("legacy login stored %d sessions, want 0", n)
				}
			}},
	})
}

func TestRefreshModeSignIn(t *testing.T) {
	login := func(extra string) string {
		return `{"identifier":"alice@example.com","password":"` + testPassword + `"` + extra + `}`
	}
	register := `{"username":"newbie","email":"newbie@example.com","password":"` + testPassword + `"`
	noCookie := func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
		if sc := rec.Header().Get("Set-Cookie"); sc != "" {
			t.Errorf("Set-Cookie = %q, want none", sc)
		}
	}
	runScenarios(t, []scenario{
		{name: "login: jwt and refreshToken in the JSON, no cookie", method: "POST", url: "/api/auth/local", body: login(""),
			envOpts: []func(*Config){refreshMode}, header: http.Header{"User-Agent": {chromeOnMac}},
			wantStatus: 200, want: []string{`{"jwt":"`, `","refreshToken":"`, `","user":{"id":`, `"username":"alice"`},
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				noCookie(t, e, rec)
				if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", cc)
				}
				var a signIn
				json.Unmarshal(rec.Body.Bytes(), &a)
				if len(a.RefreshToken) != 64 {
					t.Errorf("refreshToken = %q, want 64 hex characters (256 random bits)", a.RefreshToken)
				}
				claims := jwtClaims(t, a.JWT)
				sessions := e.sessionsOf(e.users["authenticated"].ID)
				if len(sessions) != 1 {
					t.Fatalf("sessions = %d, want 1", len(sessions))
				}
				if claims["sessionId"] != sessions[0].SessionID || claims["type"] != "access" || claims["userId"] != "1" ||
					claims["exp"].(float64)-claims["iat"].(float64) != 600 {
					t.Errorf("access token claims = %v, want sessionId %s, type access, userId \"1\", a 10-minute life", claims, sessions[0].SessionID)
				}
				if sessions[0].TokenHash != store.HashToken(a.RefreshToken) || sessions[0].DeviceName != "Chrome on macOS" || len(sessions[0].DeviceID) != 36 {
					t.Errorf("stored session = %+v, want the token's hash, Chrome on macOS, a random device id", sessions[0])
				}
			}},
		{name: "login: the access token authenticates", method: "POST", url: "/api/auth/local", body: login(""),
			envOpts: []func(*Config){refreshMode}, wantStatus: 200,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				var a signIn
				json.Unmarshal(rec.Body.Bytes(), &a)
				if me := e.request("GET", "/api/users/me", "", bearer(a.JWT)); me.Code != 200 {
					t.Errorf("GET /api/users/me with the access token: status = %d\n%s", me.Code, me.Body)
				}
			}},
		{name: "login with deviceId", method: "POST", url: "/api/auth/local", body: login(`,"deviceId":"my-phone"`),
			envOpts: []func(*Config){refreshMode}, wantStatus: 200,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				if s := e.sessionsOf(e.users["authenticated"].ID); len(s) != 1 || s[0].DeviceID != "my-phone" {
					t.Errorf("sessions = %+v, want one of device my-phone", s)
				}
			}},
		{name: "login with a non-string deviceId: ignored, as Strapi", method: "POST", url: "/api/auth/local", body: login(`,"deviceId":42`),
			envOpts: []func(*Config){refreshMode}, wantStatus: 200},
		{name: "login with an over-long deviceId", method: "POST", url: "/api/auth/local", body: login(`,"deviceId":"` + strings.Repeat("d", 256) + `"`),
			envOpts: []func(*Config){refreshMode}, wantStatus: 400, want: []string{`"deviceId must be at most 255 characters"`}},
		{name: "login with x-strapi-refresh-cookie: httpOnly", method: "POST", url: "/api/auth/local", body: login(""),
			envOpts: []func(*Config){refreshMode}, header: http.Header{"X-Strapi-Refresh-Cookie": {"httpOnly"}},
			wantStatus: 200, want: []string{`{"jwt":"`, `"user":{`}, notWant: []string{"refreshToken"},
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				sc := setCookie(rec, "strapi_up_refresh")
				for _, want := range []string{"Path=/", "HttpOnly", "SameSite=Lax"} {
					if !strings.Contains(sc, want) {
						t.Errorf("Set-Cookie = %q, want %s", sc, want)
					}
				}
				for _, notWant := range []string{"Secure", "Max-Age", "Expires", "Domain"} {
					if strings.Contains(sc, notWant) {
						t.Errorf("Set-Cookie = %q, want no %s by default in development", sc, notWant)
					}
				}
				if v := cookieValue(rec, "strapi_up_refresh"); e.sessionsOf(e.users["authenticated"].ID)[0].TokenHash != store.HashToken(v) {
					t.Errorf("the cookie does not hold the session's refresh token")
				}
			}},
		{name: "sessions.httpOnly: always the cookie", method: "POST", url: "/api/auth/local", body: login(""),
			envOpts:    []func(*Config){withSessions(Sessions{HTTPOnly: true})},
			wantStatus: 200, notWant: []string{"refreshToken"},
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				if setCookie(rec, "strapi_up_refresh") == "" {
					t.Errorf("no strapi_up_refresh cookie")
				}
			}},
		{name: "the cookie's configured attributes", method: "POST", url: "/api/auth/local", body: login(""),
			envOpts: []func(*Config){withSessions(Sessions{HTTPOnly: true, Cookie: SessionCookie{
				Name: "rt", Secure: true, SameSite: "strict", Path: "/api/auth", Domain: "example.com", MaxAge: 120 * time.Second}})},
			wantStatus: 200,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				sc := setCookie(rec, "rt")
				for _, want := range []string{"Path=/api/auth", "Domain=example.com", "Max-Age=120", "Expires=", "HttpOnly", "Secure", "SameSite=Strict"} {
					if !strings.Contains(sc, want) {
						t.Errorf("Set-Cookie = %q, want %s", sc, want)
					}
				}
			}},
		{name: "register: {jwt, refreshToken, user}", method: "POST", url: "/api/auth/local/register", body: register + `}`,
			envOpts: []func(*Config){refreshMode}, wantStatus: 200, want: []string{`{"jwt":"`, `","refreshToken":"`, `"username":"newbie"`}},
		{name: "register in cookie mode", method: "POST", url: "/api/auth/local/register", body: register + `}`,
			envOpts: []func(*Config){refreshMode}, header: http.Header{"X-Strapi-Refresh-Cookie": {"httpOnly"}},
			wantStatus: 200, notWant: []string{"refreshToken"},
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				if setCookie(rec, "strapi_up_refresh") == "" {
					t.Errorf("no strapi_up_refresh cookie")
				}
			}},
		{name: "register refuses deviceId (Strapi's quirk: not in allowedFields)", method: "POST", url: "/api/auth/local/register",
			body: register + `,"deviceId":"phone"}`, envOpts: []func(*Config){refreshMode},
			wantStatus: 400, want: []string{errorJSONFor(400, "ValidationError", "Invalid parameters: deviceId")}},
		{name: "register with email confirmation: {user}, no session", method: "POST", url: "/api/auth/local/register", body: register + `}`,
			envOpts: []func(*Config){refreshMode}, setup: func(e *testEnv) {
				e.setAdvanced(func(a *store.Advanced) { a.EmailConfirmation = true })
			},
			wantStatus: 200, want: []string{`{"user":{`}, notWant: []string{"jwt", "refreshToken"}},
	})
}

func TestRefresh(t *testing.T) {
	invalid := errorJSONFor(401, "UnauthorizedError", "Invalid refresh token")
	missing := errorJSONFor(400, "BadRequestError", "Missing refresh token")
	runScenarios(t, []scenario{
		{name: "no body", method: "POST", url: "/api/auth/refresh", envOpts: []func(*Config){refreshMode}, wantStatus: 400, want: []string{missing}},
		{name: "empty token", method: "POST", url: "/api/auth/refresh", body: `{"refreshToken":""}`, envOpts: []func(*Config){refreshMode}, wantStatus: 400, want: []string{missing}},
		{name: "non-string token", method: "POST", url: "/api/auth/refresh", body: `{"refreshToken":123}`, envOpts: []func(*Config){refreshMode}, wantStatus: 400, want: []string{missing}},
		{name: "unknown token", method: "POST", url: "/api/auth/refresh", body: `{"refreshToken":"` + strings.Repeat("a", 64) + `"}`,
			envOpts: []func(*Config){refreshMode}, wantStatus: 401, want: []string{invalid}},
		{name: "malformed JSON", method: "POST", url: "/api/auth/refresh", body: `{"refreshToken":`, envOpts: []func(*Config){refreshMode}, wantStatus: 400},
		{name: "a bearer token holder is not public: 403 (as Strapi)", method: "POST", url: "/api/auth/refresh", body: `{"refreshToken":"x"}`,
			caller: "authenticated", envOpts: []func(*Config){refreshMode}, wantStatus: 403},
	})
}

func TestRefreshRotatesAndReplayRevokes(t *testing.T) {
	e := newTestEnv(t, refreshMode)
	first := e.loginAs("alice", nil, nil)
	other := e.loginAs("alice", nil, nil)

	rec := e.refreshWith(first.RefreshToken)
	if rec.Code != 200 {
		t.Fatalf("POST /api/auth/refresh: status = %d, want 200\n%s", rec.Code, rec.Body)
	}
	var second signIn
	json.Unmarshal(rec.Body.Bytes(), &second)
	if second.JWT == "" || len(second.RefreshToken) != 64 || second.RefreshToken == first.RefreshToken {
		t.Fatalf("refresh answer = %s, want a jwt and a new refreshToken", rec.Body)
	}
	if strings.Contains(rec.Body.String(), `"user"`) {
		t.Errorf("refresh answer = %s, want {jwt, refreshToken} only", rec.Body)
	}
	if a, b := jwtClaims(t, first.JWT)["sessionId"], jwtClaims(t, second.JWT)["sessionId"]; a != b || a == nil {
		t.Errorf("sessionId after refresh = %v, want the session's %v", b, a)
	}
	if rec := e.refreshWith(second.JWT); rec.Code != 401 {
		t.Errorf("refresh with an access token: status = %d, want 401", rec.Code)
	}
	if me := e.request("GET", "/api/users/me", "", bearer(second.JWT)); me.Code != 200 {
		t.Errorf("GET /api/users/me with the refreshed access token: status = %d", me.Code)
	}

	// The replay answers 401 and ends the session: the successor dies too.
	if rec := e.refreshWith(first.RefreshToken); rec.Code != 401 || !strings.Contains(rec.Body.String(), "Invalid refresh token") {
		t.Errorf("replayed refresh token: status = %d, want 401 Invalid refresh token\n%s", rec.Code, rec.Body)
	}
	if rec := e.refreshWith(second.RefreshToken); rec.Code != 401 {
		t.Errorf("the successor of a replayed token: status = %d, want 401 (session revoked)", rec.Code)
	}
	// Another session of the user is untouched.
	if rec := e.refreshWith(other.RefreshToken); rec.Code != 200 {
		t.Errorf("another session after the replay: status = %d, want 200\n%s", rec.Code, rec.Body)
	}
}

func TestRefreshExpiryAndUserState(t *testing.T) {
	clock := newTestClock()
	e := newTestEnv(t, withClock(clock), withSessions(Sessions{IdleRefreshTokenLifespan: time.Hour, MaxRefreshTokenLifespan: 3 * time.Hour}))
	ctx := context.Background()
	alice := e.users["authenticated"]

	// Idle expiry.
	idle := e.loginAs("alice", nil, nil)
	clock.Advance(time.Hour)
	if rec := e.refreshWith(idle.RefreshToken); rec.Code != 401 {
		t.Errorf("refresh at the idle expiry: status = %d, want 401", rec.Code)
	}

	// Used within the idle window, a session lasts until its absolute end.
	s := e.loginAs("alice", nil, nil)
	token := s.RefreshToken
	start := clock.Now()
	for {
		clock.Advance(50 * time.Minute)
		rec := e.refreshWith(token)
		if rec.Code == 401 {
			if clock.Now().Sub(start) < 3*time.Hour {
				t.Errorf("refresh refused after %s, before the 3h absolute end", clock.Now().Sub(start))
			}
			break
		}
		if rec.Code != 200 {
			t.Fatalf("refresh: status = %d\n%s", rec.Code, rec.Body)
		}
		var next signIn
		json.Unmarshal(rec.Body.Bytes(), &next)
		token = next.RefreshToken
	}

	// The access token expires after its lifespan (10 minutes by default).
	fresh := e.loginAs("alice", nil, nil)
	clock.Advance(11 * time.Minute)
	if me := e.request("GET", "/api/users/me", "", bearer(fresh.JWT)); me.Code != 401 {
		t.Errorf("GET /api/users/me with an 11-minute-old access token: status = %d, want 401", me.Code)
	}

	// A blocked user is refused, and works again once unblocked (the
	// session is not ended by the block).
	if err := e.store.Users().Update(ctx, alice.ID, map[string]any{"blocked": true}); err != nil {
		t.Fatal(err)
	}
	if rec := e.refreshWith(fresh.RefreshToken); rec.Code != 401 {
		t.Errorf("refresh of a blocked user: status = %d, want 401", rec.Code)
	}
	if err := e.store.Users().Update(ctx, alice.ID, map[string]any{"blocked": false}); err != nil {
		t.Fatal(err)
	}
	rec := e.refreshWith(fresh.RefreshToken)
	if rec.Code != 200 {
		t.Fatalf("refresh once unblocked: status = %d, want 200\n%s", rec.Code, rec.Body)
	}
	json.Unmarshal(rec.Body.Bytes(), &fresh)

	// Unconfirmed while confirmation is required.
	e.setAdvanced(func(a *store.Advanced) { a.EmailConfirmation = true })
	if err := e.store.Users().Update(ctx, alice.ID, map[string]any{"confirmed": false}); err != nil {
		t.Fatal(err)
	}
	if rec := e.refreshWith(fresh.RefreshToken); rec.Code != 401 {
		t.Errorf("refresh of an unconfirmed user: status = %d, want 401", rec.Code)
	}
	e.setAdvanced(func(a *store.Advanced) { a.EmailConfirmation = false })

	// An admin's password change (PUT /api/users/:id) ends older sessions.
	clock.Advance(time.Second)
	admin := e.loginAs("root", nil, nil)
	if rec := e.request("PUT", "/api/users/1", `{"password":"another-password"}`, bearer(admin.JWT)); rec.Code != 200 {
		t.Fatalf("PUT /api/users/1: status = %d\n%s", rec.Code, rec.Body)
	}
	if rec := e.refreshWith(fresh.RefreshToken); rec.Code != 401 {
		t.Errorf("refresh after an admin changed the password: status = %d, want 401", rec.Code)
	}

	// A deleted user's sessions go with them.
	bob := e.createUser("bob", "bob@example.com", "authenticated")
	b := e.loginAs("bob", nil, nil)
	if rec := e.request("DELETE", "/api/users/"+strconv.FormatUint(uint64(bob.ID), 10), "", bearer(admin.JWT)); rec.Code != 200 {
		t.Fatalf("DELETE bob: status = %d\n%s", rec.Code, rec.Body)
	}
	if rec := e.refreshWith(b.RefreshToken); rec.Code != 401 {
		t.Errorf("refresh of a deleted user: status = %d, want 401", rec.Code)
	}
}

func TestRefreshCookieMode(t *testing.T) {
	e := newTestEnv(t, withSessions(Sessions{Cookie: SessionCookie{MaxAge: 120 * time.Second}}))
	cookieMode := http.Header{"X-Strapi-Refresh-Cookie": {"httpOnly"}}
	a := e.loginAs("alice", nil, cookieMode)
	token := cookieValue(a.rec, "strapi_up_refresh")
	if token == "" || !strings.Contains(setCookie(a.rec, "strapi_up_refresh"), "Max-Age=120") {
		t.Fatalf("login Set-Cookie = %q, want the refresh token with Max-Age=120", setCookie(a.rec, "strapi_up_refresh"))
	}

	// The cookie is read on refresh; the rotated token comes back in it.
	header := http.Header{"X-Strapi-Refresh-Cookie": {"httpOnly"}, "Cookie": {"strapi_up_refresh=" + token}}
	rec := e.request("POST", "/api/auth/refresh", "", header)
	if rec.Code != 200 || strings.Contains(rec.Body.String(), "refreshToken") || !strings.Contains(rec.Body.String(), `{"jwt":"`) {
		t.Fatalf("cookie refresh: status = %d, body = %s; want 200 {jwt}", rec.Code, rec.Body)
	}
	rotated := cookieValue(rec, "strapi_up_refresh")
	if rotated == "" || rotated == token || !strings.Contains(setCookie(rec, "strapi_up_refresh"), "Max-Age=120") {
		t.Fatalf("refresh Set-Cookie = %q, want the rotated token with Max-Age=120", setCookie(rec, "strapi_up_refresh"))
	}
	// The cookie wins over the body.
	header.Set("Cookie", "strapi_up_refresh="+rotated)
	rec = e.request("POST", "/api/auth/refresh", `{"refreshToken":"`+strings.Repeat("b", 64)+`"}`, header)
	if rec.Code != 200 {
		t.Fatalf("cookie refresh with a body token too: status = %d, want 200 (the cookie is read first)\n%s", rec.Code, rec.Body)
	}
	rotated = cookieValue(rec, "strapi_up_refresh")

	// Logout clears the cookie and ends the session.
	var access signIn
	json.Unmarshal(rec.Body.Bytes(), &access)
	header.Set("Cookie", "strapi_up_refresh="+rotated)
	header.Set("Authorization", "Bearer "+access.JWT)
	rec = e.request("POST", "/api/auth/logout", "", header)
	if rec.Code != 200 || rec.Body.String() != `{"ok":true}` {
		t.Fatalf("logout: status = %d, body = %s; want {\"ok\":true}", rec.Code, rec.Body)
	}
	cleared := setCookie(rec, "strapi_up_refresh")
	if !strings.HasPrefix(cleared, "strapi_up_refresh=;") || !strings.Contains(cleared, "Expires=Thu, 01 Jan 1970 00:00:00 GMT") || !strings.Contains(cleared, "HttpOnly") {
		t.Errorf("logout Set-Cookie = %q, want strapi_up_refresh=; expired in 1970", cleared)
	}
	if rec := e.refreshWith(rotated); rec.Code != 401 {
		t.Errorf("refresh after logout: status = %d, want 401", rec.Code)
	}
}

func TestLogout(t *testing.T) {
	ok := `{"ok":true}`
	// alice has three sessions (a, b on device "phone", c); bob one.
	type world struct{ a, b, c, bob signIn }
	setup := func(e *testEnv) world {
		e.createUser("bob", "bob@example.com", "authenticated")
		return world{
			a:   e.loginAs("alice", map[string]any{"deviceId": "laptop"}, nil),
			b:   e.loginAs("alice", map[string]any{"deviceId": "phone"}, nil),
			c:   e.loginAs("alice", map[string]any{"deviceId": "phone"}, nil),
			bob: e.loginAs("bob", nil, nil),
		}
	}
	alive := func(e *testEnv, s signIn) bool {
		_, err := e.store.Sessions().Active(context.Background(), store.HashToken(s.RefreshToken), e.server.now())
		return err == nil
	}
	for _, tt := range []struct {
		name   string
		body   string
		caller func(w world) string // the access token used
		want   func(w world) []signIn
		gone   func(w world) []signIn
	}{
		{name: "default: the access token's session", caller: func(w world) string { return w.a.JWT },
			gone: func(w world) []signIn { return []signIn{w.a} }, want: func(w world) []signIn { return []signIn{w.b, w.c, w.bob} }},
		{name: "the body's refresh token's session", body: `{"refreshToken":"%b"}`, caller: func(w world) string { return w.a.JWT },
			gone: func(w world) []signIn { return []signIn{w.b} }, want: func(w world) []signIn { return []signIn{w.a, w.c, w.bob} }},
		{name: "another user's refresh token is ignored", body: `{"refreshToken":"%bob"}`, caller: func(w world) string { return w.a.JWT },
			gone: func(w world) []signIn { return []signIn{w.a} }, want: func(w world) []signIn { return []signIn{w.b, w.c, w.bob} }},
		{name: "deviceId: that device's sessions", body: `{"deviceId":"phone"}`, caller: func(w world) string { return w.a.JWT },
			gone: func(w world) []signIn { return []signIn{w.b, w.c} }, want: func(w world) []signIn { return []signIn{w.a, w.bob} }},
		{name: "scope all: every session of this user only", body: `{"scope":"all"}`, caller: func(w world) string { return w.a.JWT },
			gone: func(w world) []signIn { return []signIn{w.a, w.b, w.c} }, want: func(w world) []signIn { return []signIn{w.bob} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, refreshMode)
			w := setup(e)
			jwt := tt.caller(w)
			body := strings.NewReplacer("%bob", w.bob.RefreshToken, "%b", w.b.RefreshToken).Replace(tt.body)
			rec := e.request("POST", "/api/auth/logout", body, bearer(jwt))
			if rec.Code != 200 || rec.Body.String() != ok {
				t.Fatalf("POST /api/auth/logout: status = %d, body = %s; want 200 %s", rec.Code, rec.Body, ok)
			}
			if sc := rec.Header().Get("Set-Cookie"); sc != "" {
				t.Errorf("Set-Cookie = %q, want none without cookie delivery", sc)
			}
			for _, s := range tt.gone(w) {
				if alive(e, s) {
					t.Errorf("a session that should be revoked is alive")
				}
				if rec := e.refreshWith(s.RefreshToken); rec.Code != 401 {
					t.Errorf("refresh of a revoked session: status = %d, want 401", rec.Code)
				}
			}
			for _, s := range tt.want(w) {
				if !alive(e, s) {
					t.Errorf("a session that should be alive was revoked")
				}
			}
		})
	}

	runScenarios(t, []scenario{
		{name: "anonymous: 403", method: "POST", url: "/api/auth/logout", envOpts: []func(*Config){refreshMode},
			wantStatus: 403, want: []string{errorJSONFor(403, "ForbiddenError", "Forbidden")}},
		{name: "anonymous with logout granted to public: 401 Missing authentication", method: "POST", url: "/api/auth/logout",
			envOpts: []func(*Config){refreshMode},
			setup: func(e *testEnv) {
				if err := e.enforcer.Add([]policy.Rule{{Type: "p", Values: []string{"public", "/api/auth/logout", "POST"}}}); err != nil {
					t.Fatal(err)
				}
			},
			wantStatus: 401, want: []string{errorJSONFor(401, "UnauthorizedError", "Missing authentication")}},
		{name: "bad bearer token: 401", method: "POST", url: "/api/auth/logout", caller: "bearer:Bearer nope", envOpts: []func(*Config){refreshMode}, wantStatus: 401},
		{name: "a revocation failure still answers ok", method: "POST", url: "/api/auth/logout", body: `{"scope":"all"}`, caller: "authenticated",
			envOpts: []func(*Config){refreshMode},
			setup: func(e *testEnv) {
				if err := e.store.DB.Exec("DROP TABLE up_sessions").Error; err != nil {
					t.Fatal(err)
				}
			},
			wantStatus: 200, want: []string{ok}},
	})
}

func TestSessions(t *testing.T) {
	e := newTestEnv(t, refreshMode)
	older := e.loginAs("alice", map[string]any{"deviceId": "old-laptop"}, http.Header{"User-Agent": {firefoxOnLinx}})
	current := e.loginAs("alice", map[string]any{"deviceId": "mac"}, http.Header{"User-Agent": {chromeOnMac}})
	newest := e.loginAs("alice", map[string]any{"deviceId": "tool"}, http.Header{"User-Agent": {"curl/8.5.0"}})
	e.createUser("bob", "bob@example.com", "authenticated")
	bob := e.loginAs("bob", nil, nil)
	_ = older

	list := func(jwt string) []map[string]any {
		t.Helper()
		rec := e.request("GET", "/api/auth/sessions", "", bearer(jwt))
		if rec.Code != 200 {
			t.Fatalf("GET /api/auth/sessions: status = %d\n%s", rec.Code, rec.Body)
		}
		for _, nw := range []string{`"ip"`, `"userId"`, `"userID"`, `"tokenHash"`, `"token`, older.RefreshToken} {
			if strings.Contains(rec.Body.String(), nw) {
				t.Errorf("GET /api/auth/sessions: body contains %q\n%s", nw, rec.Body)
			}
		}
		var body struct{ Data []map[string]any }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		return body.Data
	}
	data := list(current.JWT)
	if len(data) != 3 {
		t.Fatalf("sessions = %d, want 3: %v", len(data), data)
	}
	first := data[0]
	if first["current"] != true || first["deviceId"] != "mac" || first["deviceName"] != "Chrome on macOS" ||
		first["id"] != jwtClaims(t, current.JWT)["sessionId"] || first["loginAt"] == nil || first["lastActiveAt"] == nil {
		t.Errorf("first session = %v, want the current one: mac, Chrome on macOS, with loginAt and lastActiveAt", first)
	}
	if data[1]["deviceId"] != "tool" || data[2]["deviceId"] != "old-laptop" || data[1]["current"] != false || data[2]["deviceName"] != "Firefox on Linux" {
		t.Errorf("then = %v, %v; want the newest (tool) then old-laptop (Firefox on Linux), not current", data[1], data[2])
	}
	if _, has := data[1]["deviceName"]; has {
		t.Errorf("an unknown User-Agent has deviceName %v, want none", data[1]["deviceName"])
	}
	if want := []string{"id", "deviceId", "deviceName", "current", "loginAt", "lastActiveAt"}; len(first) != len(want) {
		t.Errorf("session keys = %v, want exactly %v", first, want)
	}

	// Revoke one: 200 {data:{}}, its refresh token dies, it leaves the list.
	id := data[1]["id"].(string)
	rec := e.request("DELETE", "/api/auth/sessions/"+id, "", bearer(current.JWT))
	if rec.Code != 200 || rec.Body.String() != `{"data":{}}` {
		t.Fatalf("DELETE /api/auth/sessions/%s: status = %d, body = %s; want 200 {\"data\":{}}", id, rec.Code, rec.Body)
	}
	if rec := e.refreshWith(newest.RefreshToken); rec.Code != 401 {
		t.Errorf("refresh of the revoked session: status = %d, want 401", rec.Code)
	}
	if data := list(current.JWT); len(data) != 2 {
		t.Errorf("after the revocation: %d sessions, want 2", len(data))
	}

	notFound := errorJSONFor(404, "NotFoundError", "Session not found")
	for _, tt := range []struct{ name, id string }{
		{"unknown", "0123456789abcdef0123456789abcdef"},
		{"already revoked", id},
		{"another user's", jwtClaims(t, bob.JWT)["sessionId"].(string)},
	} {
		rec := e.request("DELETE", "/api/auth/sessions/"+tt.id, "", bearer(current.JWT))
		if rec.Code != 404 || !strings.Contains(rec.Body.String(), notFound) {
			t.Errorf("DELETE %s session: status = %d, body = %s; want 404 Session not found", tt.name, rec.Code, rec.Body)
		}
	}
	if rec := e.refreshWith(bob.RefreshToken); rec.Code != 200 {
		t.Errorf("bob's session after alice tried to revoke it: status = %d, want 200", rec.Code)
	}
	// The session id survives the refresh: bob's old access token still
	// names his (only) session as current.
	if data := list(bob.JWT); len(data) != 1 || data[0]["current"] != true {
		t.Errorf("bob's sessions = %v, want his one, current", data)
	}

	runScenarios(t, []scenario{
		{name: "anonymous list: 403", method: "GET", url: "/api/auth/sessions", envOpts: []func(*Config){refreshMode}, wantStatus: 403},
		{name: "anonymous revoke: 403", method: "DELETE", url: "/api/auth/sessions/x", envOpts: []func(*Config){refreshMode}, wantStatus: 403},
		{name: "bad token: 401", method: "GET", url: "/api/auth/sessions", caller: "bearer:Bearer x.y.z", envOpts: []func(*Config){refreshMode}, wantStatus: 401},
		{name: "no session yet: empty list", method: "GET", url: "/api/auth/sessions", caller: "authenticated", envOpts: []func(*Config){refreshMode},
			wantStatus: 200, want: []string{`{"data":[]}`}},
	})
}

// TestConcurrentRefresh: of concurrent refreshes of one token through the
// router and real SQLite, exactly one gets a new pair; the others get 401.
func TestConcurrentRefresh(t *testing.T) {
	e := newTestEnv(t, refreshMode)
	s := e.loginAs("alice", nil, nil)
	const n = 12
	codes := make(chan int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes <- e.refreshWith(s.RefreshToken).Code
		}()
	}
	close(start)
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[200] != 1 || count[401] != n-1 {
		t.Errorf("statuses = %v, want exactly one 200 and %d 401s", count, n-1)
	}
}

// TestRefreshIsNotRateLimited: as in Strapi, refresh is outside the auth
// routes' limiter (the limit here would refuse the third request).
func TestRefreshIsNotRateLimited(t *testing.T) {
	e := newTestEnv(t, refreshMode, func(c *Config) { c.RateLimit = RateLimit{Enabled: true, Max: 2, Interval: time.Minute} })
	for i := range 10 {
		rec := e.refreshWith(strings.Repeat("c", 64))
		if rec.Code != http.StatusUnauthorized || rec.Header().Get("X-RateLimit-Limit") != "" {
			t.Fatalf("refresh %d: status = %d, X-RateLimit-Limit = %q; want 401 and no limiter", i+1, rec.Code, rec.Header().Get("X-RateLimit-Limit"))
		}
	}
}

func TestOAuthCallbackInRefreshMode(t *testing.T) {
	e, _ := githubEnv(t, "query", octocat(), refreshMode)
	q := e.connect("github", "")
	status, body := e.finish("github", q)
	if status != 200 || !strings.Contains(body, `","refreshToken":"`) || !strings.Contains(body, `"username":"octocat"`) {
		t.Fatalf("GET /api/auth/github/callback: status = %d, body = %s; want {jwt, refreshToken, user}", status, body)
	}
}

func TestDeviceName(t *testing.T) {
	for _, tt := range []struct{ ua, want string }{
		{chromeOnMac, "Chrome on macOS"},
		{firefoxOnLinx, "Firefox on Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0", "Edge on Windows"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1", "Safari on iOS"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15", "Safari on macOS"},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36", "Chrome on Android"},
		{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "Chrome on ChromeOS"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0", "Opera on Windows"},
		{"MyApp/1.0 (Windows)", "Windows"},
		{"curl/8.5.0", ""},
		{"", ""},
	} {
		if got := deviceName(tt.ua); got != tt.want {
			t.Errorf("deviceName(%q) = %q, want %q", tt.ua, got, tt.want)
		}
	}
}

// TestRefreshTokensAreNeverLogged runs every refresh-mode path with debug
// logging and looks for the refresh tokens in the log.
func TestRefreshTokensAreNeverLogged(t *testing.T) {
	var logs bytes.Buffer
	e := newTestEnv(t, refreshMode, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	var tokens []string
	a := e.loginAs("alice", nil, nil)
	tokens = append(tokens, a.RefreshToken)
	rec := e.refreshWith(a.RefreshToken)
	var b signIn
	json.Unmarshal(rec.Body.Bytes(), &b)
	tokens = append(tokens, b.RefreshToken)
	e.refreshWith(a.RefreshToken) // a replay: logged as a warning
	c := e.loginAs("alice", nil, http.Header{"X-Strapi-Refresh-Cookie": {"httpOnly"}})
	cookie := cookieValue(c.rec, "strapi_up_refresh")
	tokens = append(tokens, cookie)
	e.request("POST", "/api/auth/logout", `{"refreshToken":"`+cookie+`"}`, bearer(c.JWT))
	e.refreshWith(cookie)
	if !strings.Contains(logs.String(), "refresh token reused") {
		t.Fatalf("the log lacks the reuse warning; is it wired?\n%s", logs.String())
	}
	for _, token := range tokens {
		if token == "" || strings.Contains(logs.String(), token) || strings.Contains(logs.String(), store.HashToken(token)) {
			t.Errorf("the log holds a refresh token or its hash (or a token is empty)\n%s", logs.String())
		}
	}
}

func FuzzDeviceName(f *testing.F) {
	for _, ua := range []string{chromeOnMac, firefoxOnLinx, "", "curl/8.5.0", "Edg/ iPhone Android CrOS"} {
		f.Add(ua)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		if name := deviceName(ua); len(name) > 40 {
			t.Errorf("deviceName(%q) = %q, want a short name", ua, name)
		}
	})
}

// TestPasswordChangeAndResetRevokeSessions (GHSA-hvp3-26wx-g2w4): after a
// change or a reset, every earlier refresh token of the user answers 401,
// even one issued within the same second, and the new pair works.
func TestPasswordChangeAndResetRevokeSessions(t *testing.T) {
	const newPassword = "brand-new-pass"
	for _, how := range []string{"change", "reset", "change in cookie mode"} {
		t.Run(how, func(t *testing.T) {
			e := newTestEnv(t, refreshMode)
			alice := e.users["authenticated"]
			one := e.loginAs("alice", map[string]any{"deviceId": "one"}, nil)
			two := e.loginAs("alice", map[string]any{"deviceId": "two"}, nil)
			e.createUser("bob", "bob@example.com", "authenticated")
			bob := e.loginAs("bob", nil, nil)
			var rec *httptest.ResponseRecorder
			change := `{"currentPassword":"` + testPassword + `","password":"` + newPassword + `","passwordConfirmation":"` + newPassword + `"}`
			switch how {
			case "change":
				rec = e.request("POST", "/api/auth/change-password", change, bearer(one.JWT))
			case "reset":
				issueKnownCode(e, store.ResetToken, alice.ID, knownCode, time.Hour)
				rec = e.request("POST", "/api/auth/reset-password", resetBody(knownCode, newPassword, newPassword), nil)
			default:
				h := bearer(one.JWT)
				h.Set("X-Strapi-Refresh-Cookie", "httpOnly")
				rec = e.request("POST", "/api/auth/change-password", change, h)
			}
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"username":"alice"`) {
				t.Fatalf("%s password: status = %d, want 200 with the user\n%s", how, rec.Code, rec.Body)
			}
			var fresh signIn
			json.Unmarshal(rec.Body.Bytes(), &fresh)
			if how == "change in cookie mode" {
				if fresh.RefreshToken != "" {
					t.Errorf("cookie mode: body = %s, want no refreshToken", rec.Body)
				}
				fresh.RefreshToken = cookieValue(rec, "strapi_up_refresh")
			}
			if fresh.JWT == "" || fresh.RefreshToken == "" {
				t.Fatalf("%s password: body = %s, want a new jwt and refresh token", how, rec.Body)
			}
			for _, old := range []signIn{one, two} {
				if rec := e.refreshWith(old.RefreshToken); rec.Code != 401 || !strings.Contains(rec.Body.String(), "Invalid refresh token") {
					t.Errorf("an earlier refresh token after the %s: status = %d, want 401 Invalid refresh token", how, rec.Code)
				}
			}
			if rec := e.refreshWith(fresh.RefreshToken); rec.Code != 200 {
				t.Errorf("the new refresh token: status = %d, want 200\n%s", rec.Code, rec.Body)
			}
			if rec := e.refreshWith(bob.RefreshToken); rec.Code != 200 {
				t.Errorf("another user's session: status = %d, want 200", rec.Code)
			}
			login := func(password string) int {
				return e.request("POST", "/api/auth/local", `{"identifier":"alice","password":"`+password+`"}`, nil).Code
			}
			if got := login(newPassword); got != 200 {
				t.Errorf("login with the new password: status = %d, want 200", got)
			}
			if got := login(testPassword); got != 400 {
				t.Errorf("login with the old password: status = %d, want 400", got)
			}
		})
	}
}

func TestOAuthCallbackDeviceID(t *testing.T) {
	e, _ := githubEnv(t, "query", octocat(), refreshMode)
	q := e.connect("github", "")
	rec := e.request("GET", "/api/auth/github/callback?"+q.Encode(), `{"deviceId":"tablet"}`, nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `","refreshToken":"`) {
		t.Fatalf("GET /api/auth/github/callback with a deviceId: status = %d\n%s", rec.Code, rec.Body)
	}
	var a signIn
	json.Unmarshal(rec.Body.Bytes(), &a)
	sess, err := e.store.Sessions().Active(context.Background(), store.HashToken(a.RefreshToken), e.server.now())
	if err != nil || sess.DeviceID != "tablet" {
		t.Errorf("the OAuth session = %+v, %v; want device tablet", sess, err)
	}
}

// TestRefreshModeRefusesLegacyTokens: as Strapi's session manager, refresh
// mode accepts only its own access tokens (type "access" with a
// sessionId); a legacy {id, iat, exp} token that works in legacy mode is
// 401 once refresh mode is on.
func TestRefreshModeRefusesLegacyTokens(t *testing.T) {
	legacyEnv := newTestEnv(t)
	legacy := legacyEnv.token(legacyEnv.users["authenticated"].ID)
	if rec := legacyEnv.request("GET", "/api/users/me", "", bearer(legacy)); rec.Code != 200 {
		t.Fatalf("legacy mode, legacy token: status = %d, want 200\n%s", rec.Code, rec.Body)
	}
	e := newTestEnv(t, refreshMode)
	for name, token := range map[string]string{
		"legacy token": legacy,
		"access type without a session id": sign(t, jwt.SigningMethodHS256, e.cfg.Secret, jwt.MapClaims{
			"id": e.users["authenticated"].ID, "type": "access", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}),
		"session id without the access type": sign(t, jwt.SigningMethodHS256, e.cfg.Secret, jwt.MapClaims{
			"id": e.users["authenticated"].ID, "sessionId": "s", "type": "refresh", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}),
	} {
		rec := e.request("GET", "/api/users/me", "", bearer(token))
		if rec.Code != 401 || !strings.Contains(rec.Body.String(), `"Missing or invalid credentials"`) {
			t.Errorf("refresh mode, %s: status = %d, want 401\n%s", name, rec.Code, rec.Body)
		}
	}
	s := e.loginAs("alice", nil, nil)
	if rec := e.request("GET", "/api/users/me", "", bearer(s.JWT)); rec.Code != 200 {
		t.Fatalf("refresh mode, the login's access token: status = %d, want 200\n%s", rec.Code, rec.Body)
	}
}

// TestRefreshKeepsOneRowPerSession is issue 11's point 4: 300 refreshes of
// one session used to leave 301 rows for 14 days; rotated in place they
// leave one, and the token the last refresh replaced still revokes the
// session when it is presented again.
func TestRefreshKeepsOneRowPerSession(t *testing.T) {
	e := newTestEnv(t, refreshMode)
	token := e.loginAs("alice", nil, nil).RefreshToken
	var previous string
	for i := range 300 {
		rec := e.refreshWith(token)
		if rec.Code != http.StatusOK {
			t.Fatalf("refresh %d: status = %d, want 200\n%s", i+1, rec.Code, rec.Body)
		}
		var next signIn
		if err := json.Unmarshal(rec.Body.Bytes(), &next); err != nil || next.RefreshToken == "" {
			t.Fatalf("refresh %d: body = %s, want a refreshToken", i+1, rec.Body)
		}
		previous, token = token, next.RefreshToken
	}
	var rows int64
	if err := e.store.DB.Model(&store.Session{}).Count(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Fatalf("up_sessions after 300 refreshes: %d rows, want 1", rows)
	}
	if rec := e.refreshWith(previous); rec.Code != http.StatusUnauthorized {
		t.Fatalf("the replaced token presented again: status = %d, want 401", rec.Code)
	}
	if rec := e.refreshWith(token); rec.Code != http.StatusUnauthorized {
		t.Errorf("the current token after its predecessor's reuse: status = %d, want 401 (session revoked)", rec.Code)
	}
	if err := e.store.DB.Model(&store.Session{}).Count(&rows).Error; err != nil || rows != 0 {
		t.Errorf("up_sessions after the reuse: %d rows (%v), want 0", rows, err)
	}
}

// TestSessionsPerUserAreCapped: a sign-in beyond Sessions.MaxPerUser ends
// the user's least recently active session; the others keep working.
func TestSessionsPerUserAreCapped(t *testing.T) {
	clock := newTestClock()
	e := newTestEnv(t, withSessions(Sessions{MaxPerUser: 3}), withClock(clock))
	var tokens []string
	for range 3 {
		tokens = append(tokens, e.loginAs("alice", nil, nil).RefreshToken)
		clock.Advance(time.Second)
	}
	// The first session is refreshed: the second is now the least recently active.
	rec := e.refreshWith(tokens[0])
	if rec.Code != http.StatusOK {
		t.Fatalf("refresh: status = %d, want 200\n%s", rec.Code, rec.Body)
	}
	var next signIn
	json.Unmarshal(rec.Body.Bytes(), &next)
	tokens[0] = next.RefreshToken
	clock.Advance(time.Second)
	tokens = append(tokens, e.loginAs("alice", nil, nil).RefreshToken)

	if got := len(e.sessionsOf(e.users["authenticated"].ID)); got != 3 {
		t.Errorf("alice's sessions after a fourth sign-in: %d, want 3", got)
	}
	for i, want := range []int{200, 401, 200, 200} {
		if rec := e.refreshWith(tokens[i]); rec.Code != want {
			t.Errorf("refresh of session %d: status = %d, want %d", i+1, rec.Code, want)
		}
	}
}
