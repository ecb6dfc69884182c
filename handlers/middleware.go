package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
	"github.com/ulule/limiter/v3"
)

// PublicRole is the role type of requests without a token.
const PublicRole = guard.PublicRole

// AuthenticatedRole is the type of the system role Strapi gives signed-up
// users by default; like public, it cannot be deleted.
const AuthenticatedRole = "authenticated"

// AdminRole is the type of the system role of Gatehouse's administrators
// (store.DefaultRoles). It cannot be deleted: its users would move to the
// default role, leaving nobody able to administer through the API, and
// "gatehouse admin create" needs it to make a new administrator.
const AdminRole = "admin"

// CurrentUser returns the authenticated user of the request, if any. It is
// guard.User, the one accessor handlers (Gatehouse's and an embedding app's)
// use.
func CurrentUser(c *gin.Context) (*store.User, bool) { return guard.User(c) }

// CurrentRole returns the role type the request is authorized as ("public"
// without a token).
func CurrentRole(c *gin.Context) string { return guard.Role(c) }

// recoverPanics turns a panic into a logged 500 in the error envelope.
func (s *Server) recoverPanics(c *gin.Context, recovered any) {
	s.log.ErrorContext(c.Request.Context(), "panic", "requestId", c.Writer.Header().Get(RequestIDHeader), "method", c.Request.Method, "path", c.Request.URL.Path, "panic", recovered)
	s.writeError(c, errInternal("panic: %v", recovered))
}

// limitBody refuses bodies over the limit with 413, up front when the length
// is declared, and while reading otherwise (not those gateway mode proxies).
func (s *Server) limitBody(c *gin.Context) {
	if s.proxy != nil && c.FullPath() == "" {
		// Gateway mode: the app's upstream sets its own limits; its
		// bodies stream through.
		c.Next()
		return
	}
	if c.Request.ContentLength > s.cfg.BodyLimit {
		s.writeError(c, errPayloadTooLarge)
		return
	}
	if c.Request.Body != nil && c.Request.Body != http.NoBody { // nothing to limit on bodiless requests
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.BodyLimit)
	}
	c.Next()
}

// rateLimit applies Strapi's auth-route limiter (spec §4.3) — a counter per
// canonical path and client IP, plus the lower-cased body email on the
// routes that are not identifier-less — and two budgets Strapi lacks: one
// per client IP on each sign-in route whatever the email (perIPBudget), and
// one per signed-in user on change-password. Every
// counter is counted; the request is refused when any is spent, and the
// headers describe the tightest one.
//
// Keys have a fixed size whatever the request: the path and email are
// hashed (limitKey), so a client sending a 1 MB email or path segment costs
// the store one short key.
func (s *Server) rateLimit(c *gin.Context) {
	if s.limiter == nil {
		c.Next()
		return
	}
	ip := c.ClientIP()
	canonical := canonicalPath(c.Request.URL.Path)
	type counter struct {
		limiter *limiter.Limiter
		key     string
	}
	counters := []counter{{s.limiter, limitKey("route", rateLimitPrefix(canonical, s.peekEmail(c)), ip)}}
	if perIPBudget[c.FullPath()] {
		counters = append(counters, counter{s.ipLimiter, limitKey("ip", c.FullPath(), ip)})
	}
	if u, ok := CurrentUser(c); ok && c.FullPath() == changePasswordRoute {
		counters = append(counters, counter{s.limiter, limitKey("user", strconv.FormatUint(uint64(u.ID), 10)+":"+canonical, "")})
	}
	var tightest limiter.Context
	for i, ct := range counters {
		result, err := ct.limiter.Get(ctx(c), ct.key)
		if err != nil {
			s.writeError(c, errInternal("handlers: rate limit: %w", err))
			return
		}
		if i == 0 || result.Reached && !tightest.Reached || result.Reached == tightest.Reached && result.Remaining < tightest.Remaining {
			tightest = result
		}
	}
	h := c.Writer.Header()
	h.Set("X-RateLimit-Limit", strconv.FormatInt(tightest.Limit, 10))
	h.Set("X-RateLimit-Remaining", strconv.FormatInt(tightest.Remaining, 10))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(tightest.Reset, 10))
	if tightest.Reached {
		if s.metrics != nil {
			s.metrics.RateLimited(c.FullPath())
		}
		s.writeError(c, errRateLimited)
		return
	}
	c.Next()
}

// changePasswordRoute is limited per user as well as per IP: a stolen token
// must not try passwords from many addresses.
const changePasswordRoute = "/api/auth/change-password"

// perIPBudget are the routes with a budget per client IP (RateLimit.IPMax
// per IPInterval, each route its own) whatever the body email: Strapi keys
// register, forgot-password and send-email-confirmation on the email, so
// rotating emails would otherwise make fresh counters (each register a
// bcrypt hash, each reset a mail).
var perIPBudget = map[string]bool{
	"/api/auth/local":                   true,
	"/api/auth/local/register":          true,
	"/api/auth/forgot-password":         true,
	"/api/auth/send-email-confirmation": true,
}

// limitKey is a counter's key: its kind, a 128-bit hash of what it counts
// (path and email, as long as the client likes) and the client IP, which
// Gin has parsed as an address (at most 45 bytes). It stays readable for an
// operator looking at Redis ("route:3f…|203.0.113.7") and has a fixed size.
func limitKey(kind, subject, ip string) string {
	sum := sha256.Sum256([]byte(subject))
	key := kind + ":" + hex.EncodeToString(sum[:16])
	if ip != "" {
		key += "|" + ip
	}
	return key
}

// identifierless routes never take the body email into the key
// (GHSA-7mqx-wwh4-f9fw): rotating emails must not bypass per-IP limits.
var identifierless = []string{"/auth/local", "/auth/reset-password", "/auth/change-password"}

// canonicalPath is the raw path as Strapi's prefixKey reads it: cleaned,
// lower case, without a trailing slash.
func canonicalPath(rawPath string) string {
	p := strings.ToLower(path.Clean("/" + rawPath))
	if p != "/" {
		p = strings.TrimSuffix(p, "/")
	}
	return p
}

// rateLimitPrefix builds Strapi's prefixKey from the canonical path and the
// body email. An email that is not a valid address (too long, malformed)
// counts as one identifier: such requests fail validation anyway, and a
// client must not get a fresh counter per invalid string.
func rateLimitPrefix(p, email string) string {
	if strings.Contains(p, "/connect/") {
		return "noIdentifier:" + p
	}
	for _, suffix := range identifierless {
		if strings.HasSuffix(p, suffix) {
			return "noIdentifier:" + p
		}
	}
	switch {
	case email == "":
		return "unknownIdentifier:" + p
	case !validEmail(email):
		return "invalidIdentifier:" + p
	}
	return strings.ToLower(email) + ":" + p
}

// peekEmail reads body.email when it is a non-empty string, and puts the body
// back for the handler. Oversized or malformed bodies give "".
func (s *Server) peekEmail(c *gin.Context) string {
	if c.Request.Body == nil || c.Request.Method == http.MethodGet {
		return ""
	}
	raw, err := io.ReadAll(c.Request.Body)
	c.Request.Body = readReplay{Reader: bytes.NewReader(raw), err: err}
	if err != nil {
		return ""
	}
	if len(raw) > maxPeekBody {
		// No sign-in body is this large: count it under one key per path
		// and IP without parsing it, so a flood of large bodies costs
		// little more than reading them once it is refused.
		return invalidEmail
	}
	var body struct {
		Email json.RawMessage `json:"email"`
	}
	if json.Unmarshal(raw, &body) != nil {
		return ""
	}
	if len(body.Email) > maxEmailJSON {
		// Longer than any valid address, however escaped: one key for
		// all of them (rateLimitPrefix), without decoding it.
		return invalidEmail
	}
	var email string
	if json.Unmarshal(body.Email, &email) != nil {
		return ""
	}
	return email
}

// maxEmailJSON is the longest JSON string a valid email can be: 254
// characters, each escaped as \uXXXX at worst, and the quotes.
const maxEmailJSON = 254*6 + 2

// maxPeekBody is the largest body peekEmail parses for its email.
const maxPeekBody = 16 << 10

// invalidEmail stands for an email too long to be valid.
const invalidEmail = "\x00invalid"

// readReplay replays a body already read, then reports the read error (a
// *http.MaxBytesError for oversized bodies) so the handler answers 413.
type readReplay struct {
	*bytes.Reader
	err error
}

func (r readReplay) Read(p []byte) (int, error) {
	n, err := r.Reader.Read(p)
	if err == io.EOF && r.err != nil {
		return n, r.err
	}
	return n, err
}

func (readReplay) Close() error { return nil }
