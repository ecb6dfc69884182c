package policy

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Finding is one lint result.
type Finding struct {
	// Kind is unreachable-route, public-write, dead-rule, shadowed-rule,
	// role-cycle or unknown-role.
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func (f Finding) String() string { return f.Kind + ": " + f.Message }

// Lint checks a policy against the catalogue and the known roles: routes no
// role can reach, write routes open to public, rows that match no route,
// rows shadowed by a wildcard row of the same role, inheritance cycles and
// rows naming unknown roles.
//
// It is linear in the number of rows: each distinct route of the policy is
// compiled and matched against the catalogue once, and a row is compared
// only with the distinct wildcard rows of its own role (a handful in real
// policies); 100,000 rows lint in about a second (BenchmarkLint).
func Lint(rules []Rule, catalog Catalog, roles []string) ([]Finding, error) {
	var findings []Finding
	add := func(kind, format string, args ...any) {
		findings = append(findings, Finding{Kind: kind, Message: fmt.Sprintf(format, args...)})
	}
	known := make(map[string]bool, len(roles))
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

	m := newRouteMatcher(catalog)
	// reachable[i]: some p row grants catalog[i]. Every row's subject may
	// use its own rows, so a route is reachable exactly when a row grants it.
	reachable := make([]bool, len(catalog))
	var dead []Rule
	wildcards := map[string][]lintWildcard{} // by role, distinct, in rule order
	for _, r := range rules {
		if r.Type != "p" {
			continue
		}
		role, route, method := r.Values[0], r.Values[1], r.Values[2]
		matched := false
		for _, i := range m.functions(route) {
			if method == "*" || method == catalog[i].Method {
				matched, reachable[i] = true, true
			}
		}
		if !matched && len(catalog) > 0 {
			dead = append(dead, r)
		}
		if strings.Contains(route, "*") && !slices.ContainsFunc(wildcards[role], func(w lintWildcard) bool {
			return w.rule.Values[1] == route && w.rule.Values[2] == method
		}) {
			re, err := m.compile(route)
			if err != nil {
				return nil, err
			}
			wildcards[role] = append(wildcards[role], lintWildcard{rule: r, re: re})
		}
	}
	for i, fn := range catalog {
		if !reachable[i] {
			add("unreachable-route", "no role may call %s %s (%s)", fn.Method, fn.Route, fn.Name)
		}
		// The auth controller's routes (login, register, password reset…)
		// are public writes by design.
		if fn.Method != http.MethodGet && fn.Method != http.MethodHead && !strings.HasSuffix(fn.Type()+"."+fn.Controller(), "users-permissions.auth") {
			if ok, _ := e.Allow("public", fn.Route, fn.Method); ok {
				add("public-write", "public may call %s %s (%s)", fn.Method, fn.Route, fn.Name)
			}
		}
	}
	for _, r := range dead {
		add("dead-rule", "%s matches no route", r)
	}
	for _, r := range rules {
		if r.Type != "p" {
			continue
		}
		route, method := r.Values[1], r.Values[2]
		for _, w := range wildcards[r.Values[0]] {
			oRoute, oMethod := w.rule.Values[1], w.rule.Values[2]
			if sameRule(w.rule, r) || oMethod != "*" && oMethod != method || strings.Contains(route, "*") && oRoute == route {
				continue
			}
			if route == oRoute || w.re.MatchString(route) {
				add("shadowed-rule", "%s is already covered by %s", r, w.rule)
				break
			}
		}
	}
	sort.SliceStable(findings, func(i, j int) bool { return findings[i].Kind < findings[j].Kind })
	return findings, nil
}

// lintWildcard is a wildcard row with its keyMatch2 expression.
type lintWildcard struct {
	rule Rule
	re   *regexp.Regexp
}

// routeMatcher answers which catalogue routes a policy route covers
// (RouteMatches), compiling and scanning once per distinct policy route.
type routeMatcher struct {
	catalog Catalog
	exact   map[string][]int // catalogue indexes by route pattern
	covered map[string][]int // wildcard policy route → catalogue indexes
	regexps map[string]*regexp.Regexp
}

func newRouteMatcher(catalog Catalog) *routeMatcher {
	m := &routeMatcher{catalog: catalog, exact: map[string][]int{}, covered: map[string][]int{}, regexps: map[string]*regexp.Regexp{}}
	for i, fn := range catalog {
		m.exact[fn.Route] = append(m.exact[fn.Route], i)
	}
	return m
}

// compile returns the keyMatch2 expression of a wildcard route, once.
func (m *routeMatcher) compile(route string) (*regexp.Regexp, error) {
	if re, ok := m.regexps[route]; ok {
		return re, nil
	}
	re, err := compileKeyMatch2(route)
	if err != nil {
		return nil, fmt.Errorf("policy: route %q: %w", route, err)
	}
	m.regexps[route] = re
	return re, nil
}

// functions returns the indexes of the catalogue functions whose route the
// policy route covers.
func (m *routeMatcher) functions(route string) []int {
	if !strings.Contains(route, "*") {
		return m.exact[route]
	}
	if idx, ok := m.covered[route]; ok {
		return idx
	}
	var idx []int
	if re, err := m.compile(route); err == nil {
		for i, fn := range m.catalog {
			if fn.Route == route || re.MatchString(fn.Route) {
				idx = append(idx, i)
			}
		}
	}
	m.covered[route] = idx
	return idx
}

func sameRule(a, b Rule) bool {
	if a.Type != b.Type || len(a.Values) != len(b.Values) {
		return false
	}
	for i := range a.Values {
		if a.Values[i] != b.Values[i] {
			return false
		}
	}
	return true
}

// FindCycle returns a role inheritance cycle of the g rows (first role
// repeated at the end), or nil.
func FindCycle(rules []Rule) []string {
	edges := map[string][]string{}
	for _, r := range rules {
		if r.Type == "g" {
			edges[r.Values[0]] = append(edges[r.Values[0]], r.Values[1])
		}
	}
	const (
		unseen = iota
		visiting
		done
	)
	state := map[string]int{}
	var stack []string
	var cycle []string
	var visit func(n string) bool
	visit = func(n string) bool {
		state[n] = visiting
		stack = append(stack, n)
		for _, m := range edges[n] {
			switch state[m] {
			case visiting:
				for i, s := range stack {
					if s == m {
						cycle = append(append([]string{}, stack[i:]...), m)
					}
				}
				return true
			case unseen:
				if visit(m) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return false
	}
	nodes := make([]string, 0, len(edges))
	for n := range edges {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		if state[n] == unseen && visit(n) {
			return cycle
		}
	}
	return nil
}
