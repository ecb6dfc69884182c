package policy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	stringadapter "github.com/casbin/casbin/v2/persist/string-adapter"
)

var (
	indexRoles   = []string{"public", "authenticated", "editor", "admin", "r4", "r5"}
	indexMethods = []string{"GET", "POST", "PUT", "DELETE", "*"}
	// indexRowRoutes are the routes policy rows name: exact patterns and
	// wildcards that cover some of the asked routes.
	indexRowRoutes = []string{
		"/api/users", "/api/users/me", "/api/users/:id", "/api/users/count", "/api/users/*",
		"/api/*", "/*", "/api/users-permissions/roles/:id", "/api/users-permissions/*", "/api/:kind/:id",
	}
	// indexAskedRoutes are the route patterns requests carry (Gin's FullPath).
	indexAskedRoutes = []string{
		"/api/users", "/api/users/me", "/api/users/:id", "/api/users/count", "/api/users/*",
		"/api/users-permissions/roles/:id", "/api/users-permissions/roles", "/api/auth/local",
		"/api/x/y", "/", "/other", "/api/users/:id/extra",
	}
)

// randomRules draws a policy: p rows over the roles, routes and methods
// above, and g rows (cycles and self-links included).
func randomRules(r *rand.Rand, p, g int) []Rule {
	var rules []Rule
	for range p {
		rules = append(rules, Rule{Type: "p", Values: []string{
			indexRoles[r.IntN(len(indexRoles))], indexRowRoutes[r.IntN(len(indexRowRoutes))], indexMethods[r.IntN(len(indexMethods))],
		}})
	}
	for range g {
		rules = append(rules, Rule{Type: "g", Values: []string{indexRoles[r.IntN(len(indexRoles))], indexRoles[r.IntN(len(indexRoles))]}})
	}
	return rules
}

// casbinAlone is the reference: a plain Casbin enforcer over the rules.
func casbinAlone(t *testing.T, rules []Rule) *casbin.Enforcer {
	t.Helper()
	m, err := model.NewModelFromString(Model)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) == 0 {
		ref, err := casbin.NewEnforcer(m)
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	ref, err := casbin.NewEnforcer(m, stringadapter.NewAdapter(FormatCSV(rules, false)))
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// agree asks every role, route and method of both and reports the first
// difference.
func agree(t *testing.T, what string, e *Enforcer, ref *casbin.Enforcer) {
	t.Helper()
	for _, role := range append(indexRoles, "stranger") {
		perms, err := ref.GetImplicitPermissionsForUser(role)
		if err != nil {
			t.Fatal(err)
		}
		if grants, err := e.GrantsAnything(role); err != nil || grants != (len(perms) > 0) {
			t.Fatalf("%s: GrantsAnything(%s) = %v, %v; Casbin's permissions: %v", what, role, grants, err, perms)
		}
		for _, route := range indexAskedRoutes {
			for _, method := range indexMethods[:4] {
				want, err := ref.Enforce(role, route, method)
				if err != nil {
					t.Fatal(err)
				}
				got, err := e.decide(role, route, method)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					rules, _ := e.Rules()
					t.Fatalf("%s: index says %v, Casbin %v for (%s, %s, %s); policy:\n%s", what, got, want, role, route, method, FormatCSV(rules, false))
				}
			}
		}
	}
}

// TestIndexAgreesWithCasbin checks the rule index against Casbin's own
// evaluation of the model on random policies, and again after random
// incremental changes (the index is updated in place, not rebuilt).
func TestIndexAgreesWithCasbin(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 2026))
	for i := range 30 {
		rules := randomRules(r, 1+r.IntN(12), r.IntN(6))
		e, err := NewFromRules(Model, rules)
		if err != nil {
			t.Fatal(err)
		}
		if !e.Indexed() {
			t.Fatal("an enforcer on Gatehouse's model is not indexed")
		}
		agree(t, fmt.Sprintf("policy %d", i), e, casbinAlone(t, rules))
		for step := range 4 {
			add, remove := randomRules(r, r.IntN(4), r.IntN(2)), randomRules(r, r.IntN(4), r.IntN(2))
			if r.IntN(2) == 0 { // remove rows that are there
				current, _ := e.Rules()
				remove = append(remove, current[r.IntN(len(current)+1):]...)
			}
			if err := e.Update(context.Background(), add, remove, nil); err != nil {
				t.Fatal(err)
			}
			current, _ := e.Rules()
			agree(t, fmt.Sprintf("policy %d after change %d", i, step), e, casbinAlone(t, current))
		}
	}
}

// TestIndexInheritanceDepth: Casbin follows at most ten levels of g rows;
// the index, which takes the inherited roles from Casbin's role manager,
// stops at the same depth.
func TestIndexInheritanceDepth(t *testing.T) {
	for _, depth := range []int{1, 9, 10, 11, 14} {
		rules := []Rule{{Type: "p", Values: []string{"r" + strconv.Itoa(depth), "/api/deep", "GET"}}}
		for i := range depth {
			rules = append(rules, Rule{Type: "g", Values: []string{"r" + strconv.Itoa(i), "r" + strconv.Itoa(i+1)}})
		}
		e, err := NewFromRules(Model, rules)
		if err != nil {
			t.Fatal(err)
		}
		ref := casbinAlone(t, rules)
		want, _ := ref.Enforce("r0", "/api/deep", "GET")
		got, err := e.decide("r0", "/api/deep", "GET")
		if err != nil || got != want {
			t.Errorf("depth %d: index %v (%v), Casbin %v", depth, got, err, want)
		}
	}
}

// TestIndexOnlyForGatehouseModel: another model is evaluated by Casbin.
func TestIndexOnlyForGatehouseModel(t *testing.T) {
	other := `
[request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act
[role_definition]
g = _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub) && keyMatch(r.obj, p.obj) && r.act == p.act
`
	e, err := NewFromCSV(other, "p, public, /api/*, GET\n")
	if err != nil {
		t.Fatal(err)
	}
	if e.Indexed() {
		t.Fatal("an enforcer on another model is indexed")
	}
	testEnforce(t, e, "public", "/api/anything/below", "GET", true)
	testEnforce(t, e, "public", "/api/anything", "POST", false)
}

// TestIndexFollowsTheDatabase: the index follows reloads of hand edits and
// Replace; a reload Casbin refuses (a row of four values) leaves both as
// they were.
func TestIndexFollowsTheDatabase(t *testing.T) {
	ctx := context.Background()
	db := openPolicyDB(t)
	e := seededEnforcer(t, db)
	testEnforce(t, e, "public", "/api/hand", "GET", false)
	if err := db.Exec(`INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES ('p', 'public', '/api/hand', 'GET', '', '', '')`).Error; err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	testEnforce(t, e, "public", "/api/hand", "GET", true)

	if err := db.Exec(`INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES ('p', 'public', '/api/odd', 'GET', 'extra', '', '')`).Error; err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(ctx); err == nil {
		t.Fatal("Reload of a row of four values: no error")
	}
	testEnforce(t, e, "public", "/api/hand", "GET", true)
	testEnforce(t, e, "public", "/api/odd", "GET", false)
	if err := db.Exec(`DELETE FROM casbin_rule WHERE v3 = 'extra'`).Error; err != nil {
		t.Fatal(err)
	}

	if err := e.Replace(ctx, []Rule{{Type: "p", Values: []string{"public", "/api/*", "GET"}}}); err != nil {
		t.Fatal(err)
	}
	testEnforce(t, e, "public", "/api/hand", "GET", true)
	testEnforce(t, e, "public", "/api/hand", "POST", false)
	testEnforce(t, e, "authenticated", "/api/users/me", "GET", false)
}

// TestIndexBadPatternIsAnError: a route Casbin's keyMatch2 cannot compile
// (only a hand edit can store one) gives an error, not a panic.
func TestIndexBadPatternIsAnError(t *testing.T) {
	e, err := NewFromRules(Model, []Rule{{Type: "p", Values: []string{"public", "/api/(/*", "GET"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Allow("public", "/api/x", "GET"); err == nil {
		t.Fatal("Allow over an invalid pattern: no error")
	}
	if ok, err := e.Allow("public", "/api/x", "POST"); ok || err != nil {
		t.Fatalf("Allow for another method = %v, %v; want false, nil", ok, err)
	}
}

// TestGrantsAnythingFollowsChanges: the cached answer is dropped by each
// change.
func TestGrantsAnythingFollowsChanges(t *testing.T) {
	ctx := context.Background()
	e, err := NewFromRules(Model, Default())
	if err != nil {
		t.Fatal(err)
	}
	want := func(step string, role string, w bool) {
		t.Helper()
		if got, err := e.GrantsAnything(role); err != nil || got != w {
			t.Fatalf("%s: GrantsAnything(%s) = %v, %v; want %v", step, role, got, err, w)
		}
	}
	want("default", "public", true)
	if err := e.RemoveRole(ctx, "public", nil); err != nil {
		t.Fatal(err)
	}
	want("public's rows removed", "public", false)
	want("public's rows removed, asked again (cached)", "public", false)
	if err := e.Add([]Rule{{Type: "g", Values: []string{"public", "authenticated"}}}); err != nil {
		t.Fatal(err)
	}
	want("public inherits authenticated", "public", true)
	if err := e.Replace(ctx, nil); err != nil {
		t.Fatal(err)
	}
	want("empty policy", "public", false)
}
