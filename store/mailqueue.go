package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// The mail queue: the password-reset and email-confirmation mails asked for
// and not yet delivered, one row of gatehouse_mail_queue each. A request
// only inserts a row (whether or not the address has an account, so the
// answer and its timing tell nothing); a worker in each instance claims due
// rows and delivers them, retrying with backoff while SMTP fails.
//
// A row holds no token and no message body: the worker issues the token and
// renders the mail when it sends, so the table gives nothing away.
//
// Claiming is a conditional update on the row (status pending, due), which
// only one of several instances can win on every supported database; the
// claim moves next_attempt_at to the end of its lease, so the row of a
// worker that died comes due again when the lease ends. Completion and
// retry are conditional on the claim's random lease id, so a worker whose
// lease ran out can no longer touch the row.

// The kinds of queued mail.
const (
	// MailResetPassword is the password-reset mail of forgot-password.
	MailResetPassword = "reset_password"
	// MailEmailConfirmation is the email-confirmation mail of register and
	// send-email-confirmation.
	MailEmailConfirmation = "email_confirmation"
)

// The statuses of a queued mail.
const (
	// MailPending is waiting for its next attempt (or being attempted).
	MailPending = "pending"
	// MailFailed gave up after the last attempt; it stays for inspection.
	MailFailed = "failed"
)

// MailJob is a row of gatehouse_mail_queue: one mail to deliver.
type MailJob struct {
	ID uint `gorm:"primaryKey"`
	// Kind is MailResetPassword or MailEmailConfirmation.
	Kind string `gorm:"size:32;not null"`
	// Email is the address the mail was asked for; the worker looks its
	// account up when it sends.
	Email string `gorm:"size:255;not null"`
	// Throttled applies the per-address resend limit on the first attempt.
	Throttled bool `gorm:"not null;default:false"`
	// Status is MailPending or MailFailed.
	Status string `gorm:"size:16;not null;index:idx_gatehouse_mail_queue_due,priority:1"`
	// NextAttemptAt is when the row is due: its next try, or the end of
	// the current attempt's lease.
	NextAttemptAt time.Time `gorm:"not null;index:idx_gatehouse_mail_queue_due,priority:2"`
	// Attempts counts the claims so far.
	Attempts int `gorm:"not null;default:0"`
	// LastError is the last attempt's failure ("" for none).
	LastError string `gorm:"size:1024;not null;default:''"`
	// Lease identifies the current claim ("" when none).
	Lease     string `gorm:"size:32;not null;default:''"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TableName names the mail queue table.
func (MailJob) TableName() string { return "gatehouse_mail_queue" }

// MailQueue queries gatehouse_mail_queue.
type MailQueue struct {
	db *Store
}

// MailQueue returns the mail queue accessor.
func (s *Store) MailQueue() MailQueue { return MailQueue{db: s} }

// Enqueue stores a pending mail of the kind for the address, due at now.
func (q MailQueue) Enqueue(ctx context.Context, kind, email string, throttled bool, now time.Time) error {
	if kind != MailResetPassword && kind != MailEmailConfirmation {
		return fmt.Errorf("store: mail queue: unknown kind %q", kind)
	}
	now = now.UTC()
	job := MailJob{Kind: kind, Email: email, Throttled: throttled, Status: MailPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
	return translate(q.db.DB.WithContext(ctx).Create(&job).Error)
}

// Due returns the ids of up to limit pending mails due at now, the longest
// waiting first (through the (status, next_attempt_at) index).
func (q MailQueue) Due(ctx context.Context, now time.Time, limit int) ([]uint, error) {
	var ids []uint
	err := q.db.DB.WithContext(ctx).Model(&MailJob{}).
		Where("status = ? AND next_attempt_at <= ?", MailPending, now.UTC()).
		Order("next_attempt_at, id").Limit(limit).Pluck("id", &ids).Error
	return ids, translate(err)
}

// ErrMailClaimed means another worker holds or finished the mail.
var ErrMailClaimed = errors.New("store: mail queue: claimed by another worker")

// Claim takes the mail id for one attempt until now+lease: it counts the
// attempt and returns the row with its new Lease. ErrMailClaimed when the
// mail is no longer pending and due (another worker won it, or finished it).
func (q MailQueue) Claim(ctx context.Context, id uint, now time.Time, lease time.Duration) (MailJob, error) {
	now = now.UTC()
	leaseID := randomHex(16)
	res := q.db.DB.WithContext(ctx).Model(&MailJob{}).
		Where("id = ? AND status = ? AND next_attempt_at <= ?", id, MailPending, now).
		Updates(map[string]any{"lease": leaseID, "next_attempt_at": now.Add(lease), "attempts": gorm.Expr("attempts + 1"), "updated_at": now})
	if res.Error != nil {
		return MailJob{}, translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return MailJob{}, ErrMailClaimed
	}
	var job MailJob
	if err := q.db.DB.WithContext(ctx).Where("id = ? AND lease = ?", id, leaseID).Take(&job).Error; err != nil {
		if errors.Is(translate(err), ErrNotFound) {
			return MailJob{}, ErrMailClaimed
		}
		return MailJob{}, translate(err)
	}
	return job, nil
}

// Complete removes a delivered (or pointless) mail, if job's claim still
// holds it; ErrMailClaimed otherwise.
func (q MailQueue) Complete(ctx context.Context, job MailJob) error {
	res := q.db.DB.WithContext(ctx).Where("id = ? AND lease = ?", job.ID, job.Lease).Delete(&MailJob{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrMailClaimed
	}
	return nil
}

// Retry records a failed attempt of job: the mail is due again at next,
// or, when giveUp is true, stays as MailFailed. ErrMailClaimed when job's
// claim no longer holds the mail.
func (q MailQueue) Retry(ctx context.Context, job MailJob, next time.Time, lastError string, giveUp bool) error {
	if len(lastError) > 1024 {
		lastError = lastError[:1024]
	}
	status := MailPending
	if giveUp {
		status = MailFailed
	}
	res := q.db.DB.WithContext(ctx).Model(&MailJob{}).Where("id = ? AND lease = ?", job.ID, job.Lease).
		Updates(map[string]any{"status": status, "next_attempt_at": next.UTC(), "last_error": lastError, "lease": "", "updated_at": q.db.Now().UTC()})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrMailClaimed
	}
	return nil
}

// List returns up to limit queued mails, pending first, then by id.
func (q MailQueue) List(ctx context.Context, limit int) ([]MailJob, error) {
	var jobs []MailJob
	err := q.db.DB.WithContext(ctx).Order("status DESC, id").Limit(limit).Find(&jobs).Error
	return jobs, translate(err)
}

// MailQueueDepth counts the queued mails by status.
type MailQueueDepth struct {
	// Pending are waiting for delivery (or being delivered).
	Pending int64
	// Failed gave up after their last attempt.
	Failed int64
}

// Depth counts the queued mails: a gauge for monitoring (a growing Pending
// means mail is not going out).
func (q MailQueue) Depth(ctx context.Context) (MailQueueDepth, error) {
	var rows []struct {
		Status string
		N      int64
	}
	err := q.db.DB.WithContext(ctx).Model(&MailJob{}).Select("status, count(*) AS n").Group("status").Scan(&rows).Error
	if err != nil {
		return MailQueueDepth{}, translate(err)
	}
	var d MailQueueDepth
	for _, r := range rows {
		switch r.Status {
		case MailPending:
			d.Pending = r.N
		case MailFailed:
			d.Failed = r.N
		}
	}
	return d, nil
}

// PruneFailed deletes the failed mails last tried before cutoff and returns
// how many went.
func (q MailQueue) PruneFailed(ctx context.Context, cutoff time.Time) (int64, error) {
	res := q.db.DB.WithContext(ctx).Where("status = ? AND next_attempt_at < ?", MailFailed, cutoff.UTC()).Delete(&MailJob{})
	return res.RowsAffected, translate(res.Error)
}
