package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/loglimit"
)

// TestDriverLog: a burst of one driver message logs one warning; another
// kind of message gets its own line.
func TestDriverLog(t *testing.T) {
	var out syncBuffer
	limit := loglimit.New(driverLogInterval, nil)
	log := slog.New(slog.NewTextHandler(&out, nil))
	my := driverLog{log: log, limit: limit}
	rd := driverLog{log: log, limit: limit}
	for range 100 {
		my.Print("closing bad idle connection: ", errors.New("connection reset by peer"))
		rd.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v", 2, errors.New("connection refused"))
	}
	rd.Printf(context.Background(), "redis: discarding bad PubSub connection: %s", "EOF")
	for range 50 { // within the interval: held back, counted
		rd.Printf(context.Background(), "redis: discarding bad PubSub connection: %s", "EOF")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("300 driver messages of 3 kinds logged %d lines, want 3:\n%s", len(lines), out.String())
	}
	for i, want := range []string{`msg="closing bad idle connection: connection reset by peer"`, "failed to dial after 2 attempts", "discarding bad PubSub"} {
		if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], "level=WARN") {
			t.Errorf("line %d = %s, want a warning with %q", i, lines[i], want)
		}
	}
}
