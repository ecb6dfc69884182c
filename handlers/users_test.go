package handlers

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"golang.org/x/crypto/bcrypt"
)

// Users of every fresh environment: 1 alice (authenticated), 2 root (admin).
func TestUsersCRUD(t *testing.T) {
	notFound := errorJSONFor(404, "NotFoundError", "User not found")
	runScenarios(t, []scenario{
		{name: "me", method: "GET", url: "/api/users/me", caller: "authenticated", wantStatus: 200,
			want: []string{`"id":1`, `"username":"alice"`}, notWant: []string{`"role"`}},
		{name: "me with role", method: "GET", url: "/api/users/me?populate=role", caller: "authenticated", wantStatus: 200,
			want: []string{`"role":{`, `"type":"authenticated"`}, notWant: []string{`"users"`}},
		{name: "me with fields", method: "GET", url: "/api/users/me?fields[0]=username", caller: "authenticated", wantStatus: 200,
			want: []string{`"username":"alice"`, `"id":1`}, notWant: []string{`"email"`}},
		{name: "me cannot select the password", method: "GET", url: "/api/users/me?fields[0]=password", caller: "authenticated", wantStatus: 400,
			want: []string{`"message":"Invalid key password"`}},

		{name: "list is a bare array", method: "GET", url: "/api/users", caller: "admin", wantStatus: 200,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				var users []map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &users); err != nil || len(users) != 2 {
					t.Errorf("GET /api/users = %s, want an array of 2", rec.Body)
				}
				if _, ok := users[0]["role"]; ok {
					t.Errorf("role populated without populate=role")
				}
			}},
		{name: "list filter", method: "GET", url: "/api/users?filters[username][$eq]=alice", caller: "admin", wantStatus: 200,
			want: []string{`"username":"alice"`}, notWant: []string{`"username":"root"`}},
		{name: "list $or with role path", method: "GET", url: "/api/users?filters[$or][0][role][type][$eq]=admin&filters[$or][1][email][$containsi]=ALICE&sort=username:desc", caller: "admin", wantStatus: 200,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				if i, j := strings.Index(rec.Body.String(), `"root"`), strings.Index(rec.Body.String(), `"alice"`); i < 0 || j < 0 || i > j {
					t.Errorf("want root then alice: %s", rec.Body)
				}
			}},
		{name: "list pagination", method: "GET", url: "/api/users?pagination[page]=2&pagination[pageSize]=1&sort=id", caller: "admin", wantStatus: 200,
			want: []string{`"username":"root"`}, notWant: []string{`"alice"`}},
		{name: "list populate role never has users", method: "GET", url: "/api/users?populate[role][populate][0]=users", caller: "admin", wantStatus: 200,
			want: []string{`"role":{`}, notWant: []string{`"users"`}},
		{name: "filter on password", method: "GET", url: "/api/users?filters[password][$startsWith]=$2a", caller: "admin", wantStatus: 400,
			want: []string{`"name":"ValidationError","message":"Invalid key password"`}},
		{name: "filter on a reset token through $or", method: "GET", url: "/api/users?filters[$or][0][resetPasswordToken][$notNull]=true", caller: "admin", wantStatus: 400,
			want: []string{`Invalid key resetPasswordToken`}},
		{name: "filter through role.users", method: "GET", url: "/api/users?filters[role][users][password][$eq]=x", caller: "admin", wantStatus: 400,
			want: []string{`"message":"Invalid key`}},
		{name: "aliased key", method: "GET", url: "/api/users?filters[t0.password][$eq]=x", caller: "admin", wantStatus: 400, want: []string{`Invalid key`}},
		{name: "sort on password", method: "GET", url: "/api/users?sort=password:asc", caller: "admin", wantStatus: 400, want: []string{`Invalid key password`}},
		{name: "bad operator", method: "GET", url: "/api/users?filters[username][$regex]=.*", caller: "admin", wantStatus: 400, want: []string{`"ValidationError"`}},
		{name: "injection in a value is literal", method: "GET", url: "/api/users?filters[username][$eq]=%27%20OR%20%271%27=%271", caller: "admin", wantStatus: 200, want: []string{`[]`}},
		{name: "count", method: "GET", url: "/api/users/count", caller: "admin", wantStatus: 200, want: []string{`2`}},
		{name: "count filtered", method: "GET", url: "/api/users/count?filters[username][$eq]=alice", caller: "admin", wantStatus: 200,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				if strings.TrimSpace(rec.Body.String()) != "1" {
					t.Errorf("count = %s, want 1", rec.Body)
				}
			}},

		{name: "find one", method: "GET", url: "/api/users/1", caller: "admin", wantStatus: 200, want: []string{`"username":"alice"`}, notWant: []string{`"role"`}},
		{name: "find one with role", method: "GET", url: "/api/users/1?populate=role", caller: "admin", wantStatus: 200, want: []string{`"type":"authenticated"`}},
		{name: "find one unknown is 204", method: "GET", url: "/api/users/999", caller: "admin", wantStatus: 204},
		{name: "find one by documentId is 204", method: "GET", url: "/api/users/abcdefghijklmnopqrstuvwx", caller: "admin", wantStatus: 204},

		{name: "create", method: "POST", url: "/api/users", caller: "admin", body: `{"username":"made","email":"Made@Example.com","password":"secret123","role":2}`,
			wantStatus: 201, want: []string{`"username":"made"`, `"email":"made@example.com"`, `"role":{`, `"type":"public"`, `"provider":"local"`}},
		{name: "create without role takes the default", method: "POST", url: "/api/users", caller: "admin", body: `{"username":"made","email":"made@example.com","password":"secret123"}`,
			wantStatus: 201, want: []string{`"type":"authenticated"`}},
		{name: "create with role connect", method: "POST", url: "/api/users", caller: "admin", body: `{"username":"made","email":"made@example.com","password":"secret123","role":{"connect":[{"id":3}]}}`,
			wantStatus: 201, want: []string{`"type":"admin"`}},
		{name: "create with empty connect", method: "POST", url: "/api/users", caller: "admin", body: `{"username":"made","email":"made@example.com","password":"secret123","role":{"connect":[]}}`,
			wantStatus: 400, want: []string{`Users must have a role`}},
		{name: "create with unknown role", method: "POST", url: "/api/users", caller: "admin", body: `{"username":"made","email":"made@example.com","password":"secret123","role":99}`,
			wantStatus: 400},
		{name: "create email taken", method: "POST", url: "/api/users", caller: "admin", body: `{"username":"made","email":"alice@example.com","password":"secret123"}`,
			wantStatus: 400, want: []string{errorJSONFor(400, "ApplicationError", "Email already taken")}},
		{name: "create username taken", method: "POST", url: "/api/users", caller: "admin", body: `{"username":"alice","email":"x@example.com","password":"secret123"}`,
			wantStatus: 400, want: []string{`"name":"ApplicationError","message":"This attribute must be unique"`}},
		{name: "create invalid", method: "POST", url: "/api/users", caller: "admin", body: `{"username":"made","email":"nope"}`,
			wantStatus: 400, want: []string{`"2 errors occurred"`}},
		{name: "create as a plain user is forbidden", method: "POST", url: "/api/users", caller: "authenticated", body: `{"username":"made","email":"made@example.com","password":"secret123"}`,
			wantStatus: 403},

		{name: "update", method: "PUT", url: "/api/users/1", caller: "admin", body: `{"username":"alicia","blocked":true,"unknown":"ignored"}`,
			wantStatus: 200, want: []string{`"username":"alicia"`, `"blocked":true`}},
		{name: "update password re-hashes and revokes older tokens", method: "PUT", url: "/api/users/1", caller: "admin", body: `{"password":"brand-new-pass"}`,
			wantStatus: 200,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				u, _ := e.store.Users().ByID(context.Background(), 1)
				if bcrypt.CompareHashAndPassword([]byte(u.Password), []byte("brand-new-pass")) != nil {
					t.Errorf("password not re-hashed")
				}
			}},
		{name: "update role", method: "PUT", url: "/api/users/1", caller: "admin", body: `{"role":3}`, wantStatus: 200,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				u, _ := e.store.Users().ByID(context.Background(), 1)
				if u.Role == nil || u.Role.Type != "admin" {
					t.Errorf("role = %+v, want admin", u.Role)
				}
			}},
		{name: "update remove role", method: "PUT", url: "/api/users/1", caller: "admin", body: `{"role":{"connect":[],"disconnect":[{"id":1}]}}`,
			wantStatus: 400, want: []string{`Cannot remove role`}},
		{name: "update empty password", method: "PUT", url: "/api/users/1", caller: "admin", body: `{"password":""}`, wantStatus: 400, want: []string{`password.notNull`}},
		{name: "update username taken", method: "PUT", url: "/api/users/1", caller: "admin", body: `{"username":"root"}`, wantStatus: 400,
			want: []string{errorJSONFor(400, "ApplicationError", "Username already taken")}},
		{name: "update email taken", method: "PUT", url: "/api/users/1", caller: "admin", body: `{"email":"ROOT@example.com"}`, wantStatus: 400,
			want: []string{errorJSONFor(400, "ApplicationError", "Email already taken")}},
		{name: "update bad email", method: "PUT", url: "/api/users/1", caller: "admin", body: `{"email":"nope"}`, wantStatus: 400, want: []string{`email must be a valid email`}},
		{name: "update wrong type", method: "PUT", url: "/api/users/1", caller: "admin", body: `{"blocked":"yes"}`, wantStatus: 400, want: []string{"blocked must be a `boolean` type"}},
		{name: "update unknown", method: "PUT", url: "/api/users/99999999", caller: "admin", body: `{"username":"x"}`, wantStatus: 404, want: []string{notFound}},

		{name: "delete", method: "DELETE", url: "/api/users/1", caller: "admin", wantStatus: 200, want: []string{`"username":"alice"`},
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				if _, err := e.store.Users().ByID(context.Background(), 1); err != store.ErrNotFound {
					t.Errorf("user still there: %v", err)
				}
			}},
		{name: "delete unknown", method: "DELETE", url: "/api/users/999", caller: "admin", wantStatus: 204},
	})
}

func TestPasswordChangeByAdminRevokesTokens(t *testing.T) {
	e := newTestEnv(t)
	old := e.token(1)
	admin := map[string][]string{"Authorization": {"Bearer " + e.token(2)}}
	// Make the change strictly later than the old token's iat second.
	e.server.cfg.Now = func() time.Time { return time.Now().Add(2 * time.Second) }
	if rec := e.request("PUT", "/api/users/1", `{"password":"brand-new-pass"}`, admin); rec.Code != 200 {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	rec := e.request("GET", "/api/users/me", "", map[string][]string{"Authorization": {"Bearer " + old}})
	if rec.Code != 401 {
		t.Errorf("old token after a password change: status = %d, want 401", rec.Code)
	}
}

// TestBlockingTakesEffectAtOnce: the authentication cache never serves a
// user that was blocked through the API.
func TestBlockingTakesEffectAtOnce(t *testing.T) {
	e := newTestEnv(t)
	user := map[string][]string{"Authorization": {"Bearer " + e.token(1)}}
	if rec := e.request("GET", "/api/users/me", "", user); rec.Code != 200 {
		t.Fatalf("before: %d", rec.Code)
	}
	admin := map[string][]string{"Authorization": {"Bearer " + e.token(2)}}
	if rec := e.request("PUT", "/api/users/1", `{"blocked":true}`, admin); rec.Code != 200 {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	if rec := e.request("GET", "/api/users/me", "", user); rec.Code != 401 {
		t.Errorf("after blocking: status = %d, want 401", rec.Code)
	}
}
