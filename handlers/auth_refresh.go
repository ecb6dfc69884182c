package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Refresh mode (spec §2.14, Strapi v5's jwtManagement: 'refresh'), opt-in
// with Config.JWTManagement = "refresh":
//   - every sign-in (login, register, the OAuth finish, a password reset or
//     change) opens a session and answers {jwt, refreshToken, user}, or
//     {jwt, user} with the refresh token in an HttpOnly cookie when the
//     request has x-strapi-refresh-cookie: httpOnly or Sessions.HTTPOnly is
//     set. The access token (jwt) lives AccessTokenLifespan and carries the
//     session id;
//   - POST /api/auth/refresh rotates the refresh token; POST
//     /api/auth/logout, GET /api/auth/sessions and DELETE
//     /api/auth/sessions/:sessionId end and list sessions.
//
// In legacy mode (the default) those four routes answer 404 Not Found, as
// Strapi's do, after the usual authentication and permission checks.
//
// Gatehouse's changes to Strapi:
//   - a refresh token is 32 random bytes, not a JWT, and only its SHA-256
//     hash is stored (store.Session);
//   - presenting a refresh token that was already rotated answers 401 and
//     revokes its whole session, the successor token included: two parties
//     held tokens of one session, one of them a thief. A client must
//     therefore not refresh one token twice concurrently;
//   - a refresh is refused for a blocked or deleted user, an unconfirmed
//     one while confirmation is required, and a token issued before the
//     user's password changed (tokens_valid_after, which also covers an
//     admin's password change through PUT /api/users/:id);
//   - the session id stays the same across refreshes (Strapi gives each
//     rotation a new one);
//   - register and the password endpoints deliver the refresh token like
//     login, in the cookie when it applies (Strapi always puts it in their
//     JSON);
//   - the cookie is not signed (Strapi's Koa adds a <name>.sig cookie): the
//     token is unguessable and is checked against its stored hash;
//   - refresh is not rate limited, as in Strapi (routes.go says why).
//
// Access tokens stay valid until they expire, a revoked session's too, as
// in Strapi: keep AccessTokenLifespan short. Refresh mode accepts only its
// own access tokens (Tokens.SessionsOnly): legacy-mode JWTs are refused, as
// Strapi refuses them.

// Sessions configures refresh mode (Strapi's sessions option). Zero
// lifespans take Strapi's defaults.
type Sessions struct {
	// AccessTokenLifespan is the access tokens' lifetime (10m when zero).
	AccessTokenLifespan time.Duration
	// MaxRefreshTokenLifespan ends a session after sign-in, however active
	// (30 days when zero).
	MaxRefreshTokenLifespan time.Duration
	// IdleRefreshTokenLifespan expires a refresh token after it was issued
	// unless used (14 days when zero).
	IdleRefreshTokenLifespan time.Duration
	// MaxPerUser caps a user's sessions: a sign-in beyond it ends the
	// user's least recently active session. Zero means no cap.
	MaxPerUser int
	// HTTPOnly always delivers the refresh token in the cookie.
	HTTPOnly bool
	Cookie   SessionCookie
}

// SessionCookie is the refresh-token cookie's attributes; it is always
// HttpOnly.
type SessionCookie struct {
	// Name is the cookie's name (strapi_up_refresh when empty).
	Name   string
	Secure bool
	// SameSite is "lax" (when empty), "strict" or "none".
	SameSite string
	// Path is the cookie's path ("/" when empty).
	Path   string
	Domain string
	// MaxAge, when positive, sets Max-Age (and Expires); zero makes a
	// browser-session cookie.
	MaxAge time.Duration
}

// jwtRefresh is Config.JWTManagement's refresh mode.
const jwtRefresh = "refresh"

// refreshCookieHeader asks for the refresh token in the cookie.
const refreshCookieHeader = "x-strapi-refresh-cookie"

var (
	errMissingRefreshToken = &Error{Status: http.StatusBadRequest, Name: "BadRequestError", Message: "Missing refresh token"}
	errBadRefreshToken     = UnauthorizedError("Invalid refresh token")
	errSessionNotFound     = NotFoundError("Session not found")
	errMissingAuth         = UnauthorizedError("Missing authentication")
	// errStaleRefreshToken: the token predates the user's password change.
	errStaleRefreshToken = errors.New("handlers: refresh token issued before the password changed")
)

func (s *Server) refreshMode() bool { return s.cfg.JWTManagement == jwtRefresh }

// sessionSettings returns Config.Sessions with Strapi's defaults filled in.
func (s *Server) sessionSettings() Sessions {
	c := s.cfg.Sessions
	if c.AccessTokenLifespan <= 0 {
		c.AccessTokenLifespan = 10 * time.Minute
	}
	if c.MaxRefreshTokenLifespan <= 0 {
		c.MaxRefreshTokenLifespan = 30 * 24 * time.Hour
	}
	if c.IdleRefreshTokenLifespan <= 0 {
		c.IdleRefreshTokenLifespan = 14 * 24 * time.Hour
	}
	if c.Cookie.Name == "" {
		c.Cookie.Name = "strapi_up_refresh"
	}
	if c.Cookie.Path == "" {
		c.Cookie.Path = "/"
	}
	return c
}

// maxDeviceIDLength is the deviceId column's size.
const maxDeviceIDLength = 255

// deviceIDOf reads body.deviceId as Strapi does: a non-empty string, else
// none. One longer than the column holds is refused.
func deviceIDOf(b body) (string, error) {
	var v validator
	id, present := v.str(b, "deviceId")
	if !present || v.err() != nil {
		return "", nil
	}
	if len(id) > maxDeviceIDLength {
		v.add("deviceId", "deviceId must be at most 255 characters", nil)
		return "", v.err()
	}
	return id, nil
}

// startSession answers a sign-in in refresh mode: a new session for the
// user (device from body.deviceId, else a random one), an access token for
// it, and the refresh token in the JSON or the cookie.
func (s *Server) startSession(c *gin.Context, user store.User, b body) error {
	if s.cookieDelivery(c) {
		if err := s.checkCookieOrigin(c); err != nil {
			return err
		}
	}
	deviceID, err := deviceIDOf(b)
	if err != nil {
		return err
	}
	if deviceID == "" {
		deviceID = uuid.NewString()
	}
	cfg := s.sessionSettings()
	token, hash, err := store.NewToken()
	if err != nil {
		return err
	}
	now := s.now().UTC()
	sess := store.Session{
		UserID: user.ID, TokenHash: hash, DeviceID: deviceID, DeviceName: deviceName(c.GetHeader("User-Agent")),
		LoginAt: now, IssuedAt: now, ExpiresAt: now.Add(cfg.IdleRefreshTokenLifespan), AbsoluteExpiresAt: now.Add(cfg.MaxRefreshTokenLifespan),
	}
	if err := s.store.Sessions().Create(ctx(c), &sess); err != nil {
		return err
	}
	if _, err := s.store.Sessions().Cap(ctx(c), user.ID, cfg.MaxPerUser); err != nil {
		return err
	}
	access, err := s.issueAccessToken(user.ID, sess.SessionID)
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	if s.cookieDelivery(c) {
		s.setRefreshCookie(c, token)
		return writeJSON(c, http.StatusOK, authResponse{JWT: access, User: userJSON(user, false)})
	}
	return writeJSON(c, http.StatusOK, sessionAuthResponse{JWT: access, RefreshToken: token, User: userJSON(user, false)})
}

// sessionAuthResponse is {jwt, refreshToken, user}.
type sessionAuthResponse struct {
	JWT          string `json:"jwt"`
	RefreshToken string `json:"refreshToken"`
	User         any    `json:"user"`
}

// refreshResponse is {jwt, refreshToken?}.
type refreshResponse struct {
	JWT          string `json:"jwt"`
	RefreshToken string `json:"refreshToken,omitempty"`
}

// issueAccessToken signs a refresh-mode access token: HS256 with the
// secret, {id, userId, sessionId, type: "access", iat, exp}. id is what the
// authentication middleware reads; userId (a string), sessionId and type
// are Strapi's refresh-mode claims.
func (s *Server) issueAccessToken(userID uint, sessionID string) (string, error) {
	now := s.now()
	claims := jwt.MapClaims{
		"id": userID, "userId": strconv.FormatUint(uint64(userID), 10), "sessionId": sessionID, "type": "access",
		"iat": now.Unix(), "exp": now.Add(s.sessionSettings().AccessTokenLifespan).Unix(),
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.cfg.Secret)
	if err != nil {
		return "", errInternal("handlers: sign access token: %w", err)
	}
	return signed, nil
}

// currentSessionID is the session id of the request's access token ("" for
// none). The middleware has verified the token; it is
// verified again here to read the claim.
func (s *Server) currentSessionID(c *gin.Context) string {
	token, ok := guard.BearerToken(c.GetHeader("Authorization"))
	if !ok {
		return ""
	}
	var claims struct {
		SessionID string `json:"sessionId"`
		Type      string `json:"type"`
		jwt.RegisteredClaims
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.now))
	if _, err := parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return s.cfg.Secret, nil }); err != nil || claims.Type != "access" {
		return ""
	}
	return claims.SessionID
}

// cookieDelivery reports whether the refresh token goes in the cookie.
func (s *Server) cookieDelivery(c *gin.Context) bool {
	return s.cfg.Sessions.HTTPOnly || c.GetHeader(refreshCookieHeader) == "httpOnly"
}

// refreshCookie builds the cookie with the configured attributes.
func (s *Server) refreshCookie(value string) *http.Cookie {
	cfg := s.sessionSettings().Cookie
	cookie := &http.Cookie{Name: cfg.Name, Value: value, Path: cfg.Path, Domain: cfg.Domain, Secure: cfg.Secure, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	switch strings.ToLower(cfg.SameSite) {
	case "strict":
		cookie.SameSite = http.SameSiteStrictMode
	case "none":
		cookie.SameSite = http.SameSiteNoneMode
	}
	if cfg.MaxAge > 0 {
		cookie.MaxAge = int(cfg.MaxAge / time.Second)
		cookie.Expires = s.now().Add(cfg.MaxAge).UTC()
	}
	return cookie
}

func (s *Server) setRefreshCookie(c *gin.Context, token string) {
	http.SetCookie(c.Writer, s.refreshCookie(token))
}

// clearRefreshCookie expires the cookie (Expires in 1970, as Strapi).
func (s *Server) clearRefreshCookie(c *gin.Context) {
	cookie := s.refreshCookie("")
	cookie.MaxAge = -1
	cookie.Expires = time.Unix(0, 0).UTC()
	http.SetCookie(c.Writer, cookie)
}

// hasRefreshCookie reports whether the request carries the refresh cookie.
func (s *Server) hasRefreshCookie(c *gin.Context) bool {
	v, err := c.Cookie(s.sessionSettings().Cookie.Name)
	return err == nil && v != ""
}

// presentedRefreshToken is the cookie's refresh token, else body.refreshToken
// when it is a string.
func (s *Server) presentedRefreshToken(c *gin.Context, b body) string {
	if v, err := c.Cookie(s.sessionSettings().Cookie.Name); err == nil && v != "" {
		return v
	}
	var v validator
	token, _ := v.str(b, "refreshToken")
	return token
}

// refresh is POST /api/auth/refresh: the refresh token (cookie, else
// body.refreshToken) is rotated; the answer is {jwt, refreshToken}, or
// {jwt} with the new token in the cookie.
func (s *Server) refresh(c *gin.Context) error {
	if !s.refreshMode() {
		return errNoRoute
	}
	b, err := readBody(c)
	if err != nil {
		return err
	}
	if s.cookieDelivery(c) || s.hasRefreshCookie(c) {
		if err := s.checkCookieOrigin(c); err != nil {
			return err
		}
	}
	token := s.presentedRefreshToken(c, b)
	if token == "" {
		return errMissingRefreshToken
	}
	next, nextHash, err := store.NewToken()
	if err != nil {
		return err
	}
	adv, err := s.store.Settings().Advanced(ctx(c))
	if err != nil {
		return err
	}
	var stale *store.Session
	sess, err := s.store.Sessions().Rotate(ctx(c), store.HashToken(token), nextHash, s.now(), s.sessionSettings().IdleRefreshTokenLifespan,
		func(old store.Session) error {
			user, err := s.store.Users().ByID(ctx(c), old.UserID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				return errBadRefreshToken
			case err != nil:
				return err
			case user.Blocked || (adv.EmailConfirmation && !user.Confirmed):
				return errBadRefreshToken
			case old.IssuedAt.Before(user.TokensValidAfter):
				stale = &old
				return errStaleRefreshToken
			}
			return nil
		})
	switch {
	case errors.Is(err, store.ErrRefreshTokenReused):
		s.log.WarnContext(ctx(c), "refresh token reused: its session is revoked", "ip", c.ClientIP())
		return errBadRefreshToken
	case errors.Is(err, store.ErrInvalidRefreshToken):
		return errBadRefreshToken
	case errors.Is(err, errStaleRefreshToken):
		// Revoked by a password change made elsewhere: end the session.
		if _, err := s.store.Sessions().Revoke(ctx(c), stale.UserID, stale.SessionID, s.now()); err != nil {
			s.log.ErrorContext(ctx(c), "refresh: revoke a session older than the password", "err", err)
		}
		return errBadRefreshToken
	case err != nil:
		return err
	}
	access, err := s.issueAccessToken(sess.UserID, sess.SessionID)
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	if s.cookieDelivery(c) {
		s.setRefreshCookie(c, next)
		return writeJSON(c, http.StatusOK, refreshResponse{JWT: access})
	}
	return writeJSON(c, http.StatusOK, refreshResponse{JWT: access, RefreshToken: next})
}

// logout is POST /api/auth/logout {scope?, deviceId?, refreshToken?}:
// scope "all" ends every session of the caller, deviceId that device's;
// otherwise the session of the refresh token (cookie or body), else the
// access token's, else all of them. Failures are logged; the answer is
// always {ok:true}, and the cookie is cleared when cookie delivery applies.
func (s *Server) logout(c *gin.Context) error {
	if !s.refreshMode() {
		return errNoRoute
	}
	user, ok := CurrentUser(c)
	if !ok {
		return errMissingAuth
	}
	b, err := readBody(c)
	if err != nil {
		return err
	}
	if s.cookieDelivery(c) || s.hasRefreshCookie(c) {
		if err := s.checkCookieOrigin(c); err != nil {
			return err
		}
	}
	if err := s.endSessions(c, user.ID, b); err != nil {
		s.log.ErrorContext(ctx(c), "logout failed", "user", user.ID, "err", err)
	}
	if s.cookieDelivery(c) {
		s.clearRefreshCookie(c)
	}
	return writeJSON(c, http.StatusOK, okAnswer)
}

// endSessions revokes what a logout names (see logout).
func (s *Server) endSessions(c *gin.Context, userID uint, b body) error {
	var v validator
	scope, _ := v.str(b, "scope")
	if scope == "all" {
		_, err := s.store.Sessions().RevokeAll(ctx(c), userID)
		return err
	}
	if deviceID, _ := deviceIDOf(b); deviceID != "" {
		_, err := s.store.Sessions().RevokeDevice(ctx(c), userID, deviceID)
		return err
	}
	current := s.currentSessionID(c)
	if token := s.presentedRefreshToken(c, b); token != "" {
		sess, err := s.store.Sessions().Active(ctx(c), store.HashToken(token), s.now())
		if err == nil && sess.UserID == userID {
			current = sess.SessionID
		}
	}
	if current != "" {
		_, err := s.store.Sessions().Revoke(ctx(c), userID, current, s.now())
		return err
	}
	_, err := s.store.Sessions().RevokeAll(ctx(c), userID)
	return err
}

// sessionView is a session as GET /api/auth/sessions shows it: no ip, no
// user id, no token.
type sessionView struct {
	ID           string    `json:"id"`
	DeviceID     string    `json:"deviceId"`
	DeviceName   string    `json:"deviceName,omitempty"`
	Current      bool      `json:"current"`
	LoginAt      timestamp `json:"loginAt"`
	LastActiveAt timestamp `json:"lastActiveAt"`
}

// getSessions is GET /api/auth/sessions: the caller's live sessions, the
// current one (the access token's) first, then the most recently active.
func (s *Server) getSessions(c *gin.Context) error {
	if !s.refreshMode() {
		return errNoRoute
	}
	user, ok := CurrentUser(c)
	if !ok {
		return errMissingAuth
	}
	rows, err := s.store.Sessions().List(ctx(c), user.ID, s.now())
	if err != nil {
		return err
	}
	current := s.currentSessionID(c)
	data := make([]sessionView, 0, len(rows))
	for _, r := range rows {
		v := sessionView{ID: r.SessionID, DeviceID: r.DeviceID, DeviceName: r.DeviceName, Current: current != "" && r.SessionID == current,
			LoginAt: timestamp(r.LoginAt), LastActiveAt: timestamp(r.IssuedAt)}
		if v.Current {
			data = append([]sessionView{v}, data...)
		} else {
			data = append(data, v)
		}
	}
	c.Header("Cache-Control", "no-store")
	return writeJSON(c, http.StatusOK, gin.H{"data": data})
}

// revokeSession is DELETE /api/auth/sessions/:sessionId: {data:{}}, or 404
// "Session not found" for an unknown session or another user's.
func (s *Server) revokeSession(c *gin.Context) error {
	if !s.refreshMode() {
		return errNoRoute
	}
	user, ok := CurrentUser(c)
	if !ok {
		return errMissingAuth
	}
	revoked, err := s.store.Sessions().Revoke(ctx(c), user.ID, c.Param("sessionId"), s.now())
	if err != nil {
		return err
	}
	if !revoked {
		return errSessionNotFound
	}
	return writeJSON(c, http.StatusOK, gin.H{"data": gin.H{}})
}

// respondWithDevice answers the OAuth finish as respondWithToken, taking
// body.deviceId in refresh mode, as Strapi reads it on that GET. A body that
// is not a JSON object is ignored there.
func (s *Server) respondWithDevice(c *gin.Context, user store.User) error {
	if !s.refreshMode() {
		return s.respondWithToken(c, user)
	}
	b, err := readBody(c)
	if err != nil {
		b = nil
	}
	return s.startSession(c, user, b)
}

// respondAfterPasswordChange answers a password reset or change: every
// session of the user ends (GHSA-hvp3-26wx-g2w4: always, not only when a
// deviceId is sent), then respondWithToken, which in refresh mode opens a
// new session. Sessions from an earlier refresh-mode run end in legacy mode
// too.
func (s *Server) respondAfterPasswordChange(c *gin.Context, user store.User) error {
	if _, err := s.store.Sessions().RevokeAll(ctx(c), user.ID); err != nil {
		return err
	}
	return s.respondWithToken(c, user)
}

// deviceName names the device of a User-Agent as "<browser> on <system>"
// (e.g. "Chrome on macOS"), or what of it is known; "" when nothing is.
func deviceName(ua string) string {
	if len(ua) > 512 {
		ua = ua[:512]
	}
	has := func(subs ...string) bool {
		for _, sub := range subs {
			if strings.Contains(ua, sub) {
				return true
			}
		}
		return false
	}
	var browser string
	switch {
	case has("Edg/", "EdgA/", "EdgiOS/"):
		browser = "Edge"
	case has("OPR/", "Opera"):
		browser = "Opera"
	case has("SamsungBrowser/"):
		browser = "Samsung Internet"
	case has("Firefox/", "FxiOS/"):
		browser = "Firefox"
	case has("Chrome/", "CriOS/", "Chromium/"):
		browser = "Chrome"
	case has("Safari/") && has("Version/"):
		browser = "Safari"
	}
	var system string
	switch {
	case has("iPhone", "iPad", "iPod"):
		system = "iOS"
	case has("Android"):
		system = "Android"
	case has("CrOS"):
		system = "ChromeOS"
	case has("Windows"):
		system = "Windows"
	case has("Macintosh", "Mac OS X"):
		system = "macOS"
	case has("Linux"):
		system = "Linux"
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	}
	return system
}
