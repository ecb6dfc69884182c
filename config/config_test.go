package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr() != "127.0.0.1:1337" || c.PublicURL != "http://localhost:1337" || c.JWTExpiresIn != 30*24*time.Hour ||
		!c.RateLimitEnabled || c.RateLimitMax != 10 || c.RateLimitInterval != time.Minute || c.BcryptCost != 10 ||
		c.RateLimitIPMax != 10 || c.RateLimitIPInterval != time.Minute ||
		c.BodyLimit != 1<<20 || c.DatabaseURL != "sqlite://./data/gatehouse.db" || c.Production || len(c.TrustedProxies) != 0 ||
		c.PolicyReloadInterval != 10*time.Second || c.ResetTokenTTL != time.Hour || c.ConfirmationTokenTTL != 24*time.Hour ||
		c.OAuthRedirectMode != "query" || c.DBTimeout != 2*time.Second || c.ShutdownGrace != 5*time.Second || c.ShutdownTimeout != 30*time.Second {
		t.Errorf("Parse(nil) = %+v, want the documented defaults", c)
	}
}

func TestParseErrorsNameTheVariable(t *testing.T) {
	for _, tt := range []struct{ env, value string }{
		{"PORT", "http"}, {"PORT", "70000"}, {"JWT_EXPIRES_IN", "forever"}, {"GATEHOUSE_ENV", "prod"},
		{"RATE_LIMIT_ENABLED", "maybe"}, {"RATE_LIMIT_MAX", "0"}, {"RATE_LIMIT_INTERVAL", "1"},
		{"RATE_LIMIT_IP_MAX", "0"}, {"RATE_LIMIT_IP_INTERVAL", "10ms"},
		{"TRUSTED_PROXIES", "10.0.0.1,nope"}, {"BCRYPT_COST", "3"}, {"BODY_LIMIT", "12"},
		{"LOG_LEVEL", "loud"}, {"LOG_FORMAT", "xml"}, {"PUBLIC_URL", "localhost:1337"},
		{"SMTP_SECURITY", "ssl"}, {"OAUTH_REDIRECT_MODE", "cookie"}, {"POLICY_RELOAD_INTERVAL", "-1s"},
		{"RESET_TOKEN_TTL", "5s"}, {"REDIS_URL", "http://x"}, {"SMTP_PORT", "smtp"},
		{"DB_TIMEOUT", "0"}, {"DB_TIMEOUT", "2"}, {"SHUTDOWN_GRACE", "-1s"}, {"SHUTDOWN_TIMEOUT", "0s"},
	} {
		_, err := Parse(map[string]string{tt.env: tt.value})
		if err == nil || !strings.Contains(err.Error(), tt.env) {
			t.Errorf("Parse(%s=%q) error = %v, want one naming %s", tt.env, tt.value, err, tt.env)
		}
	}
}

func TestParseValues(t *testing.T) {
	c, err := Parse(map[string]string{"PORT": "8080", "GATEHOUSE_ENV": "production", "TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16",
		"PUBLIC_URL": "https://auth.example.com/", "LOG_FORMAT": "json", "LOG_LEVEL": "debug"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || !c.Production || len(c.TrustedProxies) != 2 || c.PublicURL != "https://auth.example.com" || !c.LogJSON {
		t.Errorf("Parse = %+v", c)
	}
}

// TestParseHost: development listens on loopback unless HOST says otherwise;
// production on every interface (issue 11 point 11).
func TestParseHost(t *testing.T) {
	for _, tt := range []struct {
		values map[string]string
		want   string
	}{
		{nil, "127.0.0.1:1337"},
		{map[string]string{"GATEHOUSE_ENV": "development"}, "127.0.0.1:1337"},
		{map[string]string{"GATEHOUSE_ENV": "development", "HOST": "0.0.0.0"}, "0.0.0.0:1337"},
		{map[string]string{"GATEHOUSE_ENV": "production"}, "0.0.0.0:1337"},
		{map[string]string{"GATEHOUSE_ENV": "production", "HOST": "10.0.0.5"}, "10.0.0.5:1337"},
	} {
		c, err := Parse(tt.values)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Addr(); got != tt.want {
			t.Errorf("Parse(%v).Addr() = %q, want %q", tt.values, got, tt.want)
		}
	}
}

// TestParseRateLimitIP: the per-IP budget follows RATE_LIMIT_MAX and
// RATE_LIMIT_INTERVAL unless set.
func TestParseRateLimitIP(t *testing.T) {
	c, err := Parse(map[string]string{"RATE_LIMIT_MAX": "1000", "RATE_LIMIT_INTERVAL": "30s"})
	if err != nil {
		t.Fatal(err)
	}
	if c.RateLimitIPMax != 1000 || c.RateLimitIPInterval != 30*time.Second {
		t.Errorf("per-IP budget = %d per %s, want RATE_LIMIT_MAX per RATE_LIMIT_INTERVAL (1000 per 30s)", c.RateLimitIPMax, c.RateLimitIPInterval)
	}
	if c, err = Parse(map[string]string{"RATE_LIMIT_IP_MAX": "5", "RATE_LIMIT_IP_INTERVAL": "2m"}); err != nil {
		t.Fatal(err)
	}
	if c.RateLimitIPMax != 5 || c.RateLimitIPInterval != 2*time.Minute {
		t.Errorf("per-IP budget = %d per %s, want 5 per 2m", c.RateLimitIPMax, c.RateLimitIPInterval)
	}
}
