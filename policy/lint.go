package policy

import (
	"fmt"
	"net/http"
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
func Lint(rules []Rule, catalog Catalog, roles []string) ([]Finding, error) {
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
		// The auth controller's routes (login, register, password reset…)
		// are public writes by design.
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
