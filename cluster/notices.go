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

// notice is the payload published on the policy channel.
type notice struct {
	Origin   string `json:"origin"`
	Revision int64  `json:"revision"`
}

// reloadTimeout bounds one reload after a notice.
const reloadTimeout = 30 * time.Second

// PolicyChanged announces that this instance changed the policy to revision.
// It is the hook to give policy.Enforcer.OnChange. A failure is logged, not
// returned: the change is committed already, and the other instances catch
// up at their periodic reload.
func (c *Cluster) PolicyChanged(revision int64) {
	payload, err := json.Marshal(notice{Origin: c.origin, Revision: revision})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.client.Publish(ctx, c.opts.PolicyChannel, payload).Err(); err != nil {
		c.log.Warn("policy: could not announce the change to the other instances; they reload at their next periodic check",
			"revision", revision, "err", err)
	}
}

// Follow subscribes to the policy channel and returns once the subscription
// is confirmed. From then on, every notice from another instance — and every
// re-subscription after a lost connection, since notices sent meanwhile are
// gone — makes r reload if the stored revision moved; reloaded (optional)
// is called after each reload that changed something. Notices arriving
// during a reload are coalesced into one more check.
//
// It runs until ctx is done, stop is called or the Cluster is closed; stop
// waits for the reload in progress.
func (c *Cluster) Follow(ctx context.Context, r Reloader, reloaded func(from, to int64)) (stop func(), err error) {
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
	wake := make(chan struct{}, 1)
	// A change may have landed between loading the policy and subscribing.
	wake <- struct{}{}
	msgs := ps.ChannelWithSubscriptions(redis.WithChannelSize(64))

	var wg sync.WaitGroup
	wg.Go(func() {
		<-ctx.Done()
		ps.Close() // ends msgs
	})
	wg.Go(func() {
		for m := range msgs {
			if msg, ok := m.(*redis.Message); ok && c.own(msg.Payload) {
				continue
			}
			select {
			case wake <- struct{}{}:
			default: // a check is pending already
			}
		}
	})
	wg.Go(func() {
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
	})
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

// own reports whether the payload is a notice this instance sent.
func (c *Cluster) own(payload string) bool {
	var n notice
	return json.Unmarshal([]byte(payload), &n) == nil && n.Origin == c.origin
}
