package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseSessionsDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Sessions{
		AccessTokenLifespan: 10 * time.Minute, MaxRefreshTokenLifespan: 30 * 24 * time.Hour, IdleRefreshTokenLifespan: 14 * 24 * time.Hour,
		MaxPerUser: 10, CookieName: "strapi_up_refresh", CookieSameSite: "lax", CookiePath: "/",
	}
	if c.JWTManagement != JWTLegacy || c.Sessions != want {
		t.Errorf("Parse(nil) = %q, %+v; want legacy-support and %+v", c.JWTManagement, c.Sessions, want)
	}
	prod, err := Parse(map[string]string{"GATEHOUSE_ENV": "production"})
	if err != nil {
		t.Fatal(err)
	}
	if !prod.Sessions.CookieSecure {
		t.Errorf("production: CookieSecure = false, want true by default")
	}
}

func TestParseSessionsValues(t *testing.T) {
	c, err := Parse(map[string]string{
		"JWT_MANAGEMENT": "refresh", "SESSIONS_ACCESS_TOKEN_LIFESPAN": "5m", "SESSIONS_MAX_REFRESH_TOKEN_LIFESPAN": "7 days",
		"SESSIONS_IDLE_REFRESH_TOKEN_LIFESPAN": "2h", "SESSIONS_HTTP_ONLY": "true", "SESSIONS_COOKIE_NAME": "rt",
		"SESSIONS_COOKIE_SECURE": "true", "SESSIONS_COOKIE_SAME_SITE": "None", "SESSIONS_COOKIE_PATH": "/api/auth",
		"SESSIONS_COOKIE_DOMAIN": "example.com", "SESSIONS_COOKIE_MAX_AGE": "120s",
		"SESSIONS_MAX_PER_USER": "3",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Sessions{
		AccessTokenLifespan: 5 * time.Minute, MaxRefreshTokenLifespan: 7 * 24 * time.Hour, IdleRefreshTokenLifespan: 2 * time.Hour,
		MaxPerUser: 3, HTTPOnly: true, CookieName: "rt", CookieSecure: true, CookieSameSite: "none", CookiePath: "/api/auth",
		CookieDomain: "example.com", CookieMaxAge: 120 * time.Second,
	}
	if c.JWTManagement != JWTRefresh || c.Sessions != want {
		t.Errorf("Parse = %q, %+v; want refresh and %+v", c.JWTManagement, c.Sessions, want)
	}
	// An explicit false beats production's default.
	c, err = Parse(map[string]string{"GATEHOUSE_ENV": "production", "SESSIONS_COOKIE_SECURE": "false"})
	if err != nil || c.Sessions.CookieSecure {
		t.Errorf("production with SESSIONS_COOKIE_SECURE=false: CookieSecure = %v, %v; want false", c.Sessions.CookieSecure, err)
	}
}

func TestParseSessionsErrorsNameTheVariable(t *testing.T) {
	for _, tt := range []struct{ env, value string }{
		{"JWT_MANAGEMENT", "legacy"}, {"JWT_MANAGEMENT", "Refresh"},
		{"SESSIONS_ACCESS_TOKEN_LIFESPAN", "600"}, {"SESSIONS_ACCESS_TOKEN_LIFESPAN", "10ms"},
		{"SESSIONS_MAX_REFRESH_TOKEN_LIFESPAN", "forever"}, {"SESSIONS_IDLE_REFRESH_TOKEN_LIFESPAN", "-1d"},
		{"SESSIONS_HTTP_ONLY", "httpOnly"}, {"SESSIONS_MAX_PER_USER", "-1"}, {"SESSIONS_MAX_PER_USER", "ten"}, {"SESSIONS_COOKIE_NAME", "bad name"}, {"SESSIONS_COOKIE_NAME", "a;b"},
		{"SESSIONS_COOKIE_SECURE", "yes please"}, {"SESSIONS_COOKIE_SAME_SITE", "loose"},
		{"SESSIONS_COOKIE_SAME_SITE", "none"}, // without Secure
		{"SESSIONS_COOKIE_PATH", "api"}, {"SESSIONS_COOKIE_DOMAIN", "example.com; Secure"},
		{"SESSIONS_COOKIE_MAX_AGE", "120000"},
	} {
		_, err := Parse(map[string]string{tt.env: tt.value})
		if err == nil || !strings.Contains(err.Error(), tt.env) {
			t.Errorf("Parse(%s=%q) error = %v, want one naming %s", tt.env, tt.value, err, tt.env)
		}
	}
}

func FuzzParseSpan(f *testing.F) {
	for _, s := range []string{"10m", "14d", "2 days", "600", "", "1.5h", "-1d", "9999999999y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseSpan(s)
		if err == nil && d <= 0 {
			t.Errorf("ParseSpan(%q) = %s, want a positive span or an error", s, d)
		}
	})
}
