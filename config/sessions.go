package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sessions is refresh mode's settings, named after Strapi's
// users-permissions sessions option.
type Sessions struct {
	// AccessTokenLifespan, MaxRefreshTokenLifespan and
	// IdleRefreshTokenLifespan are Strapi's sessions.accessTokenLifespan,
	// maxRefreshTokenLifespan and idleRefreshTokenLifespan.
	AccessTokenLifespan      time.Duration
	MaxRefreshTokenLifespan  time.Duration
	IdleRefreshTokenLifespan time.Duration
	// MaxPerUser caps a user's sessions: a new sign-in beyond it ends the
	// least recently active one. Zero means no cap.
	MaxPerUser int
	// HTTPOnly is sessions.httpOnly: always deliver the refresh token in a
	// cookie.
	HTTPOnly bool
	// The cookie's attributes (sessions.cookie.*). CookieSecure defaults to
	// GATEHOUSE_ENV=production; CookieMaxAge 0 means no Max-Age.
	CookieName     string
	CookieSecure   bool
	CookieSameSite string
	CookiePath     string
	CookieDomain   string
	CookieMaxAge   time.Duration
}

// The JWT_MANAGEMENT values.
const (
	JWTLegacy  = "legacy-support"
	JWTRefresh = "refresh"
)

// parseSessions reads JWT_MANAGEMENT and the SESSIONS_* variables into c.
func parseSessions(get func(string) string, c *Config) error {
	bad := func(env, why string) error {
		return fmt.Errorf("config: %s=%q: %s", env, get(env), why)
	}
	switch c.JWTManagement = get("JWT_MANAGEMENT"); c.JWTManagement {
	case JWTLegacy, JWTRefresh:
	default:
		return bad("JWT_MANAGEMENT", "want legacy-support or refresh")
	}
	s := &c.Sessions
	var err error
	for _, v := range []struct {
		env string
		to  *time.Duration
	}{
		{"SESSIONS_ACCESS_TOKEN_LIFESPAN", &s.AccessTokenLifespan},
		{"SESSIONS_MAX_REFRESH_TOKEN_LIFESPAN", &s.MaxRefreshTokenLifespan},
		{"SESSIONS_IDLE_REFRESH_TOKEN_LIFESPAN", &s.IdleRefreshTokenLifespan},
	} {
		if *v.to, err = ParseSpan(get(v.env)); err != nil || *v.to < time.Second {
			return bad(v.env, "want a time span of at least 1s with a unit, such as 10m, 12h or 14d")
		}
	}
	if s.MaxPerUser, err = strconv.Atoi(get("SESSIONS_MAX_PER_USER")); err != nil || s.MaxPerUser < 0 || s.MaxPerUser > 1000 {
		return bad("SESSIONS_MAX_PER_USER", "want a whole number from 0 (no cap) to 1000")
	}
	if s.HTTPOnly, err = strconv.ParseBool(get("SESSIONS_HTTP_ONLY")); err != nil {
		return bad("SESSIONS_HTTP_ONLY", "want true or false")
	}
	if s.CookieName = get("SESSIONS_COOKIE_NAME"); !validCookieName(s.CookieName) {
		return bad("SESSIONS_COOKIE_NAME", "want a cookie name (letters, digits and !#$%&'*+-.^_`|~)")
	}
	s.CookieSecure = c.Production
	if v := get("SESSIONS_COOKIE_SECURE"); v != "" {
		if s.CookieSecure, err = strconv.ParseBool(v); err != nil {
			return bad("SESSIONS_COOKIE_SECURE", "want true or false, or nothing for true in production only")
		}
	}
	switch s.CookieSameSite = strings.ToLower(get("SESSIONS_COOKIE_SAME_SITE")); s.CookieSameSite {
	case "lax", "strict":
	case "none":
		if !s.CookieSecure {
			return bad("SESSIONS_COOKIE_SAME_SITE", "none needs a Secure cookie (SESSIONS_COOKIE_SECURE=true): browsers refuse it otherwise")
		}
	default:
		return bad("SESSIONS_COOKIE_SAME_SITE", "want lax, strict or none")
	}
	if s.CookiePath = get("SESSIONS_COOKIE_PATH"); !strings.HasPrefix(s.CookiePath, "/") || strings.ContainsAny(s.CookiePath, ";\r\n") {
		return bad("SESSIONS_COOKIE_PATH", "want a path starting with /")
	}
	if s.CookieDomain = get("SESSIONS_COOKIE_DOMAIN"); strings.ContainsAny(s.CookieDomain, "; \t\r\n/") {
		return bad("SESSIONS_COOKIE_DOMAIN", "want a domain name such as example.com")
	}
	if v := get("SESSIONS_COOKIE_MAX_AGE"); v != "" {
		if s.CookieMaxAge, err = ParseSpan(v); err != nil || s.CookieMaxAge < time.Second {
			return bad("SESSIONS_COOKIE_MAX_AGE", "want a time span of at least 1s with a unit, such as 30d, or nothing")
		}
	}
	return nil
}

// ParseSpan reads a time span with a unit, in JWT_EXPIRES_IN's grammar
// ("10m", "12h", "14d", "2 days"). Unlike JWT_EXPIRES_IN a bare number is
// refused: Strapi gives these settings in seconds and cookies' maxAge in
// milliseconds, so a number alone would be read wrongly either way.
func ParseSpan(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" || t[len(t)-1] >= '0' && t[len(t)-1] <= '9' {
		return 0, fmt.Errorf("config: %q: want a time span with a unit, such as 10m or 14d", s)
	}
	return ParseExpiresIn(t)
}

// validCookieName reports whether name is an RFC 6265 cookie name (a token).
func validCookieName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
