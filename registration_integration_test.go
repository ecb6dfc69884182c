package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestControlCharactersPostgres and …MySQL send NUL and other control
// characters in the login and register fields to the whole app over a real
// database: 400 ValidationError naming the field, never a 500 (PostgreSQL
// refuses a NUL in text, which used to surface as an InternalServerError and
// an ERROR log line per request).
func TestControlCharactersPostgres(t *testing.T) { testControlCharacters(t, freshPostgres(t)) }

// TestControlCharactersMySQL is TestControlCharactersPostgres on MariaDB/MySQL.
func TestControlCharactersMySQL(t *testing.T) { testControlCharacters(t, freshMySQL(t, "")) }

func testControlCharacters(t *testing.T, databaseURL string) {
	a := startApp(t, databaseURL, nil)
	if code, body := a.register("carol", "carol@example.com"); code != http.StatusOK {
		t.Fatalf("register carol: status = %d, want 200\n%s", code, body)
	}
	for _, tc := range []struct{ name, target, body, field string }{
		{"register username NUL", "/api/auth/local/register", `{"username":"nul\u0000name","email":"nul@example.com","password":"correct-horse"}`, "username"},
		{"register email NUL", "/api/auth/local/register", `{"username":"nulname","email":"nul@example.com\u0000","password":"correct-horse"}`, "email"},
		{"register password NUL", "/api/auth/local/register", `{"username":"nulname","email":"nul@example.com","password":"correct\u0000horse"}`, "password"},
		{"login identifier NUL", "/api/auth/local", `{"identifier":"carol\u0000","password":"correct-horse"}`, "identifier"},
		{"login email identifier NUL", "/api/auth/local", `{"identifier":"carol@example.com\u0000x","password":"correct-horse"}`, "identifier"},
		{"login password NUL", "/api/auth/local", `{"identifier":"carol","password":"\u0000"}`, "password"},
		{"forgot password NUL", "/api/auth/forgot-password", `{"email":"carol@example.com\u0000"}`, "email"},
		{"login identifier ESC", "/api/auth/local", `{"identifier":"carol\u001b[2J","password":"correct-horse"}`, "identifier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := a.do("POST", tc.target, tc.body, "")
			if code != http.StatusBadRequest || !strings.Contains(body, `"name":"ValidationError"`) ||
				!strings.Contains(body, `"message":"`+tc.field+` must not contain control characters"`) {
				t.Errorf("POST %s: %d %s, want 400 ValidationError on %s", tc.target, code, body, tc.field)
			}
		})
	}
	// Nothing was stored, and carol still signs in.
	a.login("carol", "correct-horse")
}
