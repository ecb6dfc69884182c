package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Reloader is the policy side of a notice: *policy.Enforcer. ReloadIfChanged
// reloads only when the revision stored in the database moved, so a notice
// is idempotent: a duplicate, late or forged one costs one small query.
type Reloader interface {
	ReloadIfChanged(ctx context.Context) (before, after int64, err error)
}

// notice is the payload published on the policy channel: a policy change
// (Revision) or, when User is set, a write to that user (users.go). Both
// kinds share the channel, so one subscription per follower covers them and
// an instance that knows only policy notices takes a user notice for a
// policy one (one small query).
type notice struct {
	Origin   string `json:"origin"`
	Revision int64  `json:"revision,omitempty"`
	User     uint   `json:"user,omitempty"`
}

// reloadTimeout bounds one reload after a notice.
const reloadTimeout = 30 * time.Second

// publishTimeout bounds one notice's publication from a hook.
const publishTimeout = 2 * time.Second

// PolicyChanged announces that this instance changed the policy to revision.
// It is the hook to give policy.Enforcer.OnChange. A failure is logged, not
// returned: the change is committed already, and the other instances catch
// up at their periodic reload.
func (c *Cluster) PolicyChanged(revision int64) {
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	if err := c.AnnouncePolicy(ctx, revision); err != nil {
		c.log.Warn("policy: could not announce the change to the other instances; they reload at their next periodic check",
			"revision", revision, "err", err)
	}
}

// AnnouncePolicy publishes that the policy changed to revision, for a
// caller that reports the failure itself (the CLI).
func (c *Cluster) AnnouncePolicy(ctx context.Context, revision int64) error {
	return c.publish(ctx, notice{Origin: c.origin, Revision: revision})
}

// publish sends n on the notice channel.
func (c *Cluster) publish(ctx context.Context, n notice) error {
	payload, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("cluster: encode notice: %w", err)
	}
	if err := c.client.Publish(ctx, c.opts.PolicyChannel, payload).Err(); err != nil {
		return fmt.Errorf("cluster: publish on %s: %w", c.opts.PolicyChannel, err)
	}
	return nil
}

// Follow subscribes to the policy channel and returns once the subscription
// is confirmed. From then on, every policy notice from another instance —
// and every re-subscription after a lost connection, since notices sent
// meanwhile are gone — makes r reload if the stored revision moved;
// reloaded (optional) is called after each reload that changed something.
// Notices arriving during a reload are coalesced into one more check; user
// notices are FollowUsers' business.
//
// It runs until ctx is done, stop is called or the Cluster is closed; stop
// waits for the reload in progress.
func (c *Cluster) Follow(ctx context.Context, r Reloader, reloaded func(from, to int64)) (stop func(), err error) {
	wake := make(chan struct{}, 1)
	// A change may have landed between loading the policy and subscribing.
	wake <- struct{}{}
	receive := func(m any) {
		if msg, ok := m.(*redis.Message); ok {
			if n, ok := decode(msg.Payload); ok && (n.Origin == c.origin || n.User != 0) {
				return
			}
		}
		select {
		case wake <- struct{}{}:
		default: // a check is pending already
		}
	}
	reload := func(ctx context.Context) {
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
			rctx, cancel := context.WithTimeout(ctx, reloadTimeout)
			from, to, err := r.ReloadIfChanged(rctx)
			cancel()
			switch {
			case err != nil && ctx.Err() == nil:
				c.log.Warn("policy: reload after a notice failed; the periodic reload will retry", "err", err)
			case err == nil && from != to:
				c.log.Info("policy: reloaded after a notice from another instance", "from", from, "to", to)
				if reloaded != nil {
					reloaded(from, to)
				}
			}
		}
	}
	return c.listen(ctx, receive, reload)
}

// listen subscribes to the notice channel and returns once the subscription
// is confirmed. From then on receive gets, on one goroutine, every message:
// a *redis.Message, or a *redis.Subscription when a lost connection was
// subscribed again (the notices sent meanwhile are gone). Each of workers
// runs on a goroutine of its own with a context ended by stop.
//
// Everything runs until ctx is done, stop is called or the Cluster is
// closed; stop waits for receive and the workers to return.
func (c *Cluster) listen(ctx context.Context, receive func(any), workers ...func(ctx context.Context)) (stop func(), err error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, errClosed
	}
	ps := c.client.Subscribe(ctx, c.opts.PolicyChannel)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = ps.Receive(sctx) // the subscription's confirmation
	cancel()
	if err != nil {
		ps.Close()
		return nil, fmt.Errorf("cluster: subscribe to %s: %w", c.opts.PolicyChannel, err)
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
