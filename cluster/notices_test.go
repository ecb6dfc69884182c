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
// policy write and a settings write answer as fast as with Redis up in the
// same run (median within 100ms of it, none near the 1s they used to wait
// for the notice's publication: median 1.03s in a blackhole before), the
// lost notices are counted, and a rate-limited route gives Redis up after
// about the documented 250ms (LimitTimeout), not after go-redis' 1s read
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

	// writes makes five rounds of a user, a policy and a settings write and
	// returns how long each took to answer.
	writes := func(t *testing.T, what string) []time.Duration {
		var took []time.Duration
		for i := range 5 {
			n := time.Now().UnixNano()
			for _, w := range []struct{ name, method, target, body string }{
				{"user write", "PUT", fmt.Sprintf("/api/users/%d", id), fmt.Sprintf(`{"blocked":%t}`, i%2 == 0)},
				{"policy write", "POST", "/api/users-permissions/roles", fmt.Sprintf(`{"name":"R%d","type":"r%d"}`, n, n)},
				{"settings write", "PUT", "/api/users-permissions/advanced", fmt.Sprintf(`{"allow_register":%t}`, i%2 == 0)},
			} {
				start := time.Now()
				rec := call(srv, w.method, w.target, w.body, admin)
				took = append(took, time.Since(start))
				if rec.Code != http.StatusOK {
					t.Fatalf("%s #%d (%s): status = %d, want 200\n%s", w.name, i+1, what, rec.Code, rec.Body)
				}
			}
		}
		t.Logf("writes (%s): median %s, max %s over %d", what, median(took), slices.Max(took), len(took))
		return took
	}
	// limited returns the median time of three rate-limited logins.
	limited := func(t *testing.T, what string) time.Duration {
		var took []time.Duration
		for range 3 {
			start := time.Now()
			if rec := login(srv, "192.0.2.77"); rec.Code != http.StatusBadRequest {
				t.Fatalf("login (%s): status = %d, want 400\n%s", what, rec.Code, rec.Body)
			}
			took = append(took, time.Since(start))
		}
		t.Logf("rate-limited login (%s): median %s (LimitTimeout 250ms)", what, median(took))
		return median(took)
	}
	baseline := median(writes(t, "Redis up"))
	limited(t, "Redis up")

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
			took := writes(t, "Redis down: "+mode.name)
			if m := median(took); m > baseline+100*time.Millisecond {
				t.Errorf("writes with Redis down (%s): median %s, want within 100ms of %s (Redis up)", mode.name, m, baseline)
			}
			if m := slices.Max(took); m > 750*time.Millisecond {
				t.Errorf("writes with Redis down (%s): slowest %s, want none waiting for Redis (≤ 750ms)", mode.name, m)
			}
			start := time.Now()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for c.Dropped() < dropped+uint64(len(took)) { // the publisher gives each notice up after 250ms
				if time.Since(start) > 20*time.Second {
					t.Fatalf("Dropped() = %d after 20s, want at least %d (every notice published while Redis was down)", c.Dropped(), dropped+uint64(len(took)))
				}
				<-tick.C
			}
			t.Logf("%d notices counted as dropped after %s", c.Dropped()-dropped, time.Since(start))
			if d := limited(t, "Redis down: "+mode.name); d > 600*time.Millisecond {
				t.Errorf("rate-limited login with Redis down (%s): median %s, want about 250ms (LimitTimeout), not go-redis' 1s", mode.name, d)
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
