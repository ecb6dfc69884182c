// Package ratelimit keeps rate-limit counters in this process's memory with
// a bound on their number: a limiter.Store (ulule/limiter) for the auth
// routes without Redis, and for the instance's own counters while Redis
// fails (cluster.Limits).
//
// ulule/limiter's own memory store keeps every key until its window ends,
// however many there are, so a client choosing keys (an email per request,
// a path segment) grows it without limit. Memory keeps at most MaxKeys
// counters and forgets the least recently used one to make room: a flood of
// new keys can at worst restart the counters nobody touched lately, never
// take more memory than the bound.
package ratelimit

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/common"
)

// DefaultMaxKeys is the bound NewMemory applies when given 0: about 16 MB
// with the handlers' 60-byte keys (measured in TestMemoryBound).
const DefaultMaxKeys = 100_000

// window is one key's fixed window: requests counted since it began, and
// when it ends.
type window struct {
	count   int64
	expires time.Time
}

// Memory is a bounded in-memory limiter.Store with fixed windows, as
// ulule/limiter's memory store counts.
type Memory struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, window]
	// now is the clock (time.Now; tests replace it).
	now func() time.Time
}

var _ limiter.Store = (*Memory)(nil)

// NewMemory returns a store that keeps at most maxKeys counters
// (DefaultMaxKeys when maxKeys <= 0).
func NewMemory(maxKeys int) *Memory {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	lru, err := simplelru.NewLRU[string, window](maxKeys, nil)
	if err != nil { // only for a size <= 0
		panic(err)
	}
	return &Memory{lru: lru, now: time.Now}
}

// Len is the number of counters kept.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len()
}

// Get adds one to the key's counter and returns its state.
func (m *Memory) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return m.Increment(ctx, key, 1, rate)
}

// Increment adds count to the key's counter and returns its state.
func (m *Memory) Increment(_ context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.dropExpired(now)
	w, ok := m.lru.Get(key)
	if !ok || !now.Before(w.expires) {
		w = window{expires: now.Add(rate.Period)}
	}
	w.count += count
	m.lru.Add(key, w)
	return common.GetContextFromState(now, rate, w.expires, w.count), nil
}

// Peek returns the key's counter state without counting.
func (m *Memory) Peek(_ context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	w, ok := m.lru.Peek(key)
	if !ok || !now.Before(w.expires) {
		w = window{expires: now.Add(rate.Period)}
	}
	return common.GetContextFromState(now, rate, w.expires, w.count), nil
}

// Reset forgets the key's counter.
func (m *Memory) Reset(_ context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lru.Remove(key)
	now := m.now()
	return common.GetContextFromState(now, rate, now.Add(rate.Period), 0), nil
}

// dropExpired forgets a few of the least recently used counters whose
// window is over, so that memory follows the traffic down without a
// sweeper goroutine (the bound holds either way).
func (m *Memory) dropExpired(now time.Time) {
	for range 4 {
		key, w, ok := m.lru.GetOldest()
		if !ok || now.Before(w.expires) {
			return
		}
		m.lru.Remove(key)
	}
}
