package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestMailQueueClaimsEachMailOnce: workers racing over one queue (each
// claim on its own connection) claim every mail exactly once, on every
// supported database; a claim's lease keeps the mail from the others until
// it ends, and a stale claim can no longer complete or retry it.
func TestMailQueueClaimsEachMailOnce(t *testing.T) {
	for _, db := range []struct {
		name string
		open func(testing.TB) *Store
	}{{"sqlite", openQueryTestSQLite}, {"postgres", openQueryTestPostgres}, {"mysql", openQueryTestMySQL}} {
		t.Run(db.name, func(t *testing.T) {
			s := db.open(t)
			ctx := context.Background()
			q := s.MailQueue()
			now := time.Now().UTC().Truncate(time.Second)
			const mails, workers = 40, 8
			for i := range mails {
				if err := q.Enqueue(ctx, MailResetPassword, fmt.Sprintf("u%d@example.com", i), true, now); err != nil {
					t.Fatal(err)
				}
			}
			var (
				mu      sync.Mutex
				claimed = map[uint]int{}
				wg      sync.WaitGroup
			)
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						ids, err := q.Due(ctx, now, 16)
						if err != nil {
							t.Error(err)
							return
						}
						if len(ids) == 0 {
							return
						}
						for _, id := range ids {
							job, err := q.Claim(ctx, id, now, time.Minute)
							if errors.Is(err, ErrMailClaimed) {
								continue
							}
							if err != nil {
								t.Error(err)
								return
							}
							mu.Lock()
							claimed[job.ID]++
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
			if len(claimed) != mails {
				t.Errorf("%d mails claimed, want %d", len(claimed), mails)
			}
			for id, n := range claimed {
				if n != 1 {
					t.Errorf("mail %d claimed %d times, want 1", id, n)
				}
			}
			if d, err := q.Depth(ctx); err != nil || d.Pending != mails {
				t.Errorf("Depth = %+v, %v; want %d pending", d, err, mails)
			}

			// A lease that ran out: another worker takes the mail, and the
			// first one's claim is stale.
			ids, _ := q.Due(ctx, now.Add(2*time.Minute), 1)
			if len(ids) != 1 {
				t.Fatalf("due after the leases ran out: %v, want 1 id", ids)
			}
			var first MailJob
			s.DB.Where("id = ?", ids[0]).Take(&first)
			second, err := q.Claim(ctx, ids[0], now.Add(2*time.Minute), time.Minute)
			if err != nil || second.Attempts != 2 {
				t.Fatalf("re-claim after the lease = %+v, %v; want attempt 2", second, err)
			}
			if err := q.Complete(ctx, first); !errors.Is(err, ErrMailClaimed) {
				t.Errorf("Complete with a stale claim: %v, want ErrMailClaimed", err)
			}
			if err := q.Retry(ctx, first, now, "x", false); !errors.Is(err, ErrMailClaimed) {
				t.Errorf("Retry with a stale claim: %v, want ErrMailClaimed", err)
			}
			if err := q.Retry(ctx, second, now.Add(3*time.Minute), "smtp: 421", true); err != nil {
				t.Fatal(err)
			}
			if d, err := q.Depth(ctx); err != nil || d.Pending != mails-1 || d.Failed != 1 {
				t.Errorf("Depth after giving up on one = %+v, %v; want %d pending, 1 failed", d, err, mails-1)
			}
			if err := q.Complete(ctx, second); !errors.Is(err, ErrMailClaimed) {
				t.Errorf("Complete after Retry released the claim: %v, want ErrMailClaimed", err)
			}
			if n, err := q.PruneFailed(ctx, now.Add(4*time.Minute)); err != nil || n != 1 {
				t.Errorf("PruneFailed = %d, %v; want 1", n, err)
			}
		})
	}
}
