package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// TestMailQueueCLI: `gatehouse mail queue` lists the pending and failed
// mail with attempts, next try and last error, and counts them.
func TestMailQueueCLI(t *testing.T) {
	db := newDB(t)
	out, err := runCLI(t, db, "mail", "queue")
	if err != nil || !strings.Contains(out, "0 pending, 0 failed") {
		t.Fatalf("mail queue on an empty queue: %q, %v; want 0 pending, 0 failed", out, err)
	}
	st, err := store.Open("sqlite://" + db)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	q := st.MailQueue()
	for _, email := range []string{"a@example.com", "b@example.com"} {
		if err := q.Enqueue(ctx, store.MailResetPassword, email, true, now); err != nil {
			t.Fatal(err)
		}
	}
	job, err := q.Claim(ctx, 1, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Retry(ctx, job, now.Add(10*time.Second), "mail: send: dial tcp 127.0.0.1:25: connection refused", false); err != nil {
		t.Fatal(err)
	}
	st.Close()

	out, err = runCLI(t, db, "mail", "queue")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 pending, 0 failed", "ATTEMPTS", "NEXT TRY", "LAST ERROR", "a@example.com", "reset_password",
		"2030-01-02T03:04:15Z", "connection refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("mail queue output lacks %q:\n%s", want, out)
		}
	}
}
