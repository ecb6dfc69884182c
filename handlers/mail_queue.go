package handlers

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/store"
)

// Queued mail (store/mailqueue.go). forgot-password, send-email-confirmation
// and register only queue a mail: one insert, the same for an address with
// an account and one without, so neither the answer nor its timing tells
// who has an account, and an SMTP outage delays mail instead of failing the
// request or losing the mail. RunMailQueue, one per instance, delivers it:
// it looks the account up, issues the token, renders and sends the mail,
// and retries a failed send with exponential backoff.
//
// Delivery is exactly once while workers and database stay up: a mail is
// claimed by one worker at a time (a conditional update), sent within the
// claim's lease, then deleted under the same claim. One case is left, and
// cannot be closed by any sender: a worker that dies (or loses the
// database) after the SMTP server accepted a mail and before it deleted the
// row sends that mail again when the lease ends, since SMTP's final reply
// and the database's commit cannot be one atomic step. The second mail then
// carries a new token, which replaces the first one's.

// MailQueue configures the delivery of queued mail. Zero values take the
// defaults.
type MailQueue struct {
	// Poll is how often the worker looks for due mail when nothing wakes
	// it (1s). A mail queued on this instance wakes it 100ms later.
	Poll time.Duration
	// RetryBase is the wait after the first failed attempt (10s); each
	// further failure doubles it, up to RetryMax (10m), with ±20% jitter.
	RetryBase time.Duration
	RetryMax  time.Duration
	// MaxAttempts is how many attempts a mail gets before it is marked
	// failed (20: about two and a half hours of outage with the defaults).
	MaxAttempts int
	// Lease is how long one attempt holds a mail (MailTimeout + 30s). The
	// send is cut off 5s before the lease ends, so no other worker can
	// take the mail while it is still being sent.
	Lease time.Duration
}

// Defaults of MailQueue.
const (
	defaultMailPoll        = time.Second
	defaultMailRetryBase   = 10 * time.Second
	defaultMailRetryMax    = 10 * time.Minute
	defaultMailMaxAttempts = 20
	mailLeaseMargin        = 5 * time.Second
	// mailWakeDelay separates a request from the work its mail causes.
	mailWakeDelay = 100 * time.Millisecond
	// failedMailKept is how long a failed mail stays listed.
	failedMailKept = 7 * 24 * time.Hour
)

// mailQueueSettings returns Config.MailQueue with the defaults filled in.
func (s *Server) mailQueueSettings() MailQueue {
	q := s.cfg.MailQueue
	q.Poll = positiveOr(q.Poll, defaultMailPoll)
	q.RetryBase = positiveOr(q.RetryBase, defaultMailRetryBase)
	q.RetryMax = positiveOr(q.RetryMax, defaultMailRetryMax)
	if q.MaxAttempts <= 0 {
		q.MaxAttempts = defaultMailMaxAttempts
	}
	q.Lease = positiveOr(q.Lease, positiveOr(s.cfg.MailTimeout, defaultMailTimeout)+30*time.Second)
	if q.Lease < 2*mailLeaseMargin {
		q.Lease = 2 * mailLeaseMargin
	}
	return q
}

// queueMail queues a mail of the kind for the address and wakes this
// instance's worker shortly after.
func (s *Server) queueMail(c context.Context, kind, email string, throttled bool) error {
	if err := s.store.MailQueue().Enqueue(c, kind, email, throttled, s.now()); err != nil {
		return err
	}
	// The worker is woken a moment later, not at once: what it does for an
	// existing account must not compete with this request's answer.
	time.AfterFunc(mailWakeDelay, func() {
		select {
		case s.mailWake <- struct{}{}:
		default:
		}
	})
	return nil
}

// RunMailQueue delivers queued mail until ctx is done: at once when this
// instance queues one, else every MailQueue.Poll. Run one per instance;
// several instances on one database share the queue safely.
func (s *Server) RunMailQueue(ctx context.Context) {
	poll := time.NewTicker(s.mailQueueSettings().Poll)
	defer poll.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	for {
		if _, err := s.deliverDueMail(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "mail: queue: delivery round failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.mailWake:
		case <-poll.C:
		case <-prune.C:
			if _, err := s.store.MailQueue().PruneFailed(ctx, s.now().Add(-failedMailKept)); err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "mail: queue: prune failed mail", "err", err)
			}
		}
	}
}

// deliverDueMail attempts every mail due now, and returns how many attempts
// it made.
func (s *Server) deliverDueMail(ctx context.Context) (int, error) {
	cfg := s.mailQueueSettings()
	attempts := 0
	for ctx.Err() == nil {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		ids, err := s.store.MailQueue().Due(c, s.now(), 16)
		cancel()
		if err != nil || len(ids) == 0 {
			return attempts, err
		}
		for _, id := range ids {
			c, cancel := context.WithTimeout(ctx, 10*time.Second)
			job, err := s.store.MailQueue().Claim(c, id, s.now(), cfg.Lease)
			cancel()
			if errors.Is(err, store.ErrMailClaimed) {
				continue
			}
			if err != nil {
				return attempts, err
			}
			attempts++
			s.attemptMail(ctx, cfg, job)
		}
	}
	return attempts, ctx.Err()
}

// attemptMail makes one attempt at a claimed mail and records its outcome.
func (s *Server) attemptMail(ctx context.Context, cfg MailQueue, job store.MailJob) {
	// An attempt once begun is finished, and its outcome recorded, even
	// when ctx ends meanwhile (shutdown): a send cut off halfway may have
	// been delivered, and would be sent again. It is bounded by MailTimeout
	// and by the lease.
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Lease-mailLeaseMargin)
	err := s.sendQueuedMail(sendCtx, job)
	cancel()
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err == nil {
		if err := s.store.MailQueue().Complete(c, job); err != nil {
			s.log.ErrorContext(c, "mail: queue: a delivered mail could not be marked done; it may be sent again when its lease ends",
				"mail", job.ID, "err", err)
		}
		return
	}
	giveUp := job.Attempts >= cfg.MaxAttempts
	next := s.now().Add(backoff(cfg, job.Attempts))
	if giveUp {
		next = s.now()
	}
	s.log.WarnContext(c, "mail: queue: attempt failed", "mail", job.ID, "kind", job.Kind, "attempt", job.Attempts,
		"giveUp", giveUp, "nextAttempt", next, "err", err)
	if err := s.store.MailQueue().Retry(c, job, next, err.Error(), giveUp); err != nil {
		s.log.ErrorContext(c, "mail: queue: record a failed attempt", "mail", job.ID, "err", err)
	}
}

// backoff is the wait after the given number of failed attempts:
// RetryBase·2^(attempts-1), at most RetryMax, ±20%.
func backoff(cfg MailQueue, attempts int) time.Duration {
	d := cfg.RetryBase
	for i := 1; i < attempts && d < cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, cfg.RetryMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// sendQueuedMail makes one attempt at a mail: it finds the account, issues
// a new token and sends the mail. An address without a (suitable) account,
// or within the resend limit, needs nothing sent: nil. An error means the
// attempt should be retried.
func (s *Server) sendQueuedMail(c context.Context, job store.MailJob) error {
	user, found, err := s.userByEmail(c, job.Email)
	if err != nil {
		return err
	}
	if !found || user.Blocked || job.Kind == store.MailEmailConfirmation && user.Confirmed {
		return nil
	}
	templates, err := s.emailTemplates(c)
	if err != nil {
		return err
	}
	// The resend limit is judged on the first attempt only: a retry
	// follows a token this mail issued and could not deliver.
	var minInterval time.Duration
	if job.Throttled && job.Attempts <= 1 {
		minInterval = s.resendInterval()
	}
	token, hash, err := store.NewToken()
	if err != nil {
		return err
	}
	var (
		kind store.TokenKind
		ttl  time.Duration
		key  string
		vars mail.Vars
	)
	switch job.Kind {
	case store.MailResetPassword:
		adv, err := s.store.Settings().Advanced(c)
		if err != nil {
			return err
		}
		kind, ttl, key, vars = store.ResetToken, s.resetTokenTTL(), mail.KeyResetPassword, mail.Vars{Token: token}
		if adv.EmailResetPassword != nil {
			vars.URL = *adv.EmailResetPassword
		}
	case store.MailEmailConfirmation:
		kind, ttl, key = store.ConfirmationToken, s.confirmationTokenTTL(), mail.KeyEmailConfirmation
		vars = mail.Vars{URL: s.cfg.PublicURL + confirmationPath, Code: token}
	default:
		return errors.New("handlers: queued mail of an unknown kind " + job.Kind)
	}
	if _, err := s.store.Users().IssueToken(c, kind, user.ID, hash, s.now(), ttl, minInterval); errors.Is(err, store.ErrTooSoon) {
		s.log.InfoContext(c, "mail: not sent: one was sent to this address less than the resend interval ago", "kind", job.Kind, "user", user.ID)
		return nil
	} else if err != nil {
		return err
	}
	msg, err := s.composeMail(templates, key, user, vars)
	if err != nil {
		return err
	}
	return s.deliverMail(c, msg)
}
