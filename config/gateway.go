package config

import (
	"fmt"
	"strconv"
	"time"
)

// Gateway is the settings of a protected app: its functions file,
// forward-auth and gateway mode.
type Gateway struct {
	// RoutesFile is the functions file ("" for none).
	RoutesFile string
	// Enabled proxies the functions to their upstreams.
	Enabled bool
	// Timeout bounds the wait for an upstream's response headers.
	Timeout time.Duration
	// BodyTimeout bounds the sending of a proxied request's body.
	BodyTimeout time.Duration
	// MaxBody is the largest proxied request body in bytes.
	MaxBody int64
	// TokenSecret signs X-Gatehouse-Token ("" for none).
	TokenSecret string
	// ForwardAuthProxies are the IPs and CIDRs whose forward-auth headers
	// are believed.
	ForwardAuthProxies []string
}

// parseGateway reads ROUTES_FILE, GATEWAY, GATEWAY_TIMEOUT,
// GATEWAY_MAX_BODY, GATEWAY_BODY_TIMEOUT, GATEWAY_TOKEN_SECRET and FORWARD_AUTH_PROXIES into c.
func parseGateway(get func(string) string, c *Config) error {
	bad := func(env, why string) error {
		return fmt.Errorf("config: %s=%q: %s", env, get(env), why)
	}
	g := &c.Gateway
	g.RoutesFile = get("ROUTES_FILE")
	var err error
	if g.Enabled, err = strconv.ParseBool(get("GATEWAY")); err != nil {
		return bad("GATEWAY", "want true or false")
	}
	if g.Enabled && g.RoutesFile == "" {
		return bad("GATEWAY", "gateway mode needs ROUTES_FILE (the functions to proxy)")
	}
	if g.Timeout, err = time.ParseDuration(get("GATEWAY_TIMEOUT")); err != nil || g.Timeout < 100*time.Millisecond {
		return bad("GATEWAY_TIMEOUT", "want a Go duration of at least 100ms, such as 30s")
	}
	if g.BodyTimeout, err = time.ParseDuration(get("GATEWAY_BODY_TIMEOUT")); err != nil || g.BodyTimeout < 100*time.Millisecond {
		return bad("GATEWAY_BODY_TIMEOUT", "want a Go duration of at least 100ms, such as 60s")
	}
	if g.MaxBody, err = strconv.ParseInt(get("GATEWAY_MAX_BODY"), 10, 64); err != nil || g.MaxBody < 1024 {
		return bad("GATEWAY_MAX_BODY", "want a number of bytes, at least 1024")
	}
	if g.TokenSecret = get("GATEWAY_TOKEN_SECRET"); g.TokenSecret != "" && (len(g.TokenSecret) < 32 || g.TokenSecret == get("JWT_SECRET")) {
		return fmt.Errorf("config: GATEWAY_TOKEN_SECRET: want at least 32 characters, and not JWT_SECRET (the app could mint Gatehouse's tokens)")
	}
	if g.ForwardAuthProxies, err = parseAddresses(get, "FORWARD_AUTH_PROXIES"); err != nil {
		return err
	}
	if g.ForwardAuthProxies == nil {
		g.ForwardAuthProxies = []string{} // none: forward-auth is refused
	}
	return nil
}
