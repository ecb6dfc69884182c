package policy

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// openPolicyDB opens a fresh temporary SQLite database.
func openPolicyDB(t testing.TB) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(sqlite.Open(filepath.Join(t.TempDir(), "policy.db")+"?_pragma=busy_timeout(5000)&_txlock=immediate"),
		&gorm.Config{Logger: logger.Discard, TranslateError: true, CreateBatchSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})
	return db
}

// seededEnforcer is an enforcer over db holding the default policy.
func seededEnforcer(t *testing.T, db *gorm.DB) *Enforcer {
	t.Helper()
	e, err := New(db, Model)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.SeedIfEmpty(Default()); err != nil {
		t.Fatal(err)
	}
	return e
}

func testEnforce(t *testing.T, e *Enforcer, role, route, method string, want bool) {
	t.Helper()
	got, err := e.Allow(role, route, method)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Allow(%s, %s, %s) = %v, want %v", role, route, method, got, want)
	}
}

func TestModelSemantics(t *testing.T) {
	e, err := NewFromCSV(Model, `
p, public, /api/articles, GET
p, public, /api/articles/:id, GET
p, editor, /api/articles/:id, PUT
p, admin, /api/users-permissions/*, *
p, any, /api/users/:id, GET
g, editor, authenticated
p, authenticated, /api/users/me, GET
`)
	if err != nil {
		t.Fatal(err)
	}
	testEnforce(t, e, "public", "/api/articles", "GET", true)
	testEnforce(t, e, "public", "/api/articles/:id", "GET", true)
	testEnforce(t, e, "public", "/api/articles/:id", "PUT", false)
	testEnforce(t, e, "editor", "/api/articles/:id", "PUT", true)
	testEnforce(t, e, "editor", "/api/users/me", "GET", true) // inherited
	testEnforce(t, e, "authenticated", "/api/articles/:id", "PUT", false)
	testEnforce(t, e, "admin", "/api/users-permissions/roles", "DELETE", true)
	testEnforce(t, e, "admin", "/api/users-permissions/roles/:id", "PUT", true)
	testEnforce(t, e, "admin", "/api/users-permissions", "GET", false)
	testEnforce(t, e, "admin", "/api/users", "GET", false)
	// A :param row names one route pattern; it does not cover its siblings.
	testEnforce(t, e, "any", "/api/users/:id", "GET", true)
	testEnforce(t, e, "any", "/api/users/me", "GET", false)
	testEnforce(t, e, "any", "/api/users/count", "GET", false)
	testEnforce(t, e, "nobody", "/api/articles", "GET", false)
}

func TestParseCSVErrorsNameTheLine(t *testing.T) {
	for _, tt := range []struct {
		csv      string
		line     int
		fragment string
	}{
		{"p, public, /a, GET\nx, y, z", 2, "unknown rule type"},
		{"# c\n\np, public, /a", 3, "p row is"},
		{"p, public, a, GET", 1, "must start with /"},
		{"p, public, /a/../b, GET", 1, `".." segment`},
		{"p, public, /a//b, GET", 1, "empty segment"},
		{"p, public, /a/*/b, GET", 1, "* may only be"},
		{"p, public, /a, FETCH", 1, "unknown method"},
		{"g, a, a", 1, "inherit itself"},
		{"p, public, /" + strings.Repeat("a", 120) + ", GET", 1, "longer than"},
		{`p, "public, /a, GET`, 1, "not CSV"},
		// Regular-expression characters in a wildcard route (issue 11).
		{"p, public, /api/(users|roles)/*, GET", 1, `may not contain '('`},
		{"p, public, /api/users.+/*, GET", 1, `may not contain '.'`},
		{"p, public, /api/a|b/*, GET", 1, `may not contain '|'`},
		{"p, public, /api/us+ers/*, GET", 1, `may not contain '+'`},
	} {
		_, err := ParseCSV(tt.csv)
		var le *LineError
		if !errors.As(err, &le) || le.Line != tt.line || !strings.Contains(le.Err, tt.fragment) {
			t.Errorf("ParseCSV(%q) error = %v, want line %d with %q", tt.csv, err, tt.line, tt.fragment)
		}
	}
}

func TestCSVRoundTrip(t *testing.T) {
	rules := Default()
	again, err := ParseCSV(FormatCSV(rules, true))
	if err != nil {
		t.Fatal(err)
	}
	if FormatCSV(again, false) != FormatCSV(rules, false) {
		t.Errorf("round trip changed the policy:\n%s\nvs\n%s", FormatCSV(again, false), FormatCSV(rules, false))
	}
	methods, _ := ParseCSV("p, r, /a, get")
	if methods[0].Values[2] != "GET" {
		t.Errorf("method not upper-cased: %v", methods[0])
	}
}

func TestDatabaseEnforcerChangesAndRevision(t *testing.T) {
	ctx := context.Background()
	db := openPolicyDB(t)
	e, err := New(db, Model)
	if err != nil {
		t.Fatal(err)
	}
	if seeded, err := e.SeedIfEmpty(Default()); err != nil || !seeded {
		t.Fatalf("SeedIfEmpty = %v, %v", seeded, err)
	}
	testEnforce(t, e, "public", "/api/users", "GET", false) // cached as deny
	rev := e.Revision()
	grant := Rule{Type: "p", Values: []string{"public", "/api/users", "GET"}}
	if err := e.Add([]Rule{grant}); err != nil {
		t.Fatal(err)
	}
	testEnforce(t, e, "public", "/api/users", "GET", true) // never stale
	if e.Revision() <= rev {
		t.Errorf("revision %d did not move past %d", e.Revision(), rev)
	}

	// A failing caller write rolls the policy change back.
	boom := errors.New("boom")
	if err := e.Update(ctx, nil, []Rule{grant}, func(*gorm.DB) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Update error = %v, want boom", err)
	}
	testEnforce(t, e, "public", "/api/users", "GET", true)

	// A hand edit in SQL is seen by ReloadIfChanged through the triggers.
	if err := db.Exec(`DELETE FROM casbin_rule WHERE ptype = 'p' AND v0 = 'public' AND v1 = '/api/users'`).Error; err != nil {
		t.Fatal(err)
	}
	before, after, err := e.ReloadIfChanged(ctx)
	if err != nil || after == before {
		t.Fatalf("ReloadIfChanged = %d → %d, %v; want a reload", before, after, err)
	}
	testEnforce(t, e, "public", "/api/users", "GET", false)
	if b, a, _ := e.ReloadIfChanged(ctx); a != b {
		t.Errorf("ReloadIfChanged reloaded without a change: %d → %d", b, a)
	}

	// A second enforcer over the same database loads what the first wrote.
	other, err := New(db, Model)
	if err != nil {
		t.Fatal(err)
	}
	testEnforce(t, other, "authenticated", "/api/users/me", "GET", true)
	testEnforce(t, other, "admin", "/api/users/me", "GET", true)
}

func TestReplaceIsAtomic(t *testing.T) {
	ctx := context.Background()
	e := seededEnforcer(t, openPolicyDB(t))
	next, _ := ParseCSV("p, public, /api/users, GET\np, admin, /api/users, *")
	if err := e.Replace(ctx, next); err != nil {
		t.Fatal(err)
	}
	testEnforce(t, e, "public", "/api/users", "GET", true)
	testEnforce(t, e, "public", "/api/auth/local", "POST", false)
	rules, _ := e.Rules()
	if len(rules) != 2 {
		t.Errorf("rules = %v, want 2", rules)
	}
}

func TestDecisionDiffLintCycles(t *testing.T) {
	catalog := Catalog{
		{Name: "plugin::users-permissions.user.find", Method: "GET", Route: "/api/users"},
		{Name: "plugin::users-permissions.user.me", Method: "GET", Route: "/api/users/me"},
		{Name: "plugin::users-permissions.user.destroy", Method: "DELETE", Route: "/api/users/:id"},
		{Name: "plugin::users-permissions.role.find", Method: "GET", Route: "/api/users-permissions/roles"},
	}
	before, _ := NewFromCSV(Model, "p, authenticated, /api/users/me, GET\np, admin, /api/users-permissions/*, *")
	after, _ := NewFromCSV(Model, "p, authenticated, /api/users/me, GET\np, public, /api/users, GET\np, public, /api/users/:id, DELETE")
	flips, err := DecisionDiff(before, after, []string{"public", "authenticated", "admin"}, catalog)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, f := range flips {
		got = append(got, f.Role+" "+f.Method+" "+f.Route+" "+f.From+"→"+f.To)
	}
	want := []string{
		"admin GET /api/users-permissions/roles allow→deny",
		"public GET /api/users deny→allow",
		"public DELETE /api/users/:id deny→allow",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("DecisionDiff =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	rules, _ := ParseCSV(`
p, public, /api/users/:id, DELETE
p, admin, /api/users-permissions/*, *
p, admin, /api/users-permissions/roles, GET
p, admin, /api/nothing, GET
p, ghost, /api/users, GET
`)
	findings, err := Lint(rules, catalog, []string{"public", "authenticated", "admin"})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, f := range findings {
		kinds[f.Kind]++
	}
	for kind, n := range map[string]int{"public-write": 1, "shadowed-rule": 1, "dead-rule": 1, "unknown-role": 1, "unreachable-route": 1} {
		if kinds[kind] != n {
			t.Errorf("Lint %s findings = %d, want %d (%v)", kind, kinds[kind], n, findings)
		}
	}

	cyclic, _ := ParseCSV("g, a, b\ng, b, c\ng, c, a")
	if c := FindCycle(cyclic); strings.Join(c, ">") != "a>b>c>a" {
		t.Errorf("FindCycle = %v, want a>b>c>a", c)
	}
	if c := FindCycle(Default()); c != nil {
		t.Errorf("FindCycle(default) = %v", c)
	}
}

func TestCatalogLookup(t *testing.T) {
	c := Catalog{
		{Name: "a.count", Method: "GET", Route: "/api/users/count"},
		{Name: "a.one", Method: "GET", Route: "/api/users/:id"},
		{Name: "a.cb", Method: "GET", Route: "/api/auth/:provider/callback"},
		{Name: "a.files", Method: "GET", Route: "/files/*path"},
	}
	for path, want := range map[string]string{
		"/api/users/count": "a.count", "/api/users/5": "a.one", "/api/users/5/": "a.one",
		"/api/auth/github/callback": "a.cb", "/files/a/b/c": "a.files", "/api/users": "", "/api/users/5/x": "",
	} {
		fn, ok := c.Lookup("GET", path)
		if fn.Name != want || ok != (want != "") {
			t.Errorf("Lookup(GET, %s) = %q, %v; want %q", path, fn.Name, ok, want)
		}
	}
}

func TestMatrix(t *testing.T) {
	e, _ := NewFromCSV(Model, DefaultCSV)
	catalog := Catalog{
		{Name: "plugin::users-permissions.user.me", Method: "GET", Route: "/api/users/me"},
		{Name: "plugin::users-permissions.user.findOne", Method: "GET", Route: "/api/users/:id"},
	}
	rows, err := ParseMatrix(`role,method,path,expect
# who may read users
public, GET, /api/users/me, deny
authenticated, GET, /api/users/me, allow
authenticated, GET, /api/users/7, allow
admin, GET, /api/users/7, allow
public, GET, /api/nowhere, deny
`)
	if err != nil {
		t.Fatal(err)
	}
	results := RunMatrix(e, catalog, rows)
	passed, failed := Summary(results)
	if passed != 3 || failed != 2 {
		t.Errorf("Summary = %d passed, %d failed; want 3 and 2: %+v", passed, failed, results)
	}
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, "matrix", results, 0); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `tests="5" failures="2"`) || !strings.Contains(buf.String(), "no route matches GET /api/nowhere") {
		t.Errorf("JUnit = %s", buf.String())
	}
	if _, err := ParseMatrix("public, GET, /x, maybe"); err == nil {
		t.Errorf("ParseMatrix accepted expect=maybe")
	}
}

func TestPermissionsOf(t *testing.T) {
	e, _ := NewFromCSV(Model, DefaultCSV)
	catalog := Catalog{
		{Name: "plugin::users-permissions.auth.callback", Method: "POST", Route: "/api/auth/local"},
		{Name: "plugin::users-permissions.auth.callback", Method: "GET", Route: "/api/auth/:provider/callback"},
		{Name: "plugin::users-permissions.user.me", Method: "GET", Route: "/api/users/me"},
	}
	p, err := e.PermissionsOf("public", catalog)
	if err != nil {
		t.Fatal(err)
	}
	ctrls := p["plugin::users-permissions"].Controllers
	if !ctrls["auth"]["callback"].Enabled || ctrls["user"]["me"].Enabled {
		t.Errorf("PermissionsOf(public) = %+v", p)
	}
}
