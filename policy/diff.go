package policy

import (
	"fmt"
	"sort"
	"strings"
)

// Flip is one decision that a policy change turns around.
type Flip struct {
	Role     string `json:"role"`
	Method   string `json:"method"`
	Route    string `json:"route"`
	Function string `json:"function"`
	// From and To are "allow" or "deny".
	From string `json:"from"`
	To   string `json:"to"`
}

// DecisionDiff lists every (role, function) decision over the catalogue that
// differs between the two enforcers, sorted by role, route and method. Roles
// are those given plus every subject the two policies name.
func DecisionDiff(before, after *Enforcer, roles []string, catalog Catalog) ([]Flip, error) {
	all := map[string]bool{}
	for _, r := range roles {
		all[r] = true
	}
	for _, e := range []*Enforcer{before, after} {
		rules, err := e.Rules()
		if err != nil {
			return nil, err
		}
		for _, r := range rules {
			all[r.Values[0]] = true
			if r.Type == "g" {
				all[r.Values[1]] = true
			}
		}
	}
	var flips []Flip
	for role := range all {
		for _, fn := range catalog {
			a, err := before.Allow(role, fn.Route, fn.Method)
			if err != nil {
				return nil, err
			}
			b, err := after.Allow(role, fn.Route, fn.Method)
			if err != nil {
				return nil, err
			}
			if a != b {
				flips = append(flips, Flip{Role: role, Method: fn.Method, Route: fn.Route, Function: fn.Name, From: word(a), To: word(b)})
			}
		}
	}
	sort.Slice(flips, func(i, j int) bool {
		x, y := flips[i], flips[j]
		if x.Role != y.Role {
			return x.Role < y.Role
		}
		if x.Route != y.Route {
			return x.Route < y.Route
		}
		return x.Method < y.Method
	})
	return flips, nil
}

func word(allowed bool) string {
	if allowed {
		return "allow"
	}
	return "deny"
}

// Snapshot is an in-memory copy of the enforcer's current policy, for
// comparing against a proposed one.
func (e *Enforcer) Snapshot() (*Enforcer, error) {
	rules, err := e.Rules()
	if err != nil {
		return nil, err
	}
	return NewFromRules(e.model, rules)
}

// WithRules returns an in-memory enforcer over the same model holding rules.
func (e *Enforcer) WithRules(rules []Rule) (*Enforcer, error) {
	return NewFromRules(e.model, rules)
}

// Plan checks a proposed policy against the known roles (every role a rule
// names must exist; no inheritance cycle) and returns the decisions it would
// flip over the catalogue compared with the enforcer's current policy.
func (e *Enforcer) Plan(rules []Rule, roles []string, catalog Catalog) ([]Flip, error) {
	known := map[string]bool{}
	for _, r := range roles {
		known[r] = true
	}
	for _, r := range rules {
		for i, v := range r.Values {
			if (i == 0 || r.Type == "g") && !known[v] {
				return nil, &LineError{Line: r.Line, Text: r.String(), Err: fmt.Sprintf("role %q does not exist", v)}
			}
		}
	}
	if cycle := FindCycle(rules); cycle != nil {
		return nil, &CycleError{Roles: cycle}
	}
	current, err := e.Snapshot()
	if err != nil {
		return nil, err
	}
	proposed, err := e.WithRules(rules)
	if err != nil {
		return nil, err
	}
	flips, err := DecisionDiff(current, proposed, roles, catalog)
	if flips == nil {
		flips = []Flip{}
	}
	return flips, err
}

// CycleError is a role inheritance cycle.
type CycleError struct{ Roles []string }

func (e *CycleError) Error() string {
	return "role inheritance cycle: " + strings.Join(e.Roles, " → ")
}
