package policy

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// TestDecisionCacheNeverStale changes the policy over and over (Add, Remove,
// hand edits in SQL picked up by Reload and ReloadIfChanged, role
// inheritance) while readers call Allow in a loop on the key being changed.
// A reader whose call began after a change returned and ended before the
// next one began must see exactly that change: the decision cache never
// serves an answer older than the last completed change. Run it with -race.
func TestDecisionCacheNeverStale(t *testing.T) {
	ctx := context.Background()
	db := openPolicyDB(t)
	e := seededEnforcer(t, db)
	grant := Rule{Type: "p", Values: []string{"public", "/api/users", "GET"}}
	inherit := Rule{Type: "g", Values: []string{"public", "admin"}} // admin may GET /api/users
	sqlGrant := func(insert bool) error {
		if insert {
			return db.Exec(`INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES ('p', 'public', '/api/users', 'GET', '', '', '')`).Error
		}
		return db.Exec(`DELETE FROM casbin_rule WHERE ptype = 'p' AND v0 = 'public' AND v1 = '/api/users' AND v2 = 'GET'`).Error
	}
	// Each change flips whether public may GET /api/users.
	changes := []change{
		{"Add", func() error { return e.Add([]Rule{grant}) }},
		{"Remove", func() error { return e.Remove([]Rule{grant}) }},
		{"SQL insert + Reload", func() error {
			if err := sqlGrant(true); err != nil {
				return err
			}
			return e.Reload(ctx)
		}},
		{"SQL delete + ReloadIfChanged", func() error {
			if err := sqlGrant(false); err != nil {
				return err
			}
			_, _, err := e.ReloadIfChanged(ctx)
			return err
		}},
		{"Add inheritance", func() error { return e.Add([]Rule{inherit}) }},
		{"Remove inheritance", func() error { return e.Remove([]Rule{inherit}) }},
		{"Update (add)", func() error { return e.Update(ctx, []Rule{grant}, nil, nil) }},
		{"Replace (without the grant)", func() error {
			return e.Replace(ctx, Default())
		}},
	}

	checkNeverStale(t, e, changes, 5)
}

// TestDecisionCacheNeverStaleInMemory is the same over an enforcer without a
// database, where a change takes microseconds: many more changes race the
// readers.
func TestDecisionCacheNeverStaleInMemory(t *testing.T) {
	ctx := context.Background()
	e, err := NewFromRules(Model, Default())
	if err != nil {
		t.Fatal(err)
	}
	grant := Rule{Type: "p", Values: []string{"public", "/api/users", "GET"}}
	inherit := Rule{Type: "g", Values: []string{"public", "admin"}}
	checkNeverStale(t, e, []change{
		{"Add", func() error { return e.Add([]Rule{grant}) }},
		{"Remove", func() error { return e.Remove([]Rule{grant}) }},
		{"Add inheritance", func() error { return e.Add([]Rule{inherit}) }},
		{"Replace (without the inheritance)", func() error { return e.Replace(ctx, Default()) }},
	}, 100)
}

// change is one policy change that flips whether public may GET /api/users.
type change struct {
	name string
	do   func() error
}

// checkNeverStale applies the changes rounds times over while 8 readers call
// Allow in a loop, and fails on any answer older than the last completed
// change.
func checkNeverStale(t *testing.T, e *Enforcer, changes []change, rounds int) {
	t.Helper()
	// phase is even while the policy is stable (phase/2 changes done) and
	// odd while a change is under way.
	var phase atomic.Int64
	want := func(p int64) bool { return (p/2)%2 == 1 }
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for r := range 8 {
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				before := phase.Load()
				got, err := e.Allow("public", "/api/users", "GET")
				after := phase.Load()
				if err != nil {
					errs <- err
					return
				}
				if before == after && before%2 == 0 && got != want(before) {
					errs <- fmt.Errorf("reader %d: Allow(public, /api/users, GET) = %v after %d changes, want %v (stale)", r, got, before/2, want(before))
					return
				}
				// A decision no change touches stays right (outside changes:
				// an in-memory Replace empties the policy for a moment).
				before = phase.Load()
				ok, err := e.Allow("authenticated", "/api/users/me", "GET")
				if err != nil || (!ok && before == phase.Load() && before%2 == 0) {
					errs <- fmt.Errorf("reader %d: Allow(authenticated, /api/users/me, GET) = %v, %v; want true", r, ok, err)
					return
				}
			}
		})
	}
	for i := range rounds * len(changes) {
		c := changes[i%len(changes)]
		phase.Add(1)
		if err := c.do(); err != nil {
			t.Fatalf("change %d (%s): %v", i+1, c.name, err)
		}
		p := phase.Add(1)
		if got, err := e.Allow("public", "/api/users", "GET"); err != nil || got != want(p) {
			t.Fatalf("right after change %d (%s): Allow = %v, %v; want %v", i+1, c.name, got, err, want(p))
		}
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestConcurrentMissesAgree: many goroutines missing on the same key at once
// all get the one right answer.
func TestConcurrentMissesAgree(t *testing.T) {
	e, err := NewFromRules(Model, Default())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for range 32 {
		wg.Go(func() {
			if ok, err := e.Allow("admin", "/api/users/me", "GET"); err != nil || !ok {
				wrong.Add(1)
			}
			if ok, err := e.Allow("public", "/api/users/me", "GET"); err != nil || ok {
				wrong.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wrong.Load(); n > 0 {
		t.Errorf("%d wrong decisions under concurrent misses", n)
	}
}
