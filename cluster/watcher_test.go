package cluster_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/cluster"
	"github.com/gatehouse/gatehouse/follow"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/redis/go-redis/v9"
)

// watcherMSG is github.com/casbin/redis-watcher/v2's MSG (v2.6.0), copied
// so that this module does not depend on the watcher: its decoder reads
// Gatehouse's payload into it, and its encoder writes this shape.
type watcherMSG struct {
	Method      string
	ID          string
	Sec         string
	Ptype       string
	OldRule     []string
	OldRules    [][]string
	NewRule     []string
	NewRules    [][]string
	FieldIndex  int
	FieldValues []string
}

// TestRedisCasbinWatcher: a policy change made through FollowNotices' hooks
// is announced on the watcher channel as redis-watcher's Update message
// (which its DefaultUpdateCallback answers with LoadPolicy), without the
// write waiting for it; and a message a plain Casbin enforcer's watcher
// publishes after changing casbin_rule (UpdateForAddPolicy, a foreign ID)
// makes another instance reload at once. The end-to-end test with the real
// redis-watcher and a plain enforcer is examples/casbin-only's.
func TestRedisCasbinWatcher(t *testing.T) {
	addr := redisAddr(t)
	opts := testNames(t, addr)
	open := sharedDatabase(t)
	a, b := open(), open()
	ca, cb := connect(t, addr, opts), connect(t, addr, opts)
	ctx := context.Background()
	for _, x := range []struct {
		in instance
		c  *cluster.Cluster
	}{{a, ca}, {b, cb}} {
		stop, err := x.c.FollowNotices(ctx, follow.Targets{Policy: x.in.enforcer, Settings: x.in.store.Settings(), Users: x.in.store})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
	}
	raw := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { raw.Close() })
	sub := raw.Subscribe(ctx, opts.WatcherChannel)
	t.Cleanup(func() { sub.Close() })
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := sub.Channel()

	t.Run("Gatehouse's change, in the watcher's format", func(t *testing.T) {
		if err := a.enforcer.Add([]policy.Rule{{Type: "p", Values: []string{"public", "/api/users", "GET"}}}); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-msgs:
			var got watcherMSG
			if err := json.Unmarshal([]byte(m.Payload), &got); err != nil {
				t.Fatalf("payload %s: %v", m.Payload, err)
			}
			if got.Method != "Update" || got.ID == "" {
				t.Errorf("watcher message = %+v, want Method Update and an ID", got)
			}
			// Every field of the watcher's MSG, with its Go name, as its
			// encoder writes them.
			var keys map[string]any
			json.Unmarshal([]byte(m.Payload), &keys)
			var names []string
			for k := range keys {
				names = append(names, k)
			}
			slices.Sort(names)
			if want := "FieldIndex FieldValues ID Method NewRule NewRules OldRule OldRules Ptype Sec"; strings.Join(names, " ") != want {
				t.Errorf("watcher message keys = %v, want %s", names, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no message on the watcher channel within 5s")
		}
	})

	t.Run("a plain Casbin process's change reloads", func(t *testing.T) {
		testEnforce(t, b.enforcer, "public", "/api/roles", "GET", false)
		// What gorm-adapter writes, then what the watcher publishes after
		// Enforcer.AddPolicy.
		if err := a.store.DB.Exec(`INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES ('p', 'public', '/api/roles', 'GET', '', '', '')`).Error; err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(watcherMSG{Method: "UpdateForAddPolicy", ID: "3f1c-plain-casbin", Sec: "p", Ptype: "p", NewRule: []string{"public", "/api/roles", "GET"}})
		start := time.Now()
		if err := raw.Publish(ctx, opts.WatcherChannel, payload).Err(); err != nil {
			t.Fatal(err)
		}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if ok, _ := b.enforcer.Allow("public", "/api/roles", "GET"); ok {
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Fatal("B did not reload within 5s of the watcher message")
			}
			<-tick.C
		}
		t.Logf("watcher message → reloaded on B in %s", time.Since(start))
	})
}
