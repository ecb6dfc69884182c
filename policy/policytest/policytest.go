// Package policytest checks a policy from an app's Go tests: permission
// matrices over an enforcer and a route catalogue. It is apart from package
// policy so that production binaries do not link package testing.
package policytest

import (
	"testing"

	"github.com/gatehouse/gatehouse/policy"
)

// CheckMatrix runs the rows and reports each mismatch as a test error, in
// the form casbin's own tests use: role, path, method, got, want.
func CheckMatrix(t testing.TB, e *policy.Enforcer, catalog policy.Catalog, rows []policy.MatrixRow) {
	t.Helper()
	for _, res := range policy.RunMatrix(e, catalog, rows) {
		if !res.Passed() {
			t.Errorf("line %d: Allow(%s, %s, %s): %s", res.Row.Line, res.Row.Role, res.Row.Path, res.Row.Method, res.Problem)
		}
	}
}
