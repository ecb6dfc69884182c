package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseGateway(t *testing.T) {
	c, err := Parse(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Gateway.Enabled || c.Gateway.RoutesFile != "" || c.Gateway.Timeout != 30*time.Second || c.Gateway.MaxBody != 10<<20 || c.Gateway.BodyTimeout != time.Minute ||
		!slices.Equal(c.Gateway.ForwardAuthProxies, []string{"127.0.0.0/8", "::1"}) {
		t.Errorf("defaults: %+v", c.Gateway)
	}
	c, err = Parse(map[string]string{"ROUTES_FILE": "f.yaml", "GATEWAY": "true", "GATEWAY_TIMEOUT": "5s", "FORWARD_AUTH_PROXIES": "", "GATEWAY_MAX_BODY": "4096"})
	if err != nil || !c.Gateway.Enabled || c.Gateway.Timeout != 5*time.Second || c.Gateway.MaxBody != 4096 || c.Gateway.ForwardAuthProxies == nil || len(c.Gateway.ForwardAuthProxies) != 0 {
		t.Errorf("set: %+v, %v", c.Gateway, err)
	}
	for values, want := range map[*map[string]string]string{
		{"GATEWAY": "true"}:                     "needs ROUTES_FILE",
		{"GATEWAY": "yes please"}:               "GATEWAY",
		{"GATEWAY_TIMEOUT": "1ms"}:              "GATEWAY_TIMEOUT",
		{"GATEWAY_BODY_TIMEOUT": "1ms"}:         "GATEWAY_BODY_TIMEOUT",
		{"GATEWAY_MAX_BODY": "100"}:             "GATEWAY_MAX_BODY",
		{"GATEWAY_MAX_BODY": "10MB"}:            "GATEWAY_MAX_BODY",
		{"FORWARD_AUTH_PROXIES": "10.0.0.0/33"}: "FORWARD_AUTH_PROXIES",
		{"GATEWAY_TOKEN_SECRET": "short"}:       "GATEWAY_TOKEN_SECRET",
		{"GATEWAY_TOKEN_SECRET": strings.Repeat("s", 40), "JWT_SECRET": strings.Repeat("s", 40)}: "not JWT_SECRET",
	} {
		if _, err := Parse(*values); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%v): %v, want an error about %s", *values, err, want)
		}
	}
}
