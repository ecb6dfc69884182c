package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/mail/mailtest"
	"github.com/gatehouse/gatehouse/store"
	"golang.org/x/crypto/bcrypt"
)

// testClock is a clock the test moves by hand (Config.Now): expiry and the
// resend limit are tested without sleeping.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Now().UTC().Truncate(time.Second)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// mailEnv is a test environment whose mail goes through a real SMTP client
// (mail.NewSMTP) to an in-process SMTP server (mailtest), on a test clock.
type mailEnv struct {
	*testEnv
	smtp  *mailtest.Server
	clock *testClock
}

// testSender is the default sender (EMAIL_FROM) of mail environments.
const testSender = "no-reply@gatehouse.test"

// newMailEnv builds a mail environment; opts adjust the Config after the
// mailer and clock are set (e.g. to replace the mailer).
func newMailEnv(t *testing.T, opts ...func(*Config)) *mailEnv {
	t.Helper()
	srv := mailtest.NewServer(t)
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host(), Port: srv.Port(), Security: mail.SecurityNone,
		From: "Gatehouse <" + testSender + ">", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	clock := newTestClock()
	base := func(c *Config) { c.Mailer = sender; c.Now = clock.Now }
	e := newTestEnv(t, append([]func(*Config){base}, opts...)...)
	return &mailEnv{testEnv: e, smtp: srv, clock: clock}
}

// call sends a JSON request, with a bearer token when token is not "".
func (e *testEnv) call(method, url, body, token string) *httptest.ResponseRecorder {
	var h http.Header
	if token != "" {
		h = http.Header{"Authorization": {"Bearer " + token}}
	}
	return e.request(method, url, body, h)
}

// mustStatus fails the test unless rec has the status, and checks that no
// response carries a hash, a private field or one of the secrets given.
func mustStatus(t *testing.T, what string, rec *httptest.ResponseRecorder, want int, secrets ...string) {
	t.Helper()
	if rec.Code != want {
		t.Fatalf("%s: status = %d, want %d\n%s", what, rec.Code, want, rec.Body)
	}
	for _, s := range append(append([]string{}, notWantAlways...), secrets...) {
		if s != "" && strings.Contains(rec.Body.String()+strings.Join(rec.Header().Values("Location"), " "), s) {
			t.Errorf("%s: the answer contains %q\n%s", what, s, rec.Body)
		}
	}
}

// jwtOf returns the jwt of a {jwt, user} answer.
func jwtOf(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var got struct{ JWT string }
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.JWT == "" {
		t.Fatalf("no jwt in %s", rec.Body)
	}
	return got.JWT
}

var (
	resetCodeInMail    = regexp.MustCompile(`code=([0-9a-f]{64})`)
	confirmationInMail = regexp.MustCompile(`confirmation=([0-9a-f]{64})`)
)

// codeIn extracts a code from a received mail's text part, checking the HTML
// part carries the same one.
func codeIn(t *testing.T, m mailtest.Received, re *regexp.Regexp) string {
	t.Helper()
	text := re.FindStringSubmatch(m.Text)
	html := re.FindStringSubmatch(m.HTML)
	if text == nil || html == nil || text[1] != html[1] {
		t.Fatalf("no code matching %s in both parts of the mail:\ntext: %s\nhtml: %s", re, m.Text, m.HTML)
	}
	return text[1]
}

func loginBody(identifier, password string) string {
	b, _ := json.Marshal(map[string]string{"identifier": identifier, "password": password})
	return string(b)
}

func resetBody(code, password, confirmation string) string {
	b, _ := json.Marshal(map[string]string{"code": code, "password": password, "passwordConfirmation": confirmation})
	return string(b)
}

// storedUser reads the user's row as it is now.
func (e *testEnv) storedUser(id uint) store.User {
	e.t.Helper()
	u, err := e.store.Users().ByID(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// withOutbox gives a scenario an in-memory mailer, read back with outboxOf.
func withOutbox() func(*Config) {
	return func(c *Config) { c.Mailer = mail.NewOutbox(nil) }
}

func outboxOf(e *testEnv) *mail.Outbox { return e.cfg.Mailer.(*mail.Outbox) }

// issueKnownCode stores a token of the kind for the user whose plain value
// the scenario knows.
func issueKnownCode(e *testEnv, kind store.TokenKind, userID uint, code string, expires time.Duration) {
	e.t.Helper()
	if _, err := e.store.Users().IssueToken(context.Background(), kind, userID, store.HashToken(code), time.Now(), expires, 0); err != nil {
		e.t.Fatal(err)
	}
}

const knownCode = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func wantMails(n int) func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
	return func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
		if got := len(outboxOf(e).Messages()); got != n {
			t.Errorf("%d mails sent, want %d", got, n)
		}
	}
}

func TestForgotPassword(t *testing.T) {
	const url = "/api/auth/forgot-password"
	ok := `{"ok":true}`
	runScenarios(t, []scenario{
		{name: "known address", method: "POST", url: url, body: `{"email":"alice@example.com"}`, envOpts: []func(*Config){withOutbox()},
			wantStatus: 200, want: []string{ok},
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				msgs := outboxOf(e).Messages()
				if len(msgs) != 1 || msgs[0].To != "alice@example.com" || msgs[0].Subject != "Reset password" {
					t.Fatalf("mails = %+v, want one reset mail to alice", msgs)
				}
				u := e.storedUser(e.users["authenticated"].ID)
				code := resetCodeInMail.FindStringSubmatch(msgs[0].Text)
				if code == nil || u.ResetPasswordToken == nil || *u.ResetPasswordToken != store.HashToken(code[1]) {
					t.Errorf("stored reset token is not the hash of the mailed code")
				}
				if strings.Contains(rec.Body.String(), code[1]) {
					t.Errorf("the answer contains the code")
				}
			}},
		{name: "address is case-insensitive", method: "POST", url: url, body: `{"email":"ALICE@Example.com"}`, envOpts: []func(*Config){withOutbox()},
			wantStatus: 200, want: []string{ok}, check: wantMails(1)},
		{name: "unknown address: same answer, no mail", method: "POST", url: url, body: `{"email":"nobody@example.com"}`, envOpts: []func(*Config){withOutbox()},
			wantStatus: 200, want: []string{ok}, check: wantMails(0)},
		{name: "blocked: same answer, no mail", method: "POST", url: url, body: `{"email":"bob@example.com"}`, envOpts: []func(*Config){withOutbox()},
			setup: func(e *testEnv) {
				e.createUser("bob", "bob@example.com", "authenticated", func(u *store.User) { u.Blocked = true })
			},
			wantStatus: 200, want: []string{ok}, check: wantMails(0)},
		{name: "missing email", method: "POST", url: url, body: `{}`, wantStatus: 400,
			want: []string{`"name":"ValidationError","message":"email is a required field"`}},
		{name: "bad email", method: "POST", url: url, body: `{"email":"not-an-email"}`, wantStatus: 400, want: []string{`"message":"email must be a valid email"`}},
		{name: "email of the wrong type", method: "POST", url: url, body: `{"email":{"$ne":null}}`, wantStatus: 400, want: []string{"email must be a `string` type"}},
		{name: "unknown key (noUnknown)", method: "POST", url: url, body: `{"email":"alice@example.com","url":"https://evil.example"}`, wantStatus: 400,
			want: []string{`"message":"this field has unspecified keys: url"`, `"path":[]`}},
		{name: "unknown keys and a bad email", method: "POST", url: url, body: `{"email":"x","b":1,"a":2}`, wantStatus: 400,
			want: []string{`"message":"2 errors occurred"`, `email must be a valid email`, `this field has unspecified keys: a, b`}},
		{name: "authenticated callers are refused", method: "POST", url: url, caller: "authenticated", body: `{"email":"alice@example.com"}`, wantStatus: 403},
	})
}

func TestResetPassword(t *testing.T) {
	const url = "/api/auth/reset-password"
	useCode := func(e *testEnv) {
		issueKnownCode(e, store.ResetToken, e.users["authenticated"].ID, knownCode, time.Hour)
	}
	codeKept := func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
		if u := e.storedUser(e.users["authenticated"].ID); u.ResetPasswordToken == nil {
			t.Errorf("a refused reset used up the code")
		}
	}
	runScenarios(t, []scenario{
		{name: "success", method: "POST", url: url, body: resetBody(knownCode, "brand-new-pass", "brand-new-pass"), setup: useCode,
			wantStatus: 200, want: []string{`"jwt":"`, `"username":"alice"`}, notWant: []string{knownCode, store.HashToken(knownCode)},
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				u := e.storedUser(e.users["authenticated"].ID)
				if bcrypt.CompareHashAndPassword([]byte(u.Password), []byte("brand-new-pass")) != nil {
					t.Errorf("the stored password is not the new one")
				}
				if u.ResetPasswordToken != nil || u.ResetTokenExpiresAt != nil {
					t.Errorf("the code was not used up")
				}
			}},
		{name: "passwords do not match", method: "POST", url: url, body: resetBody(knownCode, "brand-new-pass", "other-pass"), setup: useCode,
			wantStatus: 400, want: []string{`"name":"ValidationError","message":"Passwords do not match"`}, check: codeKept},
		{name: "incorrect code", method: "POST", url: url, body: resetBody(strings.Repeat("f", 64), "brand-new-pass", "brand-new-pass"), setup: useCode,
			wantStatus: 400, want: []string{errorJSONFor(400, "ValidationError", "Incorrect code provided")}, check: codeKept},
		{name: "the hash is not a code", method: "POST", url: url, body: resetBody(store.HashToken(knownCode), "brand-new-pass", "brand-new-pass"), setup: useCode,
			wantStatus: 400, want: []string{errorJSONFor(400, "ValidationError", "Incorrect code provided")}},
		{name: "no code issued", method: "POST", url: url, body: resetBody(knownCode, "brand-new-pass", "brand-new-pass"),
			wantStatus: 400, want: []string{"Incorrect code provided"}},
		{name: "expired code", method: "POST", url: url, body: resetBody(knownCode, "brand-new-pass", "brand-new-pass"),
			setup: func(e *testEnv) {
				issueKnownCode(e, store.ResetToken, e.users["authenticated"].ID, knownCode, -time.Second)
			},
			wantStatus: 400, want: []string{"Incorrect code provided"}},
		{name: "a confirmation token is not a reset code", method: "POST", url: url, body: resetBody(knownCode, "brand-new-pass", "brand-new-pass"),
			setup: func(e *testEnv) {
				issueKnownCode(e, store.ConfirmationToken, e.users["authenticated"].ID, knownCode, time.Hour)
			},
			wantStatus: 400, want: []string{"Incorrect code provided"}},
		{name: "missing everything", method: "POST", url: url, body: `{}`, wantStatus: 400,
			want: []string{`"3 errors occurred"`, "password is a required field", "passwordConfirmation is a required field", "code is a required field"}},
		{name: "unknown key (noUnknown)", method: "POST", url: url, body: `{"code":"` + knownCode + `","password":"brand-new-pass","passwordConfirmation":"brand-new-pass","email":"alice@example.com"}`,
			setup: useCode, wantStatus: 400, want: []string{`"message":"this field has unspecified keys: email"`}, check: codeKept},
		{name: "72-byte password accepted", method: "POST", url: url, body: resetBody(knownCode, strings.Repeat("é", 36), strings.Repeat("é", 36)), setup: useCode,
			wantStatus: 200},
		{name: "73-byte password refused", method: "POST", url: url, body: resetBody(knownCode, strings.Repeat("é", 36)+"x", strings.Repeat("é", 36)+"x"), setup: useCode,
			wantStatus: 400, want: []string{`"message":"Password must be less than 73 bytes"`}, check: codeKept},
		{name: "short password keeps the code", method: "POST", url: url, body: resetBody(knownCode, "12345", "12345"), setup: useCode,
			wantStatus: 400, want: []string{`"message":"password must be at least 6 characters"`}, check: codeKept},
		{name: "code of the wrong type", method: "POST", url: url, body: `{"code":123,"password":"brand-new-pass","passwordConfirmation":"brand-new-pass"}`,
			wantStatus: 400, want: []string{"code must be a `string` type"}},
	})
}

func TestChangePassword(t *testing.T) {
	const url = "/api/auth/change-password"
	change := func(current, password, confirmation string) string {
		b, _ := json.Marshal(map[string]string{"currentPassword": current, "password": password, "passwordConfirmation": confirmation})
		return string(b)
	}
	runScenarios(t, []scenario{
		{name: "anonymous", method: "POST", url: url, body: `{}`, wantStatus: 403, want: []string{errorJSONFor(403, "ForbiddenError", "Forbidden")}},
		{name: "passwords do not match", method: "POST", url: url, caller: "authenticated", body: change(testPassword, "brand-new-pass", "other-pass"),
			wantStatus: 400, want: []string{`"name":"ValidationError","message":"Passwords do not match"`}},
		{name: "wrong current password", method: "POST", url: url, caller: "authenticated", body: change("not-my-password", "brand-new-pass", "brand-new-pass"),
			wantStatus: 400, want: []string{errorJSONFor(400, "ValidationError", "The provided current password is invalid")}},
		{name: "same password", method: "POST", url: url, caller: "authenticated", body: change(testPassword, testPassword, testPassword),
			wantStatus: 400, want: []string{errorJSONFor(400, "ValidationError", "Your new password must be different than your current password")}},
		{name: "success", method: "POST", url: url, caller: "authenticated", body: change(testPassword, "brand-new-pass", "brand-new-pass"),
			wantStatus: 200, want: []string{`"jwt":"`, `"id":1`, `"username":"alice"`, `"email":"alice@example.com"`},
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				if rec := e.call("POST", "/api/auth/local", loginBody("alice", "brand-new-pass"), ""); rec.Code != 200 {
					t.Errorf("login with the new password: %d %s", rec.Code, rec.Body)
				}
				if rec := e.call("POST", "/api/auth/local", loginBody("alice", testPassword), ""); rec.Code != 400 {
					t.Errorf("login with the old password: %d, want 400", rec.Code)
				}
			}},
		{name: "a pending reset code is dropped", method: "POST", url: url, caller: "authenticated", body: change(testPassword, "brand-new-pass", "brand-new-pass"),
			setup: func(e *testEnv) {
				issueKnownCode(e, store.ResetToken, e.users["authenticated"].ID, knownCode, time.Hour)
			},
			wantStatus: 200,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				if rec := e.call("POST", "/api/auth/reset-password", resetBody(knownCode, "another-pass", "another-pass"), ""); rec.Code != 400 {
					t.Errorf("reset with a code issued before the change: %d, want 400", rec.Code)
				}
			}},
		{name: "missing everything", method: "POST", url: url, caller: "authenticated", body: `{}`, wantStatus: 400,
			want: []string{`"3 errors occurred"`, "currentPassword is a required field"}},
		{name: "unknown key (noUnknown)", method: "POST", url: url, caller: "authenticated",
			body:       `{"currentPassword":"` + testPassword + `","password":"brand-new-pass","passwordConfirmation":"brand-new-pass","role":3}`,
			wantStatus: 400, want: []string{`"message":"this field has unspecified keys: role"`}},
		{name: "73-byte password refused", method: "POST", url: url, caller: "authenticated", body: change(testPassword, strings.Repeat("é", 36)+"x", strings.Repeat("é", 36)+"x"),
			wantStatus: 400, want: []string{`"message":"Password must be less than 73 bytes"`}},
		{name: "72-byte password accepted", method: "POST", url: url, caller: "authenticated", body: change(testPassword, strings.Repeat("é", 36), strings.Repeat("é", 36)),
			wantStatus: 200},
		{name: "short password", method: "POST", url: url, caller: "authenticated", body: change(testPassword, "12345", "12345"),
			wantStatus: 400, want: []string{`"message":"password must be at least 6 characters"`}},
	})
}

// TestPasswordResetEndToEnd: forgot → the mail arrives over SMTP → its code
// resets the password → the new password logs in, the old one does not, the
// code cannot be used twice, the JWTs issued before answer 401; a code past
// RESET_TOKEN_TTL fails.
func TestPasswordResetEndToEnd(t *testing.T) {
	e := newMailEnv(t)
	e.setAdvanced(func(a *store.Advanced) {
		u := "https://app.example.com/reset-password"
		a.EmailResetPassword = &u
	})
	alice := e.users["authenticated"]
	oldJWT := jwtOf(t, e.call("POST", "/api/auth/local", loginBody("alice", testPassword), ""))
	mustStatus(t, "GET /api/users/me before", e.call("GET", "/api/users/me", "", oldJWT), 200)
	e.clock.Advance(2 * time.Second) // the reset happens in a later second than oldJWT's iat

	mustStatus(t, "POST /api/auth/forgot-password", e.call("POST", "/api/auth/forgot-password", `{"email":"alice@example.com"}`, ""), 200)
	msgs := e.smtp.WaitFor(t, 1, 5*time.Second)
	m := msgs[0]
	if len(m.To) != 1 || m.To[0] != "alice@example.com" || m.Subject != "Reset password" || !strings.Contains(m.From, testSender) {
		t.Errorf("mail to %v from %q subject %q; want alice, EMAIL_FROM (the default template's Strapi sender is replaced), Reset password", m.To, m.From, m.Subject)
	}
	code := codeIn(t, m, resetCodeInMail)
	if !strings.Contains(m.Text, "https://app.example.com/reset-password?code="+code) {
		t.Errorf("the link is not email_reset_password?code=<code>:\n%s", m.Text)
	}
	if stored := e.storedUser(alice.ID).ResetPasswordToken; stored == nil || *stored == code || *stored != store.HashToken(code) {
		t.Errorf("stored token = %v, want only the SHA-256 of the code", stored)
	}

	rec := e.call("POST", "/api/auth/reset-password", resetBody(code, "brand-new-pass", "brand-new-pass"), "")
	mustStatus(t, "POST /api/auth/reset-password", rec, 200, code, store.HashToken(code))
	newJWT := jwtOf(t, rec)

	mustStatus(t, "login with the new password", e.call("POST", "/api/auth/local", loginBody("alice", "brand-new-pass"), ""), 200)
	mustStatus(t, "login with the old password", e.call("POST", "/api/auth/local", loginBody("alice", testPassword), ""), 400)
	rec = e.call("POST", "/api/auth/reset-password", resetBody(code, "another-pass", "another-pass"), "")
	mustStatus(t, "the same code again", rec, 400, code)
	if !strings.Contains(rec.Body.String(), "Incorrect code provided") {
		t.Errorf("the same code again: %s", rec.Body)
	}
	mustStatus(t, "the JWT issued before the reset", e.call("GET", "/api/users/me", "", oldJWT), 401)
	mustStatus(t, "the JWT of the reset answer", e.call("GET", "/api/users/me", "", newJWT), 200)

	// An expired code. Past the resend interval, a new code is mailed.
	e.clock.Advance(time.Minute)
	mustStatus(t, "forgot again", e.call("POST", "/api/auth/forgot-password", `{"email":"alice@example.com"}`, ""), 200)
	code2 := codeIn(t, e.smtp.WaitFor(t, 2, 5*time.Second)[1], resetCodeInMail)
	if code2 == code {
		t.Fatal("the second code equals the first")
	}
	e.clock.Advance(time.Hour + time.Second)
	rec = e.call("POST", "/api/auth/reset-password", resetBody(code2, "third-password", "third-password"), "")
	mustStatus(t, "a code past RESET_TOKEN_TTL", rec, 400, code2)
	if !strings.Contains(rec.Body.String(), "Incorrect code provided") {
		t.Errorf("expired code: %s", rec.Body)
	}
	mustStatus(t, "the password is unchanged after the expired code", e.call("POST", "/api/auth/local", loginBody("alice", "brand-new-pass"), ""), 200)
}

// TestChangePasswordRevokesEarlierTokens: after change-password the JWTs
// issued before it answer 401 and the one it returns works.
func TestChangePasswordRevokesEarlierTokens(t *testing.T) {
	e := newMailEnv(t)
	oldJWT := jwtOf(t, e.call("POST", "/api/auth/local", loginBody("alice", testPassword), ""))
	e.clock.Advance(2 * time.Second)
	body := `{"currentPassword":"` + testPassword + `","password":"brand-new-pass","passwordConfirmation":"brand-new-pass"}`
	rec := e.call("POST", "/api/auth/change-password", body, oldJWT)
	mustStatus(t, "POST /api/auth/change-password", rec, 200)
	newJWT := jwtOf(t, rec)
	mustStatus(t, "the JWT issued before the change", e.call("GET", "/api/users/me", "", oldJWT), 401)
	mustStatus(t, "the JWT of the change answer", e.call("GET", "/api/users/me", "", newJWT), 200)
	// The same second: a JWT minted at the change's second is still valid.
	mustStatus(t, "a JWT minted after the change", e.call("GET", "/api/users/me", "", e.token(e.users["authenticated"].ID)), 200)
	mustStatus(t, "changing again with the old JWT", e.call("POST", "/api/auth/change-password", body, oldJWT), 401)
}

// TestForgotPasswordResendLimit: one mail per address per 60 seconds; a
// request within it gets the same answer and sends nothing, and the mailed
// code stays the valid one.
func TestForgotPasswordResendLimit(t *testing.T) {
	e := newMailEnv(t)
	forgot := func(email string) {
		t.Helper()
		rec := e.call("POST", "/api/auth/forgot-password", `{"email":"`+email+`"}`, "")
		mustStatus(t, "forgot-password "+email, rec, 200)
		if rec.Body.String() != `{"ok":true}` {
			t.Errorf("forgot-password %s: %s, want {\"ok\":true}", email, rec.Body)
		}
	}
	forgot("alice@example.com")
	first := codeIn(t, e.smtp.WaitFor(t, 1, 5*time.Second)[0], resetCodeInMail)
	e.clock.Advance(59 * time.Second)
	forgot("ALICE@example.com")
	if n := len(e.smtp.Messages()); n != 1 {
		t.Fatalf("%d mails after a second request within 60s, want 1", n)
	}
	e.createUser("bob", "bob@example.com", "authenticated")
	forgot("bob@example.com") // the limit is per address
	if n := len(e.smtp.Messages()); n != 2 {
		t.Fatalf("%d mails after bob's request, want 2", n)
	}
	e.clock.Advance(time.Second)
	forgot("alice@example.com")
	msgs := e.smtp.WaitFor(t, 3, 5*time.Second)
	second := codeIn(t, msgs[2], resetCodeInMail)
	mustStatus(t, "the replaced code", e.call("POST", "/api/auth/reset-password", resetBody(first, "brand-new-pass", "brand-new-pass"), ""), 400)
	mustStatus(t, "the new code", e.call("POST", "/api/auth/reset-password", resetBody(second, "brand-new-pass", "brand-new-pass"), ""), 200)
}

// blackHole accepts SMTP connections and never answers.
func blackHole(t *testing.T) (host string, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	a := ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

// TestForgotPasswordWhenSMTPFails: with the SMTP server refusing, gone or
// silent, forgot-password still answers {ok:true} at once (it only queues
// the mail); the failed attempt leaves the mail queued with its error and a
// next try, and changes nothing of the user but the reset code; once mail
// works again the next try delivers it, once, and its code works.
func TestForgotPasswordWhenSMTPFails(t *testing.T) {
	silentHost, silentPort := blackHole(t)
	silent, err := mail.NewSMTP(mail.SMTPConfig{Host: silentHost, Port: silentPort, Security: mail.SecurityNone,
		From: testSender, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	slowSMTP, err := mail.NewSMTP(mail.SMTPConfig{Host: silentHost, Port: silentPort, Security: mail.SecurityNone,
		From: testSender, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		opts  []func(*Config)
		fail  func(e *mailEnv)
		mend  func(e *mailEnv)
		limit time.Duration
	}{
		{name: "server down (421)", fail: func(e *mailEnv) { e.smtp.SetDown(true) }, mend: func(e *mailEnv) { e.smtp.SetDown(false) }, limit: 5 * time.Second},
		{name: "message refused (554)", fail: func(e *mailEnv) { e.smtp.FailNext(errors.New("mailbox unavailable")) }, mend: func(*mailEnv) {}, limit: 5 * time.Second},
		{name: "server gone (connection refused)", fail: func(e *mailEnv) { e.smtp.Close() }, limit: 5 * time.Second},
		{name: "silent server, SMTP timeout 300ms", opts: []func(*Config){func(c *Config) { c.Mailer = silent }}, limit: 2 * time.Second},
		{name: "silent server, MailTimeout 200ms", opts: []func(*Config){func(c *Config) { c.Mailer = slowSMTP; c.MailTimeout = 200 * time.Millisecond }}, limit: 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newMailEnv(t, tc.opts...)
			alice := e.users["authenticated"]
			before := e.storedUser(alice.ID)
			if tc.fail != nil {
				tc.fail(e)
			}
			e.asyncMail = true
			start := time.Now()
			rec := e.call("POST", "/api/auth/forgot-password", `{"email":"alice@example.com"}`, "")
			elapsed := time.Since(start)
			mustStatus(t, "forgot-password with mail failing", rec, 200)
			if rec.Body.String() != `{"ok":true}` {
				t.Errorf("answer = %s, want {\"ok\":true}", rec.Body)
			}
			if elapsed > 500*time.Millisecond {
				t.Errorf("answered after %s: the request waited for the mail", elapsed)
			}
			start = time.Now()
			e.deliverMail()
			if took := time.Since(start); took > tc.limit {
				t.Errorf("the failed attempt took %s, want within %s", took, tc.limit)
			}
			jobs, err := e.store.MailQueue().List(t.Context(), 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(jobs) != 1 || jobs[0].Status != store.MailPending || jobs[0].Attempts != 1 || jobs[0].LastError == "" ||
				!jobs[0].NextAttemptAt.After(e.clock.Now()) {
				t.Fatalf("queue after the failed attempt = %+v, want one pending mail, 1 attempt, an error and a next try", jobs)
			}
			after := e.storedUser(alice.ID)
			if after.Password != before.Password || !after.TokensValidAfter.Equal(before.TokensValidAfter) ||
				after.Confirmed != before.Confirmed || after.Blocked != before.Blocked || after.ConfirmationToken != nil {
				t.Errorf("the failed attempt changed more than the reset code: before %+v after %+v", before, after)
			}
			if tc.mend == nil { // gone or silent for good
				return
			}
			tc.mend(e)
			e.deliverMail() // not due yet: nothing is sent
			if n := len(e.smtp.Messages()); n != 0 {
				t.Fatalf("%d mails before the next try is due, want 0", n)
			}
			e.clock.Advance(time.Minute)
			e.deliverMail()
			code := codeIn(t, e.smtp.WaitFor(t, 1, 5*time.Second)[0], resetCodeInMail)
			e.clock.Advance(time.Hour)
			e.deliverMail()
			if n := len(e.smtp.Messages()); n != 1 {
				t.Errorf("%d mails delivered, want exactly 1", n)
			}
			if d, err := e.store.MailQueue().Depth(t.Context()); err != nil || d != (store.MailQueueDepth{}) {
				t.Errorf("queue after delivery = %+v, %v; want empty", d, err)
			}
			e.clock.Advance(-time.Hour)
			mustStatus(t, "the delivered code", e.call("POST", "/api/auth/reset-password", resetBody(code, "brand-new-pass", "brand-new-pass"), ""), 200)
		})
	}
}
