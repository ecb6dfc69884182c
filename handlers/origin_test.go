package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestJSONBodiesNeedAJSONContentType (issue 11 point 5): a body the API
// reads as JSON must say so; what an HTML form or a no-cors fetch can send
// across sites without a preflight (text/plain, form types, no type) is
// 415, in the error envelope. Bodyless requests need no type.
func TestJSONBodiesNeedAJSONContentType(t *testing.T) {
	login := `{"identifier":"alice","password":"` + testPassword + `"}`
	ct := func(v ...string) http.Header { return http.Header{"Content-Type": v} }
	unsupported := errorJSONFor(415, "UnsupportedMediaTypeError", "Request body must be JSON (Content-Type: application/json)")
	runScenarios(t, []scenario{
		{name: "text/plain login (an HTML form with enctype=text/plain)", method: "POST", url: "/api/auth/local", body: login,
			header: ct("text/plain"), wantStatus: 415, want: []string{unsupported}, notWant: []string{`"jwt"`}},
		{name: "form-encoded login", method: "POST", url: "/api/auth/local", body: login,
			header: ct("application/x-www-form-urlencoded"), wantStatus: 415, want: []string{unsupported}},
		{name: "multipart login", method: "POST", url: "/api/auth/local", body: login,
			header: ct("multipart/form-data; boundary=x"), wantStatus: 415, want: []string{unsupported}},
		{name: "a body without Content-Type (a no-cors fetch of a Blob)", method: "POST", url: "/api/auth/local", body: login,
			header: ct(), wantStatus: 415, want: []string{unsupported}},
		{name: "a JSON look-alike type", method: "POST", url: "/api/auth/local", body: login,
			header: ct("text/x+json"), wantStatus: 415, want: []string{unsupported}},
		{name: "register as text/plain", method: "POST", url: "/api/auth/local/register",
			body:   `{"username":"mallory","email":"mallory@example.com","password":"secret123"}`,
			header: ct("text/plain;charset=UTF-8"), wantStatus: 415, want: []string{unsupported}},
		{name: "application/json with a charset", method: "POST", url: "/api/auth/local", body: login,
			header: ct("application/json; charset=utf-8"), wantStatus: 200, want: []string{`"jwt"`}},
		{name: "a +json type", method: "POST", url: "/api/auth/local", body: login,
			header: ct("application/vnd.api+json"), wantStatus: 200, want: []string{`"jwt"`}},
		{name: "a bodyless POST needs no type", method: "POST", url: "/api/users-permissions/policy/reload", caller: "admin",
			wantStatus: 200, want: []string{`"ok":true`}},
		{name: "an empty body with a form type is an empty object", method: "POST", url: "/api/users-permissions/policy/reload", caller: "admin",
			header: ct("application/x-www-form-urlencoded"), wantStatus: 200, want: []string{`"ok":true`}},
	})
}

// TestRefreshCookieNeedsASameSiteOrigin (issue 11 point 5): in refresh
// mode's cookie delivery, a sign-in, refresh or logout from a page on
// another site is 403 and neither sets nor rotates the cookie; PUBLIC_URL's
// origin, a CORS origin and clients without Origin (not browsers) work.
func TestRefreshCookieNeedsASameSiteOrigin(t *testing.T) {
	const cookieName = "strapi_up_refresh"
	newEnv := func(t *testing.T) *testEnv {
		return newTestEnv(t, func(c *Config) {
			refreshMode(c)
			c.PublicURL = "https://auth.example.com"
			c.CORS = CORS{Origins: []string{"https://app.example.com"}, Credentials: true}
		})
	}
	cookieLogin := func(e *testEnv, h http.Header) *httptest.ResponseRecorder {
		h.Set("x-strapi-refresh-cookie", "httpOnly")
		return e.request("POST", "/api/auth/local", `{"identifier":"alice","password":"`+testPassword+`"}`, h)
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"Origin of another site", http.Header{"Origin": {"https://evil.example"}}, 403},
		{"a sibling subdomain (same site, other origin)", http.Header{"Origin": {"https://evil.example.com"}, "Sec-Fetch-Site": {"same-site"}}, 403},
		{"opaque origin", http.Header{"Origin": {"null"}}, 403},
		{"no Origin, Sec-Fetch-Site cross-site", http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403},
		{"PUBLIC_URL's origin", http.Header{"Origin": {"https://auth.example.com"}, "Sec-Fetch-Site": {"same-origin"}}, 200},
		{"a CORS origin", http.Header{"Origin": {"https://app.example.com"}, "Sec-Fetch-Site": {"same-site"}}, 200},
		{"no Origin (not a browser)", http.Header{}, 200},
	} {
		t.Run("login: "+tc.name, func(t *testing.T) {
			e := newEnv(t)
			rec := cookieLogin(e, tc.header.Clone())
			if rec.Code != tc.want {
				t.Fatalf("cookie-mode login with %v: status = %d, want %d\n%s", tc.header, rec.Code, tc.want, rec.Body)
			}
			if set := setCookie(rec, cookieName) != ""; set != (tc.want == 200) {
				t.Errorf("cookie-mode login with %v: Set-Cookie present = %v, want %v", tc.header, set, tc.want == 200)
			}
		})
	}

	t.Run("refresh and logout by cookie", func(t *testing.T) {
		e := newEnv(t)
		rec := cookieLogin(e, http.Header{"Origin": {"https://app.example.com"}})
		token := cookieValue(rec, cookieName)
		jwt := decodeJWT(t, rec)
		withCookie := func(origin string) http.Header {
			h := http.Header{"Cookie": {cookieName + "=" + token}}
			h.Set("x-strapi-refresh-cookie", "httpOnly")
			if origin != "" {
				h.Set("Origin", origin)
			}
			return h
		}
		if rec := e.request("POST", "/api/auth/refresh", "", withCookie("https://evil.example")); rec.Code != 403 || setCookie(rec, cookieName) != "" {
			t.Errorf("cross-site refresh by cookie: status = %d, Set-Cookie %q; want 403 and none\n%s", rec.Code, setCookie(rec, cookieName), rec.Body)
		}
		h := withCookie("https://evil.example")
		h.Set("Authorization", "Bearer "+jwt)
		if rec := e.request("POST", "/api/auth/logout", "", h); rec.Code != 403 {
			t.Errorf("cross-site logout by cookie: status = %d, want 403\n%s", rec.Code, rec.Body)
		}
		rec = e.request("POST", "/api/auth/refresh", "", withCookie("https://app.example.com"))
		if rec.Code != 200 || setCookie(rec, cookieName) == "" {
			t.Fatalf("refresh by cookie from the front end: status = %d, Set-Cookie %q; want 200 and a new cookie\n%s", rec.Code, setCookie(rec, cookieName), rec.Body)
		}
		// A refresh token in the body, not the cookie, has no browser
		// session to protect: no Origin check.
		login := e.loginAs("alice", nil, nil)
		if rec := e.request("POST", "/api/auth/refresh", `{"refreshToken":"`+login.RefreshToken+`"}`, http.Header{"Origin": {"https://evil.example"}}); rec.Code != 200 {
			t.Errorf("refresh with the token in the body from another origin: status = %d, want 200\n%s", rec.Code, rec.Body)
		}
	})
}

// decodeJWT reads the jwt of a sign-in answer.
func decodeJWT(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var a struct {
		JWT string `json:"jwt"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || a.JWT == "" {
		t.Fatalf("sign-in answer %s: no jwt", rec.Body)
	}
	return a.JWT
}
