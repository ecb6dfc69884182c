package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
)

// Outbox is an in-memory sender for development and tests: Send keeps the
// message instead of delivering it. It is safe for concurrent use.
//
// With a logger, every message (recipient, subject and text, which holds
// reset and confirmation links) is logged at Info, after a one-time Warn
// that email is not configured. Do not give it a logger in production.
type Outbox struct {
	logger *slog.Logger

	warnOnce sync.Once
	mu       sync.Mutex
	messages []Message
	failNext error
}

// NewOutbox returns an empty Outbox. logger may be nil.
func NewOutbox(logger *slog.Logger) *Outbox {
	return &Outbox{logger: logger}
}

// Send records m. It fails without recording when ctx is done, when m has
// no recipient, or once after FailNext.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mail: send: %w", err)
	}
	if strings.TrimSpace(m.To) == "" {
		return errors.New("mail: send: message has no recipient")
	}
	o.mu.Lock()
	err := o.failNext
	o.failNext = nil
	if err == nil {
		o.messages = append(o.messages, m)
	}
	o.mu.Unlock()
	if err != nil {
		return fmt.Errorf("mail: send: %w", err)
	}
	if o.logger != nil {
		o.warnOnce.Do(func() {
			o.logger.WarnContext(ctx, "mail: email is not configured; messages are logged and kept in memory, not delivered")
		})
		o.logger.InfoContext(ctx, "mail: outbox", "to", m.To, "subject", m.Subject, "text", m.Text)
	}
	return nil
}

// FailNext makes the next Send return err (wrapped) without recording the
// message, to simulate a delivery failure.
func (o *Outbox) FailNext(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failNext = err
}

// Messages returns a copy of the messages sent so far, oldest first.
func (o *Outbox) Messages() []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Message(nil), o.messages...)
}

// Last returns the most recent message; ok is false when none was sent.
func (o *Outbox) Last() (m Message, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.messages) == 0 {
		return Message{}, false
	}
	return o.messages[len(o.messages)-1], true
}
