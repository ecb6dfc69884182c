// Package cluster lets several Gatehouse instances behind one load balancer
// behave as one, through Redis: the auth routes' rate-limit counters are
// shared (a limiter.Store for handlers.RateLimit.Store); a policy change
// made on one instance is announced on a channel so the others reload it at
// once instead of at their next periodic check; a user write is announced so
// the others drop that user from their caches; and OAuth states and session
// ids are claimed once for the whole deployment (Consumed, for
// handlers.Config.OAuthConsumed).
//
// Redis is an accelerator, never the source of truth: the policy lives in the
// database with its revision, so a notice only says "look again" and a lost
// one is caught by the periodic reload; the rate limiter counts in the
// instance itself while Redis does not answer (see Limits). The one
// exception is the OAuth memory, which fails closed: a sign-in refused while
// Redis is down is better than a replayed one accepted.
//
// The package knows Redis and ulule/limiter, nothing about HTTP, Casbin or
// SQL: the policy side is the Reloader interface.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/ratelimit"
	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	redisstore "github.com/ulule/limiter/v3/drivers/store/redis"
)

// The Redis names Gatehouse uses unless Options say otherwise.
const (
	DefaultLimitPrefix   = "gatehouse:ratelimit"
	DefaultPolicyChannel = "gatehouse:policy"
)

// Options tune a Cluster; the zero value is production's.
type Options struct {
	// LimitPrefix prefixes every rate-limit key (DefaultLimitPrefix when empty).
	LimitPrefix string
	// PolicyChannel carries the policy change notices (DefaultPolicyChannel
	// when empty). Every instance of one deployment must use the same.
	PolicyChannel string
	// WatcherChannel is the channel of Casbin's standard redis-watcher
	// (github.com/casbin/redis-watcher/v2; DefaultWatcherChannel, its
	// default, when empty). Each policy change is also announced there as
	// the watcher's "Update" message, so any Casbin enforcer on the same
	// database that uses the watcher loads its policy again; and a change
	// such an enforcer announces there makes this instance check its
	// revision. Give the plain Casbin processes the same channel.
	WatcherChannel string
	// LimitTimeout bounds one rate-limit call to Redis (250ms when zero).
	LimitTimeout time.Duration
	// PublishTimeout bounds the publication of one notice, off the request
	// path (250ms when zero).
	PublishTimeout time.Duration
	// RetryAfter is how long the rate limiter counts locally after a Redis
	// failure before it asks Redis again (5s when zero).
	RetryAfter time.Duration
	// Logger receives the warnings (discarded when nil).
	Logger *slog.Logger
}

// Cluster is one instance's connection to the others.
type Cluster struct {
	// Limits is the rate-limit store to give handlers.RateLimit.Store:
	// counters in Redis, in this instance while Redis fails.
	Limits limiter.Store

	client *redis.Client
	opts   Options
	log    *slog.Logger
	// origin tells this instance's notices from the others'.
	origin string

	// queue holds the notices for the publisher (see announce); dropped
	// counts those lost; stopPublisher ends it and published is closed
	// when it has returned.
	queue         chan queued
	dropped       atomic.Uint64
	stopPublisher chan struct{}
	published     chan struct{}

	mu      sync.Mutex
	closed  bool
	follows []func()
}

// Connect opens the Redis that redisURL (redis://[user:password@]host:port/db,
// or rediss:// for TLS) names and checks that it answers: an instance that
// cannot reach it refuses to start rather than silently running alone.
func Connect(ctx context.Context, redisURL string, opts Options) (*Cluster, error) {
	ro, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("cluster: REDIS_URL: %w", err)
	}
	// Every call carries its own deadline (Options.LimitTimeout,
	// PublishTimeout, …): without ContextTimeoutEnabled go-redis ignores it
	// and waits for ReadTimeout instead, which made the documented 250ms
	// act as 1s. The socket timeouts and the dial stay as a backstop.
	ro.ContextTimeoutEnabled = true
	ro.DialTimeout = 2 * time.Second
	ro.ReadTimeout = time.Second
	ro.WriteTimeout = time.Second
	ro.DialerRetries = 2
	client := redis.NewClient(ro)
	c, err := New(ctx, client, opts)
	if err != nil {
		client.Close()
		return nil, err
	}
	return c, nil
}

// New builds a Cluster over an open client, which it then owns (Close closes
// it). It fails when Redis does not answer. The client should have
// ContextTimeoutEnabled (Connect sets it), or go-redis bounds each call by
// its ReadTimeout instead of the Options' timeouts.
func New(ctx context.Context, client *redis.Client, opts Options) (*Cluster, error) {
	if opts.LimitPrefix == "" {
		opts.LimitPrefix = DefaultLimitPrefix
	}
	if opts.PolicyChannel == "" {
		opts.PolicyChannel = DefaultPolicyChannel
	}
	if opts.WatcherChannel == "" {
		opts.WatcherChannel = DefaultWatcherChannel
	}
	if opts.LimitTimeout <= 0 {
		opts.LimitTimeout = 250 * time.Millisecond
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = 250 * time.Millisecond
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 5 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		return nil, fmt.Errorf("cluster: Redis at %s does not answer: %w", client.Options().Addr, err)
	}
	shared, err := redisstore.NewStoreWithOptions(client, limiter.StoreOptions{Prefix: opts.LimitPrefix})
	if err != nil {
		return nil, fmt.Errorf("cluster: Redis at %s: load the rate-limit scripts: %w", client.Options().Addr, err)
	}
	// While Redis fails, the counters are this instance's, bounded as
	// without Redis.
	local := ratelimit.NewMemory(0)
	c := &Cluster{
		Limits: &Limits{shared: shared, local: local, timeout: opts.LimitTimeout, retryAfter: opts.RetryAfter, log: log},
		client: client, opts: opts, log: log, origin: randomID(),
		queue: make(chan queued, queueSize), stopPublisher: make(chan struct{}), published: make(chan struct{}),
	}
	go func() {
		defer close(c.published)
		c.runPublisher(c.stopPublisher)
	}()
	return c, nil
}

// Close stops every Follow, publishes the notices still queued (within one
// PublishTimeout) and closes the Redis client.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	follows := c.follows
	c.follows = nil
	c.mu.Unlock()
	for _, stop := range follows {
		stop()
	}
	close(c.stopPublisher)
	<-c.published
	return c.client.Close()
}

var errClosed = errors.New("cluster: closed")

func randomID() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("cluster: crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}
