package handlers

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/store"
)

// storedTemplates reads the templates as the mailer will see them.
func storedTemplates(t *testing.T, e *testEnv) mail.Templates {
	t.Helper()
	got, err := e.server.emailTemplates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// templatesUnchanged checks a refused PUT left the templates as they were.
func templatesUnchanged(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
	if got := storedTemplates(t, e); !reflect.DeepEqual(got, mail.DefaultTemplates()) {
		t.Errorf("a refused PUT changed the templates: %+v", got)
	}
}

// putTemplate is a PUT body setting one template's subject and message.
func putTemplate(key, object, message string) string {
	b, _ := json.Marshal(map[string]any{"email-templates": map[string]any{key: map[string]any{
		"display": "Email.template." + key, "icon": "sync",
		"options": map[string]any{
			"from":           map[string]string{"name": "Example", "email": "hello@example.com"},
			"response_email": "", "object": object, "message": message,
		},
	}}})
	return string(b)
}

func TestEmailTemplatesAPI(t *testing.T) {
	const url = "/api/users-permissions/email-templates"
	invalid := func(path ...string) []string {
		p, _ := json.Marshal(path)
		return []string{`"name":"ValidationError","message":"Invalid template"`, `"path":` + string(p)}
	}
	scenarios := []scenario{
		{name: "GET: the defaults (Strapi's texts, Gatehouse's sender)", method: "GET", url: url, caller: "admin", wantStatus: 200,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				var got mail.Templates
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || !reflect.DeepEqual(got, mail.DefaultTemplates()) {
					t.Errorf("GET = %s, want Strapi's default templates", rec.Body)
				}
				if !strings.Contains(rec.Body.String(), `"reset_password":{"display":"Email.template.reset_password","icon":"sync","options":{"from":{"name":"","email":""},"response_email":"","object":"Reset password","message":`) {
					t.Errorf("GET is not in Strapi's shape: %s", rec.Body)
				}
			}},
		{name: "GET: public is refused", method: "GET", url: url, wantStatus: 403},
		{name: "GET: authenticated is refused", method: "GET", url: url, caller: "authenticated", wantStatus: 403},
		{name: "PUT: authenticated is refused", method: "PUT", url: url, caller: "authenticated",
			body: putTemplate("reset_password", "x", "<%= TOKEN %>"), wantStatus: 403, check: templatesUnchanged},
		{name: "PUT: saves one template, keeps the other", method: "PUT", url: url, caller: "admin",
			body:       putTemplate("reset_password", "Reset for <%= USER.username %>", "<p><%= URL %>?code=<%=TOKEN%> <%= SERVER_URL %> <%= ADMIN_URL %> <%= USER.email %></p>"),
			wantStatus: 200, want: []string{`{"ok":true}`},
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				got := storedTemplates(t, e)
				if o := got["reset_password"].Options; o.Object != "Reset for <%= USER.username %>" || o.From.Email != "hello@example.com" {
					t.Errorf("stored reset_password = %+v", o)
				}
				if !reflect.DeepEqual(got["email_confirmation"], mail.DefaultTemplates()["email_confirmation"]) {
					t.Errorf("email_confirmation changed")
				}
			}},
		{name: "PUT: display and icon may be left out", method: "PUT", url: url, caller: "admin",
			body:       `{"email-templates":{"email_confirmation":{"options":{"object":"Confirm","message":"<%= URL %>?confirmation=<%= CODE %>"}}}}`,
			wantStatus: 200,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				got := storedTemplates(t, e)["email_confirmation"]
				if got.Display != "Email.template.email_confirmation" || got.Icon != "check-square" || got.Options.Object != "Confirm" {
					t.Errorf("stored = %+v", got)
				}
			}},
		{name: "PUT: empty body", method: "PUT", url: url, caller: "admin", wantStatus: 400,
			want: []string{errorJSONFor(400, "ValidationError", "Request body cannot be empty")}},
		{name: "PUT: empty object", method: "PUT", url: url, caller: "admin", body: `{}`, wantStatus: 400,
			want: []string{errorJSONFor(400, "ValidationError", "Request body cannot be empty")}},
		{name: "PUT: no email-templates", method: "PUT", url: url, caller: "admin", body: `{"reset_password":{}}`, wantStatus: 400,
			want: []string{`"2 errors occurred"`, `email-templates is a required field`, `this field has unspecified keys: reset_password`}, check: templatesUnchanged},
		{name: "PUT: email-templates not an object", method: "PUT", url: url, caller: "admin", body: `{"email-templates":[]}`, wantStatus: 400,
			want: []string{"email-templates must be a `object` type"}, check: templatesUnchanged},
		{name: "PUT: unknown template", method: "PUT", url: url, caller: "admin", body: `{"email-templates":{"welcome":{"options":{"object":"x","message":"y"}}}}`,
			wantStatus: 400, want: []string{`"message":"email-templates field has unspecified keys: welcome"`}, check: templatesUnchanged},
		{name: "PUT: unknown option", method: "PUT", url: url, caller: "admin",
			body:       `{"email-templates":{"reset_password":{"options":{"object":"x","message":"y","bcc":"spy@evil.example"}}}}`,
			wantStatus: 400, want: []string{`email-templates.reset_password.options field has unspecified keys: bcc`}, check: templatesUnchanged},
		{name: "PUT: subject of the wrong type", method: "PUT", url: url, caller: "admin",
			body:       `{"email-templates":{"reset_password":{"options":{"object":1,"message":"y"}}}}`,
			wantStatus: 400, want: []string{"email-templates.reset_password.options.object must be a `string` type, but the final value was: `1`."}, check: templatesUnchanged},
		{name: "PUT: missing message", method: "PUT", url: url, caller: "admin",
			body:       `{"email-templates":{"reset_password":{"options":{"object":"x"}}}}`,
			wantStatus: 400, want: []string{`email-templates.reset_password.options.message is a required field`}, check: templatesUnchanged},
		{name: "PUT: missing options", method: "PUT", url: url, caller: "admin", body: `{"email-templates":{"reset_password":{}}}`,
			wantStatus: 400, want: []string{`email-templates.reset_password.options is a required field`}, check: templatesUnchanged},
		{name: "PUT: bad sender address", method: "PUT", url: url, caller: "admin",
			body:       `{"email-templates":{"reset_password":{"options":{"from":{"name":"x","email":"a@b.c>\r\nBcc: spy@evil.example"},"object":"x","message":"y"}}}}`,
			wantStatus: 400, want: []string{`email-templates.reset_password.options.from.email must be a valid email`}, check: templatesUnchanged},
		{name: "PUT: bad reply-to address", method: "PUT", url: url, caller: "admin",
			body:       `{"email-templates":{"reset_password":{"options":{"response_email":"nope","object":"x","message":"y"}}}}`,
			wantStatus: 400, want: []string{`email-templates.reset_password.options.response_email must be a valid email`}, check: templatesUnchanged},
	}
	// Every construct Strapi's isValidEmailTemplate rejects (and a few it
	// misses), in the body and in the subject.
	for _, bad := range []struct{ name, tmpl string }{
		{"evaluate block", "<% CODE %>"},
		{"escape block", "<%- CODE %>"},
		{"block without =", "<%CODE%>"},
		{"template literal", "${CODE}"},
		{"template literal with code", "${process.env.JWT_SECRET}"},
		{"unknown key", "<%= FOO %>"},
		{"private user field", "<%= USER.password %>"},
		{"user reset token", "<%= USER.resetPasswordToken %>"},
		{"expression", "<%= process.env %>"},
		{"constructor escape", "<%= constructor.constructor('return process')() %>"},
		{"nested blocks", "<%= CODE <%= URL %> %>"},
		{"backtick RCE (CVE-2023-22621)", "<%= `${ process.mainModule.require('child_process').execSync('id') }` %>"},
		{"unclosed block", "<p><%= URL"},
	} {
		scenarios = append(scenarios,
			scenario{name: "PUT message: " + bad.name, method: "PUT", url: url, caller: "admin",
				body: putTemplate("reset_password", "Reset password", "<p>"+bad.tmpl+"</p>"), wantStatus: 400,
				want: invalid("email-templates", "reset_password", "options", "message"), check: templatesUnchanged},
			scenario{name: "PUT subject: " + bad.name, method: "PUT", url: url, caller: "admin",
				body: putTemplate("email_confirmation", "Hi "+bad.tmpl, "<%= URL %>?confirmation=<%= CODE %>"), wantStatus: 400,
				want: invalid("email-templates", "email_confirmation", "options", "object"), check: templatesUnchanged},
		)
	}
	runScenarios(t, scenarios)
}

func TestAdvancedSettingsAPI(t *testing.T) {
	const url = "/api/users-permissions/advanced"
	unchanged := func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
		adv, err := e.store.Settings().Advanced(context.Background())
		if err != nil || !reflect.DeepEqual(adv, store.DefaultAdvanced()) {
			t.Errorf("a refused PUT changed the settings: %+v, %v", adv, err)
		}
	}
	stored := func(want store.Advanced) func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
		return func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
			adv, err := e.store.Settings().Advanced(context.Background())
			if err != nil || !reflect.DeepEqual(adv, want) {
				t.Errorf("stored = %s, want %s", jsonString(adv), jsonString(want))
			}
		}
	}
	str := func(s string) *string { return &s }
	full := `{"unique_email":false,"allow_register":false,"email_confirmation":true,` +
		`"email_reset_password":"https://app.example.com/reset","email_confirmation_redirection":"http://localhost:3000/confirmed","default_role":"public"}`
	scenarios := []scenario{
		{name: "GET: settings and roles with nb_users", method: "GET", url: url, caller: "admin", wantStatus: 200,
			want: []string{`"settings":{"unique_email":true,"allow_register":true,"email_confirmation":false,"email_reset_password":null,"email_confirmation_redirection":null,"default_role":"authenticated"}`},
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				var got struct {
					Roles []struct {
						Type    string `json:"type"`
						NbUsers *int64 `json:"nb_users"`
						Users   any    `json:"users"`
					} `json:"roles"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
					t.Fatal(err)
				}
				counts := map[string]int64{}
				for _, r := range got.Roles {
					if r.NbUsers == nil || r.Users != nil {
						t.Errorf("role %s: nb_users %v users %v", r.Type, r.NbUsers, r.Users)
						continue
					}
					counts[r.Type] = *r.NbUsers
				}
				if want := map[string]int64{"admin": 1, "authenticated": 1, "public": 0}; !reflect.DeepEqual(counts, want) {
					t.Errorf("roles = %v, want %v", counts, want)
				}
			}},
		{name: "GET: authenticated is refused", method: "GET", url: url, caller: "authenticated", wantStatus: 403},
		{name: "PUT: public is refused", method: "PUT", url: url, body: full, wantStatus: 403, check: unchanged},
		{name: "PUT: every setting", method: "PUT", url: url, caller: "admin", body: full, wantStatus: 200, want: []string{`{"ok":true}`},
			check: stored(store.Advanced{UniqueEmail: false, AllowRegister: false, EmailConfirmation: true,
				EmailResetPassword: str("https://app.example.com/reset"), EmailConfirmationRedirection: str("http://localhost:3000/confirmed"), DefaultRole: "public"})},
		{name: "PUT: a key left out keeps its value", method: "PUT", url: url, caller: "admin", body: `{"email_confirmation":true}`, wantStatus: 200,
			check: stored(store.Advanced{UniqueEmail: true, AllowRegister: true, EmailConfirmation: true, DefaultRole: "authenticated"})},
		{name: "PUT: null and empty URLs clear them", method: "PUT", url: url, caller: "admin",
			setup: func(e *testEnv) {
				e.setAdvanced(func(a *store.Advanced) {
					a.EmailResetPassword, a.EmailConfirmationRedirection = str("https://a.example"), str("https://b.example")
				})
			},
			body: `{"email_reset_password":null,"email_confirmation_redirection":""}`, wantStatus: 200, check: stored(store.DefaultAdvanced())},
		{name: "PUT: empty body", method: "PUT", url: url, caller: "admin", wantStatus: 400,
			want: []string{errorJSONFor(400, "ValidationError", "Request body cannot be empty")}, check: unchanged},
		{name: "PUT: empty object", method: "PUT", url: url, caller: "admin", body: `{}`, wantStatus: 400,
			want: []string{errorJSONFor(400, "ValidationError", "Request body cannot be empty")}, check: unchanged},
		{name: "PUT: not an object", method: "PUT", url: url, caller: "admin", body: `[true]`, wantStatus: 400,
			want: []string{`"message":"Request body must be a JSON object"`}, check: unchanged},
	}
	for _, bad := range []struct{ name, body, message string }{
		{"unknown key", `{"unique_email":true,"admin_email":"x","allow_signup":true}`, `this field has unspecified keys: admin_email, allow_signup`},
		{"boolean as a string", `{"unique_email":"false"}`, "unique_email must be a `boolean` type, but the final value was: `" + `\"false\"` + "`."},
		{"boolean as a number", `{"allow_register":0}`, "allow_register must be a `boolean` type, but the final value was: `0`."},
		{"null boolean", `{"email_confirmation":null}`, `email_confirmation cannot be null`},
		{"default_role that does not exist", `{"default_role":"ghost"}`, `default_role \"ghost\" is not the type of an existing role`},
		{"default_role by name", `{"default_role":"Authenticated"}`, `default_role \"Authenticated\" is not the type of an existing role`},
		{"empty default_role", `{"default_role":""}`, `default_role is a required field`},
		{"default_role as an id", `{"default_role":1}`, "default_role must be a `string` type, but the final value was: `1`."},
		{"redirection not a URL", `{"email_confirmation_redirection":"not a url"}`, `email_confirmation_redirection must be a valid URL`},
		{"redirection javascript:", `{"email_confirmation_redirection":"javascript:alert(1)"}`, `email_confirmation_redirection must be a valid URL`},
		{"redirection without scheme", `{"email_confirmation_redirection":"//evil.example/x"}`, `email_confirmation_redirection must be a valid URL`},
		{"redirection relative", `{"email_confirmation_redirection":"/confirmed"}`, `email_confirmation_redirection must be a valid URL`},
		{"redirection with credentials", `{"email_confirmation_redirection":"https://user:pw@app.example.com/"}`, `email_confirmation_redirection must be a valid URL`},
		{"redirection with a newline", `{"email_confirmation_redirection":"https://app.example.com/\r\nSet-Cookie: x=1"}`, `email_confirmation_redirection must be a valid URL`},
		{"reset URL ftp", `{"email_reset_password":"ftp://files.example.com/reset"}`, `email_reset_password must be a valid URL`},
		{"reset URL as an object", `{"email_reset_password":{"href":"https://x.example"}}`, "email_reset_password must be a `string` type, but the final value was: `{}`."},
		{"several problems", `{"unique_email":"yes","default_role":"","x":1}`, `3 errors occurred`},
	} {
		scenarios = append(scenarios, scenario{name: "PUT: " + bad.name, method: "PUT", url: url, caller: "admin", body: bad.body,
			wantStatus: 400, want: []string{`"name":"ValidationError","message":"` + bad.message + `"`}, check: unchanged})
	}
	runScenarios(t, scenarios)
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

// FuzzParseAdvanced: no body makes parseAdvanced panic, and what it accepts
// is well-formed: URLs absolute http(s), a role type present.
func FuzzParseAdvanced(f *testing.F) {
	for _, s := range []string{
		`{"unique_email":true}`, `{"email_reset_password":"https://x.example/r"}`, `{"email_confirmation_redirection":null}`,
		`{"default_role":"public","allow_register":false}`, `{"x":1}`, `{"unique_email":"true"}`, `{"default_role":{}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var b body
		if json.Unmarshal([]byte(raw), &b) != nil || b == nil {
			return
		}
		adv, err := parseAdvanced(b, store.DefaultAdvanced())
		if err != nil {
			if e := asError(err); e.Status != 400 || e.Name != "ValidationError" {
				t.Fatalf("parseAdvanced(%s) error = %v, want a ValidationError", raw, err)
			}
			return
		}
		for _, u := range []*string{adv.EmailResetPassword, adv.EmailConfirmationRedirection} {
			if u != nil && !validAbsoluteURL(*u) {
				t.Fatalf("parseAdvanced(%s) accepted URL %q", raw, *u)
			}
		}
		if adv.DefaultRole == "" {
			t.Fatalf("parseAdvanced(%s) accepted an empty default_role", raw)
		}
		if again, err := parseAdvanced(mustBody(t, adv), store.DefaultAdvanced()); err != nil || !reflect.DeepEqual(again, adv) {
			t.Fatalf("round trip of %s: %+v, %v", raw, again, err)
		}
	})
}

func mustBody(t *testing.T, v any) body {
	var b body
	if err := json.Unmarshal([]byte(jsonString(v)), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSenderOfTemplates: the default templates have no sender of their own
// (the mailer's EMAIL_FROM goes out), a template copied from Strapi whose
// sender is still no-reply@strapi.io is sent from EMAIL_FROM too, and a
// sender an admin set is kept.
func TestSenderOfTemplates(t *testing.T) {
	e := newTestEnv(t)
	user := store.User{Username: "alice", Email: "alice@example.com"}
	strapi := mail.DefaultTemplates()
	tmpl := strapi[mail.KeyResetPassword]
	tmpl.Options.From = mail.Address{Name: "Administration Panel", Email: "No-Reply@strapi.io"}
	strapi[mail.KeyResetPassword] = tmpl
	own := mail.DefaultTemplates()
	tmpl = own[mail.KeyResetPassword]
	tmpl.Options.From = mail.Address{Name: "Example", Email: "hello@example.com"}
	own[mail.KeyResetPassword] = tmpl
	for _, tc := range []struct {
		name      string
		templates mail.Templates
		want      string
	}{
		{"defaults", mail.DefaultTemplates(), ""},
		{"copied from Strapi", strapi, ""},
		{"set by an admin", own, `"Example" <hello@example.com>`},
	} {
		msg, err := e.server.composeMail(tc.templates, mail.KeyResetPassword, user, mail.Vars{Token: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if msg.From != tc.want {
			t.Errorf("%s: From = %q, want %q", tc.name, msg.From, tc.want)
		}
	}
}

// TestStrapiSenderReadsAsDefault: a store seeded by Strapi or an older
// Gatehouse names Strapi's placeholder sender; the templates screen and API
// show what it means here, the mailer's default sender (empty), so an admin
// is not told that mail leaves from no-reply@strapi.io.
func TestStrapiSenderReadsAsDefault(t *testing.T) {
	e := newTestEnv(t)
	old := mail.DefaultTemplates()
	for k, tmpl := range old {
		tmpl.Options.From = mail.Address{Name: "Administration Panel", Email: mail.StrapiPlaceholderSender}
		old[k] = tmpl
	}
	if err := e.server.store.Settings().Put(context.Background(), store.KeyEmail, old); err != nil {
		t.Fatal(err)
	}
	for k, tmpl := range storedTemplates(t, e) {
		if tmpl.Options.From != (mail.Address{}) {
			t.Errorf("%s: from = %+v, want the mailer's default sender (empty)", k, tmpl.Options.From)
		}
	}
}
