package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/gateway"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
)

// The protected app's functions (Config.Functions, ROUTES_FILE):
//   - they join the catalogue (Catalog), so the roles API, the admin page's
//     permission grid, policy checks and explain know them;
//   - GET /api/authz/verify answers a proxy's forward-auth subrequest about
//     the original request it names (verify);
//   - in gateway mode (Config.Gateway) a request no Gatehouse route matches
//     is matched against them and, once authenticated and authorized,
//     proxied to the function's upstream (proxyFunction); matching none
//     is a 404 that never reaches an upstream.
//
// Both decide the same way (decideFunction): the path is canonicalised
// (gateway.Canonical refuses every ambiguous spelling with 400), matched
// (gateway.Table.Match), then the caller is authenticated (bearer token, or
// in refresh mode the refresh cookie) and authorized on (role, the
// function's route pattern, its method), deny unless the policy grants it.

// VerifyRoute is the forward-auth endpoint.
const VerifyRoute = "/api/authz/verify"

// The forward-auth request headers: Traefik and Caddy send
// X-Forwarded-Method and X-Forwarded-Uri; nginx's auth_request is given
// X-Original-Method and X-Original-URI by its configuration.
const (
	headerForwardedMethod = "X-Forwarded-Method"
	headerForwardedURI    = "X-Forwarded-Uri"
	headerOriginalMethod  = "X-Original-Method"
	headerOriginalURI     = "X-Original-URI"
)

// DefaultForwardAuthProxies are the peers whose forward-auth headers are
// believed when Config.ForwardAuthProxies is nil: this machine.
var DefaultForwardAuthProxies = []string{"127.0.0.0/8", "::1"}

var (
	errUntrustedForwardAuth = &Error{Status: http.StatusForbidden, Name: "ForbiddenError",
		Message: "Forward-auth requests are only accepted from FORWARD_AUTH_PROXIES"}
	errNoForwardedRequest = ValidationError("Forward-auth needs X-Forwarded-Method and X-Forwarded-Uri (or X-Original-Method and X-Original-URI)", nil)
)

// functionRouteKey holds, on a request matched to a function, the
// function's route pattern: what metrics and the access log name it by.
const functionRouteKey = "gatehouse.functionRoute"

// ginContextKey carries the Gin context to the proxy's error handler.
type ginContextKey struct{}

// functionsTable is the current functions file (nil without one).
func (s *Server) functionsTable() *gateway.Table { return s.cfg.Functions.Table() }

// verify is GET /api/authz/verify: 200 with the identity headers when the
// caller may make the original request, else 401 or 403, 404 when no
// function matches, 400 for an ambiguous path, all in the error envelope.
// The route itself is public (nothing to grant): the decision is about the
// request it names.
func (s *Server) verify(c *gin.Context) error {
	if !peerIn(c, s.forwardAuthPeers) {
		return errUntrustedForwardAuth
	}
	method, uri, err := forwardedRequest(c.Request.Header)
	if err != nil {
		return err
	}
	path, _, _ := strings.Cut(uri, "?")
	path, _, _ = strings.Cut(path, "#")
	fn, _, id, err := s.decideFunction(c, method, path)
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	id.Set(c.Writer.Header(), fn)
	c.Status(http.StatusOK)
	return nil
}

// forwardedRequest reads the original method and URI: X-Forwarded-* or
// X-Original-*; both pairs, when they disagree, are refused.
func forwardedRequest(h http.Header) (method, uri string, err error) {
	fm, fu := h.Get(headerForwardedMethod), h.Get(headerForwardedURI)
	om, ou := h.Get(headerOriginalMethod), h.Get(headerOriginalURI)
	switch {
	case fm != "" && fu != "" && om == "" && ou == "":
		method, uri = fm, fu
	case om != "" && ou != "" && fm == "" && fu == "":
		method, uri = om, ou
	case fm != "" && fm == om && fu != "" && fu == ou:
		method, uri = fm, fu
	case fm != "" || fu != "" || om != "" || ou != "":
		return "", "", ValidationError("Forward-auth headers disagree or are incomplete", nil)
	default:
		return "", "", errNoForwardedRequest
	}
	return method, uri, nil
}

// proxyFunction serves, in gateway mode, a request no Gatehouse route
// matched: matched, decided and proxied to its function's upstream.
func (s *Server) proxyFunction(c *gin.Context) {
	fn, canonical, id, err := s.decideFunction(c, c.Request.Method, c.Request.URL.EscapedPath())
	if err != nil {
		s.refuse(c, err)
		return
	}
	limit := fn.MaxBody
	if limit == 0 {
		limit = s.cfg.GatewayMaxBody
	}
	if c.Request.ContentLength > limit {
		s.refuse(c, errPayloadTooLarge)
		return
	}
	if c.Request.Body != nil && c.Request.Body != http.NoBody {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	}
	r := c.Request.WithContext(context.WithValue(c.Request.Context(), ginContextKey{}, c))
	s.proxy.Serve(c.Writer, r, &gateway.Forward{
		Function: fn, Canonical: canonical, Identity: id, TrustedPeer: s.fromTrustedProxy(c),
		DropAuthorization: !fn.PassAuthorization && carriesBearer(c.Request.Header),
		DropCookies:       s.ownCookies(),
		BodyTimeout:       s.cfg.GatewayBodyTimeout,
	})
}

// carriesBearer reports whether a request's Authorization is a bearer
// token: Gatehouse's tokens are, and even for a public function (whose
// token is not read) it may be one, so it is not passed on unless the
// function says so. Other schemes (Basic) are the app's own.
func carriesBearer(h http.Header) bool {
	_, bearer := guard.BearerToken(h.Get("Authorization"))
	return bearer
}

// ownCookies are the names of Gatehouse's own cookies: the refresh cookie
// (as the session settings name it now) and the OAuth sign-in cookies.
// None is passed on to an upstream.
func (s *Server) ownCookies() []string {
	return []string{s.sessionSettings().Cookie.Name, stateCookie, sessionCookie}
}

// proxyError answers a request its upstream failed: 502 or 504, or 413
// when the client's streamed body passed the function's limit.
func (s *Server) proxyError(w http.ResponseWriter, r *http.Request, status int, err error) {
	c, ok := r.Context().Value(ginContextKey{}).(*gin.Context)
	if !ok {
		w.WriteHeader(status)
		return
	}
	e := &Error{Status: status, Name: "BadGatewayError", Message: "Bad Gateway", Err: err}
	switch status {
	case http.StatusGatewayTimeout:
		e.Name, e.Message = "GatewayTimeoutError", "Gateway Timeout"
	case http.StatusRequestEntityTooLarge:
		e = errPayloadTooLarge
	case http.StatusRequestTimeout:
		e = &Error{Status: status, Name: "RequestTimeoutError", Message: "Request Timeout", Err: err}
	}
	s.writeError(c, e)
}

// decideFunction finds the function a request (its method and escaped
// path) calls and decides it: the function, the canonical path, and who
// it is for; or why not.
func (s *Server) decideFunction(c *gin.Context, method, escapedPath string) (*gateway.Function, string, gateway.Identity, error) {
	var none gateway.Identity
	segments, canonical, err := gateway.Canonical(escapedPath)
	if err != nil {
		return nil, "", none, &Error{Status: http.StatusBadRequest, Name: "ValidationError", Message: "Invalid path", Err: err}
	}
	fn, err := s.functionsTable().Match(method, segments)
	switch {
	case errors.Is(err, gateway.ErrNoFunction):
		return nil, "", none, errNoRoute
	case err != nil:
		return nil, "", none, &Error{Status: http.StatusBadRequest, Name: "ValidationError", Message: "Invalid path", Err: err}
	}
	if c.FullPath() == "" {
		c.Set(functionRouteKey, fn.Route)
	}
	if fn.Public {
		return fn, canonical, none, nil
	}
	caller, err := s.caller(c, method)
	if err != nil {
		return nil, "", none, err
	}
	c.Set(guard.ContextKey, caller)
	if err := s.guard.Authorize(caller, fn.Route, fn.Method); err != nil {
		return nil, "", none, err
	}
	id := gateway.Identity{Role: caller.Role}
	if caller.User != nil {
		id.UserID = strconv.FormatUint(uint64(caller.User.ID), 10)
	}
	if id.Token, err = s.upstreamToken(id, fn); err != nil {
		return nil, "", none, err
	}
	return fn, canonical, id, nil
}

// UpstreamTokenTTL is how long an X-Gatehouse-Token is valid: one request's
// way to the upstream.
const UpstreamTokenTTL = time.Minute

// upstreamToken signs a decision for the upstream (Config.UpstreamTokenSecret;
// "" without one): sub is the user id (absent for an anonymous caller),
// role the role type, fn the function, aud "upstream", a minute of life.
func (s *Server) upstreamToken(id gateway.Identity, fn *gateway.Function) (string, error) {
	if len(s.cfg.UpstreamTokenSecret) == 0 {
		return "", nil
	}
	now := s.now()
	claims := jwt.MapClaims{"iss": "gatehouse", "aud": "upstream", "role": id.Role, "fn": fn.Name,
		"iat": now.Unix(), "exp": now.Add(UpstreamTokenTTL).Unix()}
	if id.UserID != "" {
		claims["sub"] = id.UserID
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.cfg.UpstreamTokenSecret)
	if err != nil {
		return "", errInternal("handlers: sign the upstream token: %w", err)
	}
	return token, nil
}

// caller authenticates a request (method: the original request's) for a
// function: its bearer token; without one, in refresh mode, its refresh
// cookie (a browser session: the cookie is read, never rotated; an unsafe
// method must come from an allowed origin, checkOrigin strict, whatever the
// cookie's SameSite); else the public role.
func (s *Server) caller(c *gin.Context, method string) (*guard.Caller, error) {
	authorization := c.GetHeader("Authorization")
	if _, bearer := guard.BearerToken(authorization); bearer || !s.refreshMode() {
		return s.guard.Authenticate(ctx(c), authorization)
	}
	token, err := c.Cookie(s.sessionSettings().Cookie.Name)
	if err != nil || token == "" {
		return s.guard.Authenticate(ctx(c), "")
	}
	sess, err := s.store.Sessions().Active(ctx(c), store.HashToken(token), s.now())
	if errors.Is(err, store.ErrInvalidRefreshToken) || errors.Is(err, store.ErrNotFound) {
		return nil, &guard.Refusal{Status: http.StatusUnauthorized, Name: "UnauthorizedError", Message: "Missing or invalid credentials", Err: err}
	}
	if err != nil {
		return nil, err
	}
	if !safeMethod(method) {
		if err := s.checkOrigin(c, true); err != nil {
			return nil, err
		}
	}
	return s.guard.AuthenticateUser(ctx(c), sess.UserID, sess.IssuedAt)
}

// safeMethod reports whether a method only reads (RFC 9110 §9.2.1), which
// a cross-site request may make.
func safeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// parseForwardAuthProxies reads Config.ForwardAuthProxies (nil: loopback).
func parseForwardAuthProxies(list []string) ([]netip.Prefix, error) {
	if list == nil {
		list = DefaultForwardAuthProxies
	}
	return parseTrustedProxies(list)
}
