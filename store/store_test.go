package store

import (
	"context"
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
		{"sqlite://./data/gatehouse.db", SQLite, "./data/gatehouse.db?_pragma=journal_mode(WAL)", "./data/gatehouse.db", false},
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
	if mode != "wal" || fk != 1 || timeout < 5000 {
		t.Errorf("journal_mode=%s foreign_keys=%d busy_timeout=%d; want wal, 1, ≥5000", mode, fk, timeout)
	}
}
