package handlers

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/mail/mailtest"
	"github.com/gatehouse/gatehouse/store"
)

// unconfirmed adds carol, an unconfirmed user, to a scenario.
func unconfirmed(e *testEnv) store.User {
	return e.createUser("carol", "carol@example.com", "authenticated", func(u *store.User) { u.Confirmed = false })
}

func TestEmailConfirmation(t *testing.T) {
	const url = "/api/auth/email-confirmation"
	withCarolsToken := func(e *testEnv) {
		issueKnownCode(e, store.ConfirmationToken, unconfirmed(e).ID, knownCode, time.Hour)
	}
	confirmed := func(want bool) func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
		return func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
			users, _ := e.store.Users().ByEmail(t.Context(), "carol@example.com")
			if len(users) != 1 || users[0].Confirmed != want {
				t.Fatalf("carol confirmed = %v, want %v", users[0].Confirmed, want)
			}
			if want && users[0].ConfirmationToken != nil {
				t.Errorf("the token was not used up")
			}
		}
	}
	invalid := errorJSONFor(400, "ValidationError", "Invalid token")
	runScenarios(t, []scenario{
		{name: "confirms and redirects", method: "GET", url: url + "?confirmation=" + knownCode,
			setup: func(e *testEnv) {
				withCarolsToken(e)
				e.setAdvanced(func(a *store.Advanced) {
					r := "http://localhost:3000/confirmed"
					a.EmailConfirmationRedirection = &r
				})
			},
			wantStatus: 302, notWant: []string{knownCode},
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				if loc := rec.Header().Get("Location"); loc != "http://localhost:3000/confirmed" {
					t.Errorf("Location = %q, want the redirection setting", loc)
				}
				confirmed(true)(t, e, rec)
			}},
		{name: "redirects to / without a redirection setting", method: "GET", url: url + "?confirmation=" + knownCode, setup: withCarolsToken,
			wantStatus: 302,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				if loc := rec.Header().Get("Location"); loc != "/" {
					t.Errorf("Location = %q, want /", loc)
				}
			}},
		{name: "missing token", method: "GET", url: url, wantStatus: 400, want: []string{`"name":"ValidationError","message":"confirmation is a required field"`}},
		{name: "empty token", method: "GET", url: url + "?confirmation=", wantStatus: 400, want: []string{`confirmation is a required field`}},
		{name: "unknown token", method: "GET", url: url + "?confirmation=" + strings.Repeat("a", 64), setup: withCarolsToken,
			wantStatus: 400, want: []string{invalid}, check: confirmed(false)},
		{name: "the stored hash is not a token", method: "GET", url: url + "?confirmation=" + store.HashToken(knownCode), setup: withCarolsToken,
			wantStatus: 400, want: []string{invalid}, check: confirmed(false)},
		{name: "expired token", method: "GET", url: url + "?confirmation=" + knownCode,
			setup: func(e *testEnv) {
				issueKnownCode(e, store.ConfirmationToken, unconfirmed(e).ID, knownCode, -time.Second)
			},
			wantStatus: 400, want: []string{invalid}, check: confirmed(false)},
		{name: "a reset code is not a confirmation token", method: "GET", url: url + "?confirmation=" + knownCode,
			setup:      func(e *testEnv) { issueKnownCode(e, store.ResetToken, unconfirmed(e).ID, knownCode, time.Hour) },
			wantStatus: 400, want: []string{invalid}, check: confirmed(false)},
		{name: "authenticated callers are refused", method: "GET", url: url + "?confirmation=" + knownCode, caller: "authenticated", wantStatus: 403},
	})
}

func TestSendEmailConfirmation(t *testing.T) {
	const url = "/api/auth/send-email-confirmation"
	answer := func(email string) string { return `{"email":"` + email + `","sent":true}` }
	exactly := func(body string, mails int) func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
		return func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
			if rec.Body.String() != body {
				t.Errorf("answer = %s, want %s", rec.Body, body)
			}
			wantMails(mails)(t, e, rec)
		}
	}
	outbox := []func(*Config){withOutbox()}
	runScenarios(t, []scenario{
		{name: "unconfirmed: a link is sent", method: "POST", url: url, body: `{"email":"Carol@Example.com"}`, envOpts: outbox,
			setup: func(e *testEnv) { unconfirmed(e) }, wantStatus: 200,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				exactly(answer("Carol@Example.com"), 1)(t, e, rec)
				m, _ := outboxOf(e).Last()
				if m.To != "carol@example.com" || m.Subject != "Account confirmation" ||
					!strings.Contains(m.Text, "http://localhost:1337/api/auth/email-confirmation?confirmation=") {
					t.Errorf("mail = %+v", m)
				}
			}},
		{name: "unknown address: same answer, no mail", method: "POST", url: url, body: `{"email":"Nobody@Example.com"}`, envOpts: outbox,
			wantStatus: 200, check: exactly(answer("Nobody@Example.com"), 0)},
		{name: "already confirmed: same answer, no mail", method: "POST", url: url, body: `{"email":"Alice@Example.com"}`, envOpts: outbox,
			wantStatus: 200, check: exactly(answer("Alice@Example.com"), 0)},
		{name: "blocked: same answer, no mail", method: "POST", url: url, body: `{"email":"bob@example.com"}`, envOpts: outbox,
			setup: func(e *testEnv) {
				e.createUser("bob", "bob@example.com", "authenticated", func(u *store.User) { u.Confirmed, u.Blocked = false, true })
			},
			wantStatus: 200, check: exactly(answer("bob@example.com"), 0)},
		{name: "extra keys are ignored (no noUnknown in Strapi)", method: "POST", url: url, body: `{"email":"nobody@example.com","x":1}`,
			wantStatus: 200},
		{name: "missing email", method: "POST", url: url, body: `{}`, wantStatus: 400, want: []string{`"message":"email is a required field"`}},
		{name: "bad email", method: "POST", url: url, body: `{"email":"nope"}`, wantStatus: 400, want: []string{`"message":"email must be a valid email"`}},
	})
}

// confirmationLink is the path and query of the link in a confirmation
// mail, checked to point at PUBLIC_URL's confirmation route.
func confirmationLink(t *testing.T, m mailtest.Received) (path, code string) {
	t.Helper()
	code = codeIn(t, m, confirmationInMail)
	link := "http://localhost:1337/api/auth/email-confirmation?confirmation=" + code
	if !strings.Contains(m.Text, link) || !strings.Contains(m.HTML, link) {
		t.Fatalf("the mail lacks the link %s:\n%s", link, m.Text)
	}
	u, _ := url.Parse(link)
	return u.RequestURI(), code
}

func registerBody(username, email string) string {
	b, _ := json.Marshal(map[string]string{"username": username, "email": email, "password": "secret123"})
	return string(b)
}

// TestRegisterWithConfirmationEndToEnd: register → the mail arrives over
// SMTP → login is refused until the link is followed → the link 302s to the
// redirection → login works; the link cannot be used twice.
func TestRegisterWithConfirmationEndToEnd(t *testing.T) {
	e := newMailEnv(t)
	e.setAdvanced(func(a *store.Advanced) {
		r := "https://app.example.com/confirmed"
		a.EmailConfirmation, a.EmailConfirmationRedirection = true, &r
	})
	rec := e.call("POST", "/api/auth/local/register", registerBody("newbie", "NewBie@Example.com"), "")
	mustStatus(t, "register", rec, 200)
	if body := rec.Body.String(); strings.Contains(body, `"jwt"`) || !strings.Contains(body, `"user":{`) || !strings.Contains(body, `"confirmed":false`) {
		t.Errorf("register answer = %s, want {user} with confirmed:false and no jwt", body)
	}
	m := e.smtp.WaitFor(t, 1, 5*time.Second)[0]
	if len(m.To) != 1 || m.To[0] != "newbie@example.com" || m.Subject != "Account confirmation" {
		t.Errorf("mail to %v subject %q, want newbie@example.com, Account confirmation", m.To, m.Subject)
	}
	link, code := confirmationLink(t, m)
	users, _ := e.store.Users().ByEmail(t.Context(), "newbie@example.com")
	if len(users) != 1 || users[0].ConfirmationToken == nil || *users[0].ConfirmationToken != store.HashToken(code) {
		t.Fatalf("stored confirmation token is not the SHA-256 of the mailed one")
	}
	if strings.Contains(rec.Body.String(), code) {
		t.Errorf("the register answer contains the token")
	}

	rec = e.call("POST", "/api/auth/local", loginBody("newbie", "secret123"), "")
	mustStatus(t, "login before confirming", rec, 400)
	if want := errorJSONFor(400, "ApplicationError", "Your account email is not confirmed"); rec.Body.String() != want {
		t.Errorf("login before confirming = %s, want %s", rec.Body, want)
	}
	rec = e.call("GET", link, "", "")
	mustStatus(t, "GET the link", rec, 302, code, store.HashToken(code))
	if loc := rec.Header().Get("Location"); loc != "https://app.example.com/confirmed" {
		t.Errorf("Location = %q, want the email_confirmation_redirection", loc)
	}
	mustStatus(t, "login after confirming", e.call("POST", "/api/auth/local", loginBody("newbie", "secret123"), ""), 200)
	rec = e.call("GET", link, "", "")
	mustStatus(t, "the link again", rec, 400)
	if want := errorJSONFor(400, "ValidationError", "Invalid token"); rec.Body.String() != want {
		t.Errorf("the link again = %s, want %s", rec.Body, want)
	}
}

// TestConfirmationResend: a resend within 60 seconds sends nothing; after it
// a new link replaces the old one (old → Invalid token, new → 302); links
// expire after CONFIRMATION_TOKEN_TTL.
func TestConfirmationResend(t *testing.T) {
	e := newMailEnv(t)
	e.setAdvanced(func(a *store.Advanced) { a.EmailConfirmation = true })
	mustStatus(t, "register", e.call("POST", "/api/auth/local/register", registerBody("newbie", "newbie@example.com"), ""), 200)
	oldLink, _ := confirmationLink(t, e.smtp.WaitFor(t, 1, 5*time.Second)[0])
	resend := func() {
		t.Helper()
		rec := e.call("POST", "/api/auth/send-email-confirmation", `{"email":"newbie@example.com"}`, "")
		mustStatus(t, "send-email-confirmation", rec, 200)
		if rec.Body.String() != `{"email":"newbie@example.com","sent":true}` {
			t.Errorf("answer = %s", rec.Body)
		}
	}

	e.clock.Advance(30 * time.Second)
	resend()
	if n := len(e.smtp.Messages()); n != 1 {
		t.Fatalf("%d mails after a resend within 60s of the first, want 1", n)
	}
	e.clock.Advance(30 * time.Second)
	resend()
	newLink, _ := confirmationLink(t, e.smtp.WaitFor(t, 2, 5*time.Second)[1])
	if newLink == oldLink {
		t.Fatal("the resent link equals the first")
	}
	rec := e.call("GET", oldLink, "", "")
	mustStatus(t, "the replaced link", rec, 400)
	if !strings.Contains(rec.Body.String(), `"message":"Invalid token"`) {
		t.Errorf("the replaced link: %s", rec.Body)
	}

	e.clock.Advance(24*time.Hour + time.Second)
	mustStatus(t, "the new link past CONFIRMATION_TOKEN_TTL", e.call("GET", newLink, "", ""), 400)
	resend()
	freshLink, _ := confirmationLink(t, e.smtp.WaitFor(t, 3, 5*time.Second)[2])
	mustStatus(t, "a fresh link", e.call("GET", freshLink, "", ""), 302)
	e.clock.Advance(time.Minute)
	resend() // already confirmed: nothing is sent
	if n := len(e.smtp.Messages()); n != 3 {
		t.Errorf("%d mails after a resend to a confirmed address, want 3", n)
	}
}

// TestConfirmationMailFailure: with SMTP down, registration and a resend
// answer as usual (the mail is queued, not failed); the user is stored
// unconfirmed; once SMTP is back the queued mail is delivered exactly once
// and its link works.
func TestConfirmationMailFailure(t *testing.T) {
	e := newMailEnv(t)
	e.setAdvanced(func(a *store.Advanced) { a.EmailConfirmation = true })
	e.smtp.SetDown(true)
	rec := e.call("POST", "/api/auth/local/register", registerBody("newbie", "newbie@example.com"), "")
	mustStatus(t, "register with SMTP down", rec, 200)
	if !strings.Contains(rec.Body.String(), `"user":{`) || strings.Contains(rec.Body.String(), `"jwt"`) {
		t.Errorf("register = %s, want {user} without a jwt", rec.Body)
	}
	users, _ := e.store.Users().ByEmail(t.Context(), "newbie@example.com")
	if len(users) != 1 || users[0].Confirmed {
		t.Fatalf("after the failed mail: users = %+v, want one unconfirmed user", users)
	}
	rec = e.call("POST", "/api/auth/send-email-confirmation", `{"email":"newbie@example.com"}`, "")
	mustStatus(t, "resend with SMTP down", rec, 200)
	if rec.Body.String() != `{"email":"newbie@example.com","sent":true}` {
		t.Errorf("resend = %s", rec.Body)
	}
	if d, err := e.store.MailQueue().Depth(t.Context()); err != nil || d.Pending != 1 {
		t.Errorf("queue with SMTP down = %+v, %v; want the registration's mail pending (the resend is within its resend limit)", d, err)
	}
	e.smtp.SetDown(false)
	e.clock.Advance(time.Minute)
	e.deliverMail()
	link, _ := confirmationLink(t, e.smtp.WaitFor(t, 1, 5*time.Second)[0])
	e.clock.Advance(time.Hour)
	e.deliverMail()
	if n := len(e.smtp.Messages()); n != 1 {
		t.Errorf("%d mails once SMTP is back, want 1", n)
	}
	mustStatus(t, "the link", e.call("GET", link, "", ""), 302)
	mustStatus(t, "login", e.call("POST", "/api/auth/local", loginBody("newbie", "secret123"), ""), 200)
}

// TestHostileUsernameInMail drives a username made of markup, header
// injection and template syntax through the confirmation mail of a
// template that prints it in the subject and the body.
func TestHostileUsernameInMail(t *testing.T) {
	e := newMailEnv(t)
	e.setAdvanced(func(a *store.Advanced) { a.EmailConfirmation = true })
	templates := `{"email-templates":{"email_confirmation":{"options":{
		"from":{"name":"Example","email":"hello@example.com"},"response_email":"support@example.com",
		"object":"Welcome <%= USER.username %>",
		"message":"<p>Hello <%= USER.username %>,</p><p><a href=\"<%= URL %>?confirmation=<%= CODE %>\">confirm</a></p>"}}}}`
	mustStatus(t, "PUT templates", e.call("PUT", "/api/users-permissions/email-templates", templates, e.token(e.users["admin"].ID)), 200)

	hostile := "<a href=\"https://evil.example/\">x</a><%= CODE %>\r\nBcc: victim@evil.example"
	// Registration refuses the line break (a control character); a user
	// stored with one by other means still gets a safe mail.
	mustStatus(t, "register", e.call("POST", "/api/auth/local/register", registerBody(hostile, "newbie@example.com"), ""), 400)
	e.createUser(hostile, "newbie@example.com", "authenticated", func(u *store.User) { u.Confirmed = false })
	mustStatus(t, "send confirmation", e.call("POST", "/api/auth/send-email-confirmation", `{"email":"newbie@example.com"}`, ""), 200)
	m := e.smtp.WaitFor(t, 1, 5*time.Second)[0]
	code := codeIn(t, m, confirmationInMail)

	if strings.Contains(m.HTML, `<a href="https://evil.example/">`) {
		t.Errorf("the username's markup reached the HTML part:\n%s", m.HTML)
	}
	if want := `&lt;a href=&#34;https://evil.example/&#34;&gt;x&lt;/a&gt;&lt;%= CODE %&gt;`; !strings.Contains(m.HTML, want) {
		t.Errorf("the HTML part lacks the escaped username %s:\n%s", want, m.HTML)
	}
	if strings.Count(m.HTML, code) != 1 || strings.Count(m.Text, code) != 1 {
		t.Errorf("the code appears more than once: the username's <%%= CODE %%> was substituted")
	}
	if !strings.Contains(m.Text, `<a href="https://evil.example/">x</a><%= CODE %>`) {
		t.Errorf("the text part should carry the username as plain text:\n%s", m.Text)
	}
	if strings.ContainsAny(m.Subject, "\r\n") || !strings.HasPrefix(m.Subject, "Welcome <a href=") || strings.Contains(m.Subject, code) {
		t.Errorf("subject = %q", m.Subject)
	}
	if len(m.To) != 1 || m.To[0] != "newbie@example.com" || m.Header.Get("Bcc") != "" {
		t.Errorf("recipients %v, Bcc %q: the username injected a header", m.To, m.Header.Get("Bcc"))
	}
	if !strings.Contains(m.From, "hello@example.com") || !strings.Contains(m.ReplyTo, "support@example.com") {
		t.Errorf("From %q Reply-To %q, want the template's", m.From, m.ReplyTo)
	}
	link, _ := confirmationLink(t, m)
	mustStatus(t, "the link", e.call("GET", link, "", ""), 302)
}
