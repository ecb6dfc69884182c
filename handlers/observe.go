package handlers

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/gatehouse/gatehouse/guard"
	"github.com/gin-gonic/gin"
)

// Metrics receives what the HTTP layer measures (metrics.Metrics is one);
// nil measures nothing. Its methods run on the request path: they must be
// quick and safe for concurrent use.
type Metrics interface {
	// Request is one answered request: the route pattern ("" when no route
	// matched), the method, the status and the time taken.
	Request(route, method string, status int, elapsed time.Duration)
	// Decision is one authorization decision for the role.
	Decision(role string, allowed bool)
	// Login is one sign-in attempt: the provider ("local" for
	// /api/auth/local) and "ok" or the reason it failed (loginResult).
	Login(provider, result string)
	// RateLimited is one request the rate limiter refused.
	RateLimited(route string)
}

// RequestIDHeader carries the request id, in answers and, from a trusted
// proxy, in requests.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds a request id accepted from a proxy.
const maxRequestIDLen = 128

// deniedByKey holds, on a request the policy refused, the row that would
// have allowed it.
const deniedByKey = "gatehouse.deniedBy"

// observe wraps every request: it gives it a request id (echoed in
// X-Request-Id), then counts it in the metrics and writes the access log
// line, when those are on.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	id := s.requestID(c)
	c.Writer.Header()[RequestIDHeader] = []string{id}
	c.Next()
	elapsed := time.Since(start)
	status := c.Writer.Status()
	if s.metrics != nil {
		s.metrics.Request(routeOf(c), c.Request.Method, status, elapsed)
	}
	if s.cfg.AccessLog {
		s.logRequest(c, id, status, elapsed)
	}
}

// routeOf is the route a request is counted and logged under: the matched
// route pattern, or in gateway mode the function's (functionRouteKey).
func routeOf(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return c.GetString(functionRouteKey)
}

// logRequest writes the access log line at info: never the query string
// (it may carry codes or tokens).
func (s *Server) logRequest(c *gin.Context, id string, status int, elapsed time.Duration) {
	ctx := c.Request.Context()
	if !s.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := make([]slog.Attr, 0, 11)
	attrs = append(attrs,
		slog.String("requestId", id),
		slog.String("method", c.Request.Method),
		slog.String("route", routeOf(c)),
		slog.String("path", c.Request.URL.Path),
		slog.Int("status", status),
		slog.Float64("durationMs", float64(elapsed.Microseconds())/1000),
		slog.String("ip", c.ClientIP()),
	)
	if u, ok := CurrentUser(c); ok {
		attrs = append(attrs, slog.Uint64("userId", uint64(u.ID)))
	}
	if role := CurrentRole(c); role != "" {
		attrs = append(attrs, slog.String("role", role))
	}
	if rule := c.GetString(deniedByKey); rule != "" {
		attrs = append(attrs, slog.String("deniedBy", rule))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
}

// requestID is the X-Request-Id of a request from a trusted proxy when it is
// well formed, else a new random one (32 hex digits).
func (s *Server) requestID(c *gin.Context) string {
	if in := c.Request.Header.Get(RequestIDHeader); in != "" && validRequestID(in) && s.fromTrustedProxy(c) {
		return in
	}
	// Unique, not secret: math/rand/v2's generator (ChaCha8, seeded by
	// the runtime) costs nanoseconds where crypto/rand costs a system call.
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// fromTrustedProxy reports whether the request's peer is one of
// TrustedProxies.
func (s *Server) fromTrustedProxy(c *gin.Context) bool { return peerIn(c, s.trusted) }

// peerIn reports whether the request's peer (its connection's address, never
// a header) is in one of the prefixes.
func peerIn(c *gin.Context, prefixes []netip.Prefix) bool {
	if len(prefixes) == 0 {
		return false
	}
	addr, err := netip.ParseAddr(c.RemoteIP())
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// validRequestID accepts 1–128 characters of letters, digits and -_.:/+=@
// (UUIDs, ULIDs, hex and base64 ids, trace ids); anything else would be
// replaced.
func validRequestID(id string) bool {
	if len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch ch := id[i]; {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		case ch == '-', ch == '_', ch == '.', ch == ':', ch == '/', ch == '+', ch == '=', ch == '@':
		default:
			return false
		}
	}
	return id != ""
}

// parseTrustedProxies reads TrustedProxies (IPs or CIDRs) as prefixes.
func parseTrustedProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, p := range list {
		if addr, err := netip.ParseAddr(p); err == nil {
			addr = addr.Unmap()
			out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, err
		}
		out = append(out, prefix.Masked())
	}
	return out, nil
}

// refuse answers a request the guard refused or could not decide; a denial
// by the policy also leaves the row that would allow it for the access log.
func (s *Server) refuse(c *gin.Context, err error) {
	if r, ok := errors.AsType[*guard.Refusal](err); ok && r.AllowWith != "" {
		c.Set(deniedByKey, "no rule allows it; allow with: "+r.AllowWith)
	}
	s.writeError(c, err)
}
