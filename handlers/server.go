// Package handlers is Gatehouse's HTTP layer: the Gin router with every route
// in one table (routes.go), the authentication, authorization and rate-limit
// middleware, the endpoints, and the one error type rendered as Strapi's
// error envelope.
package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/follow"
	"github.com/gatehouse/gatehouse/gateway"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/internal/loglimit"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/ratelimit"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
	"github.com/rs/cors"
	"github.com/ulule/limiter/v3"
	"golang.org/x/crypto/bcrypt"
)

// RateLimit configures the auth routes' limiter (Strapi's ratelimit option)
// and the per-IP budget of the sign-in routes.
type RateLimit struct {
	Enabled bool
	// Max requests per Interval and key (Strapi's per path, IP and email).
	Max      int64
	Interval time.Duration
	// IPMax requests per IPInterval from one client IP to each of login,
	// register, forgot-password and send-email-confirmation, whatever the
	// email (Max per Interval when zero).
	IPMax      int64
	IPInterval time.Duration
	// Store keeps the counters; nil means in this process's memory, at most
	// MaxKeys of them (ratelimit.DefaultMaxKeys when zero).
	Store   limiter.Store
	MaxKeys int
}

// Config is everything the HTTP layer depends on; main fills it.
type Config struct {
	Store    *store.Store
	Enforcer *policy.Enforcer
	// AuditSink, when set, also receives each audit entry as a JSON line
	// (AUDIT_LOG: a file or stdout, for shipping to a log system).
	AuditSink io.Writer
	// Secret signs access tokens (HS256).
	Secret []byte
	// TokenTTL is JWT_EXPIRES_IN.
	TokenTTL time.Duration
	// BcryptCost is the cost of new password hashes (10 when zero).
	BcryptCost int
	// BodyLimit caps request bodies in bytes (1 MiB when zero).
	BodyLimit int64
	RateLimit RateLimit
	// TrustedProxies are the proxies whose X-Forwarded-For is believed (none when empty).
	TrustedProxies []string
	// PublicURL is the absolute URL of this server, used in emails and OAuth redirects.
	PublicURL string
	Logger    *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// -- email settings --
	// Mailer sends the password-reset and email-confirmation emails. Nil
	// means mail is not configured: each message (with its link) is logged
	// instead, as mail.Outbox does, which is for development only.
	Mailer Mailer
	// ResetTokenTTL is how long a password-reset code is valid (1h when zero).
	ResetTokenTTL time.Duration
	// ConfirmationTokenTTL is how long an email-confirmation link is valid
	// (24h when zero).
	ConfirmationTokenTTL time.Duration
	// ResendInterval is the least time between two reset, or two
	// confirmation, emails to one address (60s when zero).
	ResendInterval time.Duration
	// MailTimeout bounds one send, over the mailer's own timeout (15s when zero).
	MailTimeout time.Duration
	// AdminURL is ADMIN_URL in email templates (PublicURL when empty).
	AdminURL string
	// MailQueue configures the delivery of queued mail (RunMailQueue):
	// retries, backoff, lease.
	MailQueue MailQueue
	// -- end of email settings --
	// -- OAuth settings --
	// Providers are the OAuth providers offered (nil: providers.Defaults()).
	Providers *providers.Registry
	// OAuthRedirectMode is how the connect flow hands the provider's tokens
	// to the front end: "query" (the default; access_token in the front-end
	// callback URL, Strapi <= 5.52) or "session" (kept in a sealed cookie
	// that /api/auth/:provider/callback reads, Strapi 5.53).
	OAuthRedirectMode string
	// HTTPClient makes the requests to the providers (nil: a client with
	// providers.DefaultTimeout).
	HTTPClient *http.Client
	// PublicURLDefaulted says PUBLIC_URL was not configured, so the redirect
	// URIs given to providers are a guess: an enabled provider is then
	// reported at start-up and when one is enabled.
	PublicURLDefaulted bool
	// OAuthConsumed remembers the used OAuth states and session ids, so a
	// replayed callback or session is refused (nil: in this process only).
	// Instances behind one load balancer must share one, e.g.
	// cluster.Cluster.Consumed over Redis; when it fails, sign-ins are
	// refused until it answers.
	OAuthConsumed Consumed
	// -- end of OAuth settings --
	// ExplainDenials adds X-Gatehouse-Denied-By to 403 answers.
	ExplainDenials bool
	// -- refresh-token settings (auth_refresh.go) --
	// JWTManagement is Strapi v5's jwtManagement: "legacy-support" (also
	// when empty: one JWT of TokenTTL per sign-in) or "refresh" (short
	// access tokens, rotating refresh tokens, logout and sessions). Outside
	// refresh mode the refresh, logout and sessions routes answer 404.
	JWTManagement string
	// Sessions configures refresh mode (lifespans, the refresh-token cookie).
	Sessions Sessions
	// -- end of refresh-token settings --
	// -- operations settings (cors.go, observe.go) --
	// CORS is the cross-origin access; the zero value allows no origin.
	CORS CORS
	// Metrics receives request counts and durations, authorization
	// decisions, sign-ins and rate-limit refusals (nil: none).
	Metrics Metrics
	// AccessLog writes one line per request at info: request id, method,
	// route, status, duration, user, role, and for a policy refusal the
	// row that would allow it.
	AccessLog bool
	// -- end of operations settings --
	// -- functions file settings (gateway.go) --
	// Functions are the protected app's functions (ROUTES_FILE): they join
	// the catalogue, and GET /api/authz/verify decides about them (nil:
	// none).
	Functions *gateway.Routes
	// Gateway proxies the functions to their upstreams (GATEWAY).
	Gateway bool
	// GatewayTimeout bounds the wait for an upstream's response headers
	// (504 past it; 30s when zero).
	GatewayTimeout time.Duration
	// GatewayMaxBody caps proxied request bodies in bytes unless a
	// function sets its own (GATEWAY_MAX_BODY; 10 MiB when zero).
	GatewayMaxBody int64
	// GatewayBodyTimeout bounds how long a client may take to send a
	// proxied request's body (GATEWAY_BODY_TIMEOUT; none when zero).
	GatewayBodyTimeout time.Duration
	// UpstreamTokenSecret, when set, signs (HS256) the short-lived JWT of
	// each decision about a function, sent as X-Gatehouse-Token
	// (GATEWAY_TOKEN_SECRET). It must not be Secret: an upstream holding it
	// could otherwise mint Gatehouse's own tokens.
	UpstreamTokenSecret []byte
	// ForwardAuthProxies are the peers (IPs or CIDRs) whose forward-auth
	// headers GET /api/authz/verify believes (nil: loopback, see
	// DefaultForwardAuthProxies).
	ForwardAuthProxies []string
	// -- end of functions file settings --
	// ReadyChecks are what GET /_ready checks besides the database's write
	// path, e.g. Redis when REDIS_URL is set (main adds it).
	ReadyChecks []ReadyCheck
}

// ReadyCheck is one dependency GET /_ready checks: Check must return within
// its context's deadline (one second for the whole readiness check).
type ReadyCheck struct {
	Name  string
	Check func(context.Context) error
}

// Server serves Gatehouse's API.
type Server struct {
	cfg Config
	// auditMu keeps the audit sink's lines whole.
	auditMu  sync.Mutex
	store    *store.Store
	enforcer *policy.Enforcer
	tokens   Tokens
	log      *slog.Logger
	limiter  *limiter.Limiter
	// ipLimiter counts the per-IP budget of the sign-in routes (rateLimit).
	ipLimiter *limiter.Limiter
	engine    *gin.Engine
	catalog   policy.Catalog
	// dummyHash is a hash at the configured cost, compared against when a
	// login names no user.
	dummyHash []byte
	// guard authenticates and authorizes every request that matched a
	// route (its own and the embedding app's).
	guard *guard.Guard
	// corsHandler applies Config.CORS (cors.go).
	corsHandler *cors.Cors
	// errLog rate-limits the log lines of 503s by cause.
	errLog *loglimit.Limiter
	// draining is set by Drain: readiness fails from then on.
	draining atomic.Bool
	// metrics is Config.Metrics; trusted is Config.TrustedProxies parsed,
	// for accepting their X-Request-Id (observe.go).
	metrics Metrics
	trusted []netip.Prefix
	// mailWake wakes RunMailQueue when this instance queues a mail.
	mailWake chan struct{}
	// delivered remembers the provider tokens the query-mode callback leg
	// handed to the front end (Config.OAuthConsumed, else this process).
	delivered Consumed
	// forwardAuthPeers is Config.ForwardAuthProxies parsed; proxy serves
	// gateway mode (nil outside it).
	forwardAuthPeers []netip.Prefix
	proxy            *gateway.Proxy
	// publicOrigin is PublicURL's origin, always allowed by
	// checkCookieOrigin.
	publicOrigin string
}

// Tokens issues and verifies Gatehouse's access tokens (guard.Tokens).
type Tokens = guard.Tokens

// New builds the server and its router.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Enforcer == nil {
		return nil, errors.New("handlers: Config needs Store and Enforcer")
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("handlers: the JWT secret must be at least 16 bytes")
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 30 * 24 * time.Hour
	}
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = 10
	}
	if cfg.GatewayMaxBody <= 0 {
		cfg.GatewayMaxBody = 10 << 20
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = 1 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://localhost:1337"
	}
	if cfg.Providers == nil {
		// One registry for the server's life: it holds the discovery
		// cache of the custom OpenID Connect providers.
		cfg.Providers = providers.NewRegistry(providers.Defaults()...)
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	s := &Server{
		cfg:      cfg,
		store:    cfg.Store,
		enforcer: cfg.Enforcer,
		tokens:   Tokens{Secret: cfg.Secret, TTL: cfg.TokenTTL, Now: cfg.Now, SessionsOnly: cfg.JWTManagement == jwtRefresh},
		log:      cfg.Logger,
		errLog:   loglimit.New(errLogInterval, nil),
		mailWake: make(chan struct{}, 1),
	}
	s.delivered = s.consumed()
	g, err := guard.New(guard.Config{Store: cfg.Store, Enforcer: cfg.Enforcer, Secret: cfg.Secret,
		SessionsOnly: cfg.JWTManagement == jwtRefresh, ExplainDenials: cfg.ExplainDenials, Now: cfg.Now,
		Decided: func(role string, allowed bool) {
			if s.metrics != nil {
				s.metrics.Decision(role, allowed)
			}
		}})
	if err != nil {
		return nil, err
	}
	s.guard = g
	dummy, err := bcrypt.GenerateFromPassword([]byte("gatehouse: no such user"), cfg.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("handlers: bcrypt cost %d: %w", cfg.BcryptCost, err)
	}
	s.dummyHash = dummy
	if cfg.RateLimit.Enabled {
		if cfg.RateLimit.Max <= 0 || cfg.RateLimit.Interval <= 0 {
			return nil, errors.New("handlers: rate limit needs a positive max and interval")
		}
		if cfg.RateLimit.IPMax == 0 {
			cfg.RateLimit.IPMax = cfg.RateLimit.Max
		}
		if cfg.RateLimit.IPInterval == 0 {
			cfg.RateLimit.IPInterval = cfg.RateLimit.Interval
		}
		if cfg.RateLimit.IPMax < 0 || cfg.RateLimit.IPInterval < 0 {
			return nil, errors.New("handlers: the per-IP rate limit needs a positive max and interval")
		}
		st := cfg.RateLimit.Store
		if st == nil {
			st = ratelimit.NewMemory(cfg.RateLimit.MaxKeys)
		}
		s.limiter = limiter.New(st, limiter.Rate{Period: cfg.RateLimit.Interval, Limit: cfg.RateLimit.Max})
		s.ipLimiter = limiter.New(st, limiter.Rate{Period: cfg.RateLimit.IPInterval, Limit: cfg.RateLimit.IPMax})
		s.cfg.RateLimit = cfg.RateLimit
	}
	if s.corsHandler, err = newCORS(cfg.CORS); err != nil {
		return nil, err
	}
	if s.trusted, err = parseTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("handlers: TrustedProxies: %w", err)
	}
	if s.forwardAuthPeers, err = parseForwardAuthProxies(cfg.ForwardAuthProxies); err != nil {
		return nil, fmt.Errorf("handlers: ForwardAuthProxies: %w", err)
	}
	if len(cfg.UpstreamTokenSecret) > 0 && (len(cfg.UpstreamTokenSecret) < 32 || string(cfg.UpstreamTokenSecret) == string(cfg.Secret)) {
		return nil, errors.New("handlers: UpstreamTokenSecret must be at least 32 bytes and differ from Secret")
	}
	if cfg.Gateway {
		if cfg.Functions == nil {
			return nil, errors.New("handlers: Gateway needs Functions (ROUTES_FILE)")
		}
		s.proxy = gateway.NewProxy(gateway.ProxyConfig{ResponseTimeout: cfg.GatewayTimeout, OnError: s.proxyError,
			ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)})
	}
	s.metrics = cfg.Metrics
	s.publicOrigin = originOf(cfg.PublicURL)
	if err := s.router(); err != nil {
		return nil, err
	}
	return s, nil
}

// Engine returns the Gin engine, for an embedding app to add its own routes
// with Route (which also adds them to the catalogue). Every route on it,
// however added (engine.GET, a group), is authenticated and authorized on
// (role, route pattern, method) before its handlers run, deny unless the
// policy grants it; ginguard.Public is the explicit opt-out.
func (s *Server) Engine() *gin.Engine { return s.engine }

// TokenCacheStats counts the lookups of the cache of verified access tokens
// that found the token, and those that did not (it was then verified).
func (s *Server) TokenCacheStats() (hits, misses uint64) { return s.guard.TokenCacheStats() }

// Guard returns the server's guard, to protect an app's other routers (an
// http.ServeMux with Guard().Mux) with the same tokens and policy.
func (s *Server) Guard() *guard.Guard { return s.guard }

// FollowChanges keeps the server current with what other processes sharing
// the database change: guard.Guard.FollowChanges. Gatehouse's serve command
// calls it with POLICY_RELOAD_INTERVAL and, with REDIS_URL, its
// *cluster.Cluster as o.Notices.
func (s *Server) FollowChanges(ctx context.Context, o follow.Options) (stop func(), err error) {
	return s.guard.FollowChanges(ctx, o)
}

// Register adds functions to the catalogue without routes on the engine:
// an app's routes served by another router (an http.ServeMux behind
// Guard().Mux), so the admin page, the roles API, lint and explain know
// them.
func (s *Server) Register(fns ...policy.Function) { s.catalog = append(s.catalog, fns...) }

// Catalog returns every route's function, in registration order, then the
// functions file's (Config.Functions) as currently loaded.
func (s *Server) Catalog() policy.Catalog {
	return append(append(policy.Catalog(nil), s.catalog...), s.functionsTable().Catalog()...)
}

// ServeHTTP serves a request. A single trailing slash is dropped before
// routing (as Strapi's router ignores it); authorization is always decided on
// the matched route pattern, so no spelling of a path reaches a route the
// policy forbids.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		// net/http closes the connection after this answer, and the
		// client opens its next request on a new one: no request is ever
		// sent on a connection the server is about to close.
		w.Header().Set("Connection", "close")
	}
	if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") && !strings.HasSuffix(p, "//") {
		r.URL.Path = p[:len(p)-1]
		if r.URL.RawPath != "" {
			r.URL.RawPath = strings.TrimSuffix(r.URL.RawPath, "/")
		}
	}
	s.engine.ServeHTTP(w, r)
}

func (s *Server) now() time.Time { return s.cfg.Now() }

// handle adapts an error-returning handler to Gin.
func (s *Server) handle(h func(c *gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			s.writeError(c, err)
		}
	}
}

// ctx returns the request's context.
func ctx(c *gin.Context) context.Context { return c.Request.Context() }

// errInternal wraps an unexpected error into a 500.
func errInternal(format string, args ...any) error {
	return &Error{Status: http.StatusInternalServerError, Name: "InternalServerError", Message: "Internal Server Error", Err: fmt.Errorf(format, args...)}
}
