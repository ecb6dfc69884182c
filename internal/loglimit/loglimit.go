// Package loglimit lets one log line per cause through every interval and
// counts the ones it holds back, so an outage under load logs a line every
// few seconds saying how many requests failed the same way, not one line per
// request.
package loglimit

import (
	"sync"
	"time"
)

// Limiter decides which lines to log. Causes should be a small set (error
// classes, driver message kinds): the limiter remembers each one.
type Limiter struct {
	every time.Duration
	now   func() time.Time

	mu     sync.Mutex
	causes map[string]*cause
}

type cause struct {
	next       time.Time
	suppressed int
}

// New returns a limiter letting one line per cause through every interval,
// on the clock now (time.Now when nil).
func New(every time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{every: every, now: now, causes: map[string]*cause{}}
}

// Allow reports whether a line for the cause may be logged now and, if so,
// how many lines for it were held back since the last one.
func (l *Limiter) Allow(key string) (ok bool, suppressed int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.causes[key]
	if c == nil {
		c = &cause{}
		l.causes[key] = c
	}
	if now.Before(c.next) {
		c.suppressed++
		return false, 0
	}
	suppressed, c.suppressed, c.next = c.suppressed, 0, now.Add(l.every)
	return true, suppressed
}
