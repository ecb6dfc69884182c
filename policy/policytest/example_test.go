package policytest_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/policy/policytest"
)

// A permission matrix checked from a Go test, without a database: one
// t.Errorf per row the policy decides otherwise, and one per row naming no
// route of the catalogue. The function would be TestPermissions(t
// *testing.T) in the app's own _test.go file.
func ExampleCheckMatrix() {
	testPermissions := func(t testing.TB) {
		e, err := policy.NewFromCSV(policy.Model, policy.DefaultCSV+"p, public, /api/posts, GET\n")
		if err != nil {
			t.Fatal(err)
		}
		rows, err := policy.ParseMatrix(`role, method, path, expect
public,        GET,  /api/posts,    allow
public,        GET,  /api/users/me, deny
authenticated, GET,  /api/users/me, allow
`)
		if err != nil {
			t.Fatal(err)
		}
		catalog := append(handlers.DefaultCatalog(), policy.Function{Name: "api::post.post.find", Method: "GET", Route: "/api/posts"})
		policytest.CheckMatrix(t, e, catalog, rows)
	}
	_ = testPermissions
}
