package handlers

import (
	"sync"
	"time"
)

// errLogInterval is how often one cause of failure may be logged.
const errLogInterval = 10 * time.Second

// logLimiter lets one log line per cause through every interval and counts
// the ones it holds back, so an outage logs a line every ten seconds saying
// how many requests it failed, not one line per request. Causes are a small
// fixed set (store.Unavailable's), so the map stays small.
type logLimiter struct {
	every time.Duration
	now   func() time.Time

	mu     sync.Mutex
	causes map[string]*causeLog
}

type causeLog struct {
	next       time.Time
	suppressed int
}

func newLogLimiter(every time.Duration, now func() time.Time) *logLimiter {
	return &logLimiter{every: every, now: now, causes: map[string]*causeLog{}}
}

// allow reports whether a line for cause may be logged now and, if so, how
// many were held back since the last one.
func (l *logLimiter) allow(cause string) (ok bool, suppressed int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.causes[cause]
	if c == nil {
		c = &causeLog{}
		l.causes[cause] = c
	}
	if now.Before(c.next) {
		c.suppressed++
		return false, 0
	}
	suppressed, c.suppressed, c.next = c.suppressed, 0, now.Add(l.every)
	return true, suppressed
}
