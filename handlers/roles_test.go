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

// Fresh environments have roles 1 authenticated, 2 public, 3 admin.
func TestRolesAPI(t *testing.T) {
	notFound := errorJSONFor(404, "NotFoundError", "Role not found")
	runScenarios(t, []scenario{
		{name: "list", method: "GET", url: "/api/users-permissions/roles", caller: "admin", wantStatus: 200,
			want: []string{`"roles":[`, `"type":"admin"`, `"nb_users":1`, `"inherits":["authenticated"]`, `"name":"Public"`},
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				var body struct{ Roles []struct{ Name string } }
				_ = json.Unmarshal(rec.Body.Bytes(), &body)
				if len(body.Roles) != 3 || body.Roles[0].Name != "Admin" || body.Roles[2].Name != "Public" {
					t.Errorf("roles not sorted by name: %+v", body.Roles)
				}
			}},
		{name: "list forbidden to users", method: "GET", url: "/api/users-permissions/roles", caller: "authenticated", wantStatus: 403},
		{name: "find one with permissions", method: "GET", url: "/api/users-permissions/roles/2", caller: "admin", wantStatus: 200,
			want: []string{`"role":{`, `"type":"public"`, `"plugin::users-permissions":{"controllers":{`, `"register":{"enabled":true,"policy":""}`, `"me":{"enabled":false`}},
		{name: "find unknown", method: "GET", url: "/api/users-permissions/roles/99", caller: "admin", wantStatus: 404, want: []string{notFound}},
		{name: "find non-numeric", method: "GET", url: "/api/users-permissions/roles/abc", caller: "admin", wantStatus: 404, want: []string{notFound}},
		{name: "create (Strapi's test body)", method: "POST", url: "/api/users-permissions/roles", caller: "admin",
			body: `{"name":"Editors Team","description":"They edit","permissions":[]}`, wantStatus: 200, want: []string{`{"ok":true}`},
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				r, err := e.store.Roles().ByType(context.Background(), "editors_team")
				if err != nil || r.Description != "They edit" {
					t.Errorf("created role = %+v, %v", r, err)
				}
			}},
		{name: "create with permissions and inheritance", method: "POST", url: "/api/users-permissions/roles", caller: "admin",
			body:       `{"name":"Auditor","type":"auditor","inherits":["authenticated"],"permissions":{"plugin::users-permissions":{"controllers":{"user":{"find":{"enabled":true},"count":{"enabled":true}}}}}}`,
			wantStatus: 200,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				for _, c := range []struct {
					route, method string
					want          bool
				}{{"/api/users", "GET", true}, {"/api/users/count", "GET", true}, {"/api/users/me", "GET", true}, {"/api/users/:id", "DELETE", false}} {
					if got, _ := e.enforcer.Allow("auditor", c.route, c.method); got != c.want {
						t.Errorf("Allow(auditor, %s, %s) = %v, want %v", c.route, c.method, got, c.want)
					}
				}
			}},
		{name: "create empty body", method: "POST", url: "/api/users-permissions/roles", caller: "admin", body: `{}`, wantStatus: 400,
			want: []string{errorJSONFor(400, "ValidationError", "Request body cannot be empty")}},
		{name: "create short name", method: "POST", url: "/api/users-permissions/roles", caller: "admin", body: `{"name":"ab"}`, wantStatus: 400},
		{name: "create duplicate type", method: "POST", url: "/api/users-permissions/roles", caller: "admin", body: `{"name":"Public"}`, wantStatus: 400,
			want: []string{`already exists`}},
		{name: "create unknown permission", method: "POST", url: "/api/users-permissions/roles", caller: "admin",
			body: `{"name":"Bad","permissions":{"plugin::users-permissions":{"controllers":{"user":{"hack":{"enabled":true}}}}}}`, wantStatus: 400,
			want: []string{`Unknown permission plugin::users-permissions.user.hack`}},
		{name: "create inheriting an unknown role", method: "POST", url: "/api/users-permissions/roles", caller: "admin",
			body: `{"name":"Bad role","inherits":["ghost"]}`, wantStatus: 400, want: []string{`role \"ghost\" does not exist`}},
		{name: "inheritance cycle refused", method: "PUT", url: "/api/users-permissions/roles/1", caller: "admin",
			body: `{"inherits":["admin"]}`, wantStatus: 400, want: []string{`Role inheritance cycle: `}},
		{name: "update name, type immutable", method: "PUT", url: "/api/users-permissions/roles/1", caller: "admin",
			body: `{"name":"Members","type":"hacked"}`, wantStatus: 200, want: []string{`{"ok":true}`},
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				r, _ := e.store.Roles().ByID(context.Background(), 1)
				if r.Name != "Members" || r.Type != "authenticated" {
					t.Errorf("role = %+v", r)
				}
			}},
		{name: "update unknown", method: "PUT", url: "/api/users-permissions/roles/99", caller: "admin", body: `{"name":"xxx"}`, wantStatus: 404, want: []string{notFound}},
		{name: "update empty", method: "PUT", url: "/api/users-permissions/roles/1", caller: "admin", body: ``, wantStatus: 400,
			want: []string{`Request body cannot be empty`}},
		{name: "disabling a wildcard-granted action is refused with the rule", method: "PUT", url: "/api/users-permissions/roles/3", caller: "admin",
			body: `{"permissions":{"plugin::users-permissions":{"controllers":{"user":{"find":{"enabled":false}}}}}}`, wantStatus: 400,
			want: []string{`stays enabled through the rule`, `p, admin, /api/users, *`}},
		{name: "delete public refused", method: "DELETE", url: "/api/users-permissions/roles/2", caller: "admin", wantStatus: 400,
			want: []string{errorJSONFor(400, "ApplicationError", "Cannot delete public role")}},
		{name: "delete authenticated refused", method: "DELETE", url: "/api/users-permissions/roles/1", caller: "admin", wantStatus: 400,
			want: []string{errorJSONFor(400, "ApplicationError", "Cannot delete authenticated role")}},
		{name: "delete authenticated refused when it is not the default", method: "DELETE", url: "/api/users-permissions/roles/1", caller: "admin",
			setup: func(e *testEnv) { e.setAdvanced(func(a *store.Advanced) { a.DefaultRole = "admin" }) }, wantStatus: 400,
			want: []string{errorJSONFor(400, "ApplicationError", "Cannot delete authenticated role")}},
		{name: "delete the default role refused", method: "DELETE", url: "/api/users-permissions/roles/4", caller: "admin",
			setup: func(e *testEnv) {
				if err := e.store.Roles().Create(context.Background(), &store.Role{Name: "Members", Type: "members"}); err != nil {
					t.Fatal(err)
				}
				e.setAdvanced(func(a *store.Advanced) { a.DefaultRole = "members" })
			}, wantStatus: 400,
			want: []string{errorJSONFor(400, "ApplicationError", "Cannot delete the default role: choose another default role first")}},
		{name: "delete admin refused: the administrators keep their role", method: "DELETE", url: "/api/users-permissions/roles/3", caller: "admin",
			wantStatus: 400, want: []string{errorJSONFor(400, "ApplicationError", "Cannot delete admin role")},
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				u, err := e.store.Users().ByID(context.Background(), e.users["admin"].ID)
				if err != nil || u.Role == nil || u.Role.Type != AdminRole {
					t.Errorf("after DELETE of the admin role: the admin's role = %+v (%v), want admin", u.Role, err)
				}
			}},
		{name: "delete unknown", method: "DELETE", url: "/api/users-permissions/roles/99", caller: "admin", wantStatus: 404, want: []string{notFound}},
	})
}

// TestPublicGrantThroughRoleAPI: enabling user.find for Public makes
// anonymous GET /api/users answer 200; disabling it makes it 403 again.
func TestPublicGrantThroughRoleAPI(t *testing.T) {
	e := newTestEnv(t)
	admin := http.Header{"Authorization": {"Bearer " + e.token(e.users["admin"].ID)}}
	if rec := e.request("GET", "/api/users", "", nil); rec.Code != 403 {
		t.Fatalf("before: GET /api/users anonymous = %d, want 403", rec.Code)
	}
	// The admin UI sends the whole map: read it, flip user.find, send it back.
	rec := e.request("GET", "/api/users-permissions/roles/2", "", admin)
	var got struct {
		Role struct {
			Permissions map[string]map[string]map[string]map[string]map[string]any
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	perms := got.Role.Permissions
	perms["plugin::users-permissions"]["controllers"]["user"]["find"]["enabled"] = true
	body, _ := json.Marshal(map[string]any{"permissions": perms})
	if rec := e.request("PUT", "/api/users-permissions/roles/2", string(body), admin); rec.Code != 200 {
		t.Fatalf("PUT role: %d %s", rec.Code, rec.Body)
	}
	if rec := e.request("GET", "/api/users", "", nil); rec.Code != 200 || !strings.HasPrefix(rec.Body.String(), "[") {
		t.Errorf("after enabling: GET /api/users anonymous = %d %s, want 200", rec.Code, rec.Body)
	}
	// Public's other permissions were kept.
	if rec := e.request("POST", "/api/auth/local", `{"identifier":"alice","password":"`+testPassword+`"}`, nil); rec.Code != 200 {
		t.Errorf("login after the PUT: %d", rec.Code)
	}
	perms["plugin::users-permissions"]["controllers"]["user"]["find"]["enabled"] = false
	body, _ = json.Marshal(map[string]any{"permissions": perms})
	if rec := e.request("PUT", "/api/users-permissions/roles/2", string(body), admin); rec.Code != 200 {
		t.Fatalf("PUT role: %d %s", rec.Code, rec.Body)
	}
	if rec := e.request("GET", "/api/users", "", nil); rec.Code != 403 {
		t.Errorf("after disabling: GET /api/users anonymous = %d, want 403", rec.Code)
	}
}

func TestDeleteRoleMovesUsersToTheDefaultRole(t *testing.T) {
	e := newTestEnv(t)
	admin := http.Header{"Authorization": {"Bearer " + e.token(e.users["admin"].ID)}}
	if rec := e.request("POST", "/api/users-permissions/roles", `{"name":"Editor","inherits":["authenticated"],"permissions":{"plugin::users-permissions":{"controllers":{"user":{"count":{"enabled":true}}}}}}`, admin); rec.Code != 200 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	editor := e.createUser("ed", "ed@example.com", "editor")
	tok := http.Header{"Authorization": {"Bearer " + e.token(editor.ID)}}
	if rec := e.request("GET", "/api/users/count", "", tok); rec.Code != 200 {
		t.Fatalf("editor count: %d", rec.Code)
	}
	role, _ := e.store.Roles().ByType(context.Background(), "editor")
	if rec := e.request("DELETE", "/api/users-permissions/roles/"+jsonID(role.ID), "", admin); rec.Code != 200 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	u, _ := e.store.Users().ByID(context.Background(), editor.ID)
	if u.Role == nil || u.Role.Type != "authenticated" {
		t.Errorf("user's role after delete = %+v, want authenticated", u.Role)
	}
	if rec := e.request("GET", "/api/users/count", "", tok); rec.Code != 403 {
		t.Errorf("former editor count: %d, want 403", rec.Code)
	}
	rules, _ := e.enforcer.Rules()
	for _, r := range rules {
		if r.Values[0] == "editor" || (r.Type == "g" && r.Values[1] == "editor") {
			t.Errorf("rule %s survived the role", r)
		}
	}
}

func TestPermissionsAndRoutes(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "permissions for an anonymous caller are public's", method: "GET", url: "/api/users-permissions/permissions",
			setup: func(e *testEnv) {
				_ = e.enforcer.Add(rulesOf(t, "p, public, /api/users-permissions/permissions, GET"))
			},
			wantStatus: 200, want: []string{`"register":{"enabled":true`, `"me":{"enabled":false`}},
		{name: "permissions for an authenticated caller", method: "GET", url: "/api/users-permissions/permissions", caller: "admin", wantStatus: 200,
			want: []string{`"getPermissions":{"enabled":true`, `"register":{"enabled":false`}},
		{name: "routes", method: "GET", url: "/api/users-permissions/routes", caller: "admin", wantStatus: 200,
			want: []string{`"plugin::users-permissions":[`, `{"method":"GET","path":"/api/users/me","handler":"user.me","action":"plugin::users-permissions.user.me"}`}},
	})
}
