package setup_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/setup"
)

// TestOpenConcurrently: processes sharing a new database (here goroutines
// with a connection pool each) open it at the same moment; all succeed, the
// roles are created once and the first policy, the app's rows included, is
// seeded once. A later Open with another policy changes nothing.
func TestOpenConcurrently(t *testing.T) {
	ctx := context.Background()
	url := "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
	rules, err := policy.ParseCSV(policy.DefaultCSV + "p, public, /api/notes, GET\n")
	if err != nil {
		t.Fatal(err)
	}
	const instances = 4
	var wg sync.WaitGroup
	errs := make([]error, instances)
	for i := range instances {
		wg.Go(func() {
			st, _, err := setup.Open(ctx, url, setup.Options{Policy: rules})
			if err == nil {
				st.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}

	other, err := policy.ParseCSV(policy.DefaultCSV + "p, public, /api/secrets, GET\n")
	if err != nil {
		t.Fatal(err)
	}
	st, enforcer, err := setup.Open(ctx, url, setup.Options{Policy: other})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	roles, err := st.Roles().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(roles) != 3 {
		t.Errorf("%d roles after %d concurrent opens, want public, authenticated and admin once", len(roles), instances)
	}
	got, err := enforcer.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(rules) {
		t.Errorf("%d policy rows, want the %d seeded once", len(got), len(rules))
	}
	for _, c := range []struct {
		route string
		want  bool
	}{{"/api/notes", true}, {"/api/secrets", false}} {
		if ok, err := enforcer.Allow("public", c.route, "GET"); err != nil || ok != c.want {
			t.Errorf("public GET %s = %v, %v; want %v (the first policy, never the later one)", c.route, ok, err, c.want)
		}
	}
}

// TestOpenRefusesBadURL: a URL Gatehouse cannot open is an error, not a
// half-open store.
func TestOpenRefusesBadURL(t *testing.T) {
	if st, _, err := setup.Open(context.Background(), "nosuchdb://x", setup.Options{}); err == nil {
		st.Close()
		t.Fatal("setup.Open(nosuchdb://x): err = nil")
	}
}
