package cluster

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ulule/limiter/v3"
)

// Limits is a limiter.Store that keeps the counters in Redis, shared by every
// instance, and falls back to counters in this instance while Redis fails.
//
// It fails open to local limits, not closed: a Redis outage must not take
// login, registration and password reset down with it (which would also
// hand anyone able to disturb Redis a way to lock every user out), and the
// auth routes stay limited meanwhile, to RATE_LIMIT_MAX per instance instead
// of per deployment. The first failure logs a warning, the recovery an
// info line; in between Redis is asked again every RetryAfter.
type Limits struct {
	shared, local limiter.Store
	timeout       time.Duration
	retryAfter    time.Duration
	log           *slog.Logger
	// downUntil is when to ask Redis again (Unix nanoseconds; 0 while it answers).
	downUntil atomic.Int64
}

var _ limiter.Store = (*Limits)(nil)

// Shared reports whether the counters are in Redis now (false after a
// failure, until Redis answers again).
func (l *Limits) Shared() bool { return l.downUntil.Load() == 0 }

// Get increments the key's counter and returns its state.
func (l *Limits) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return l.do(ctx, func(ctx context.Context, s limiter.Store) (limiter.Context, error) { return s.Get(ctx, key, rate) })
}

// Peek returns the key's counter state without incrementing it.
func (l *Limits) Peek(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return l.do(ctx, func(ctx context.Context, s limiter.Store) (limiter.Context, error) { return s.Peek(ctx, key, rate) })
}

// Reset sets the key's counter to zero.
func (l *Limits) Reset(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return l.do(ctx, func(ctx context.Context, s limiter.Store) (limiter.Context, error) { return s.Reset(ctx, key, rate) })
}

// Increment adds count to the key's counter and returns its state.
func (l *Limits) Increment(ctx context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	return l.do(ctx, func(ctx context.Context, s limiter.Store) (limiter.Context, error) {
		return s.Increment(ctx, key, count, rate)
	})
}

func (l *Limits) do(ctx context.Context, call func(context.Context, limiter.Store) (limiter.Context, error)) (limiter.Context, error) {
	now := time.Now()
	if until := l.downUntil.Load(); until == 0 || now.UnixNano() >= until {
		rctx, cancel := context.WithTimeout(ctx, l.timeout)
		res, err := call(rctx, l.shared)
		cancel()
		if err == nil {
			if until != 0 && l.downUntil.CompareAndSwap(until, 0) {
				l.log.Info("rate limit: Redis answers again; the counters are shared between instances again")
			}
			return res, nil
		}
		if ctx.Err() != nil {
			// The request went away; that says nothing about Redis.
			return res, ctx.Err()
		}
		if l.downUntil.Swap(now.Add(l.retryAfter).UnixNano()) == 0 {
			l.log.Warn("rate limit: Redis failed; counting in this instance only until it answers again (each instance then allows RATE_LIMIT_MAX)",
				"err", err, "retryEvery", l.retryAfter)
		}
	}
	return call(ctx, l.local)
}
