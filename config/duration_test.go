package config

import (
	"testing"
	"time"
)

func TestParseExpiresIn(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"30d", 30 * day, false},
		{"7d", 7 * day, false},
		{"45m", 45 * time.Minute, false},
		{"10h", 10 * time.Hour, false},
		{"2 days", 2 * day, false},
		{"1 week", 7 * day, false},
		{"2y", time.Duration(2 * 365.25 * float64(day)), false},
		{"120", 120 * time.Millisecond, false},
		{"1.5h", 90 * time.Minute, false},
		{"60s", time.Minute, false},
		{"60 SECONDS", time.Minute, false},
		{" 3h ", 3 * time.Hour, false},
		{"", 0, true},
		{"abc", 0, true},
		{"10 parsecs", 0, true},
		{"-5m", 0, true},
		{"0", 0, true},
		{"0.1", 0, true},
		{"101y", 0, true},
		{"1e9d", 0, true},
		{"5m5s", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseExpiresIn(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseExpiresIn(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseExpiresIn(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestExpiresInSeconds(t *testing.T) {
	got, err := ExpiresInSeconds(120)
	if err != nil || got != 2*time.Minute {
		t.Errorf("ExpiresInSeconds(120) = %v, %v; want 2m0s", got, err)
	}
	if _, err := ExpiresInSeconds(-1); err == nil {
		t.Errorf("ExpiresInSeconds(-1) error = nil, want an error")
	}
}

func FuzzParseExpiresIn(f *testing.F) {
	for _, s := range []string{"30d", "120", "2 days", "1.5h", "-1", "", "9999999999y", ".5s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseExpiresIn(s)
		if err != nil {
			return
		}
		if d <= 0 || d > maxTokenTTL {
			t.Fatalf("ParseExpiresIn(%q) = %v: outside (0, 100y]", s, d)
		}
	})
}
