package handlers

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// dbPath is the SQLite file of the env's store.
func dbPath(t testing.TB, st *store.Store) string {
	t.Helper()
	var rows []struct {
		Seq  int
		Name string
		File string
	}
	if err := st.DB.Raw("PRAGMA database_list").Scan(&rows).Error; err != nil || len(rows) == 0 || rows[0].File == "" {
		t.Fatalf("PRAGMA database_list: %v %v", rows, err)
	}
	return rows[0].File
}

// removeDB deletes the env's database file (and its WAL and shared memory)
// under the running server, as a mistaken rm -rf of the data directory does.
func removeDB(e *testEnv) {
	path := dbPath(e.t, e.store)
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
}

var newcomer = registerBody("newcomer", "newcomer@example.com")

func TestProbes(t *testing.T) {
	unavailable := `"name":"ServiceUnavailableError"`
	runScenarios(t, []scenario{
		{name: "ready", method: "GET", url: "/_ready", wantStatus: http.StatusNoContent},
		{name: "health", method: "GET", url: "/_health", wantStatus: http.StatusNoContent},
		{name: "ready fails once draining", method: "GET", url: "/_ready", setup: func(e *testEnv) { e.server.Drain() },
			wantStatus: http.StatusServiceUnavailable, want: []string{unavailable, `"check":"shutdown"`}},
		{name: "health (liveness) still answers while draining", method: "GET", url: "/_health", setup: func(e *testEnv) { e.server.Drain() },
			wantStatus: http.StatusNoContent},
		{name: "requests still served while draining", method: "POST", url: "/api/auth/local/register", body: newcomer,
			setup: func(e *testEnv) { e.server.Drain() }, wantStatus: http.StatusOK},
		{name: "ready fails when the SQLite file is deleted", method: "GET", url: "/_ready", setup: removeDB,
			wantStatus: http.StatusServiceUnavailable, want: []string{unavailable, `"check":"database"`}},
		{name: "a write into a deleted SQLite file is refused", method: "POST", url: "/api/auth/local/register", body: newcomer,
			setup: removeDB, wantStatus: http.StatusServiceUnavailable,
			want: []string{errorJSONFor(http.StatusServiceUnavailable, "ServiceUnavailableError", msgUnavailable)}},
		{name: "a failing ready check fails readiness", method: "GET", url: "/_ready",
			envOpts: []func(*Config){func(c *Config) {
				c.ReadyChecks = []ReadyCheck{{Name: "redis", Check: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}}
			}},
			wantStatus: http.StatusServiceUnavailable, want: []string{`"check":"redis"`}},
	})
}

// TestDatabaseTimeout holds SQLite's write lock from another connection, as
// a stuck writer would: every write then answers 503 ServiceUnavailableError
// within the store's timeout (not after busy_timeout's 10s, never a 500),
// the outage is logged once however many requests fail, and writes succeed
// again once the lock is released.
func TestDatabaseTimeout(t *testing.T) {
	e := newTestEnv(t)
	path := dbPath(t, e.store)
	const timeout = 300 * time.Millisecond
	st, err := store.OpenWith("sqlite://"+path, store.Options{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logs bytes.Buffer
	var logMu sync.Mutex
	cfg := e.cfg
	cfg.Store = st
	cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, nil))
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.server = srv

	locker, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	lockTx, err := locker.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockTx.Exec("INSERT INTO gatehouse_settings (name, value, updated_at) VALUES ('lock', '1', CURRENT_TIMESTAMP)"); err != nil {
		t.Fatal(err)
	}
	const requests = 5
	for i := range requests {
		start := time.Now()
		rec := e.request("POST", "/api/auth/local/register", registerBody("newcomer"+string(rune('a'+i)), "newcomer"+string(rune('a'+i))+"@example.com"), nil)
		took := time.Since(start)
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "ServiceUnavailableError") {
			t.Fatalf("register while the database is locked: status = %d, want 503\n%s", rec.Code, rec.Body)
		}
		if took > timeout+time.Second {
			t.Errorf("register while the database is locked answered after %s, want within DB_TIMEOUT (%s) + 1s", took, timeout)
		}
	}
	rec := e.request("GET", "/_ready", "", nil)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("GET /_ready while the database is locked: status = %d, want 503\n%s", rec.Code, rec.Body)
	}
	logMu.Lock()
	lines := strings.Count(logs.String(), "path=/api/auth/local/register")
	logMu.Unlock()
	if lines != 1 {
		t.Errorf("%d requests failed the same way: %d error lines logged, want 1\n%s", requests, lines, logs.String())
	}
	if err := lockTx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if rec := e.request("POST", "/api/auth/local/register", newcomer, nil); rec.Code != http.StatusOK {
		t.Errorf("register once the lock is released: status = %d, want 200\n%s", rec.Code, rec.Body)
	}
	if rec := e.request("GET", "/_ready", "", nil); rec.Code != http.StatusNoContent {
		t.Errorf("GET /_ready once the lock is released: status = %d, want 204\n%s", rec.Code, rec.Body)
	}
}

// lockedWriter serialises writes to a buffer shared with the test.
type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
