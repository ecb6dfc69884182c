package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/policy"
)

func rulesOf(t testing.TB, csv string) []policy.Rule {
	t.Helper()
	rules, err := policy.ParseCSV(csv)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// withPublicUsers is the default policy plus public GET /api/users.
var withPublicUsers = policy.DefaultCSV + "\np, public, /api/users, GET\n"

func TestPolicyAPI(t *testing.T) {
	csv := http.Header{"Content-Type": {"text/csv"}}
	runScenarios(t, []scenario{
		{name: "get as JSON", method: "GET", url: "/api/users-permissions/policy", caller: "admin", wantStatus: 200,
			want: []string{`"revision":`, `{"ptype":"p","v0":"public","v1":"/api/auth/local","v2":"POST"}`, `{"ptype":"g","v0":"admin","v1":"authenticated"}`}},
		{name: "get as CSV", method: "GET", url: "/api/users-permissions/policy", caller: "admin", header: http.Header{"Accept": {"text/csv"}}, wantStatus: 200,
			want: []string{"p, public, /api/auth/local, POST\n", "g, admin, authenticated\n"}},
		{name: "dry run reports exactly the flipped decisions", method: "PUT", url: "/api/users-permissions/policy?dryRun=true", caller: "admin",
			header: csv, body: withPublicUsers, wantStatus: 200,
			want: []string{`"dryRun":true`, `"changes":[{"role":"public","method":"GET","route":"/api/users","function":"plugin::users-permissions.user.find","from":"deny","to":"allow"}]`},
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				if rec := e.request("GET", "/api/users", "", nil); rec.Code != 403 {
					t.Errorf("a dry run changed the policy: anonymous GET /api/users = %d", rec.Code)
				}
			}},
		{name: "dry run carries the lint findings of the new policy", method: "PUT", url: "/api/users-permissions/policy?dryRun=true", caller: "admin",
			header: csv, body: policy.DefaultCSV + "\np, public, /api/users, POST\np, public, /api/nowhere, GET\n", wantStatus: 200,
			want: []string{`"findings":[`, `{"kind":"public-write","message":"`, `{"kind":"dead-rule","message":"p, public, /api/nowhere, GET`}},
		{name: "dry run of the default policy: findings is a list", method: "PUT", url: "/api/users-permissions/policy?dryRun=true", caller: "admin",
			header: csv, body: policy.DefaultCSV, wantStatus: 200, want: []string{`"findings":[`}, notWant: []string{`"findings":null`}},
		{name: "import grants public the users list", method: "PUT", url: "/api/users-permissions/policy", caller: "admin",
			header: csv, body: withPublicUsers, wantStatus: 200, want: []string{`"ok":true`, `"to":"allow"`},
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				if rec := e.request("GET", "/api/users", "", nil); rec.Code != 200 {
					t.Errorf("after import: anonymous GET /api/users = %d, want 200", rec.Code)
				}
				if rec := e.request("PUT", "/api/users-permissions/policy", policy.DefaultCSV, http.Header{
					"Authorization": {"Bearer " + e.token(e.users["admin"].ID)}, "Content-Type": {"text/csv"}}); rec.Code != 200 {
					t.Fatalf("re-import: %d %s", rec.Code, rec.Body)
				}
				if rec := e.request("GET", "/api/users", "", nil); rec.Code != 403 {
					t.Errorf("after re-import: anonymous GET /api/users = %d, want 403", rec.Code)
				}
			}},
		{name: "a bad row names its line and changes nothing", method: "PUT", url: "/api/users-permissions/policy", caller: "admin",
			header: csv, body: "# header\np, public, /api/users, GET\np, public, api/oops, GET\n", wantStatus: 400,
			want: []string{`"message":"line 3: route \"api/oops\" must start with /"`, `"line":3`},
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				if ok, _ := e.enforcer.Allow("public", "/api/auth/local", "POST"); !ok {
					t.Errorf("a failed import changed the policy")
				}
			}},
		{name: "an unknown role names its line", method: "PUT", url: "/api/users-permissions/policy", caller: "admin",
			header: csv, body: "p, public, /api/users, GET\np, ghost, /api/users, GET\n", wantStatus: 400,
			want: []string{`line 2: role \"ghost\" does not exist`}},
		{name: "a cycle is refused", method: "PUT", url: "/api/users-permissions/policy", caller: "admin",
			header: csv, body: "g, admin, authenticated\ng, authenticated, admin\n", wantStatus: 400, want: []string{`Role inheritance cycle`}},
		// Issue 11 point 11: a misspelt or unknown flag is refused before
		// anything changes, and only "true"/"false" are read.
		{name: "a misspelt dry-run flag is refused, not applied", method: "PUT", url: "/api/users-permissions/policy?dryrun=true", caller: "admin",
			header: csv, body: withPublicUsers, wantStatus: 400, want: []string{`"name":"ValidationError"`, `Unknown query parameter \"dryrun\"`},
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				if rec := e.request("GET", "/api/users", "", nil); rec.Code != 403 {
					t.Errorf("?dryrun=true applied the policy: anonymous GET /api/users = %d, want 403", rec.Code)
				}
			}},
		{name: "dryRun takes only true or false", method: "PUT", url: "/api/users-permissions/policy?dryRun=1", caller: "admin",
			header: csv, body: withPublicUsers, wantStatus: 400, want: []string{`dryRun must be true or false`}},
		{name: "dryRun twice is refused", method: "PUT", url: "/api/users-permissions/policy?dryRun=true&dryRun=false", caller: "admin",
			header: csv, body: withPublicUsers, wantStatus: 400},
		{name: "dryRun=false applies", method: "PUT", url: "/api/users-permissions/policy?dryRun=false", caller: "admin",
			header: csv, body: withPublicUsers, wantStatus: 200, want: []string{`"ok":true`}},
		{name: "reload takes no query flag", method: "POST", url: "/api/users-permissions/policy/reload?force=true", caller: "admin",
			wantStatus: 400, want: []string{`Unknown query parameter \"force\"`}},
		{name: "a wildcard route with regular-expression characters is refused", method: "PUT", url: "/api/users-permissions/policy", caller: "admin",
			header: csv, body: policy.DefaultCSV + "\np, public, /api/(users|roles)/*, GET\n", wantStatus: 400,
			want: []string{`may not contain '('`},
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				if rec := e.request("GET", "/api/users/1", "", nil); rec.Code != 403 {
					t.Errorf("anonymous GET /api/users/1 = %d, want 403", rec.Code)
				}
			}},
		{name: "an empty policy is refused", method: "PUT", url: "/api/users-permissions/policy", caller: "admin",
			header: csv, body: "# nothing\n", wantStatus: 400},
		{name: "check an allow", method: "POST", url: "/api/users-permissions/policy/check", caller: "admin",
			body: `{"role":"authenticated","method":"get","path":"/api/users/me"}`, wantStatus: 200,
			want: []string{`"allowed":true`, `"matchedRule":"p, authenticated, /api/users/me, GET"`, `"roleChain":["authenticated"]`}},
		{name: "check explains a wildcard and the role chain", method: "POST", url: "/api/users-permissions/policy/check", caller: "admin",
			body: `{"role":"admin","method":"DELETE","path":"/api/users/42"}`, wantStatus: 200,
			want: []string{`"allowed":true`, `"matchedRule":"p, admin, /api/users/*, *"`, `"roleChain":["admin","authenticated"]`, `"function":"plugin::users-permissions.user.destroy"`, `"route":"/api/users/:id"`}},
		{name: "check a denial suggests the smallest row", method: "POST", url: "/api/users-permissions/policy/check", caller: "admin",
			body: `{"role":"public","method":"GET","path":"/api/users"}`, wantStatus: 200,
			want: []string{`"allowed":false`, `"suggestion":"p, public, /api/users, GET"`, `"function":"plugin::users-permissions.user.find"`}},
		{name: "check an unknown path", method: "POST", url: "/api/users-permissions/policy/check", caller: "admin",
			body: `{"role":"public","method":"GET","path":"/nowhere"}`, wantStatus: 400, want: []string{`No route matches GET /nowhere`}},
		{name: "check needs its fields", method: "POST", url: "/api/users-permissions/policy/check", caller: "admin", body: `{}`, wantStatus: 400,
			want: []string{`"3 errors occurred"`}},
		{name: "policy endpoints are admin-only", method: "GET", url: "/api/users-permissions/policy", caller: "authenticated", wantStatus: 403},
		{name: "explain header is off by default", method: "GET", url: "/api/users", wantStatus: 403,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				if h := rec.Header().Get("X-Gatehouse-Denied-By"); h != "" {
					t.Errorf("X-Gatehouse-Denied-By = %q without the setting", h)
				}
			}},
		{name: "explain header when on", method: "GET", url: "/api/users", wantStatus: 403, envOpts: []func(*Config){func(c *Config) { c.ExplainDenials = true }},
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				if h := rec.Header().Get("X-Gatehouse-Denied-By"); !strings.Contains(h, `allow-with="p, public, /api/users, GET"`) {
					t.Errorf("X-Gatehouse-Denied-By = %q", h)
				}
			}},
	})
}

// TestSQLEditPickedUpByReload: a row inserted by hand in casbin_rule takes
// effect through POST …/policy/reload, and the health revision moves.
func TestSQLEditPickedUpByReload(t *testing.T) {
	e := newTestEnv(t)
	admin := http.Header{"Authorization": {"Bearer " + e.token(e.users["admin"].ID)}}
	rev := e.request("GET", "/_health", "", nil).Header().Get("X-Policy-Revision")
	if err := e.store.DB.Exec(`INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES ('p', 'public', '/api/users/count', 'GET', '', '', '')`).Error; err != nil {
		t.Fatal(err)
	}
	if rec := e.request("GET", "/api/users/count", "", nil); rec.Code != 403 {
		t.Fatalf("before reload: %d", rec.Code)
	}
	if rec := e.request("POST", "/api/users-permissions/policy/reload", "", admin); rec.Code != 200 {
		t.Fatalf("reload: %d %s", rec.Code, rec.Body)
	}
	if rec := e.request("GET", "/api/users/count", "", nil); rec.Code != 200 {
		t.Errorf("after reload: anonymous GET /api/users/count = %d, want 200", rec.Code)
	}
	if after := e.request("GET", "/_health", "", nil).Header().Get("X-Policy-Revision"); after == rev || after == "" {
		t.Errorf("X-Policy-Revision %q → %q, want a change", rev, after)
	}
	// The periodic path: another hand edit, then ReloadIfChanged.
	if err := e.store.DB.Exec(`DELETE FROM casbin_rule WHERE v1 = '/api/users/count'`).Error; err != nil {
		t.Fatal(err)
	}
	if before, after, err := e.enforcer.ReloadIfChanged(context.Background()); err != nil || before == after {
		t.Fatalf("ReloadIfChanged = %d → %d, %v", before, after, err)
	}
	if rec := e.request("GET", "/api/users/count", "", nil); rec.Code != 403 {
		t.Errorf("after the periodic reload: %d, want 403", rec.Code)
	}
}
