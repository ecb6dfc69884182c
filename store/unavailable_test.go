package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestUnavailable(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("store: query: %w", err) }
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tt := range []struct {
		name string
		err  error
		want string // "" = not an outage
	}{
		{"deadline", wrap(context.DeadlineExceeded), "timeout"},
		{"bad conn", wrap(driver.ErrBadConn), "connection lost"},
		{"mysql invalid conn", wrap(mysql.ErrInvalidConn), "connection lost"},
		{"refused", wrap(refused), "unreachable"},
		{"reset", wrap(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), "connection lost"},
		{"pg connect", wrap(&pgconn.ConnectError{}), "unreachable"},
		{"pg admin shutdown", wrap(&pgconn.PgError{Code: "57P01"}), "shutting down"},
		{"pg connection failure", wrap(&pgconn.PgError{Code: "08006"}), "connection lost"},
		{"pg too many connections", wrap(&pgconn.PgError{Code: "53300"}), "out of connections"},
		{"pg disk full", wrap(&pgconn.PgError{Code: "53100"}), "out of space"},
		{"pg read-only", wrap(&pgconn.PgError{Code: "25006"}), "read-only"},
		{"mysql too many connections", wrap(&mysql.MySQLError{Number: 1040}), "out of connections"},
		{"mysql read-only", wrap(&mysql.MySQLError{Number: 1290}), "read-only"},
		{"disk full", wrap(&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}), "out of space"},
		{"replaced", wrap(ErrReplaced), "file replaced"},
		{"nil", nil, ""},
		{"not found", ErrNotFound, ""},
		{"conflict", fmt.Errorf("%w: x", ErrConflict), ""},
		{"pg unique", wrap(&pgconn.PgError{Code: "23505"}), ""},
		{"pg syntax", wrap(&pgconn.PgError{Code: "42601"}), ""},
		{"mysql duplicate", wrap(&mysql.MySQLError{Number: 1062}), ""},
		{"plain", errors.New("connection refused"), ""}, // text alone proves nothing
	} {
		got, ok := Unavailable(tt.err)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%s: Unavailable(%v) = %q, %v; want %q", tt.name, tt.err, got, ok, tt.want)
		}
	}
}

// TestUnavailableSQLite checks the classification of SQLite's own errors:
// a write into a database opened read-only.
func TestUnavailableSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	st := openMigrated(t, "sqlite://"+path)
	st.Close()
	ro, err := Open("sqlite://" + path + "?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	err = ro.DB.Exec("INSERT INTO gatehouse_ready (id, checked_at) VALUES (7, CURRENT_TIMESTAMP)").Error
	if cause, ok := Unavailable(err); !ok || cause != "read-only" {
		t.Errorf("write into a read-only SQLite: Unavailable(%v) = %q, %v; want read-only", err, cause, ok)
	}
}

// TestSQLiteFileReplaced deletes, then replaces, the database file under an
// open store: every write is refused with ErrReplaced (it would go into a
// file nobody reads again), and Ready fails.
func TestSQLiteFileReplaced(t *testing.T) {
	for _, replace := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "g.db")
		st := openMigrated(t, "sqlite://"+path)
		ctx := context.Background()
		if err := st.Ready(ctx); err != nil {
			t.Fatalf("Ready before: %v", err)
		}
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(path + suffix)
		}
		if replace {
			other := openMigrated(t, "sqlite://"+path)
			other.Close()
		}
		if err := st.Ready(ctx); !errors.Is(err, ErrReplaced) {
			t.Errorf("replace=%v: Ready = %v, want ErrReplaced", replace, err)
		}
		u := User{DocumentID: NewDocumentID(), Username: "late", Email: "late@example.com", Provider: "local", TokensValidAfter: time.Now()}
		if err := st.Users().Create(ctx, &u); !errors.Is(err, ErrReplaced) {
			t.Errorf("replace=%v: create a user = %v, want ErrReplaced", replace, err)
		}
		if err := st.Settings().PutIfAbsent(ctx, "late", "x"); !errors.Is(err, ErrReplaced) {
			t.Errorf("replace=%v: put a setting = %v, want ErrReplaced", replace, err)
		}
	}
}

func TestTimeoutsInDSN(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"postgres://u@db/app?sslmode=disable", "connect_timeout=2"},
		{"postgres://u@db/app?connect_timeout=9", "connect_timeout=9"},
		{"mysql://root@db/app", "readTimeout=2s"},
		{"mysql://root@db/app", "writeTimeout=2s"},
		{"mysql://root@db/app?readTimeout=30s", "readTimeout=30s"},
		{"mysql://root@db/app", "parseTime=true"},
	} {
		src, err := ParseURL(tt.url)
		if err == nil {
			src, err = src.withTimeouts(DefaultTimeout)
		}
		if err != nil || !containsParam(src.DSN, tt.want) {
			t.Errorf("DSN of %s = %q (%v), want it to contain %s", tt.url, src.DSN, err, tt.want)
		}
	}
}

func containsParam(dsn, param string) bool {
	for i := 0; i+len(param) <= len(dsn); i++ {
		if dsn[i:i+len(param)] == param && (i == 0 || dsn[i-1] == '?' || dsn[i-1] == '&') {
			return true
		}
	}
	return false
}

func openMigrated(t *testing.T, url string) *Store {
	t.Helper()
	st, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(); err != nil {
		t.Fatal(err)
	}
	return st
}
