package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/store"
)

func TestRegister(t *testing.T) {
	const url = "/api/auth/local/register"
	reg := func(username, email, password string) string {
		b, _ := json.Marshal(map[string]string{"username": username, "email": email, "password": password})
		return string(b)
	}
	taken := errorJSONFor(400, "ApplicationError", "Email or Username are already taken")
	runScenarios(t, []scenario{
		{name: "success", method: "POST", url: url, body: reg("newbie", "NewBie@Example.com", "secret123"), wantStatus: 200,
			want: []string{`"jwt":"`, `"username":"newbie"`, `"email":"newbie@example.com"`, `"confirmed":true`, `"blocked":false`, `"provider":"local"`},
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				users, _ := e.store.Users().ByEmail(context.Background(), "newbie@example.com")
				if len(users) != 1 || users[0].Role == nil || users[0].Role.Type != "authenticated" {
					t.Errorf("stored user = %+v, want one authenticated user", users)
				}
				if !strings.HasPrefix(users[0].Password, "$2a$04$") {
					t.Errorf("stored password is not a bcrypt hash at the configured cost")
				}
			}},
		{name: "unknown keys", method: "POST", url: url, body: `{"username":"newbie","email":"n@example.com","password":"secret123","confirmed":true,"role":1}`,
			wantStatus: 400, want: []string{errorJSONFor(400, "ValidationError", "Invalid parameters: confirmed, role")}},
		{name: "mass assignment of blocked and provider", method: "POST", url: url, body: `{"username":"newbie","email":"n@example.com","password":"secret123","blocked":false,"provider":"github","resetPasswordToken":"x"}`,
			wantStatus: 400, want: []string{`Invalid parameters: blocked, provider, resetPasswordToken`}},
		{name: "bad email", method: "POST", url: url, body: reg("newbie", "not-an-email", "secret123"), wantStatus: 400, want: []string{`"message":"email must be a valid email"`}},
		{name: "missing everything", method: "POST", url: url, body: `{}`, wantStatus: 400, want: []string{`"3 errors occurred"`}},
		{name: "short username", method: "POST", url: url, body: reg("ab", "ab@example.com", "secret123"), wantStatus: 400, want: []string{"username must be at least 3 characters"}},
		{name: "short password", method: "POST", url: url, body: reg("newbie", "n@example.com", "12345"), wantStatus: 400, want: []string{"password must be at least 6 characters"}},
		{name: "72-byte password accepted", method: "POST", url: url, body: reg("newbie", "n@example.com", strings.Repeat("é", 36)), wantStatus: 200},
		{name: "73-byte password refused", method: "POST", url: url, body: reg("newbie", "n@example.com", strings.Repeat("é", 36)+"x"), wantStatus: 400,
			want: []string{`"message":"Password must be less than 73 bytes"`}},
		{name: "email taken (case-insensitive)", method: "POST", url: url, body: reg("other", "ALICE@example.com", "secret123"), wantStatus: 400, want: []string{taken}},
		{name: "username taken", method: "POST", url: url, body: reg("alice", "other@example.com", "secret123"), wantStatus: 400, want: []string{taken}},
		{name: "email used as someone's username", method: "POST", url: url, body: reg("other", "weird@example.com", "secret123"),
			setup: func(e *testEnv) { e.createUser("weird@example.com", "w@example.com", "authenticated") }, wantStatus: 400, want: []string{taken}},
		{name: "username equal to someone's email", method: "POST", url: url, body: reg("alice@example.com", "fresh@example.com", "secret123"), wantStatus: 400, want: []string{taken}},
		{name: "unique_email covers other providers", method: "POST", url: url, body: reg("other", "gh@example.com", "secret123"),
			setup: func(e *testEnv) {
				e.createUser("ghuser", "gh@example.com", "authenticated", func(u *store.User) { u.Provider = "github" })
			},
			wantStatus: 400, want: []string{taken}},
		{name: "unique_email off allows another provider's email", method: "POST", url: url, body: reg("other", "gh@example.com", "secret123"),
			setup: func(e *testEnv) {
				e.createUser("ghuser", "gh@example.com", "authenticated", func(u *store.User) { u.Provider = "github" })
				e.setAdvanced(func(a *store.Advanced) { a.UniqueEmail = false })
			},
			wantStatus: 200},
		{name: "registration disabled", method: "POST", url: url, body: reg("newbie", "n@example.com", "secret123"),
			setup:      func(e *testEnv) { e.setAdvanced(func(a *store.Advanced) { a.AllowRegister = false }) },
			wantStatus: 400, want: []string{errorJSONFor(400, "ApplicationError", "Register action is currently disabled")}},
		{name: "default role missing", method: "POST", url: url, body: reg("newbie", "n@example.com", "secret123"),
			setup:      func(e *testEnv) { e.setAdvanced(func(a *store.Advanced) { a.DefaultRole = "ghost" }) },
			wantStatus: 400, want: []string{errorJSONFor(400, "ApplicationError", "Impossible to find the default role")}},
		{name: "default role honoured", method: "POST", url: url, body: reg("newbie", "n@example.com", "secret123"),
			setup:      func(e *testEnv) { e.setAdvanced(func(a *store.Advanced) { a.DefaultRole = "public" }) },
			wantStatus: 200,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				users, _ := e.store.Users().ByEmail(context.Background(), "n@example.com")
				if len(users) != 1 || users[0].Role.Type != "public" {
					t.Errorf("role = %+v, want public", users[0].Role)
				}
			}},
		{name: "confirmation on: user without jwt", method: "POST", url: url, body: reg("newbie", "n@example.com", "secret123"),
			setup:      func(e *testEnv) { e.setAdvanced(func(a *store.Advanced) { a.EmailConfirmation = true }) },
			wantStatus: 200, want: []string{`"user":{`, `"confirmed":false`}, notWant: []string{`"jwt"`}},
		{name: "unicode username", method: "POST", url: url, body: reg("Zoë 例え", "zoe@example.com", "secret123"), wantStatus: 200, want: []string{`"username":"Zoë 例え"`}},
		{name: "template injection username is stored as text", method: "POST", url: url, body: reg("<%= process.env %>", "tpl@example.com", "secret123"), wantStatus: 200,
			want: []string{`"username":"\u003c%= process.env %\u003e"`}},
	})
}

// TestConcurrentRegistrations races many registrations of one email (and of
// one username): exactly one user must exist afterwards.
func TestConcurrentRegistrations(t *testing.T) {
	for _, tc := range []struct {
		name string
		body func(i int) string
		ok   func(u store.User) bool
	}{
		{"same email", func(i int) string {
			return fmt.Sprintf(`{"username":"racer%d","email":"race@example.com","password":"secret123"}`, i)
		}, func(u store.User) bool { return u.Email == "race@example.com" }},
		{"same username", func(i int) string {
			return fmt.Sprintf(`{"username":"racer","email":"race%d@example.com","password":"secret123"}`, i)
		}, func(u store.User) bool { return u.Username == "racer" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			const n = 24
			codes := make([]int, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					<-start
					codes[i] = e.request("POST", "/api/auth/local/register", tc.body(i), nil).Code
				}(i)
			}
			close(start)
			wg.Wait()
			ok := 0
			for _, c := range codes {
				switch c {
				case http.StatusOK:
					ok++
				case http.StatusBadRequest:
				default:
					t.Errorf("status %d, want 200 or 400", c)
				}
			}
			var users []store.User
			e.store.DB.Find(&users)
			matching := 0
			for _, u := range users {
				if tc.ok(u) {
					matching++
				}
			}
			if ok != 1 || matching != 1 {
				t.Errorf("%d registrations succeeded and %d users match, want exactly 1 and 1 (codes %v)", ok, matching, codes)
			}
		})
	}
}
