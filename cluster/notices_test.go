package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/cluster"
)

// TestRedisDownWritesDoNotWait (issue 10, point 8): with Redis unreachable —
// a blackhole (accepts, answers nothing) or a closed port — a user write, a
// policy write and a settings write answer as fast as without Redis (median
// ≤ 50ms and none waiting a publication's 250ms; they used to wait 0.5–1s,
// median 1s in a blackhole, for the notice's publication), the
// lost notices are counted, and a rate-limited route gives Redis up after
// the documented 250ms (LimitTimeout), not after go-redis' 1s read
// timeout.
func TestRedisDownWritesDoNotWait(t *testing.T) {
	addr := redisAddr(t)
	opts := testNames(t, addr)
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.RetryAfter = time.Nanosecond // the limiter asks Redis at every request
	proxy := newProxy(t, addr)
	c, err := cluster.Connect(context.Background(), "redis://"+proxy.addr+"/0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	in := sharedDatabase(t)()
	in.store.OnUserChange(c.UserChanged)
	in.enforcer.OnChange(c.PolicyChanged)
	in.store.Settings().OnChange(c.SettingsChanged)
	srv := newServer(t, in, c.Limits)
	createUser(t, in.store, "admin", "admin")
	admin := loginAs(t, srv, "admin@example.com")
	id := createUser(t, in.store, "target")

	writes := []struct{ name, method, target, body string }{
		{"user write", "PUT", fmt.Sprintf("/api/users/%d", id), `{"blocked":true}`},
		{"policy write", "POST", "/api/users-permissions/roles", `{"name":"R%d","type":"r%d"}`},
		{"settings write", "PUT", "/api/users-permissions/advanced", `{"allow_register":true}`},
	}
	const bound = 250 * time.Millisecond // PublishTimeout: no write waits for a publication
	for _, mode := range []struct {
		name string
		cut  func()
	}{
		{"blackhole", func() { proxy.blackhole(true) }},
		{"closed port", func() { proxy.blackhole(false); proxy.stop() }},
	} {
		t.Run(mode.name, func(t *testing.T) {
			mode.cut()
			dropped := c.Dropped()
			var took []time.Duration
			for i := range 5 {
				for _, w := range writes {
					body := w.body
					if w.name == "policy write" {
						n := time.Now().UnixNano()
						body = fmt.Sprintf(w.body, n, n)
					}
					start := time.Now()
					rec := call(srv, w.method, w.target, body, admin)
					d := time.Since(start)
					if rec.Code != http.StatusOK {
						t.Fatalf("%s #%d: status = %d, want 200\n%s", w.name, i+1, rec.Code, rec.Body)
					}
					if d > bound {
						t.Errorf("%s #%d with Redis down (%s): answered after %s, want < %s", w.name, i+1, mode.name, d, bound)
					}
					took = append(took, d)
				}
			}
			t.Logf("writes with Redis down (%s): median %s, max %s over %d", mode.name, median(took), slices.Max(took), len(took))
			if m := median(took); m > 50*time.Millisecond {
				t.Errorf("writes with Redis down (%s): median %s, want ≤ 50ms", mode.name, m)
			}
			start := time.Now()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for c.Dropped() < dropped+uint64(len(took)) { // the publisher gives each notice up after 250ms
				if time.Since(start) > 10*time.Second {
					t.Fatalf("Dropped() = %d after 10s, want at least %d (every notice published while Redis was down)", c.Dropped(), dropped+uint64(len(took)))
				}
				<-tick.C
			}
			t.Logf("%d notices counted as dropped after %s", c.Dropped()-dropped, time.Since(start))

			start = time.Now()
			if rec := login(srv, "192.0.2.77"); rec.Code != http.StatusBadRequest {
				t.Fatalf("login with Redis down: status = %d, want 400 (counted locally)\n%s", rec.Code, rec.Body)
			}
			limited := time.Since(start)
			t.Logf("rate-limited login with Redis down (%s): %s (LimitTimeout %s)", mode.name, limited, 250*time.Millisecond)
			if limited > 250*time.Millisecond+150*time.Millisecond {
				t.Errorf("rate-limited login with Redis down: %s, want ≤ 250ms (LimitTimeout) and some slack", limited)
			}
		})
	}
}

// median returns the middle of ds (the upper one of an even count).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
