package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultConsumedPrefix prefixes the keys of the used OAuth states and
// session ids (see Consumed).
const DefaultConsumedPrefix = "gatehouse:oauth:used"

const (
	// consumedTimeout bounds one call to Redis; past it the sign-in is
	// refused (fail closed), the user tries again.
	consumedTimeout = time.Second
	// consumedSkew is kept on top of each key's expiry, so an instance whose
	// clock is behind the one that sealed the cookie still finds the key
	// for as long as it would take the cookie.
	consumedSkew = time.Minute
)

// Consumed is the memory of used OAuth states and session ids shared by
// every instance through Redis: give it to handlers.Config.OAuthConsumed,
// so that a callback or session cookie used on one instance is refused on
// all the others.
//
// Use is one SET key NX with an expiry, atomic in Redis: of any number of
// calls with one key, on any instance, exactly one gets true.
//
// It fails closed, unlike Limits: when Redis errors or does not answer
// within a second, Use returns the error and the handlers refuse the
// sign-in with a "try again" message. A state that cannot be checked may be
// a replay, and sign-in is not a hot path: a Redis outage pauses OAuth
// sign-ins (password logins are untouched) rather than letting replays
// through.
type Consumed struct {
	client *redis.Client
	prefix string
}

// Consumed returns the memory of used OAuth states and session ids shared
// through c's Redis, its keys under prefix (DefaultConsumedPrefix when
// empty). Every instance of one deployment must use the same prefix.
func (c *Cluster) Consumed(prefix string) *Consumed {
	if prefix == "" {
		prefix = DefaultConsumedPrefix
	}
	return &Consumed{client: c.client, prefix: prefix}
}

// Use records key until exp (plus a minute for clocks that differ between
// instances) and reports whether it was unused. It errors when Redis does
// not answer; the caller must then refuse.
func (u *Consumed) Use(ctx context.Context, key string, exp time.Time) (bool, error) {
	ttl := time.Until(exp) + consumedSkew
	if ttl < consumedSkew {
		// Already expired here: still remember it a while, never forever
		// (a zero TTL would mean no expiry).
		ttl = consumedSkew
	}
	ctx, cancel := context.WithTimeout(ctx, consumedTimeout)
	defer cancel()
	fresh, err := u.client.SetNX(ctx, u.prefix+":"+key, 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("cluster: record a used OAuth state in Redis at %s: %w", u.client.Options().Addr, err)
	}
	return fresh, nil
}

// Take deletes key and reports whether it was there: one DEL, atomic in
// Redis, so of any number of calls with one key, on any instance, at most
// one gets true. It errors when Redis does not answer; the caller must then
// refuse.
func (u *Consumed) Take(ctx context.Context, key string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, consumedTimeout)
	defer cancel()
	n, err := u.client.Del(ctx, u.prefix+":"+key).Result()
	if err != nil {
		return false, fmt.Errorf("cluster: take a delivered OAuth token from Redis at %s: %w", u.client.Options().Addr, err)
	}
	return n == 1, nil
}
