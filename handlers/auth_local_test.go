package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/store"
)

func TestLogin(t *testing.T) {
	const url = "/api/auth/local"
	login := func(identifier, password string) string {
		b, _ := json.Marshal(map[string]string{"identifier": identifier, "password": password})
		return string(b)
	}
	badLogin := errorJSONFor(400, "ValidationError", "Invalid identifier or password")
	runScenarios(t, []scenario{
		{name: "by email", method: "POST", url: url, body: login("alice@example.com", testPassword),
			wantStatus: 200, want: []string{`"jwt":"`, `"username":"alice"`, `"email":"alice@example.com"`, `"provider":"local"`, `"documentId":"`, `"publishedAt":"`},
			notWant: []string{`"role"`}},
		{name: "email is case-insensitive", method: "POST", url: url, body: login("ALICE@Example.COM", testPassword), wantStatus: 200},
		{name: "by username", method: "POST", url: url, body: login("alice", testPassword), wantStatus: 200},
		{name: "username is case-sensitive", method: "POST", url: url, body: login("Alice", testPassword), wantStatus: 400, want: []string{badLogin}},
		{name: "wrong password", method: "POST", url: url, body: login("alice", "nope-nope"), wantStatus: 400, want: []string{badLogin}},
		{name: "unknown user", method: "POST", url: url, body: login("nobody@example.com", testPassword), wantStatus: 400, want: []string{badLogin}},
		{name: "missing both", method: "POST", url: url, body: `{}`, wantStatus: 400,
			want: []string{`"message":"2 errors occurred"`, `identifier is a required field`, `password is a required field`}},
		{name: "empty body", method: "POST", url: url, wantStatus: 400, want: []string{`"2 errors occurred"`}},
		{name: "missing password", method: "POST", url: url, body: `{"identifier":"alice"}`, wantStatus: 400,
			want: []string{`"name":"ValidationError","message":"password is a required field"`}},
		{name: "wrong type", method: "POST", url: url, body: `{"identifier":123,"password":"x"}`, wantStatus: 400,
			want: []string{"identifier must be a `string` type, but the final value was: `123`."}},
		{name: "object identifier", method: "POST", url: url, body: `{"identifier":{"$ne":null},"password":"x"}`, wantStatus: 400,
			want: []string{"identifier must be a `string` type"}},
		{name: "malformed JSON", method: "POST", url: url, body: `{"identifier":`, wantStatus: 400, want: []string{`"status":400,"name":"SyntaxError","message":"Invalid JSON: `}},
		{name: "JSON array", method: "POST", url: url, body: `[1,2]`, wantStatus: 400, want: []string{`"ValidationError"`}},
		{name: "trailing data", method: "POST", url: url, body: `{"identifier":"a","password":"b"} {}`, wantStatus: 400,
			want: []string{errorJSONFor(400, "SyntaxError", "Invalid JSON: unexpected data after the object")}},
		{name: "not JSON content type", method: "POST", url: url, body: `identifier=alice`,
			header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, wantStatus: 415},
		{name: "SQL injection in identifier", method: "POST", url: url, body: login("' OR 1=1 --", testPassword), wantStatus: 400, want: []string{badLogin}},
		{name: "unicode identifier", method: "POST", url: url, body: login("ålice\u202e@例え.jp", testPassword), wantStatus: 400, want: []string{badLogin}},
		{name: "blocked, right password", method: "POST", url: url, body: login("bob", testPassword),
			setup: func(e *testEnv) {
				e.createUser("bob", "bob@example.com", "authenticated", func(u *store.User) { u.Blocked = true })
			},
			wantStatus: 400, want: []string{errorJSONFor(400, "ApplicationError", "Your account has been blocked by an administrator")}},
		{name: "blocked, wrong password does not leak the state", method: "POST", url: url, body: login("bob", "wrong-password"),
			setup: func(e *testEnv) {
				e.createUser("bob", "bob@example.com", "authenticated", func(u *store.User) { u.Blocked = true })
			},
			wantStatus: 400, want: []string{badLogin}},
		{name: "unconfirmed while confirmation is on", method: "POST", url: url, body: login("carol", testPassword),
			setup: func(e *testEnv) {
				e.createUser("carol", "carol@example.com", "authenticated", func(u *store.User) { u.Confirmed = false })
				e.setAdvanced(func(a *store.Advanced) { a.EmailConfirmation = true })
			},
			wantStatus: 400, want: []string{errorJSONFor(400, "ApplicationError", "Your account email is not confirmed")}},
		{name: "unconfirmed while confirmation is off", method: "POST", url: url, body: login("carol", testPassword),
			setup: func(e *testEnv) {
				e.createUser("carol", "carol@example.com", "authenticated", func(u *store.User) { u.Confirmed = false })
			},
			wantStatus: 200},
		{name: "email provider disabled", method: "POST", url: url, body: login("alice", testPassword),
			setup: func(e *testEnv) {
				if err := e.store.Settings().Put(context.Background(), store.KeyGrant, map[string]any{"email": map[string]any{"enabled": false}}); err != nil {
					t.Fatal(err)
				}
			},
			wantStatus: 400, want: []string{errorJSONFor(400, "ApplicationError", "This provider is disabled")}},
		{name: "a token holder is not public: 403", method: "POST", url: url, body: login("alice", testPassword), caller: "authenticated",
			wantStatus: 403, want: []string{errorJSONFor(403, "ForbiddenError", "Forbidden")}},
	})
}

func TestLoginTokenWorksOnMe(t *testing.T) {
	e := newTestEnv(t)
	rec := e.request("POST", "/api/auth/local", `{"identifier":"alice","password":"`+testPassword+`"}`, nil)
	var got struct{ JWT string }
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.JWT == "" {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	me := e.request("GET", "/api/users/me", "", http.Header{"Authorization": {"Bearer " + got.JWT}})
	if me.Code != 200 || !strings.Contains(me.Body.String(), `"username":"alice"`) {
		t.Errorf("GET /api/users/me: status = %d, body %s", me.Code, me.Body)
	}
	// The token's claims are exactly id, iat and exp.
	parts := strings.Split(got.JWT, ".")
	payload, _ := decodeSegment(parts[1])
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	if len(claims) != 3 || claims["id"] == nil || claims["iat"] == nil || claims["exp"] == nil {
		t.Errorf("claims = %v, want exactly id, iat, exp", claims)
	}
}

// TestNoResponseLeaksAHash drives every user-returning endpoint as admin and
// asserts no hash or private field appears.
func TestNoResponseLeaksAHash(t *testing.T) {
	e := newTestEnv(t)
	admin := http.Header{"Authorization": {"Bearer " + e.token(e.users["admin"].ID)}}
	id := jsonID(e.users["authenticated"].ID)
	for _, r := range []struct{ method, url, body string }{
		{"POST", "/api/auth/local", `{"identifier":"alice","password":"` + testPassword + `"}`},
		{"POST", "/api/auth/local/register", `{"username":"newbie","email":"newbie@example.com","password":"secret123"}`},
		{"GET", "/api/users", ""},
		{"GET", "/api/users?populate=*", ""},
		{"GET", "/api/users/" + id + "?populate=role", ""},
		{"GET", "/api/users/me", ""},
		{"POST", "/api/users", `{"username":"made","email":"made@example.com","password":"secret123"}`},
		{"PUT", "/api/users/" + id, `{"password":"another-secret"}`},
	} {
		h := admin
		if strings.HasPrefix(r.url, "/api/auth") {
			h = nil
		}
		rec := e.request(r.method, r.url, r.body, h)
		if rec.Code >= 300 {
			t.Errorf("%s %s: status = %d\n%s", r.method, r.url, rec.Code, rec.Body)
		}
		for _, nw := range notWantAlways {
			if strings.Contains(rec.Body.String(), nw) {
				t.Errorf("%s %s: body contains %q\n%s", r.method, r.url, nw, rec.Body)
			}
		}
	}
}

func jsonID(id uint) string { b, _ := json.Marshal(id); return string(b) }

var _ = httptest.NewRecorder
