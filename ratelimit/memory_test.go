package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"
)

// TestMemoryCountsAsULule: the same sequence of calls on Memory and on
// ulule/limiter's memory store gives the same counts, remaining and
// reached flags.
func TestMemoryCountsAsULule(t *testing.T) {
	ctx := context.Background()
	rate := limiter.Rate{Period: time.Minute, Limit: 3}
	ours, ref := NewMemory(10), memory.NewStore()
	type op struct {
		kind string
		key  string
	}
	ops := []op{{"get", "a"}, {"get", "a"}, {"peek", "a"}, {"get", "b"}, {"get", "a"}, {"get", "a"}, {"peek", "a"},
		{"reset", "a"}, {"get", "a"}, {"incr", "b"}, {"peek", "c"}}
	for i, o := range ops {
		var got, want limiter.Context
		switch o.kind {
		case "get":
			got, _ = ours.Get(ctx, o.key, rate)
			want, _ = ref.Get(ctx, o.key, rate)
		case "peek":
			got, _ = ours.Peek(ctx, o.key, rate)
			want, _ = ref.Peek(ctx, o.key, rate)
		case "reset":
			got, _ = ours.Reset(ctx, o.key, rate)
			want, _ = ref.Reset(ctx, o.key, rate)
		case "incr":
			got, _ = ours.Increment(ctx, o.key, 5, rate)
			want, _ = ref.Increment(ctx, o.key, 5, rate)
		}
		if got.Limit != want.Limit || got.Remaining != want.Remaining || got.Reached != want.Reached {
			t.Errorf("op %d %s(%s) = %+v, want %+v (ulule's memory store)", i, o.kind, o.key, got, want)
		}
	}
}

// TestMemoryWindowEnds: a counter starts over once its window is over.
func TestMemoryWindowEnds(t *testing.T) {
	ctx := context.Background()
	rate := limiter.Rate{Period: time.Minute, Limit: 1}
	m := NewMemory(10)
	now := time.Unix(1_700_000_000, 0)
	m.now = func() time.Time { return now }
	m.Get(ctx, "k", rate)
	if res, _ := m.Get(ctx, "k", rate); !res.Reached {
		t.Fatalf("2nd request in the window: %+v, want reached", res)
	}
	now = now.Add(time.Minute)
	if res, _ := m.Get(ctx, "k", rate); res.Reached || res.Remaining != 0 {
		t.Errorf("1st request of the next window: %+v, want not reached, 0 remaining", res)
	}
}

// TestMemoryBound: however many keys are used, at most maxKeys are kept,
// the least recently used going first; expired ones are dropped as traffic
// passes.
func TestMemoryBound(t *testing.T) {
	ctx := context.Background()
	rate := limiter.Rate{Period: time.Minute, Limit: 2}
	m := NewMemory(100)
	for i := range 1000 {
		m.Get(ctx, fmt.Sprint("key-", i), rate)
		if i%50 == 0 {
			m.Get(ctx, "hot", rate) // used again and again: never evicted
		}
	}
	if got := m.Len(); got != 100 {
		t.Errorf("Len after 1001 keys = %d, want 100", got)
	}
	if res, _ := m.Peek(ctx, "hot", rate); !res.Reached {
		t.Errorf("the hot key's counter was evicted: %+v", res)
	}
	now := time.Now().Add(2 * time.Minute)
	m.now = func() time.Time { return now }
	for range 50 {
		m.Get(ctx, "late", rate)
	}
	if got := m.Len(); got != 1 {
		// Up to 4 expired keys are dropped per call: 50 calls drop all 100.
		t.Errorf("Len after the windows ended = %d, want 1", got)
	}
}
