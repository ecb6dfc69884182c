package policy

import (
	"fmt"
	"strings"
)

// Explanation says why a decision is what it is.
type Explanation struct {
	Allowed bool `json:"allowed"`
	// MatchedRule is the rule that allowed the request ("" when denied).
	MatchedRule string `json:"matchedRule"`
	// RoleChain is the role followed by every role it inherits.
	RoleChain []string `json:"roleChain"`
	// Function is the route's function name ("" when the path matches no route).
	Function string `json:"function"`
	// Route is the matched route pattern.
	Route string `json:"route"`
	// Suggestion is, for a denial, the smallest row that would allow it.
	Suggestion string `json:"suggestion,omitempty"`
}

// Explain decides (role, route, method) and says which rule allowed it, or
// which row would.
func (e *Enforcer) Explain(role, route, method string) (Explanation, error) {
	allowed, matched, err := e.casbin.EnforceEx(role, route, method)
	if err != nil {
		return Explanation{}, fmt.Errorf("policy: explain: %w", err)
	}
	ex := Explanation{Allowed: allowed, RoleChain: e.RoleChain(role), Route: route}
	if allowed && len(matched) > 0 {
		ex.MatchedRule = Rule{Type: "p", Values: matched}.String()
	}
	if !allowed {
		ex.Suggestion = Rule{Type: "p", Values: []string{role, route, strings.ToUpper(method)}}.String()
	}
	return ex, nil
}

// RoleChain returns the role followed by every role it inherits, nearest first.
func (e *Enforcer) RoleChain(role string) []string {
	chain := []string{role}
	inherited, err := e.casbin.GetImplicitRolesForUser(role)
	if err == nil {
		chain = append(chain, inherited...)
	}
	return chain
}
