package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func TestOutbox(t *testing.T) {
	o := NewOutbox(nil)
	if _, ok := o.Last(); ok {
		t.Fatalf("Last() on an empty outbox: ok = true, want false")
	}
	ctx := context.Background()
	for i := range 3 {
		if err := o.Send(ctx, Message{To: fmt.Sprintf("u%d@x.test", i), Subject: "s"}); err != nil {
			t.Fatalf("Send(#%d) = %v, want nil", i, err)
		}
	}
	got := o.Messages()
	if len(got) != 3 {
		t.Fatalf("len(Messages()) = %d, want 3", len(got))
	}
	got[0].To = "mutated"
	if again := o.Messages(); again[0].To != "u0@x.test" {
		t.Errorf("Messages()[0].To after mutating a copy = %q, want %q", again[0].To, "u0@x.test")
	}
	if last, ok := o.Last(); !ok || last.To != "u2@x.test" {
		t.Errorf("Last() = %q, %v, want %q, true", last.To, ok, "u2@x.test")
	}
}

func TestOutboxErrors(t *testing.T) {
	o := NewOutbox(nil)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.Send(ctx, Message{To: "a@x.test"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Send(cancelled ctx) = %v, want context.Canceled", err)
	}
	if err := o.Send(context.Background(), Message{To: " "}); err == nil {
		t.Errorf("Send(no recipient) = nil, want error")
	}

	boom := errors.New("smtp down")
	o.FailNext(boom)
	if err := o.Send(context.Background(), Message{To: "a@x.test"}); !errors.Is(err, boom) {
		t.Errorf("Send after FailNext = %v, want %v", err, boom)
	}
	if err := o.Send(context.Background(), Message{To: "b@x.test"}); err != nil {
		t.Errorf("second Send after FailNext = %v, want nil", err)
	}
	if got := len(o.Messages()); got != 1 {
		t.Errorf("len(Messages()) = %d, want 1 (failed sends are not kept)", got)
	}
}

func TestOutboxLogs(t *testing.T) {
	var buf bytes.Buffer
	o := NewOutbox(slog.New(slog.NewTextHandler(&buf, nil)))
	for range 2 {
		if err := o.Send(context.Background(), Message{To: "a@x.test", Subject: "Reset password", Text: "code=t0ken"}); err != nil {
			t.Fatal(err)
		}
	}
	logs := buf.String()
	if got := strings.Count(logs, "level=WARN"); got != 1 {
		t.Errorf("warnings logged = %d, want 1\n%s", got, logs)
	}
	if got := strings.Count(logs, "level=INFO"); got != 2 {
		t.Errorf("info lines logged = %d, want 2\n%s", got, logs)
	}
	for _, want := range []string{"to=a@x.test", `subject="Reset password"`, `text="code=t0ken"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs = %s\nwant them to contain %s", logs, want)
		}
	}
}

func TestOutboxConcurrent(t *testing.T) {
	o := NewOutbox(slog.New(slog.DiscardHandler))
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			_ = o.Send(context.Background(), Message{To: fmt.Sprintf("u%d@x.test", i)})
			_, _ = o.Last()
			_ = o.Messages()
		})
	}
	wg.Wait()
	if got := len(o.Messages()); got != 50 {
		t.Errorf("len(Messages()) = %d, want 50", got)
	}
}
