package store

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoggerSlowAndFailedQueries(t *testing.T) {
	var buf bytes.Buffer
	path := "sqlite://" + filepath.Join(t.TempDir(), "log.db")
	// Every statement is slow here.
	st, err := OpenWith(path, Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), SlowQuery: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// A lookup that finds nothing is no failure, but it is slow here: logged
	// at warn with its SQL and without its parameters.
	buf.Reset()
	if _, err := st.Users().LocalByEmail(ctx, "secret-identifier@example.com"); err == nil {
		t.Fatal("LocalByEmail of nobody: err = nil, want not found")
	}
	if got := buf.String(); !strings.Contains(got, `"level":"WARN","msg":"SQL executed"`) || strings.Contains(got, `"level":"ERROR"`) ||
		!strings.Contains(got, "users") || strings.Contains(got, "secret-identifier") {
		t.Errorf("log of a slow lookup = %s\nwant WARN with the SQL, no ERROR and no parameter", got)
	}

	// A real failure is an error, slow or not.
	st2, err := OpenWith(path, Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	st = st2
	buf.Reset()
	if err := st.DB.WithContext(ctx).Exec("SELECT * FROM no_such_table").Error; err == nil {
		t.Fatal("query on a missing table: err = nil")
	}
	if got := buf.String(); !strings.Contains(got, `"level":"ERROR","msg":"SQL executed"`) || !strings.Contains(got, "no_such_table") {
		t.Errorf("log of a failed query = %s, want ERROR with the SQL", got)
	}
}
