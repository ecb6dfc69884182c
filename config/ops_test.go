package config

import (
	"slices"
	"strings"
	"testing"
)

func TestParseCORS(t *testing.T) {
	for _, tt := range []struct {
		name        string
		values      map[string]string
		wantOrigins []string
		wantCreds   bool
		wantUnset   bool
	}{
		{"development default", nil, DevCORSOrigins, true, true},
		{"production default: none", map[string]string{"GATEHOUSE_ENV": "production"}, nil, true, true},
		{"a list, trimmed", map[string]string{"CORS_ORIGINS": " https://app.example.com/ , http://localhost:3000"},
			[]string{"https://app.example.com", "http://localhost:3000"}, true, false},
		{"a wildcard", map[string]string{"CORS_ORIGINS": "https://*.example.com,http://localhost:*"},
			[]string{"https://*.example.com", "http://localhost:*"}, true, false},
		{"any origin without credentials", map[string]string{"CORS_ORIGINS": "*", "CORS_CREDENTIALS": "false"}, []string{"*"}, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.values)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.CORS.Origins, tt.wantOrigins) || c.CORS.Credentials != tt.wantCreds || c.CORS.Unset != tt.wantUnset {
				t.Errorf("CORS = %+v, want origins %q, credentials %v, unset %v", c.CORS, tt.wantOrigins, tt.wantCreds, tt.wantUnset)
			}
		})
	}
}

func TestParseOpsErrors(t *testing.T) {
	for _, tt := range []struct {
		values   map[string]string
		env, why string
	}{
		{map[string]string{"CORS_ORIGINS": "*"}, "CORS_ORIGINS", "CORS_CREDENTIALS=false"},
		{map[string]string{"CORS_ORIGINS": "*", "CORS_CREDENTIALS": "true"}, "CORS_ORIGINS", "credentials"},
		{map[string]string{"CORS_ORIGINS": "app.example.com"}, "CORS_ORIGINS", "scheme://host"},
		{map[string]string{"CORS_ORIGINS": "https://app.example.com/login"}, "CORS_ORIGINS", "scheme://host"},
		{map[string]string{"CORS_ORIGINS": "ftp://x.example.com"}, "CORS_ORIGINS", "scheme://host"},
		{map[string]string{"CORS_ORIGINS": "https://*.*.example.com"}, "CORS_ORIGINS", "one *"},
		{map[string]string{"CORS_CREDENTIALS": "yes please"}, "CORS_CREDENTIALS", "true or false"},
		{map[string]string{"METRICS_ADDR": "9464"}, "METRICS_ADDR", "host:port"},
		{map[string]string{"ACCESS_LOG": "loud"}, "ACCESS_LOG", "true or false"},
	} {
		_, err := Parse(tt.values)
		if err == nil || !strings.Contains(err.Error(), tt.env) || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("Parse(%v) error = %v, want one naming %s and saying %q", tt.values, err, tt.env, tt.why)
		}
	}
}

func TestParseOpsDefaults(t *testing.T) {
	c, err := Parse(map[string]string{"METRICS_ADDR": "127.0.0.1:9464"})
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsAddr != "127.0.0.1:9464" || !c.AccessLog {
		t.Errorf("MetricsAddr, AccessLog = %q, %v; want 127.0.0.1:9464, true", c.MetricsAddr, c.AccessLog)
	}
}
