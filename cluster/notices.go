package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/follow"
	"github.com/redis/go-redis/v9"
)

// Reloader is the policy side of a notice: *policy.Enforcer. ReloadIfChanged
// reloads only when the revision stored in the database moved, so a notice
// is idempotent: a duplicate, late or forged one costs one small query.
type Reloader = follow.Reloader

// notice is the payload published on the notice channel: a policy change
// (Revision), a write to a user (User, see users.go) or a settings change
// (Settings, see settings.go). Every kind shares the channel, so one
// subscription per follower covers them; an instance that knows only policy
// notices takes another kind for a policy one (one small query).
type notice struct {
	Origin   string `json:"origin"`
	Revision int64  `json:"revision,omitempty"`
	User     uint   `json:"user,omitempty"`
	Settings int64  `json:"settings,omitempty"`
}

// isPolicy tells a policy notice from the other kinds.
func (n notice) isPolicy() bool { return n.User == 0 && n.Settings == 0 }

// Revision checks caused by notices are at most noticeBurst in any
// noticeWindow: whoever can publish on the channels (any Casbin process on
// the watcher channel) makes an instance query its database at most 20
// times a second however many messages it sends, while the changes of an
// ordinary burst are applied at once.
const (
	noticeBurst  = 20
	noticeWindow = time.Second
)

// noticeChecks remembers when the last noticeBurst checks started.
type noticeChecks struct {
	starts [noticeBurst]time.Time
	n      int
}

// wait holds the next check until it is the only one of the last
// noticeBurst in noticeWindow; false when ctx ended first.
func (c *noticeChecks) wait(ctx context.Context) bool {
	slot := &c.starts[c.n%noticeBurst]
	if d := time.Until(slot.Add(noticeWindow)); !slot.IsZero() && d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
	*slot = time.Now()
	c.n++
	return true
}

// reloadTimeout bounds one reload after a notice.
const reloadTimeout = 30 * time.Second

// queueSize bounds the notices waiting for the publisher: past it, new
// ones are dropped (and counted) rather than held by the writer.
const queueSize = 1024

// PolicyChanged announces that this instance changed the policy to revision.
// It is the hook to give policy.Enforcer.OnChange. It only queues the
// notice: the write that called it answers without waiting for Redis (see
// announce).
func (c *Cluster) PolicyChanged(revision int64) {
	c.announce(notice{Origin: c.origin, Revision: revision}, "policy")
}

// AnnouncePolicy publishes that the policy changed to revision, for a
// caller that reports the failure itself (the CLI).
func (c *Cluster) AnnouncePolicy(ctx context.Context, revision int64) error {
	return c.publish(ctx, notice{Origin: c.origin, Revision: revision})
}

// queued is a notice waiting for the publisher, with what it is about.
type queued struct {
	n    notice
	what string
}

// announce queues n for the publisher goroutine and returns at once: a
// write never waits for Redis. When the queue is full the notice is
// dropped and counted (Dropped). A dropped or unpublished notice costs
// staleness, never correctness: the other instances catch up at their
// periodic check (policy, settings) or when their user cache expires.
func (c *Cluster) announce(n notice, what string) {
	select {
	case c.queue <- queued{n, what}:
	default:
		c.dropped.Add(1)
	}
}

// Dropped returns how many notices were lost since Connect: dropped because
// the queue was full, or not published because Redis failed. It is meant
// for a metric: while it grows the instances rely on their periodic checks.
func (c *Cluster) Dropped() uint64 { return c.dropped.Load() }

// runPublisher publishes the queued notices, one at a time, until done is
// closed, then publishes what is still queued within one timeout. A
// failure logs once until a publication succeeds again.
func (c *Cluster) runPublisher(done <-chan struct{}) {
	failing := false
	send := func(ctx context.Context, q queued) {
		err := c.publish(ctx, q.n)
		switch {
		case err != nil:
			c.dropped.Add(1)
			if !failing {
				failing = true
				c.log.Warn(q.what+": could not announce a change to the other instances; they catch up at their next periodic check "+
					"(further failures are counted, not logged, until Redis answers)", "err", err)
			}
		case failing:
			failing = false
			c.log.Info("notices: Redis answers again", "droppedSoFar", c.dropped.Load())
		}
	}
	for {
		select {
		case q := <-c.queue:
			ctx, cancel := context.WithTimeout(context.Background(), c.opts.PublishTimeout)
			send(ctx, q)
			cancel()
		case <-done:
			ctx, cancel := context.WithTimeout(context.Background(), c.opts.PublishTimeout)
			defer cancel()
			for {
				select {
				case q := <-c.queue:
					send(ctx, q)
				default:
					return
				}
			}
		}
	}
}

// publish sends n on the notice channel; a policy notice also goes, in one
// round trip, to the Casbin watcher channel as the watcher's Update message
// (see Options.WatcherChannel).
func (c *Cluster) publish(ctx context.Context, n notice) error {
	payload, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("cluster: encode notice: %w", err)
	}
	if !n.isPolicy() {
		if err := c.client.Publish(ctx, c.opts.PolicyChannel, payload).Err(); err != nil {
			return fmt.Errorf("cluster: publish on %s: %w", c.opts.PolicyChannel, err)
		}
		return nil
	}
	update, err := c.watcherPayload()
	if err != nil {
		return fmt.Errorf("cluster: encode watcher message: %w", err)
	}
	_, err = c.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Publish(ctx, c.opts.PolicyChannel, payload)
		p.Publish(ctx, c.opts.WatcherChannel, update)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cluster: publish on %s and %s: %w", c.opts.PolicyChannel, c.opts.WatcherChannel, err)
	}
	return nil
}

// Follow subscribes to the policy channel and the Casbin watcher channel
// and returns once the subscriptions are confirmed. From then on, every
// policy notice from another instance, every change another Casbin process
// announces through redis-watcher — and every re-subscription after a lost
// connection, since notices sent meanwhile are gone — makes r reload if the
// stored revision moved;
// reloaded (optional) is called after each reload that changed something.
// Notices arriving during a reload are coalesced into one more check; user
// and settings notices are FollowUsers' and FollowSettings' business.
//
// It runs until ctx is done, stop is called or the Cluster is closed; stop
// waits for the reload in progress.
func (c *Cluster) Follow(ctx context.Context, r Reloader, reloaded func(from, to int64)) (stop func(), err error) {
	return c.follow(ctx, "policy", notice.isPolicy, r, reloaded, c.opts.WatcherChannel)
}

// follow runs Follow for the notices of one kind (what names it in logs;
// match picks its notices); every Casbin change announced on the watcher
// channel, when given, counts as one of them.
func (c *Cluster) follow(ctx context.Context, what string, match func(notice) bool, r Reloader, reloaded func(from, to int64), watcher ...string) (stop func(), err error) {
	wake := make(chan struct{}, 1)
	// A change may have landed between loading and subscribing.
	wake <- struct{}{}
	receive := func(m any) {
		if msg, ok := m.(*redis.Message); ok {
			if msg.Channel != c.opts.PolicyChannel {
				if !fromCasbin(msg.Payload) {
					return
				}
			} else if n, ok := decode(msg.Payload); ok && (n.Origin == c.origin || !match(n)) {
				return
			}
		}
		select {
		case wake <- struct{}{}:
		default: // a check is pending already
		}
	}
	reload := func(ctx context.Context) {
		var checks noticeChecks
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
			if !checks.wait(ctx) {
				return
			}
			rctx, cancel := context.WithTimeout(ctx, reloadTimeout)
			from, to, err := r.ReloadIfChanged(rctx)
			cancel()
			switch {
			case err != nil && ctx.Err() == nil:
				c.log.Warn(what+": reload after a notice failed; the periodic reload will retry", "err", err)
			case err == nil && from != to:
				c.log.Info(what+": reloaded after a notice from another instance or Casbin process", "from", from, "to", to)
				if reloaded != nil {
					reloaded(from, to)
				}
			}
		}
	}
	return c.listen(ctx, append([]string{c.opts.PolicyChannel}, watcher...), receive, reload)
}

// listen subscribes to channels (the notice channel first) and returns once
// the subscriptions are confirmed. From then on receive gets, on one goroutine, every message:
// a *redis.Message, or a *redis.Subscription when a lost connection was
// subscribed again (the notices sent meanwhile are gone). Each of workers
// runs on a goroutine of its own with a context ended by stop.
//
// Everything runs until ctx is done, stop is called or the Cluster is
// closed; stop waits for receive and the workers to return.
func (c *Cluster) listen(ctx context.Context, channels []string, receive func(any), workers ...func(ctx context.Context)) (stop func(), err error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, errClosed
	}
	ps := c.client.Subscribe(ctx, channels...)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	for range channels {
		_, err = ps.Receive(sctx) // a subscription's confirmation
		if err != nil {
			break
		}
	}
	cancel()
	if err != nil {
		ps.Close()
		return nil, fmt.Errorf("cluster: subscribe to %s: %w", strings.Join(channels, ", "), err)
	}
	ctx, cancelRun := context.WithCancel(ctx)
	msgs := ps.ChannelWithSubscriptions(redis.WithChannelSize(64))

	var wg sync.WaitGroup
	wg.Go(func() {
		<-ctx.Done()
		ps.Close() // ends msgs
	})
	wg.Go(func() {
		for m := range msgs {
			receive(m)
		}
	})
	for _, work := range workers {
		wg.Go(func() { work(ctx) })
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancelRun()
			wg.Wait()
		})
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		stop()
		return nil, errClosed
	}
	c.follows = append(c.follows, stop)
	c.mu.Unlock()
	return stop, nil
}

// decode parses a notice; ok is false for anything else.
func decode(payload string) (notice, bool) {
	var n notice
	err := json.Unmarshal([]byte(payload), &n)
	return n, err == nil
}
