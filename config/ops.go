package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// DevCORSOrigins are the origins allowed when CORS_ORIGINS is unset in
// development: a front end's dev server on this machine, on any port.
var DevCORSOrigins = []string{"http://localhost:*", "http://127.0.0.1:*"}

// CORS is the cross-origin settings (Strapi's strapi::cors).
type CORS struct {
	// Origins are the allowed origins: exact ("https://app.example.com"),
	// with one "*" wildcard ("http://localhost:*"), or "*" alone for any
	// origin. Empty: no cross-origin access.
	Origins []string
	// Credentials sends Access-Control-Allow-Credentials: true.
	Credentials bool
	// Unset says CORS_ORIGINS was not given (the development default, or
	// none in production).
	Unset bool
}

// parseOps reads the operational settings: CORS_*, METRICS_ADDR and
// ACCESS_LOG.
func parseOps(get func(string) string, c *Config) error {
	bad := func(env, why string) error {
		return fmt.Errorf("config: %s=%q: %s", env, get(env), why)
	}
	var err error
	if c.CORS.Credentials, err = strconv.ParseBool(get("CORS_CREDENTIALS")); err != nil {
		return bad("CORS_CREDENTIALS", "want true or false")
	}
	raw := get("CORS_ORIGINS")
	if raw == "" {
		c.CORS.Unset = true
		if !c.Production {
			c.CORS.Origins = DevCORSOrigins
		}
	}
	for _, o := range strings.Split(raw, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if why := checkOrigin(o); why != "" {
			return bad("CORS_ORIGINS", fmt.Sprintf("%q: %s", o, why))
		}
		if o == "*" && c.CORS.Credentials {
			return bad("CORS_ORIGINS", "* (any origin) is refused with credentials: set CORS_CREDENTIALS=false, or list the origins")
		}
		c.CORS.Origins = append(c.CORS.Origins, strings.TrimRight(o, "/"))
	}
	if c.MetricsAddr = get("METRICS_ADDR"); c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			return bad("METRICS_ADDR", "want host:port, such as 127.0.0.1:9464")
		}
	}
	if c.AccessLog, err = strconv.ParseBool(get("ACCESS_LOG")); err != nil {
		return bad("ACCESS_LOG", "want true or false")
	}
	return nil
}

// checkOrigin says what is wrong with a CORS_ORIGINS entry, or "".
func checkOrigin(o string) string {
	if o == "*" {
		return ""
	}
	if strings.Count(o, "*") > 1 {
		return "at most one * in an origin"
	}
	// Stand a port or a name in for the wildcard, to parse the rest.
	u, err := url.Parse(strings.Replace(strings.Replace(o, ":*", ":1", 1), "*", "x", 1))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		strings.TrimRight(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return "want an origin: scheme://host[:port], such as https://app.example.com or http://localhost:*"
	}
	return ""
}
