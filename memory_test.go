package main

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// fakeMemory stands in for the runtime in the watcher's decision tests.
type fakeMemory struct {
	retained uint64
	releases int
}

func (m *fakeMemory) watcher() *idleWatcher {
	w := &idleWatcher{quiet: idleQuiet, minGrowth: idleMinGrowth,
		retained: func() uint64 { return m.retained },
		release:  func() { m.releases++; m.retained = 10 << 20 }}
	w.afterLast = w.retained()
	return w
}

// serveOne sends one request through the watcher's wrapper.
func serveOne(t *testing.T, h http.Handler) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/_health", nil))
	if rec.Code != http.StatusNoContent {
		t.Fatalf("GET /_health through the watcher: status = %d, want %d", rec.Code, http.StatusNoContent)
	}
}

var noContent = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })

func TestIdleWatcherReleasesOnceAfterABurst(t *testing.T) {
	m := &fakeMemory{retained: 10 << 20}
	w := m.watcher()
	h := w.wrap(noContent)
	t0 := time.Unix(1_800_000_000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	// Idle from the start: nothing to give back.
	for s := range 30 {
		if w.tick(at(time.Duration(s) * time.Second)) {
			t.Fatalf("tick at %ds with no request ever: released", s)
		}
	}
	// A burst grows the heap by 20 MB, then the server goes quiet.
	for range 100 {
		serveOne(t, h)
	}
	m.retained += 20 << 20
	w.tick(at(30 * time.Second))
	for s := 31; s < 30+int(idleQuiet/time.Second); s++ {
		if w.tick(at(time.Duration(s) * time.Second)) {
			t.Fatalf("tick %ds after the burst: released before %s of quiet", s-30, idleQuiet)
		}
	}
	if !w.tick(at(30*time.Second + idleQuiet)) {
		t.Fatalf("tick %s after the burst: did not release", idleQuiet)
	}
	// Once per burst: staying idle releases nothing more.
	for s := 41; s < 200; s++ {
		w.tick(at(time.Duration(s) * time.Second))
	}
	if m.releases != 1 {
		t.Fatalf("releases after one burst and 160 s of quiet = %d, want 1", m.releases)
	}
	// The next burst earns the next release.
	serveOne(t, h)
	m.retained += 5 << 20
	w.tick(at(200 * time.Second))
	w.tick(at(200*time.Second + idleQuiet))
	if m.releases != 2 {
		t.Errorf("releases after a second burst = %d, want 2", m.releases)
	}
}

func TestIdleWatcherDoesNothingUnderLoad(t *testing.T) {
	m := &fakeMemory{retained: 10 << 20}
	w := m.watcher()
	h := w.wrap(noContent)
	t0 := time.Unix(1_800_000_000, 0)
	// A request between every two ticks for ten minutes, the heap growing.
	for s := range 600 {
		serveOne(t, h)
		m.retained += 1 << 20
		if w.tick(t0.Add(time.Duration(s) * time.Second)) {
			t.Fatalf("tick %d under steady load: released", s)
		}
	}

	// A single request that stays in flight longer than the quiet period.
	release := make(chan struct{})
	entered := make(chan struct{})
	slow := w.wrap(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		rw.WriteHeader(http.StatusNoContent)
	}))
	done := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		slow.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/_health", nil))
		done <- rec.Code
	}()
	<-entered
	for s := 600; s < 700; s++ {
		if w.tick(t0.Add(time.Duration(s) * time.Second)) {
			t.Fatalf("tick %d while a request is in flight: released", s)
		}
	}
	close(release)
	if code := <-done; code != http.StatusNoContent {
		t.Fatalf("the slow request: status = %d, want %d", code, http.StatusNoContent)
	}
	if w.tick(t0.Add(700 * time.Second)) {
		t.Fatal("tick right after the slow request finished: released")
	}
	if !w.tick(t0.Add(700*time.Second + idleQuiet)) {
		t.Errorf("tick %s after the slow request: did not release", idleQuiet)
	}
	if m.releases != 1 {
		t.Errorf("releases = %d, want 1", m.releases)
	}
}

func TestIdleWatcherSkipsBurstsThatLeftLittle(t *testing.T) {
	m := &fakeMemory{retained: 10 << 20}
	w := m.watcher()
	h := w.wrap(noContent)
	t0 := time.Unix(1_800_000_000, 0)
	serveOne(t, h)
	m.retained += idleMinGrowth / 2
	w.tick(t0)
	if w.tick(t0.Add(idleQuiet)) || m.releases != 0 {
		t.Fatalf("a burst that grew the heap by %d bytes (under %d): released", idleMinGrowth/2, idleMinGrowth)
	}
}

// TestIdleWatcherReturnsMemory runs the real watcher: garbage left by a
// burst of requests goes back to the operating system once the server has
// been quiet.
func TestIdleWatcherReturnsMemory(t *testing.T) {
	w := newIdleWatcher(nil)
	const burst = 64 << 20
	var keep [][]byte
	h := w.wrap(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		keep = append(keep, make([]byte, 1<<20))
		rw.WriteHeader(http.StatusNoContent)
	}))
	for range burst >> 20 {
		serveOne(t, h)
	}
	t0 := time.Now()
	w.tick(t0)
	keep = nil // the burst's memory is garbage now
	before := retainedBytes()
	if !w.tick(t0.Add(idleQuiet)) {
		t.Fatalf("the real watcher did not release %s after a %d MB burst (retained %d MB)", idleQuiet, burst>>20, before>>20)
	}
	after := retainedBytes()
	if before-after < burst/2 {
		t.Errorf("retained memory: %d MB before the release, %d MB after; want at least %d MB returned", before>>20, after>>20, burst>>21)
	}
}

// BenchmarkIdleWatcherWrap is what the watcher adds to every request.
func BenchmarkIdleWatcherWrap(b *testing.B) {
	w := newIdleWatcher(nil)
	h := w.wrap(noContent)
	req := httptest.NewRequest(http.MethodGet, "/_health", nil)
	b.RunParallel(func(pb *testing.PB) {
		var rw discardWriter
		for pb.Next() {
			h.ServeHTTP(&rw, req)
		}
	})
}

// BenchmarkIdleRelease is what one release costs with a heap like the
// server's after a load run: 5 MB live in small objects and 10 MB of
// garbage (made with the timer stopped).
func BenchmarkIdleRelease(b *testing.B) {
	live := make([][]byte, 0, 5<<10)
	for range 5 << 10 {
		live = append(live, make([]byte, 1<<10))
	}
	w := newIdleWatcher(nil)
	var garbage [][]byte
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		garbage = make([][]byte, 0, 10<<8)
		for range 10 << 8 {
			garbage = append(garbage, make([]byte, 4<<10))
		}
		runtime.KeepAlive(garbage)
		garbage = nil
		b.StartTimer()
		w.release()
	}
	runtime.KeepAlive(live)
}

// discardWriter is an http.ResponseWriter that keeps nothing.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header {
	if d.h == nil {
		d.h = http.Header{}
	}
	return d.h
}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
