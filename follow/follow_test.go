package follow_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/follow"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/store"
)

// TestChangesPeriodic: without notices, a row inserted by hand into another
// process's database applies within the period, and stop ends the loops.
func TestChangesPeriodic(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open("sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(); err != nil {
		t.Fatal(err)
	}
	e, err := policy.New(st.DB, policy.Model)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := follow.Changes(ctx, follow.Targets{}, follow.Options{}); err == nil {
		t.Error("Changes without a policy: err = nil, want one")
	}
	stop, err := follow.Changes(ctx, follow.Targets{Policy: e, Settings: st.Settings(), Users: st}, follow.Options{Every: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DB.Exec(`INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES ('p', 'public', '/api/x', 'GET', '', '', '')`).Error; err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if ok, _ := e.Allow("public", "/api/x", "GET"); ok {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("the row inserted by hand never applied")
		}
		<-tick.C
	}
	stop()
	stop() // twice is fine
}
