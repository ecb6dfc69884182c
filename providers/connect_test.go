package providers_test

import (
	"errors"
	"net/url"
	"regexp"
	"testing"

	"github.com/gatehouse/gatehouse/providers"
	"golang.org/x/oauth2"
)

func TestValidateCallback(t *testing.T) {
	const configured = "https://app.example.com/connect/github/redirect"
	const (
		notURL   = "The callback is not a valid URL"
		origins  = "Forbidden callback provided: origins don't match. Please verify your config."
		pathname = "Forbidden callback provided: pathname don't match. Please verify your config."
	)
	tests := []struct {
		name       string
		candidate  string
		configured string
		wantMsg    string // "" means accepted
	}{
		{"identical", configured, configured, ""},
		{"same origin and path, other query", configured + "?lang=fr&next=%2Fhome", configured, ""},
		{"configured has a query", configured, configured + "?a=1", ""},
		{"fragment ignored", configured + "#top", configured, ""},
		{"default https port", "https://app.example.com:443/connect/github/redirect", configured, ""},
		{"host case", "https://APP.example.com/connect/github/redirect", configured, ""},
		{"dot segments resolved", "https://app.example.com/connect/x/../github/redirect", configured, ""},
		{"empty path is /", "https://app.example.com", "https://app.example.com/", ""},
		{"mobile deep link", "myapp://auth/callback?x=1", "myapp://auth/callback", ""},

		{"foreign origin", "https://attacker.example/connect/github/redirect", configured, origins},
		{"sub-domain of configured", "https://evil.app.example.com/connect/github/redirect", configured, origins},
		{"suffix trick", "https://app.example.com.attacker.example/connect/github/redirect", configured, origins},
		{"http downgrade", "http://app.example.com/connect/github/redirect", configured, origins},
		{"other port", "https://app.example.com:8443/connect/github/redirect", configured, origins},
		{"other deep-link scheme", "evil://auth/callback", "myapp://auth/callback", origins},
		{"different path", "https://app.example.com/steal", configured, pathname},
		{"path prefix", "https://app.example.com/connect/github/redirect/more", configured, pathname},
		{"trailing slash", configured + "/", configured, pathname},
		{"dot segments escape", "https://app.example.com/connect/github/redirect/../../x", configured, pathname},

		{"empty", "", configured, notURL},
		{"relative", "/connect/github/redirect", configured, notURL},
		{"scheme relative", "//attacker.example/connect/github/redirect", configured, notURL},
		{"not a URL", "not a url", configured, notURL},
		{"javascript", "javascript:alert(1)", configured, notURL},
		{"user info", "https://app.example.com@attacker.example/connect/github/redirect", configured, notURL},
		{"backslash", "https://attacker.example\\@app.example.com/connect/github/redirect", configured, notURL},
		{"tab in host", "https://app.exa\tmple.com/connect/github/redirect", configured, notURL},
		{"no host", "https:///connect/github/redirect", configured, notURL},
		{"configured invalid", configured, "", notURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := providers.ValidateCallback(tt.candidate, tt.configured)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("ValidateCallback(%q, %q) = %v, want nil", tt.candidate, tt.configured, err)
				}
				return
			}
			if !errors.Is(err, providers.ErrInvalidCallback) {
				t.Fatalf("ValidateCallback(%q, %q) = %v, want ErrInvalidCallback", tt.candidate, tt.configured, err)
			}
			if got := message(t, err); got != tt.wantMsg {
				t.Errorf("ValidateCallback(%q): message = %q, want %q", tt.candidate, got, tt.wantMsg)
			}
		})
	}
}

func FuzzValidateCallback(f *testing.F) {
	const configured = "https://app.example.com/cb"
	for _, s := range []string{configured, configured + "?x=1", "https://evil.example/cb", "//x", "https://app.example.com\\@evil/cb", "https://a@app.example.com/cb", "myapp://auth/cb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, candidate string) {
		err := providers.ValidateCallback(candidate, configured)
		if err != nil {
			if !errors.Is(err, providers.ErrInvalidCallback) {
				t.Fatalf("ValidateCallback(%q) = %v, not ErrInvalidCallback", candidate, err)
			}
			return
		}
		// Accepted: a browser-equivalent parse must land on the configured host.
		u, perr := url.Parse(candidate)
		if perr != nil || u.Hostname() == "" || u.User != nil {
			t.Fatalf("ValidateCallback(%q) accepted an unparsable or user-info URL", candidate)
		}
		if h := u.Hostname(); !equalFold(h, "app.example.com") {
			t.Fatalf("ValidateCallback(%q) accepted host %q", candidate, h)
		}
	})
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func TestNewState(t *testing.T) {
	hexRE := regexp.MustCompile(`^[0-9a-f]+$`)
	seen := map[string]bool{}
	for range 1000 {
		s, err := providers.NewState()
		if err != nil {
			t.Fatalf("NewState() error = %v", err)
		}
		if got, want := len(s), 64; got != want {
			t.Fatalf("len(NewState()) = %d, want %d (32 bytes hex)", got, want)
		}
		if !hexRE.MatchString(s) {
			t.Fatalf("NewState() = %q, want lower-case hex", s)
		}
		if seen[s] {
			t.Fatalf("NewState() repeated %q", s)
		}
		seen[s] = true
	}
}

func TestCheckState(t *testing.T) {
	tests := []struct {
		name           string
		session, query string
		wantErr        bool
	}{
		{"equal", "abc123", "abc123", false},
		{"different", "abc123", "abc124", true},
		{"missing in session (fail closed)", "", "abc123", true},
		{"missing in query", "abc123", "", true},
		{"both missing", "", "", true},
		{"prefix", "abc123", "abc", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := providers.CheckState(tt.session, tt.query)
			if got := err != nil; got != tt.wantErr {
				t.Fatalf("CheckState(%q, %q) = %v, want error %v", tt.session, tt.query, err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, providers.ErrStateMismatch) {
					t.Errorf("CheckState error = %v, want ErrStateMismatch", err)
				}
				if got, want := message(t, err), "OAuth2 state mismatch"; got != want {
					t.Errorf("CheckState message = %q, want %q", got, want)
				}
			}
		})
	}
}

func TestGrantResponse(t *testing.T) {
	tok := (&oauth2.Token{AccessToken: "at", RefreshToken: "rt"}).WithExtra(map[string]any{
		"id_token": "idt", "email": "v@example.com", "user_id": float64(42), "other": "x",
	})
	tests := []struct {
		provider string
		want     string
	}{
		{"cognito", "id_token=idt"},
		{"vk", "access_token=at&raw%5Bemail%5D=v%40example.com&raw%5Buser_id%5D=42"},
		{"github", "access_token=at&id_token=idt"},
	}
	for _, tt := range tests {
		t.Run(tt.provider, func(t *testing.T) {
			p := provider(t, tt.provider)
			v := p.GrantResponse(tok)
			if got := v.Encode(); got != tt.want {
				t.Errorf("GrantResponse() = %q, want %q", got, tt.want)
			}
			back, err := providers.ParseGrantResponse(v)
			if err != nil {
				t.Fatalf("ParseGrantResponse(%q) error = %v", v.Encode(), err)
			}
			if got, want := p.GrantResponse(back).Encode(), tt.want; got != want {
				t.Errorf("round trip = %q, want %q", got, want)
			}
		})
	}
}

func TestParseGrantResponse(t *testing.T) {
	tests := []struct {
		name      string
		query     string
		wantToken string
		wantID    string
		wantErr   bool
	}{
		{"access_token", "access_token=a&raw[x]=1", "a", "", false},
		{"code as legacy token", "code=c", "c", "", false},
		{"oauth_token", "oauth_token=o", "o", "", false},
		{"access_token wins", "access_token=a&code=c", "a", "", false},
		{"id_token only", "id_token=i", "", "i", false},
		{"nothing", "raw[email]=x@example.com", "", "", true},
		{"empty", "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			tok, err := providers.ParseGrantResponse(q)
			if tt.wantErr {
				if !errors.Is(err, providers.ErrInvalidToken) {
					t.Fatalf("ParseGrantResponse(%q) = %v, want ErrInvalidToken", tt.query, err)
				}
				if got, want := message(t, err), "No access_token."; got != want {
					t.Errorf("message = %q, want %q", got, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseGrantResponse(%q) error = %v", tt.query, err)
			}
			if got := tok.AccessToken; got != tt.wantToken {
				t.Errorf("AccessToken = %q, want %q", got, tt.wantToken)
			}
			if got, _ := tok.Extra("id_token").(string); got != tt.wantID {
				t.Errorf("id_token = %q, want %q", got, tt.wantID)
			}
		})
	}
}
