package policy

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/gatehouse/gatehouse/history"
)

// DefaultCSV is the policy seeded into an empty database: Strapi's default
// permissions for the public and authenticated roles, plus the admin role.
//
//go:embed default.csv
var DefaultCSV string

// Default returns the default policy's rules.
func Default() []Rule {
	rules, err := ParseCSV(DefaultCSV)
	if err != nil {
		panic(fmt.Sprintf("policy: default.csv: %v", err)) // guarded by a test
	}
	return rules
}

// SeedIfEmpty stores the rules when no rule exists yet, and reports whether
// it did; the history records the change as made by "bootstrap".
func (e *Enforcer) SeedIfEmpty(rules []Rule) (bool, error) {
	empty, err := e.Empty()
	if err != nil || !empty {
		return false, err
	}
	ctx := history.WithChange(context.Background(), history.Change{Actor: "bootstrap", Source: history.SourceBootstrap})
	return true, e.Update(ctx, rules, nil, nil)
}
