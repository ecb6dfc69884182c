package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tt := range []struct {
		in       string
		dialect  Dialect
		contains string
		path     string
		wantErr  bool
	}{
		{"sqlite://./data/gatehouse.db", SQLite, "./data/gatehouse.db?_pragma=busy_timeout(", "./data/gatehouse.db", false},
		{"sqlite:///var/lib/gatehouse/g.db", SQLite, "/var/lib/gatehouse/g.db?", "/var/lib/gatehouse/g.db", false},
		{"sqlite://:memory:", SQLite, "mode=memory&cache=shared", "", false},
		{"postgres://u:p@db:5432/app?sslmode=disable", Postgres, "postgres://u:p@db:5432/app", "", false},
		{"postgresql://db/app", Postgres, "postgresql://db/app", "", false},
		{"mysql://root:pw@db:3306/app", MySQL, "root:pw@tcp(db:3306)/app?", "", false},
		{"mysql://root@db/app", MySQL, "root@tcp(db:3306)/app?", "", false},
		{"mariadb://root@db/app", MySQL, "parseTime=true", "", false},
		{"", "", "", "", true},
		{"./data/gatehouse.db", "", "", "", true},
		{"mongodb://x/y", "", "", "", true},
		{"sqlite://", "", "", "", true},
	} {
		src, err := ParseURL(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseURL(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if src.Dialect != tt.dialect || !strings.Contains(src.DSN, tt.contains) || src.Path != tt.path {
			t.Errorf("ParseURL(%q) = %+v, want dialect %s, DSN containing %q, path %q", tt.in, src, tt.dialect, tt.contains, tt.path)
		}
	}
}

func TestSQLitePragmas(t *testing.T) {
	st, err := Open("sqlite://" + filepath.Join(t.TempDir(), "sub", "dir", "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mode string
	var fk, timeout int
	db := st.DB.WithContext(context.Background())
	db.Raw("PRAGMA journal_mode").Scan(&mode)
	db.Raw("PRAGMA foreign_keys").Scan(&fk)
	db.Raw("PRAGMA busy_timeout").Scan(&timeout)
	if mode != "wal" || fk != 1 || timeout != int(DefaultTimeout.Milliseconds()) {
		t.Errorf("journal_mode=%s foreign_keys=%d busy_timeout=%d; want wal, 1, %d (DB_TIMEOUT)", mode, fk, timeout, DefaultTimeout.Milliseconds())
	}
}

// TestSQLiteFilesArePrivate: the database, its -wal and -shm files and a
// directory created for them are readable by this user only (issue 11 point
// 10: in development the database holds the JWT secret), and an existing
// database readable by others is made private.
func TestSQLiteFilesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "g.db")
	st, err := Open("sqlite://" + path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want := map[string]os.FileMode{dir: 0o700, path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600}
	for name, mode := range want {
		info, err := os.Stat(name)
		if err != nil {
			t.Fatalf("stat %s: %v", name, err)
		}
		if got := info.Mode().Perm(); got != mode {
			t.Errorf("mode of %s = %#o, want %#o", filepath.Base(name), got, mode)
		}
	}

	old := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(old, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(old, 0o644); err != nil {
		t.Fatal(err)
	}
	st2, err := Open("sqlite://" + old)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if info, err := os.Stat(old); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("mode of an existing 0644 database after Open = %v (%v), want 0600", info.Mode().Perm(), err)
	}
}
