package mail

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const hostileUsername = `<a href="https://evil">x</a>`

func testVars() Vars {
	return Vars{
		URL:       "https://app.example.com/reset",
		ServerURL: "https://api.example.com",
		AdminURL:  "https://api.example.com/admin",
		Code:      "c0de",
		Token:     "t0ken",
		User: map[string]any{
			"id":                 float64(7),
			"documentId":         "doc7",
			"username":           "alice",
			"email":              "alice@example.com",
			"confirmed":          false,
			"blocked":            false,
			"password":           "$2a$10$hash",
			"resetPasswordToken": "secret-reset",
			"confirmationToken":  "secret-confirm",
			"createdAt":          time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
			"role":               map[string]any{"id": float64(1), "name": "Authenticated", "password": "nested-secret"},
			"meta":               map[string]string{"plan": "pro", "confirmation_token": "meta-secret"},
		},
	}
}

func TestRender(t *testing.T) {
	v := testVars()
	tests := []struct {
		name   string
		tmpl   string
		escape bool
		want   string
	}{
		{"url and token", "<%= URL %>?code=<%= TOKEN %>", false, "https://app.example.com/reset?code=t0ken"},
		{"no spaces", "<%=CODE%>", false, "c0de"},
		{"whitespace", "<%=\n  SERVER_URL\t%>", false, "https://api.example.com"},
		{"admin url", "<%= ADMIN_URL %>", false, "https://api.example.com/admin"},
		{"user email", "<%= USER.email %>", false, "alice@example.com"},
		{"user username", "<%= USER.username %>", false, "alice"},
		{"user id number", "<%= USER.id %>", false, "7"},
		{"user documentId", "<%= USER.documentId %>", false, "doc7"},
		{"user bool", "<%= USER.confirmed %>", false, "false"},
		{"user time", "<%= USER.createdAt %>", false, "2024-05-06T07:08:09.000Z"},
		{"nested field", "<%= USER.role.name %>", false, "Authenticated"},
		{"absent field", "[<%= USER.nickname %>]", false, "[]"},
		{"field of a scalar", "[<%= USER.email.length %>]", false, "[]"},
		{"user as json", "<%= USER.role %>", false, `{"id":1,"name":"Authenticated"}`},
		{"string map field", "<%= USER.meta.plan %>", false, "pro"},
		{"string map as json", "<%= USER.meta %>", false, `{"plan":"pro"}`},
		{"string map private field", "<%= USER.meta.confirmation_token %>", false, "<%= USER.meta.confirmation_token %>"},
		{"unknown key stays literal", "<%= FOO %>", false, "<%= FOO %>"},
		{"lower case stays literal", "<%= url %>", false, "<%= url %>"},
		{"evaluate stays literal", "<% TOKEN %>", false, "<% TOKEN %>"},
		{"escape block stays literal", "<%- TOKEN %>", false, "<%- TOKEN %>"},
		{"expression stays literal", "<%= URL + TOKEN %>", false, "<%= URL + TOKEN %>"},
		{"template literal stays literal", "<%= `${process.env}` %>", false, "<%= `${process.env}` %>"},
		{"constructor stays literal", "<%= constructor %>", false, "<%= constructor %>"},
		{"password never rendered", "<%= USER.password %>", false, "<%= USER.password %>"},
		{"reset token never rendered", "<%= USER.resetPasswordToken %>", false, "<%= USER.resetPasswordToken %>"},
		{"confirmation token never rendered", "<%= USER.confirmationToken %>", false, "<%= USER.confirmationToken %>"},
		{"nested private field never rendered", "<%= USER.role.password %>", false, "<%= USER.role.password %>"},
		{"html escaping of values only", "<p><%= URL %>?a=1&b=2</p>", true, "<p>https://app.example.com/reset?a=1&b=2</p>"},
		{"trailing dot is not a key", "<%= USER. %>", false, "<%= USER. %>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Render(tt.tmpl, v, tt.escape); got != tt.want {
				t.Errorf("Render(%q, escape=%v) = %q, want %q", tt.tmpl, tt.escape, got, tt.want)
			}
		})
	}
}

func TestRenderUserJSONHidesPrivateFields(t *testing.T) {
	got := Render("<%= USER %>", testVars(), false)
	for _, secret := range []string{"$2a$", "secret-reset", "secret-confirm", "nested-secret", "meta-secret", "password", "Token", "token"} {
		if strings.Contains(got, secret) {
			t.Errorf("Render(<%%= USER %%>) = %s, want no %q", got, secret)
		}
	}
	for _, want := range []string{`"username":"alice"`, `"email":"alice@example.com"`, `"documentId":"doc7"`} {
		if !strings.Contains(got, want) {
			t.Errorf("Render(<%%= USER %%>) = %s, want it to contain %s", got, want)
		}
	}
	if got := Render("<%= USER %>", Vars{}, false); got != "{}" {
		t.Errorf("Render(<%%= USER %%>) with no user = %q, want %q", got, "{}")
	}
}

func TestRenderHostileValues(t *testing.T) {
	v := testVars()
	v.User["username"] = hostileUsername
	v.Token = `"><script>alert(1)</script>`

	html := Render(`<p>Hi <%= USER.username %></p><a href="<%= URL %>?code=<%= TOKEN %>">reset</a>`, v, true)
	if strings.Contains(html, "<a href=\"https://evil\"") || strings.Contains(html, "<script>") {
		t.Errorf("Render(escape=true) = %q, want no markup from values", html)
	}
	if want := "&lt;a href=&#34;https://evil&#34;&gt;x&lt;/a&gt;"; !strings.Contains(html, want) {
		t.Errorf("Render(escape=true) = %q, want the username escaped as %q", html, want)
	}

	text := Render("Hi <%= USER.username %>", v, false)
	if want := "Hi " + hostileUsername; text != want {
		t.Errorf("Render(escape=false) = %q, want %q", text, want)
	}
}

func TestRenderNeverEvaluates(t *testing.T) {
	v := testVars()
	// A value that looks like a template is inserted as text, not rendered
	// again.
	v.User["username"] = "<%= TOKEN %> <% process.exit() %> ${process.env}"
	got := Render("<%= USER.username %>", v, false)
	if want := "<%= TOKEN %> <% process.exit() %> ${process.env}"; got != want {
		t.Errorf("Render(username holding a template) = %q, want %q", got, want)
	}
	if strings.Contains(got, v.Token) {
		t.Errorf("Render(username holding a template) = %q, want the token not substituted", got)
	}
}

func TestComposeDefaults(t *testing.T) {
	for key, tmpl := range DefaultTemplates() {
		t.Run(key, func(t *testing.T) {
			m := Compose(tmpl, "alice@example.com", testVars())
			got := fmt.Sprintf("To: %q\nFrom: %q\nReply-To: %q\nSubject: %q\n\n--- text ---\n%s\n--- html ---\n%s\n",
				m.To, m.From, m.ReplyTo, m.Subject, m.Text, m.HTML)
			golden(t, filepath.Join("testdata", "compose_"+key+".golden"), got)
		})
	}
}

func TestComposeResetPassword(t *testing.T) {
	m := Compose(DefaultTemplates()[KeyResetPassword], "alice@example.com", testVars())
	checks := []struct{ field, got, want string }{
		{"To", m.To, "alice@example.com"},
		{"From", m.From, ""}, // the mailer's EMAIL_FROM
		{"ReplyTo", m.ReplyTo, ""},
		{"Subject", m.Subject, "Reset password"},
		{"Text", m.Text, "We heard that you lost your password. Sorry about that!\n\n" +
			"But don\u2019t worry! You can use the following link to reset your password:\n\n" +
			"https://app.example.com/reset?code=t0ken\n\nThanks."},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("Compose(reset_password).%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if want := "<p>https://app.example.com/reset?code=t0ken</p>"; !strings.Contains(m.HTML, want) {
		t.Errorf("Compose(reset_password).HTML = %q, want it to contain %q", m.HTML, want)
	}
}

func TestComposeSubjectHeaderInjection(t *testing.T) {
	v := testVars()
	v.User["username"] = "eve\r\nBcc: victim@example.com\nX-Evil: 1"
	tmpl := DefaultTemplates()[KeyEmailConfirmation]
	tmpl.Options.Object = "Welcome <%= USER.username %>"

	m := Compose(tmpl, "alice@example.com", v)
	if strings.ContainsAny(m.Subject, "\r\n") {
		t.Errorf("Compose().Subject = %q, want no CR or LF", m.Subject)
	}
	if want := "Welcome eve  Bcc: victim@example.com X-Evil: 1"; m.Subject != want {
		t.Errorf("Compose().Subject = %q, want %q", m.Subject, want)
	}
}

func TestComposeHostileUsername(t *testing.T) {
	v := testVars()
	v.User["username"] = hostileUsername
	tmpl := Template{Options: TemplateOptions{
		Object:  "Hello <%= USER.username %>",
		Message: "<p>Hello <%= USER.username %>,</p><p><a href=\"<%= URL %>?code=<%= TOKEN %>\">Reset</a></p>",
	}}
	m := Compose(tmpl, "alice@example.com", v)
	if strings.Contains(m.HTML, hostileUsername) {
		t.Errorf("Compose().HTML = %q, want the username escaped", m.HTML)
	}
	if want := "Hello " + hostileUsername + ","; !strings.Contains(m.Text, want) {
		t.Errorf("Compose().Text = %q, want it to contain %q", m.Text, want)
	}
	if want := "Reset (https://app.example.com/reset?code=t0ken)"; !strings.Contains(m.Text, want) {
		t.Errorf("Compose().Text = %q, want it to contain %q", m.Text, want)
	}
	if want := "Hello " + hostileUsername; m.Subject != want {
		t.Errorf("Compose().Subject = %q, want %q", m.Subject, want)
	}
}

func TestComposeFrom(t *testing.T) {
	tests := []struct {
		name string
		from Address
		want string
	}{
		{"name and email", Address{Name: "Acme", Email: "no-reply@acme.test"}, `"Acme" <no-reply@acme.test>`},
		{"email only", Address{Email: "no-reply@acme.test"}, "no-reply@acme.test"},
		{"name only", Address{Name: "Acme"}, ""},
		{"neither", Address{}, ""},
		{"name with comma", Address{Name: "Acme, Inc.", Email: "a@acme.test"}, `"Acme, Inc." <a@acme.test>`},
		{"name with newline", Address{Name: "Acme\r\nBcc: x@y.z", Email: "a@acme.test"}, `"Acme  Bcc: x@y.z" <a@acme.test>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Compose(Template{Options: TemplateOptions{From: tt.from, ResponseEmail: "help@acme.test"}}, "to@acme.test", Vars{})
			if m.From != tt.want {
				t.Errorf("Compose(from %+v).From = %q, want %q", tt.from, m.From, tt.want)
			}
			if m.ReplyTo != "help@acme.test" {
				t.Errorf("Compose().ReplyTo = %q, want %q", m.ReplyTo, "help@acme.test")
			}
		})
	}
}

func TestHTMLToText(t *testing.T) {
	tests := []struct {
		name, html, want string
	}{
		{"paragraphs", "<p>One</p>\n\n<p>Two</p>", "One\n\nTwo"},
		{"br", "a<br>b<br/>c<BR />d", "a\nb\nc\nd"},
		{"entities", "<p>Tom &amp; Jerry &lt;3 &quot;x&quot; &#8217;</p>", "Tom & Jerry <3 \"x\" \u2019"},
		{"whitespace collapses", "  a \n\t b  ", "a b"},
		{"inline tags keep spaces", "a <b>bold</b> c", "a bold c"},
		{"link with text", `<a href="https://x.test/a?b=1&amp;c=2">Go</a>`, "Go (https://x.test/a?b=1&c=2)"},
		{"link equal to text", `<a href="https://x.test">https://x.test</a>`, "https://x.test"},
		{"empty link", `<a href="https://x.test"></a>`, "https://x.test"},
		{"mailto", `<a href="mailto:a@x.test">a@x.test</a>`, "a@x.test"},
		{"anchor link", `<a href="#top">Top</a>`, "Top"},
		{"list", "<ul><li>one</li><li>two</li></ul>", "- one\n- two"},
		{"comment", "a<!-- hidden -->b", "ab"},
		{"style and script", "<style>p{color:red}</style><script>alert(1)</script>text", "text"},
		{"doctype and head", "<!DOCTYPE html><html><head><title>T</title></head><body>B</body></html>", "B"},
		{"less-than in text", "1 < 2 and 3 > 2", "1 < 2 and 3 > 2"},
		{"unclosed tag", "a <b", "a"},
		{"unclosed comment", "a <!-- b", "a"},
		{"quoted greater-than in attribute", `<a title="x>y" href="u">t</a>`, "t (u)"},
		{"heading", "<h1>Title</h1>Body", "Title\n\nBody"},
		{"table", "<table><tr><td>a</td><td>b</td></tr></table>", "a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := htmlToText(tt.html); got != tt.want {
				t.Errorf("htmlToText(%q) = %q, want %q", tt.html, got, tt.want)
			}
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s: got\n%s\nwant\n%s", path, got, want)
	}
}

func FuzzValidateTemplate(f *testing.F) {
	for _, tmpl := range DefaultTemplates() {
		f.Add(tmpl.Options.Message)
	}
	for _, s := range []string{"<% x %>", "<%= USER.email %>", "${a}", "<%=<%= URL %>%>", "<%=", "%>", "<%= `${x}` %>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tmpl string) {
		if err := ValidateTemplate(tmpl); err != nil {
			return
		}
		for i := 0; ; i++ {
			j := strings.Index(tmpl[i:], "<%")
			if j < 0 {
				break
			}
			i += j
			if i+2 >= len(tmpl) || tmpl[i+2] != '=' {
				t.Fatalf("ValidateTemplate(%q) = nil, but <%% at %d is not followed by =", tmpl, i)
			}
		}
		if i := strings.Index(tmpl, "${"); i >= 0 && strings.Contains(tmpl[i:], "}") {
			t.Fatalf("ValidateTemplate(%q) = nil, but it holds ${…}", tmpl)
		}
		// Every block of a valid template is substituted.
		if got := Render(tmpl, testVars(), false); strings.Contains(got, "<%") {
			t.Fatalf("Render(%q) = %q, want no <%% left", tmpl, got)
		}
	})
}

func FuzzRender(f *testing.F) {
	for _, tmpl := range DefaultTemplates() {
		f.Add(tmpl.Options.Message, "alice")
	}
	f.Add("<p>Hi <%= USER.username %></p>", hostileUsername)
	f.Add("<%= USER %> <%= USER.role.name %>", "<%= TOKEN %>")
	f.Add("Welcome <%= USER.username %>", "eve\r\nBcc: x@y.z")
	f.Add(`<a href="<%= URL %>">x</a><!-- <%= CODE %>`, "\x1a0\x1a")
	f.Fuzz(func(t *testing.T, tmpl, username string) {
		v := testVars()
		v.User["username"] = username

		html := Render(tmpl, v, true)
		_ = Render(tmpl, v, false)
		m := Compose(Template{Options: TemplateOptions{Object: tmpl, Message: tmpl}}, "a@b.test", v)
		if strings.ContainsAny(m.Subject, "\r\n") {
			t.Fatalf("Compose(%q).Subject = %q, want no CR or LF", tmpl, m.Subject)
		}
		if m.HTML != html {
			t.Fatalf("Compose(%q).HTML = %q, want Render(escape=true) = %q", tmpl, m.HTML, html)
		}
		if ValidateTemplate(tmpl) == nil {
			// Escaped values hold no '<', so nothing of the form <%= … is
			// left once every block has been substituted.
			if strings.Contains(html, "<%") {
				t.Fatalf("Render(%q, username %q) = %q, want no <%% left", tmpl, username, html)
			}
		}
		// Private fields have no influence on the output.
		pub := testVars()
		pub.User["username"] = username
		delete(pub.User, "password")
		delete(pub.User, "resetPasswordToken")
		delete(pub.User, "confirmationToken")
		pub.User["role"] = map[string]any{"id": float64(1), "name": "Authenticated"}
		pub.User["meta"] = map[string]string{"plan": "pro"}
		if got, want := Render(tmpl, v, true), Render(tmpl, pub, true); got != want {
			t.Fatalf("Render(%q) with private fields = %q, without = %q, want equal", tmpl, got, want)
		}
		if got, want := Compose(Template{Options: TemplateOptions{Object: tmpl, Message: tmpl}}, "a@b.test", pub), m; got != want {
			t.Fatalf("Compose(%q) with private fields = %+v, without = %+v, want equal", tmpl, want, got)
		}
	})
}
