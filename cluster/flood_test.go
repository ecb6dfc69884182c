package cluster_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/cluster"
	"github.com/redis/go-redis/v9"
)

// countingReloader counts the revision checks a follower makes; each is
// instant, as a small query on an idle database nearly is.
type countingReloader struct{ calls atomic.Int64 }

func (r *countingReloader) ReloadIfChanged(ctx context.Context) (int64, int64, error) {
	r.calls.Add(1)
	return 1, 1, nil
}

// TestRedisWatcherFloodIsBounded: whoever can publish on the watcher
// channel (any Casbin process, or anyone with the Redis password) must not
// make an instance check the database once per message, nor stop it
// following: thousands of forged watcher messages, bad JSON and 4 MiB
// payloads cost a bounded number of revision checks (NoticeBurst per
// NoticeWindow), and a message after the flood is still followed.
func TestRedisWatcherFloodIsBounded(t *testing.T) {
	addr := redisAddr(t)
	opts := testNames(t, addr)
	c := connect(t, addr, opts)
	r := &countingReloader{}
	ctx := context.Background()
	stop, err := c.Follow(ctx, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	waitCalls := func(atLeast int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for r.calls.Load() < atLeast {
			if time.Now().After(deadline) {
				t.Fatalf("revision checks = %d, want at least %d within 5s", r.calls.Load(), atLeast)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitCalls(1) // the check at subscription
	raw := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { raw.Close() })
	forged, _ := json.Marshal(watcherMSG{Method: "UpdateForAddPolicy", ID: "forged", Ptype: "p", NewRule: []string{"public", "/x", "GET"}})
	huge, _ := json.Marshal(watcherMSG{Method: "Update", ID: "forged", NewRule: []string{strings.Repeat("x", 4<<20)}})
	payloads := []string{string(forged), `{"Method":`, "\x00not json", `{"Method":"Update","ID":["x"]}`}
	const n = 4000
	before := r.calls.Load()
	start := time.Now()
	p := raw.Pipeline()
	for i := range n {
		p.Publish(ctx, opts.WatcherChannel, payloads[i%len(payloads)])
		if i%1000 == 0 {
			p.Publish(ctx, opts.WatcherChannel, huge)
		}
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	// Wait until the follower is quiet: no new check for a while.
	last, quietSince := r.calls.Load(), time.Now()
	for time.Since(quietSince) < 500*time.Millisecond {
		time.Sleep(20 * time.Millisecond)
		if now := r.calls.Load(); now != last {
			last, quietSince = now, time.Now()
		}
	}
	elapsed := time.Since(start)
	checks := last - before
	t.Logf("%d watcher messages (%d forged updates, bad JSON, 4 MiB payloads) → %d revision checks in %v", n+n/1000, n/len(payloads), checks, elapsed)
	if limit := int64(cluster.NoticeBurst) * (int64(elapsed/cluster.NoticeWindow) + 1); checks > limit {
		t.Errorf("%d revision checks for %d messages in %v, want at most %d (%d per %v)", checks, n, elapsed, limit, cluster.NoticeBurst, cluster.NoticeWindow)
	}
	// Still following.
	after := r.calls.Load()
	if err := raw.Publish(ctx, opts.WatcherChannel, forged).Err(); err != nil {
		t.Fatal(err)
	}
	waitCalls(after + 1)
}
