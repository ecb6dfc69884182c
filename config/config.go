// Package config describes Gatehouse's settings: every variable with its
// environment name, flag, default and meaning, and the parsing of their
// string values into a typed Config. It reads no environment itself; main
// passes the values in.
package config

import (
	"github.com/gatehouse/gatehouse/userfields"

	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Var is one setting: its environment variable, the matching flag of
// `gatehouse serve`, its default and what it does.
type Var struct {
	Env, Flag, Default, Usage string
	// Secret values are never printed.
	Secret bool
	// Kind is the type of the value, which types its flag (string when
	// unset). Parse remains the one full check of every value.
	Kind Kind
}

// Vars lists every setting, in the README's order.
var Vars = []Var{
	{Env: "HOST", Flag: "host", Default: "", Usage: "address to listen on (default: 127.0.0.1 in development, 0.0.0.0 in production)"},
	{Env: "PORT", Flag: "port", Default: "1337", Usage: "port to listen on", Kind: Int},
	{Env: "DATABASE_URL", Flag: "database-url", Default: "sqlite://./data/gatehouse.db", Usage: "sqlite://PATH, postgres://… or mysql://…", Secret: true},
	{Env: "DB_TIMEOUT", Flag: "db-timeout", Default: "2s", Usage: "longest a database statement or transaction may take (the wait for a pooled connection included); past it the request answers 503", Kind: Duration},
	{Env: "PUBLIC_URL", Flag: "public-url", Default: "", Usage: "absolute URL of this server, used in emails and OAuth redirects (default http://localhost:PORT)"},
	{Env: "JWT_SECRET", Flag: "jwt-secret", Default: "", Usage: "HS256 signing secret; required in production, generated and kept in the database in development", Secret: true},
	{Env: "JWT_EXPIRES_IN", Flag: "jwt-expires-in", Default: "30d", Usage: "token lifetime: 30d, 12h, 45m, \"2 days\" (a bare number is milliseconds)", Kind: Span},
	{Env: "JWT_MANAGEMENT", Flag: "jwt-management", Default: "legacy-support", Usage: "legacy-support (one long-lived JWT) or refresh (short access tokens, rotating refresh tokens, logout and sessions: Strapi v5's jwtManagement)"},
	{Env: "SESSIONS_ACCESS_TOKEN_LIFESPAN", Flag: "sessions-access-token-lifespan", Default: "10m", Usage: "refresh mode: lifetime of access tokens (a span with a unit: 10m, 1h)", Kind: Span},
	{Env: "SESSIONS_MAX_REFRESH_TOKEN_LIFESPAN", Flag: "sessions-max-refresh-token-lifespan", Default: "30d", Usage: "refresh mode: a session ends this long after sign-in, however active", Kind: Span},
	{Env: "SESSIONS_IDLE_REFRESH_TOKEN_LIFESPAN", Flag: "sessions-idle-refresh-token-lifespan", Default: "14d", Usage: "refresh mode: a refresh token expires this long after it was issued unless used", Kind: Span},
	{Env: "SESSIONS_MAX_PER_USER", Flag: "sessions-max-per-user", Default: "10", Usage: "refresh mode: most sessions one user keeps; a new sign-in beyond it ends the least recently active one (0: no cap)", Kind: Int},
	{Env: "SESSIONS_HTTP_ONLY", Flag: "sessions-http-only", Default: "false", Usage: "refresh mode: always deliver the refresh token in an HttpOnly cookie (else only on x-strapi-refresh-cookie: httpOnly)", Kind: Bool},
	{Env: "SESSIONS_COOKIE_NAME", Flag: "sessions-cookie-name", Default: "strapi_up_refresh", Usage: "name of the refresh-token cookie"},
	{Env: "SESSIONS_COOKIE_SECURE", Flag: "sessions-cookie-secure", Default: "", Usage: "Secure refresh-token cookie: true or false (default: true in production)", Kind: Bool},
	{Env: "SESSIONS_COOKIE_SAME_SITE", Flag: "sessions-cookie-same-site", Default: "lax", Usage: "SameSite of the refresh-token cookie: lax, strict or none (none needs Secure)"},
	{Env: "SESSIONS_COOKIE_PATH", Flag: "sessions-cookie-path", Default: "/", Usage: "Path of the refresh-token cookie"},
	{Env: "SESSIONS_COOKIE_DOMAIN", Flag: "sessions-cookie-domain", Default: "", Usage: "Domain of the refresh-token cookie (default: this host only)"},
	{Env: "SESSIONS_COOKIE_MAX_AGE", Flag: "sessions-cookie-max-age", Default: "", Usage: "Max-Age of the refresh-token cookie, a span such as 30d (default: none, a browser-session cookie)", Kind: Span},
	{Env: "GATEHOUSE_ENV", Flag: "env", Default: "development", Usage: "development or production"},
	{Env: "ADMIN_EMAIL", Flag: "admin-email", Default: "", Usage: "with ADMIN_PASSWORD, creates an admin user at first start"},
	{Env: "ADMIN_USERNAME", Flag: "admin-username", Default: "admin", Usage: "username of that admin user"},
	{Env: "ADMIN_PASSWORD", Flag: "admin-password", Default: "", Usage: "password of that admin user", Secret: true},
	{Env: "RATE_LIMIT_ENABLED", Flag: "rate-limit-enabled", Default: "true", Usage: "rate-limit the auth routes", Kind: Bool},
	{Env: "RATE_LIMIT_MAX", Flag: "rate-limit-max", Default: "10", Usage: "requests allowed per interval and key", Kind: Int},
	{Env: "RATE_LIMIT_INTERVAL", Flag: "rate-limit-interval", Default: "1m", Usage: "rate-limit window (Go duration)", Kind: Duration},
	{Env: "RATE_LIMIT_IP_MAX", Flag: "rate-limit-ip-max", Default: "", Usage: "requests allowed per RATE_LIMIT_IP_INTERVAL from one client IP to each of login, register, forgot-password and send-email-confirmation, whatever the email (default: RATE_LIMIT_MAX)", Kind: Int},
	{Env: "RATE_LIMIT_IP_INTERVAL", Flag: "rate-limit-ip-interval", Default: "", Usage: "window of the per-IP budget, a Go duration (default: RATE_LIMIT_INTERVAL)", Kind: Duration},
	{Env: "TRUSTED_PROXIES", Flag: "trusted-proxies", Default: "", Usage: "comma-separated IPs/CIDRs whose X-Forwarded-For is trusted (none by default)"},
	{Env: "BCRYPT_COST", Flag: "bcrypt-cost", Default: "10", Usage: "bcrypt cost of new password hashes (10–14)", Kind: Int},
	{Env: "BODY_LIMIT", Flag: "body-limit", Default: "1048576", Usage: "largest request body in bytes", Kind: Int},
	{Env: "USER_FIELDS_FILE", Flag: "user-fields-file", Default: "", Usage: "YAML or JSON file declaring custom user fields and register.allowedFields (read at start)"},
	{Env: "POLICY_RELOAD_INTERVAL", Flag: "policy-reload-interval", Default: "10s", Usage: "how often to check the policy and settings revisions, reloading what changed (0 = off)", Kind: Duration},
	{Env: "POLICY_HISTORY_RETENTION", Flag: "policy-history-retention", Default: "", Usage: "how long policy history entries are kept, a span such as 365d (default: forever)", Kind: Span},
	{Env: "POLICY_EXPLAIN_DENIALS", Flag: "policy-explain-denials", Default: "false", Usage: "add X-Gatehouse-Denied-By to 403 answers (role, route, method)", Kind: Bool},
	{Env: "SMTP_HOST", Flag: "smtp-host", Default: "", Usage: "SMTP server; unset: mail is logged, not sent (development only)"},
	{Env: "SMTP_PORT", Flag: "smtp-port", Default: "", Usage: "SMTP port (default: 587 for starttls, 465 for tls, 25 for none)", Kind: Int},
	{Env: "SMTP_USERNAME", Flag: "smtp-username", Default: "", Usage: "SMTP user"},
	{Env: "SMTP_PASSWORD", Flag: "smtp-password", Default: "", Usage: "SMTP password", Secret: true},
	{Env: "SMTP_SECURITY", Flag: "smtp-security", Default: "starttls", Usage: "none, starttls or tls"},
	{Env: "EMAIL_FROM", Flag: "email-from", Default: "", Usage: "default sender, e.g. \"Gatehouse <no-reply@example.com>\""},
	{Env: "EMAIL_REPLY_TO", Flag: "email-reply-to", Default: "", Usage: "default Reply-To"},
	{Env: "RESET_TOKEN_TTL", Flag: "reset-token-ttl", Default: "1h", Usage: "lifetime of password-reset codes", Kind: Duration},
	{Env: "CONFIRMATION_TOKEN_TTL", Flag: "confirmation-token-ttl", Default: "24h", Usage: "lifetime of email-confirmation links", Kind: Duration},
	{Env: "OAUTH_REDIRECT_MODE", Flag: "oauth-redirect-mode", Default: "query", Usage: "query (access_token in the front-end URL, Strapi's documented flow) or session (tokens stay server-side)"},
	{Env: "REDIS_URL", Flag: "redis-url", Default: "", Usage: "redis://host:6379/0 to share rate limits (and policy change notices) between instances", Secret: true},
	{Env: "REDIS_WATCHER_CHANNEL", Flag: "redis-watcher-channel", Default: "/casbin", Usage: "with REDIS_URL: the channel of Casbin's redis-watcher, on which policy changes are announced to (and heard from) plain Casbin enforcers sharing the database"},
	{Env: "CORS_ORIGINS", Flag: "cors-origins", Default: "", Usage: "comma-separated origins allowed to call the API from a browser (https://app.example.com, http://localhost:*, or * without credentials); default: http://localhost:* and http://127.0.0.1:* in development, none in production"},
	{Env: "CORS_CREDENTIALS", Flag: "cors-credentials", Default: "true", Usage: "send Access-Control-Allow-Credentials: true (cookies and Authorization from other origins)", Kind: Bool},
	{Env: "METRICS_ADDR", Flag: "metrics-addr", Default: "", Usage: "host:port of a separate listener serving Prometheus metrics at /metrics, e.g. 127.0.0.1:9464 (default: off)"},
	{Env: "ACCESS_LOG", Flag: "access-log", Default: "true", Usage: "log one line per request at info (request id, method, route, status, duration, user, role)", Kind: Bool},
	{Env: "SHUTDOWN_GRACE", Flag: "shutdown-grace", Default: "5s", Usage: "on SIGTERM, how long to keep serving with readiness failing (for the load balancer to notice) before draining", Kind: Duration},
	{Env: "SHUTDOWN_TIMEOUT", Flag: "shutdown-timeout", Default: "30s", Usage: "on SIGTERM, how long the in-flight requests may take to finish after the grace period", Kind: Duration},
	{Env: "ROUTES_FILE", Flag: "routes-file", Default: "", Usage: "YAML file of the protected app's functions (name, method, path, upstream): they join the catalogue, and GET /api/authz/verify decides about them; reloaded on SIGHUP (default: none)"},
	{Env: "GATEWAY", Flag: "gateway", Default: "false", Usage: "gateway mode: proxy the ROUTES_FILE functions to their upstreams after authentication and authorization", Kind: Bool},
	{Env: "GATEWAY_TIMEOUT", Flag: "gateway-timeout", Default: "30s", Usage: "gateway mode: longest wait for an upstream's response headers (504 past it); bodies stream without a deadline", Kind: Duration},
	{Env: "GATEWAY_MAX_BODY", Flag: "gateway-max-body", Default: "10485760", Usage: "gateway mode: largest proxied request body in bytes (413 past it), unless a function sets maxBody", Kind: Int},
	{Env: "GATEWAY_BODY_TIMEOUT", Flag: "gateway-body-timeout", Default: "60s", Usage: "gateway mode: longest time a client may take to send a proxied request's body (408 past it); bodiless requests, answers and WebSockets are not bound", Kind: Duration},
	{Env: "GATEWAY_TOKEN_SECRET", Flag: "gateway-token-secret", Default: "", Usage: "when set (32+ characters, not JWT_SECRET), each decision about a ROUTES_FILE function also sends X-Gatehouse-Token: a one-minute HS256 JWT (sub, role, fn) the app can verify (default: off)", Secret: true},
	{Env: "FORWARD_AUTH_PROXIES", Flag: "forward-auth-proxies", Default: "127.0.0.0/8,::1", Usage: "comma-separated IPs/CIDRs of the proxies (nginx, Caddy, Traefik) whose X-Forwarded-Method/Uri and X-Original-Method/URI GET /api/authz/verify believes"},
	{Env: "LOG_LEVEL", Flag: "log-level", Default: "info", Usage: "debug, info, warn or error"},
	{Env: "LOG_FORMAT", Flag: "log-format", Default: "text", Usage: "text or json"},
	{Env: "AUDIT_LOG", Flag: "audit-log", Default: "", Usage: "also write each audit entry as a JSON line to this file (appended), or to stdout", Kind: String},
}

// Config is the parsed settings.
type Config struct {
	// UserFields are the custom user fields USER_FIELDS_FILE declares
	// (none without it).
	UserFields  *userfields.Config
	Host        string
	Port        int
	DatabaseURL string
	// DBTimeout bounds each database statement and transaction (DB_TIMEOUT).
	DBTimeout time.Duration
	// ShutdownGrace and ShutdownTimeout pace the shutdown on SIGTERM.
	ShutdownGrace, ShutdownTimeout time.Duration
	PublicURL                      string
	JWTSecret                      string
	JWTExpiresIn                   time.Duration
	Production                     bool
	AdminEmail                     string
	AdminUsername                  string
	AdminPassword                  string
	RateLimitEnabled               bool
	RateLimitMax                   int64
	RateLimitInterval              time.Duration
	// RateLimitIPMax per RateLimitIPInterval is the per-IP budget of the
	// sign-in routes, across emails.
	RateLimitIPMax      int64
	RateLimitIPInterval time.Duration
	TrustedProxies      []string
	BcryptCost          int
	BodyLimit           int64
	LogLevel            slog.Level
	LogJSON             bool

	PolicyReloadInterval time.Duration
	PolicyExplainDenials bool
	// PolicyHistoryRetention is how long policy history entries are kept
	// (0: forever).
	PolicyHistoryRetention time.Duration
	// AuditLog is where audit entries are also written as JSON lines: a
	// file path, "stdout", or "" (the database only).
	AuditLog string

	SMTPHost, SMTPUsername, SMTPPassword, SMTPSecurity string
	SMTPPort                                           int
	EmailFrom, EmailReplyTo                            string
	ResetTokenTTL, ConfirmationTokenTTL                time.Duration

	OAuthRedirectMode string
	RedisURL          string
	// RedisWatcherChannel is the channel of Casbin's redis-watcher.
	RedisWatcherChannel string

	// JWTManagement is "legacy-support" or "refresh"; Sessions configures
	// refresh mode (sessions.go).
	JWTManagement string
	Sessions      Sessions

	// Gateway is the protected app's settings (gateway.go).
	Gateway Gateway

	// CORS, MetricsAddr and AccessLog are the operational settings (ops.go).
	CORS        CORS
	MetricsAddr string
	AccessLog   bool
}

// Addr is host:port to listen on.
func (c Config) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// Parse turns the values (by environment name; missing ones take their
// default) into a Config. Each error names the variable and its value.
func Parse(values map[string]string) (Config, error) {
	get := func(env string) string {
		if v, ok := values[env]; ok {
			return strings.TrimSpace(v)
		}
		for _, v := range Vars {
			if v.Env == env {
				return v.Default
			}
		}
		return ""
	}
	var c Config
	var err error
	bad := func(env, why string) error {
		return fmt.Errorf("config: %s=%q: %s", env, get(env), why)
	}
	if c.Port, err = strconv.Atoi(get("PORT")); err != nil || c.Port < 0 || c.Port > 65535 {
		return c, bad("PORT", "want a port number 0–65535")
	}
	c.DatabaseURL = get("DATABASE_URL")
	if c.DBTimeout, err = time.ParseDuration(get("DB_TIMEOUT")); err != nil || c.DBTimeout < 10*time.Millisecond {
		return c, bad("DB_TIMEOUT", "want a Go duration of at least 10ms, such as 2s")
	}
	if c.ShutdownGrace, err = time.ParseDuration(get("SHUTDOWN_GRACE")); err != nil || c.ShutdownGrace < 0 {
		return c, bad("SHUTDOWN_GRACE", "want a Go duration such as 5s, or 0")
	}
	if c.ShutdownTimeout, err = time.ParseDuration(get("SHUTDOWN_TIMEOUT")); err != nil || c.ShutdownTimeout <= 0 {
		return c, bad("SHUTDOWN_TIMEOUT", "want a positive Go duration such as 30s")
	}
	c.PublicURL = strings.TrimRight(get("PUBLIC_URL"), "/")
	if c.PublicURL == "" {
		c.PublicURL = "http://localhost:" + strconv.Itoa(c.Port)
	} else if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("config: PUBLIC_URL=%q: want an absolute http(s) URL", c.PublicURL)
	}
	c.JWTSecret = get("JWT_SECRET")
	if c.JWTExpiresIn, err = ParseExpiresIn(get("JWT_EXPIRES_IN")); err != nil {
		return c, err
	}
	switch get("GATEHOUSE_ENV") {
	case "development", "":
	case "production":
		c.Production = true
	default:
		return c, bad("GATEHOUSE_ENV", "want development or production")
	}
	if c.Host = get("HOST"); c.Host == "" {
		// Development listens on loopback only: its database holds a
		// generated JWT secret and its mail (with reset links) is logged.
		c.Host = "127.0.0.1"
		if c.Production {
			c.Host = "0.0.0.0"
		}
	}
	c.AdminEmail, c.AdminUsername, c.AdminPassword = get("ADMIN_EMAIL"), get("ADMIN_USERNAME"), get("ADMIN_PASSWORD")
	if c.RateLimitEnabled, err = strconv.ParseBool(get("RATE_LIMIT_ENABLED")); err != nil {
		return c, bad("RATE_LIMIT_ENABLED", "want true or false")
	}
	if c.RateLimitMax, err = strconv.ParseInt(get("RATE_LIMIT_MAX"), 10, 64); err != nil || c.RateLimitMax < 1 {
		return c, bad("RATE_LIMIT_MAX", "want a positive whole number")
	}
	if c.RateLimitInterval, err = time.ParseDuration(get("RATE_LIMIT_INTERVAL")); err != nil || c.RateLimitInterval < time.Second {
		return c, bad("RATE_LIMIT_INTERVAL", "want a Go duration of at least 1s, such as 1m or 30s")
	}
	c.RateLimitIPMax, c.RateLimitIPInterval = c.RateLimitMax, c.RateLimitInterval
	if v := get("RATE_LIMIT_IP_MAX"); v != "" {
		if c.RateLimitIPMax, err = strconv.ParseInt(v, 10, 64); err != nil || c.RateLimitIPMax < 1 {
			return c, bad("RATE_LIMIT_IP_MAX", "want a positive whole number")
		}
	}
	if v := get("RATE_LIMIT_IP_INTERVAL"); v != "" {
		if c.RateLimitIPInterval, err = time.ParseDuration(v); err != nil || c.RateLimitIPInterval < time.Second {
			return c, bad("RATE_LIMIT_IP_INTERVAL", "want a Go duration of at least 1s, such as 1m or 30s")
		}
	}
	if c.TrustedProxies, err = parseAddresses(get, "TRUSTED_PROXIES"); err != nil {
		return c, err
	}
	if c.BcryptCost, err = strconv.Atoi(get("BCRYPT_COST")); err != nil || c.BcryptCost < 4 || c.BcryptCost > 31 {
		return c, bad("BCRYPT_COST", "want a whole number from 4 to 31 (10 or more in production)")
	}
	if c.BodyLimit, err = strconv.ParseInt(get("BODY_LIMIT"), 10, 64); err != nil || c.BodyLimit < 1024 {
		return c, bad("BODY_LIMIT", "want a number of bytes, at least 1024")
	}
	if c.UserFields, err = userfields.Load(get("USER_FIELDS_FILE")); err != nil {
		return c, bad("USER_FIELDS_FILE", err.Error())
	}
	if c.PolicyReloadInterval, err = time.ParseDuration(get("POLICY_RELOAD_INTERVAL")); err != nil || c.PolicyReloadInterval < 0 {
		return c, bad("POLICY_RELOAD_INTERVAL", "want a Go duration such as 10s, or 0 to turn it off")
	}
	if c.PolicyExplainDenials, err = strconv.ParseBool(get("POLICY_EXPLAIN_DENIALS")); err != nil {
		return c, bad("POLICY_EXPLAIN_DENIALS", "want true or false")
	}
	c.AuditLog = get("AUDIT_LOG")
	if v := get("POLICY_HISTORY_RETENTION"); v != "" {
		if c.PolicyHistoryRetention, err = ParseSpan(v); err != nil || c.PolicyHistoryRetention < time.Hour {
			return c, bad("POLICY_HISTORY_RETENTION", "want a time span of at least 1h with a unit, such as 365d, or nothing (forever)")
		}
	}
	c.SMTPHost, c.SMTPUsername, c.SMTPPassword = get("SMTP_HOST"), get("SMTP_USERNAME"), get("SMTP_PASSWORD")
	if p := get("SMTP_PORT"); p != "" {
		if c.SMTPPort, err = strconv.Atoi(p); err != nil || c.SMTPPort < 1 || c.SMTPPort > 65535 {
			return c, bad("SMTP_PORT", "want a port number")
		}
	}
	switch c.SMTPSecurity = get("SMTP_SECURITY"); c.SMTPSecurity {
	case "none", "starttls", "tls":
	default:
		return c, bad("SMTP_SECURITY", "want none, starttls or tls")
	}
	c.EmailFrom, c.EmailReplyTo = get("EMAIL_FROM"), get("EMAIL_REPLY_TO")
	if c.ResetTokenTTL, err = time.ParseDuration(get("RESET_TOKEN_TTL")); err != nil || c.ResetTokenTTL < time.Minute {
		return c, bad("RESET_TOKEN_TTL", "want a Go duration of at least 1m, such as 1h")
	}
	if c.ConfirmationTokenTTL, err = time.ParseDuration(get("CONFIRMATION_TOKEN_TTL")); err != nil || c.ConfirmationTokenTTL < time.Minute {
		return c, bad("CONFIRMATION_TOKEN_TTL", "want a Go duration of at least 1m, such as 24h")
	}
	switch c.OAuthRedirectMode = get("OAUTH_REDIRECT_MODE"); c.OAuthRedirectMode {
	case "query", "session":
	default:
		return c, bad("OAUTH_REDIRECT_MODE", "want query or session")
	}
	c.RedisURL = get("REDIS_URL")
	if c.RedisWatcherChannel = get("REDIS_WATCHER_CHANNEL"); strings.TrimSpace(c.RedisWatcherChannel) == "" {
		return c, bad("REDIS_WATCHER_CHANNEL", "want a channel name such as /casbin")
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			return c, fmt.Errorf("config: REDIS_URL: want redis://host:port/db")
		}
	}
	if err := parseSessions(get, &c); err != nil {
		return c, err
	}
	if err := parseOps(get, &c); err != nil {
		return c, err
	}
	if err := parseGateway(get, &c); err != nil {
		return c, err
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("LOG_LEVEL"))); err != nil {
		return c, bad("LOG_LEVEL", "want debug, info, warn or error")
	}
	switch get("LOG_FORMAT") {
	case "text", "":
	case "json":
		c.LogJSON = true
	default:
		return c, bad("LOG_FORMAT", "want text or json")
	}
	return c, nil
}

// parseAddresses reads a comma-separated list of IPs and CIDRs.
func parseAddresses(get func(string) string, env string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(get(env), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				return nil, fmt.Errorf("config: %s=%q: %q is neither an IP nor a CIDR", env, get(env), p)
			}
		}
		out = append(out, p)
	}
	return out, nil
}
