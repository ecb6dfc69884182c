// Package guard protects HTTP routes with Gatehouse's tokens and policy: it
// authenticates a request (a Gatehouse JWT, or none for the public role) and
// authorizes it on (role, route pattern, method), failing closed.
//
// It is the one implementation behind Gatehouse's own routes (handlers) and
// behind an app's routes: the net/http middleware here decides on the
// pattern http.ServeMux matched (r.Pattern), and package guard/ginguard does
// the same for Gin on c.FullPath(). Routes that need no decision are opted
// out explicitly with Public.
//
// guard imports neither Gin nor handlers, so an app on the standard library
// links neither.
package guard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/follow"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/store"
)

// PublicRole is the role type of requests without a token.
const PublicRole = "public"

// Config is what a Guard depends on.
type Config struct {
	// Store holds the users (checked on every request: gone, blocked,
	// unconfirmed, tokens revoked) and the advanced settings.
	Store *store.Store
	// Enforcer decides (role, route, method).
	Enforcer *policy.Enforcer
	// Secret verifies the HS256 access tokens (JWT_SECRET, at least 16 bytes).
	Secret []byte
	// SessionsOnly accepts only refresh mode's access tokens
	// (JWT_MANAGEMENT=refresh).
	SessionsOnly bool
	// ExplainDenials adds X-Gatehouse-Denied-By to 403 answers.
	ExplainDenials bool
	// Decided, when set, is told each decision (for metrics).
	Decided func(role string, allowed bool)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Guard authenticates and authorizes requests. It is safe for concurrent use.
type Guard struct {
	cfg      Config
	tokens   Tokens
	verified *verifiedTokens

	mu     sync.RWMutex
	public map[routeKey]bool
	routes sync.Map // net/http pattern → converted routeKey
}

type routeKey struct{ method, route string }

// New builds a Guard.
func New(cfg Config) (*Guard, error) {
	if cfg.Store == nil || cfg.Enforcer == nil {
		return nil, errors.New("guard: Config needs Store and Enforcer")
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("guard: the JWT secret must be at least 16 bytes")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Guard{
		cfg:      cfg,
		tokens:   Tokens{Secret: cfg.Secret, Now: cfg.Now, SessionsOnly: cfg.SessionsOnly},
		verified: newVerifiedTokens(),
		public:   map[routeKey]bool{},
	}, nil
}

// Caller is who a request is from: a signed-in user with their role type, or
// no user and the public role.
type Caller struct {
	// User is nil for an anonymous request.
	User *store.User
	// Role is the role type the request is authorized as.
	Role string

	// user is what User points to: one allocation for both.
	user store.User
}

var anonymous = &Caller{Role: PublicRole}

// Authenticate resolves the caller from an Authorization header: no bearer
// token → the public role; a token that does not verify → 401 (never the
// public role); a verified token whose user is gone, blocked, unconfirmed
// while confirmation is required, or whose tokens were revoked after it was
// issued → 401. Other errors are the store's (a 500).
func (g *Guard) Authenticate(ctx context.Context, authorization string) (*Caller, error) {
	token, present := BearerToken(authorization)
	if !present {
		return anonymous, nil
	}
	id, issuedAt, err := g.verify(token)
	if err != nil {
		return nil, &Refusal{Status: http.StatusUnauthorized, Name: "UnauthorizedError", Message: "Missing or invalid credentials", Err: err}
	}
	return g.AuthenticateUser(ctx, id, issuedAt)
}

// AuthenticateUser resolves the caller from a credential already verified
// (a token's claims, a refresh-mode session) that names user id and was
// issued at issuedAt: a user gone, blocked, unconfirmed while confirmation
// is required, or whose tokens were revoked after issuedAt → 401.
func (g *Guard) AuthenticateUser(ctx context.Context, id uint, issuedAt time.Time) (*Caller, error) {
	user, err := g.cfg.Store.Users().ForAuth(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Refusal{Status: http.StatusUnauthorized, Name: "UnauthorizedError", Message: "Invalid credentials", Err: err}
	}
	if err != nil {
		return nil, err
	}
	if issuedAt.Unix() < user.TokensValidAfter.Unix() {
		return nil, &Refusal{Status: http.StatusUnauthorized, Name: "UnauthorizedError", Message: "Missing or invalid credentials",
			Err: errors.New("guard: token issued before the user's tokens were revoked")}
	}
	adv, err := g.cfg.Store.Settings().Advanced(ctx)
	if err != nil {
		return nil, err
	}
	if user.Blocked || (adv.EmailConfirmation && !user.Confirmed) {
		return nil, &Refusal{Status: http.StatusUnauthorized, Name: "UnauthorizedError", Message: "Invalid credentials"}
	}
	role := ""
	if user.Role != nil {
		role = user.Role.Type
	}
	c := &Caller{Role: role, user: user}
	c.User = &c.user
	return c, nil
}

// Authorize asks the enforcer whether the caller may call the route pattern
// (in the catalogue's syntax, /api/posts/:id) with the method. A denial is a
// 403 Refusal, except for an anonymous caller while the public role has no
// permission at all: 401, as Strapi answers.
func (g *Guard) Authorize(caller *Caller, route, method string) error {
	allowed, err := g.cfg.Enforcer.Allow(caller.Role, route, method)
	if err != nil {
		return err
	}
	if g.cfg.Decided != nil {
		g.cfg.Decided(caller.Role, allowed)
	}
	if allowed {
		return nil
	}
	// The row that would allow it (only refusals pay for it).
	allowWith := policy.Rule{Type: "p", Values: []string{caller.Role, route, method}}.String()
	if caller.User == nil {
		// Strapi: with no permission at all, the public role does not
		// authenticate anonymous callers: 401, not 403.
		if grants, err := g.cfg.Enforcer.GrantsAnything(PublicRole); err == nil && !grants {
			return &Refusal{Status: http.StatusUnauthorized, Name: "UnauthorizedError", Message: "Missing or invalid credentials", AllowWith: allowWith}
		}
	}
	r := &Refusal{Status: http.StatusForbidden, Name: "ForbiddenError", Message: "Forbidden", AllowWith: allowWith}
	if g.cfg.ExplainDenials {
		r.DeniedBy = fmt.Sprintf("role=%s; method=%s; route=%s; allow-with=%q", caller.Role, method, route, allowWith)
	}
	return r
}

// Check authenticates and authorizes in one call: the caller, or why not.
func (g *Guard) Check(ctx context.Context, authorization, route, method string) (*Caller, error) {
	caller, err := g.Authenticate(ctx, authorization)
	if err != nil {
		return nil, err
	}
	if err := g.Authorize(caller, route, method); err != nil {
		return nil, err
	}
	return caller, nil
}

// Public opts routes out of authentication and authorization: they are
// served to anyone, whatever the policy says, and no token is read (a bad
// token is not refused). It is the only way to serve a route without a
// decision; use it for health checks and static files, never for an API.
// Each pattern is "METHOD ROUTE" in either syntax: Gin's (GET /files/*path)
// or net/http's (GET /files/{path...}).
func (g *Guard) Public(patterns ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range patterns {
		method, route := Route(p)
		g.public[routeKey{method, route}] = true
	}
}

// IsPublic reports whether the route was opted out with Public.
func (g *Guard) IsPublic(method, route string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.public[routeKey{method, route}]
}

// BearerToken extracts the token of "Authorization: Bearer <t>": the scheme
// is case-insensitive and there must be exactly two parts, else there is no
// token (Strapi's getToken).
func BearerToken(header string) (string, bool) {
	// The usual "Bearer <t>" without allocating; anything else is split.
	if len(header) > len("bearer ") && strings.EqualFold(header[:len("bearer ")], "bearer ") {
		if t := header[len("bearer "):]; !mayHaveSpace(t) {
			return t, true
		}
	}
	parts := strings.Fields(header)
	if len(parts) != 2 || !strings.EqualFold(parts[0], "bearer") {
		return "", false
	}
	return parts[1], true
}

// mayHaveSpace reports whether s has an ASCII space or any non-ASCII byte
// (which may be Unicode space, as strings.Fields sees it).
func mayHaveSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf, c == ' ', c >= '\t' && c <= '\r':
			return true
		}
	}
	return false
}

// ContextKey is the key under which a Caller is kept in a Gin context's keys
// (gin.Context.Set); User and Role find it there and in request contexts.
// It is a plain string because a Gin context reads only string keys from its
// keys when used as a context.Context.
const ContextKey = "github.com/gatehouse/gatehouse/guard.Caller"

type callerKey struct{}

// WithCaller returns a copy of ctx holding the caller.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerOf returns the caller a guard stored in ctx: a request's context
// (net/http middleware) or a *gin.Context (guard/ginguard).
func CallerOf(ctx context.Context) (*Caller, bool) {
	if c, ok := ctx.Value(callerKey{}).(*Caller); ok && c != nil {
		return c, true
	}
	c, ok := ctx.Value(ContextKey).(*Caller)
	return c, ok && c != nil
}

// User returns the signed-in user of the request, if any: pass the
// request's context (r.Context()) or the *gin.Context.
func User(ctx context.Context) (*store.User, bool) {
	c, ok := CallerOf(ctx)
	if !ok || c.User == nil {
		return nil, false
	}
	return c.User, true
}

// Role returns the role type the request was authorized as ("public"
// without a token; "" when no guard ran).
func Role(ctx context.Context) string {
	if c, ok := CallerOf(ctx); ok {
		return c.Role
	}
	return ""
}

// FollowChanges keeps the guard's decisions current with the policy,
// settings and users that other processes sharing the database change (a
// Gatehouse server's admin page, the CLI, SQL typed by hand, another
// instance, a plain Casbin enforcer): every o.Every it reloads what the
// stored revisions say moved, and with o.Notices (a *cluster.Cluster, for
// Redis) it announces this process's changes and applies the others' at
// once. It runs until ctx is done or stop is called. See package follow.
func (g *Guard) FollowChanges(ctx context.Context, o follow.Options) (stop func(), err error) {
	return follow.Changes(ctx, follow.Targets{Policy: g.cfg.Enforcer, Settings: g.cfg.Store.Settings(), Users: g.cfg.Store}, o)
}
