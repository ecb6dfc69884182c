package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// TestControlCharactersRefused sends C0 control characters and DEL, as JSON
// escapes, in the string fields of JSON bodies: every one is a 400
// ValidationError naming the field, before anything reaches the database
// (on PostgreSQL a NUL used to be a 500). Free text keeps tabs and line
// breaks; credentials and identifiers refuse them too.
func TestControlCharactersRefused(t *testing.T) {
	refused := func(field string) []string {
		return []string{`"name":"ValidationError"`, `"message":"` + field + ` must not contain control characters"`, `"path":["` + field + `"]`}
	}
	var scenarios []scenario
	for _, c := range []struct{ name, escape string }{
		{"NUL", `\u0000`}, {"SOH", `\u0001`}, {"tab", `\t`}, {"newline", `\n`}, {"CR", `\r`}, {"ESC", `\u001b`}, {"US", `\u001f`}, {"DEL", `\u007f`},
	} {
		scenarios = append(scenarios,
			scenario{name: "register username " + c.name, method: "POST", url: "/api/auth/local/register",
				body: `{"username":"bad` + c.escape + `name","email":"bad@example.com","password":"secret123"}`, wantStatus: 400, want: refused("username")},
			scenario{name: "register email " + c.name, method: "POST", url: "/api/auth/local/register",
				body: `{"username":"badname","email":"bad@example.com` + c.escape + `","password":"secret123"}`, wantStatus: 400, want: refused("email")},
			scenario{name: "register password " + c.name, method: "POST", url: "/api/auth/local/register",
				body: `{"username":"badname","email":"bad@example.com","password":"secret` + c.escape + `123"}`, wantStatus: 400, want: refused("password")},
			scenario{name: "login identifier " + c.name, method: "POST", url: "/api/auth/local",
				body: `{"identifier":"alice` + c.escape + `","password":"` + testPassword + `"}`, wantStatus: 400, want: refused("identifier")},
			scenario{name: "login password " + c.name, method: "POST", url: "/api/auth/local",
				body: `{"identifier":"alice","password":"` + c.escape + `"}`, wantStatus: 400, want: refused("password")},
			scenario{name: "forgot password email " + c.name, method: "POST", url: "/api/auth/forgot-password",
				body: `{"email":"alice@example.com` + c.escape + `"}`, wantStatus: 400, want: refused("email")},
			scenario{name: "update user username " + c.name, method: "PUT", url: "/api/users/1", caller: "admin",
				body: `{"username":"x` + c.escape + `y"}`, wantStatus: 400, want: refused("username")},
		)
	}
	scenarios = append(scenarios,
		scenario{name: "unknown key is checked too", method: "POST", url: "/api/auth/local/register",
			body: `{"username":"badname","email":"bad@example.com","password":"secret123","x":"\u0000"}`, wantStatus: 400, want: refused("x")},
		scenario{name: "nested string", method: "PUT", url: "/api/users/1", caller: "admin",
			body: `{"role":{"connect":[{"documentId":"a\u0000b"}]}}`, wantStatus: 400, want: refused("role")},
		scenario{name: "object key", method: "PUT", url: "/api/users/1", caller: "admin",
			body: `{"role":{"con\u0000nect":[]}}`, wantStatus: 400, want: refused("role")},
		scenario{name: "key itself", method: "POST", url: "/api/auth/local",
			body: `{"identi\u0000fier":"alice","password":"x"}`, wantStatus: 400, want: []string{`"name":"ValidationError"`, `must not contain control characters`}},
		scenario{name: "raw control byte in a string is malformed JSON", method: "POST", url: "/api/auth/local",
			body: "{\"identifier\":\"al\x01ice\",\"password\":\"x\"}", wantStatus: 400},
		scenario{name: "two fields: both named", method: "POST", url: "/api/auth/local/register",
			body: `{"username":"a\u0000b","email":"bad@example.com\u0000","password":"secret123"}`, wantStatus: 400,
			want: []string{`"message":"2 errors occurred"`, `"path":["email"]`, `"path":["username"]`}},
		scenario{name: "free text keeps tabs and line breaks", method: "PUT", url: "/api/users-permissions/roles/1", caller: "admin",
			body: `{"name":"Authenticated","description":"line one\n\tline two\r\n"}`, wantStatus: 200},
		scenario{name: "free text refuses NUL", method: "PUT", url: "/api/users-permissions/roles/1", caller: "admin",
			body: `{"name":"Authenticated","description":"a\u0000b"}`, wantStatus: 400, want: refused("description")},
		scenario{name: "free text refuses DEL", method: "PUT", url: "/api/users-permissions/roles/1", caller: "admin",
			body: `{"name":"Authenticated","description":"a\u007fb"}`, wantStatus: 400, want: refused("description")},
		scenario{name: "C1 and other Unicode pass", method: "POST", url: "/api/auth/local/register",
			body: `{"username":"zoë\u0085例","email":"zoe@example.com","password":"secret123"}`, wantStatus: 200},
	)
	runScenarios(t, scenarios)
}

// FuzzControlCharacters checks that no string holding a control character
// gets past readBody, and that whatever passes is valid UTF-8 JSON holding
// none (tabs and line breaks aside, in free-text fields).
func FuzzControlCharacters(f *testing.F) {
	for _, seed := range []string{
		`{"username":"a\u0000b"}`, `{"identifier":"x","password":"y"}`, `{"description":"a\nb\tc"}`,
		`{"role":{"connect":[{"id":1}]}}`, `{"a":["\u007f"]}`, `{"\u0001":1}`, `{"password":"\t"}`, `[]`, `null`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		gin.SetMode(gin.TestMode)
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(raw))
		c.Request.Header.Set("Content-Type", "application/json")
		b, err := readBody(c)
		if err != nil {
			if e := asError(err); e.Status != http.StatusBadRequest && e.Status != http.StatusRequestEntityTooLarge {
				t.Fatalf("readBody(%q): status %d, want 400", raw, e.Status)
			}
			return
		}
		for key, value := range b {
			strict := credentialKeys[key]
			if r, bad := firstControl(key, true); bad {
				t.Fatalf("readBody(%q) accepted key %q holding %U", raw, key, r)
			}
			dec := json.NewDecoder(bytes.NewReader(value))
			for {
				tok, err := dec.Token()
				if err != nil {
					break
				}
				if s, ok := tok.(string); ok {
					if !utf8.ValidString(s) {
						t.Fatalf("readBody(%q) accepted invalid UTF-8 in %q", raw, key)
					}
					for _, r := range s {
						if r == 0x7f || r < 0x20 && (strict || r != '\t' && r != '\n' && r != '\r') {
							t.Fatalf("readBody(%q) accepted %U in %q", raw, r, key)
						}
					}
				}
			}
		}
	})
}
