package policy

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// lintReference is Lint as it was first written: every rule compared with
// every other rule of its role, every route asked of every subject. It is
// quadratic (452 s at 100,000 rows) and kept only as the reference Lint
// must agree with.
func lintReference(rules []Rule, catalog Catalog, roles []string) ([]Finding, error) {
	var findings []Finding
	add := func(kind, format string, args ...any) {
		findings = append(findings, Finding{Kind: kind, Message: fmt.Sprintf(format, args...)})
	}
	known := map[string]bool{}
	for _, r := range roles {
		known[r] = true
	}
	if cycle := FindCycle(rules); cycle != nil {
		add("role-cycle", "roles inherit in a circle: %s", strings.Join(cycle, " → "))
		return findings, nil
	}
	e, err := NewFromRules(Model, rules)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		for i, v := range r.Values {
			if (i == 0 || r.Type == "g") && len(roles) > 0 && !known[v] {
				add("unknown-role", "%s names role %q, which does not exist", r, v)
			}
		}
	}
	subjects := map[string]bool{}
	for _, r := range rules {
		subjects[r.Values[0]] = true
	}
	for _, fn := range catalog {
		reachable := false
		for s := range subjects {
			if ok, _ := e.Allow(s, fn.Route, fn.Method); ok {
				reachable = true
				break
			}
		}
		if !reachable {
			add("unreachable-route", "no role may call %s %s (%s)", fn.Method, fn.Route, fn.Name)
		}
		if fn.Method != http.MethodGet && fn.Method != http.MethodHead && !strings.HasSuffix(fn.Type()+"."+fn.Controller(), "users-permissions.auth") {
			if ok, _ := e.Allow("public", fn.Route, fn.Method); ok {
				add("public-write", "public may call %s %s (%s)", fn.Method, fn.Route, fn.Name)
			}
		}
	}
	for _, r := range rules {
		if r.Type != "p" {
			continue
		}
		role, route, method := r.Values[0], r.Values[1], r.Values[2]
		matched := false
		for _, fn := range catalog {
			if RouteMatches(fn.Route, route) && (method == "*" || method == fn.Method) {
				matched = true
				break
			}
		}
		if !matched && len(catalog) > 0 {
			add("dead-rule", "%s matches no route", r)
		}
		for _, other := range rules {
			if other.Type != "p" || other.Values[0] != role || sameRule(other, r) {
				continue
			}
			oRoute, oMethod := other.Values[1], other.Values[2]
			if strings.Contains(oRoute, "*") && RouteMatches(route, oRoute) && (oMethod == "*" || oMethod == method) &&
				!(strings.Contains(route, "*") && oRoute == route) {
				add("shadowed-rule", "%s is already covered by %s", r, other)
				break
			}
		}
	}
	sort.SliceStable(findings, func(i, j int) bool { return findings[i].Kind < findings[j].Kind })
	return findings, nil
}

// lintCatalog is the catalogue the random policies are linted against: the
// routes randomRules' rows name and ask about, with methods.
func lintCatalog() Catalog {
	var c Catalog
	for i, route := range indexAskedRoutes {
		if strings.Contains(route, "*") {
			continue
		}
		for _, m := range []string{"GET", "POST", "DELETE"} {
			c = append(c, Function{Name: fmt.Sprintf("api::thing.thing%d.%s", i, strings.ToLower(m)), Method: m, Route: route})
		}
	}
	c = append(c, Function{Name: "plugin::users-permissions.auth.callback", Method: "POST", Route: "/api/auth/local"})
	return c
}

// TestLintAgreesWithReference: on random policies (wildcards, parameters,
// method *, inheritance, unknown roles, duplicates) Lint finds exactly what
// the quadratic reference finds, in the same order.
func TestLintAgreesWithReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 13))
	catalog := lintCatalog()
	for i := range 300 {
		rules := randomRules(r, 1+r.IntN(40), r.IntN(4))
		roles := indexRoles[:2+r.IntN(len(indexRoles)-1)]
		got, gotErr := Lint(rules, catalog, roles)
		want, wantErr := lintReference(rules, catalog, roles)
		if (gotErr != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("policy %d:\n%s\nLint = %v, %v\nwant %v, %v", i, FormatCSV(rules, false), got, gotErr, want, wantErr)
		}
	}
}

// largePolicy is a policy of about n rows shaped like a big deployment's:
// one role per 50 rows, each inheriting authenticated, granted routes of
// the catalogue (some through a wildcard, which shadows its exact rows),
// with a few rows for routes that no longer exist.
func largePolicy(n int) ([]Rule, Catalog, []string) {
	catalog := Catalog{}
	for i := range 60 {
		for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
			catalog = append(catalog, Function{Name: fmt.Sprintf("api::c%d.c%d.%s", i, i, strings.ToLower(m)), Method: m, Route: fmt.Sprintf("/api/c%d/:id", i)})
		}
	}
	roles := []string{"public", "authenticated", "admin"}
	rules := []Rule{{Type: "p", Values: []string{"admin", "/api/*", "*"}}}
	for len(rules) < n {
		role := fmt.Sprintf("role%d", len(rules)/50)
		if len(rules)%50 == 1 {
			roles = append(roles, role)
			rules = append(rules, Rule{Type: "g", Values: []string{role, "authenticated"}},
				Rule{Type: "p", Values: []string{role, fmt.Sprintf("/api/c%d/*", len(rules)%60), "GET"}})
			continue
		}
		fn := catalog[len(rules)*7%len(catalog)]
		route := fn.Route
		if len(rules)%97 == 0 {
			route = fmt.Sprintf("/api/gone%d", len(rules))
		}
		rules = append(rules, Rule{Type: "p", Values: []string{role, route, fn.Method}})
	}
	return rules, catalog, roles
}

// BenchmarkLint lints policies of 10,000 and 100,000 rows, with the
// quadratic reference at 10,000 rows as the baseline of the same run.
func BenchmarkLint(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		rules, catalog, roles := largePolicy(n)
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Lint(rules, catalog, roles); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	rules, catalog, roles := largePolicy(10_000)
	b.Run("reference/rows=10000", func(b *testing.B) {
		for b.Loop() {
			if _, err := lintReference(rules, catalog, roles); err != nil {
				b.Fatal(err)
			}
		}
	})
}
