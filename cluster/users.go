package cluster

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// UserCache is the user side of a notice: *store.Store, whose cache of users
// read for authentication would otherwise keep a user blocked, deleted,
// given another role or another password on another instance for its
// lifetime (2s).
type UserCache interface {
	// InvalidateUser drops one user.
	InvalidateUser(id uint)
	// InvalidateCache drops every user.
	InvalidateCache()
}

// UserChanged announces that this instance wrote the user. It is the hook
// to give store.Store.OnUserChange. It only queues the notice (see
// announce); a lost one lets the other instances' caches keep the user for
// their lifetime.
func (c *Cluster) UserChanged(id uint) {
	c.announce(notice{Origin: c.origin, User: id}, "users")
}

// AnnounceUser publishes that the user was written, for a caller that
// reports the failure itself (the CLI).
func (c *Cluster) AnnounceUser(ctx context.Context, id uint) error {
	if id == 0 {
		return errors.New("cluster: announce user 0")
	}
	return c.publish(ctx, notice{Origin: c.origin, User: id})
}

// FollowUsers subscribes to the notice channel and returns once the
// subscription is confirmed. From then on every user notice from another
// instance drops that user from cache, and every re-subscription after a
// lost connection drops the whole cache (the notices sent meanwhile are
// gone). Policy notices are Follow's business.
//
// It runs until ctx is done, stop is called or the Cluster is closed.
func (c *Cluster) FollowUsers(ctx context.Context, cache UserCache) (stop func(), err error) {
	return c.listen(ctx, []string{c.opts.PolicyChannel}, func(m any) {
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				cache.InvalidateCache()
			}
		case *redis.Message:
			if n, ok := decode(m.Payload); ok && n.User != 0 && n.Origin != c.origin {
				cache.InvalidateUser(n.User)
			}
		}
	})
}
