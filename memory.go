package main

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Returning memory once the server has gone quiet.
//
// After a burst of requests the Go runtime keeps the heap it grew to: the
// garbage of the burst is collected only when the next collection is due
// (an idle server allocates nothing: up to two minutes later, when the
// runtime forces one), and the pages it frees are handed back to the
// operating system by the background scavenger only down to about the last
// heap goal. Measured with `go run ./bench/load` after the 64-connection
// runs: about 4 MB of such pages stayed resident.
// The SQLite driver's C heap, the other part a burst leaves, goes with the
// idle connections that hold it (store.Open closes them after 5 s of
// disuse); see BENCHMARKS.md, "Memory after a load run".
//
// The watcher counts the requests the server begins and, once none has begun
// and none is in flight for idleQuiet after a burst that grew the runtime's
// retained memory by at least idleMinGrowth, calls debug.FreeOSMemory once: a
// forced collection and a scavenge of every free page (about 2 ms with 5 MB
// live and 10 MB of garbage in BenchmarkIdleRelease; 8–20 ms measured inside
// the server while the machine was busy). It does nothing while requests
// keep coming, and nothing again until the next burst.
const (
	idleQuiet     = 10 * time.Second
	idleTick      = time.Second
	idleMinGrowth = 2 << 20
)

// idleWatcher returns memory to the operating system once the server it
// wraps has gone quiet after a burst.
type idleWatcher struct {
	quiet     time.Duration
	minGrowth uint64
	// retained reports the memory the runtime holds (not returned to the
	// operating system); release returns what it can.
	retained func() uint64
	release  func()
	log      *slog.Logger

	started  atomic.Uint64 // requests begun
	inFlight atomic.Int64  // requests not yet answered

	// Only tick reads and writes these.
	seen      uint64    // started at the previous tick
	lastBusy  time.Time // the last tick that saw a request
	armed     bool      // a request came since the last release
	afterLast uint64    // retained right after the last release (or at start)
}

// newIdleWatcher returns a watcher over the Go runtime's memory.
func newIdleWatcher(log *slog.Logger) *idleWatcher {
	w := &idleWatcher{quiet: idleQuiet, minGrowth: idleMinGrowth, retained: retainedBytes, release: debug.FreeOSMemory, log: log}
	w.afterLast = w.retained()
	return w
}

// wrap counts the requests h serves.
func (w *idleWatcher) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.started.Add(1)
		w.inFlight.Add(1)
		defer w.inFlight.Add(-1)
		h.ServeHTTP(rw, r)
	})
}

// run ticks every idleTick until ctx is done.
func (w *idleWatcher) run(ctx context.Context) {
	t := time.NewTicker(idleTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			w.tick(now)
		}
	}
}

// tick looks at the requests since the previous tick and releases memory
// when the server has been quiet for w.quiet after a burst that grew the
// retained memory by w.minGrowth or more. It reports whether it released.
func (w *idleWatcher) tick(now time.Time) bool {
	if n := w.started.Load(); n != w.seen || w.inFlight.Load() > 0 {
		w.seen, w.lastBusy, w.armed = n, now, true
		return false
	}
	if !w.armed || now.Sub(w.lastBusy) < w.quiet {
		return false
	}
	w.armed = false
	before := w.retained()
	if before < w.afterLast+w.minGrowth {
		// The burst left too little to be worth a forced collection; the
		// scavenger will do.
		w.afterLast = min(w.afterLast, before)
		return false
	}
	t0 := time.Now()
	w.release()
	w.afterLast = w.retained()
	if w.log != nil {
		w.log.Debug("idle: returned memory to the operating system",
			"retainedBefore", before, "retainedAfter", w.afterLast, "took", time.Since(t0).String())
	}
	return true
}

// retainedBytes is the memory the Go runtime has mapped and not returned to
// the operating system: heap (live, garbage and free pages), stacks and the
// runtime's own metadata.
func retainedBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	total, released := s[0].Value.Uint64(), s[1].Value.Uint64()
	if released > total {
		return 0
	}
	return total - released
}
