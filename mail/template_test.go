package mail

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// strapiDefaultStore is the email store Strapi's bootstrap writes, as the
// admin API returns it.
const strapiDefaultStore = `{
  "reset_password": {
    "display": "Email.template.reset_password",
    "icon": "sync",
    "options": {
      "from": {"name": "Administration Panel", "email": "no-reply@strapi.io"},
      "response_email": "",
      "object": "Reset password",
      "message": "<p>We heard that you lost your password. Sorry about that!</p>\n\n<p>But don\u2019t worry! You can use the following link to reset your password:</p>\n<p><%= URL %>?code=<%= TOKEN %></p>\n\n<p>Thanks.</p>"
    }
  },
  "email_confirmation": {
    "display": "Email.template.email_confirmation",
    "icon": "check-square",
    "options": {
      "from": {"name": "Administration Panel", "email": "no-reply@strapi.io"},
      "response_email": "",
      "object": "Account confirmation",
      "message": "<p>Thank you for registering!</p>\n\n<p>You have to confirm your email address. Please click on the link below.</p>\n\n<p><%= URL %>?confirmation=<%= CODE %></p>\n\n<p>Thanks.</p>"
    }
  }
}`

// gatehouseDefaultStore is strapiDefaultStore with Gatehouse's sender
// default: none of its own, so the mailer's EMAIL_FROM.
var gatehouseDefaultStore = strings.ReplaceAll(strapiDefaultStore,
	`"from": {"name": "Administration Panel", "email": "no-reply@strapi.io"}`, `"from": {"name": "", "email": ""}`)

func TestDefaultTemplatesMatchStrapiButTheSender(t *testing.T) {
	if gatehouseDefaultStore == strapiDefaultStore {
		t.Fatal("gatehouseDefaultStore: the sender was not replaced")
	}
	var want Templates
	if err := json.Unmarshal([]byte(gatehouseDefaultStore), &want); err != nil {
		t.Fatal(err)
	}
	got := DefaultTemplates()
	for key, tmpl := range got {
		if from := tmpl.Options.From; from != (Address{}) {
			t.Errorf("DefaultTemplates()[%s].Options.From = %+v, want none (the mailer's EMAIL_FROM)", key, from)
		}
		if m := Compose(tmpl, "alice@example.com", Vars{}); m.From != "" {
			t.Errorf("Compose(default %s).From = %q, want \"\" (the mailer's default sender)", key, m.From)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultTemplates() = %#v\nwant %#v", got, want)
	}

	// The JSON shape is Strapi's, key for key.
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var gotJSON, wantJSON any
	if err := json.Unmarshal(b, &gotJSON); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(gatehouseDefaultStore), &wantJSON); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotJSON, wantJSON) {
		t.Errorf("json.Marshal(DefaultTemplates()) = %s\nwant %s", b, gatehouseDefaultStore)
	}

	if msg := got[KeyResetPassword].Options.Message; !strings.Contains(msg, "don\u2019t") {
		t.Errorf("reset_password message = %q, want the curly apostrophe in don\u2019t", msg)
	}
}

func TestDefaultTemplatesFresh(t *testing.T) {
	a := DefaultTemplates()
	a[KeyResetPassword] = Template{}
	if got := DefaultTemplates()[KeyResetPassword].Icon; got != "sync" {
		t.Errorf("DefaultTemplates() after mutating an earlier result: icon = %q, want %q", got, "sync")
	}
}

func TestValidateTemplate(t *testing.T) {
	defaults := DefaultTemplates()
	tests := []struct {
		name  string
		tmpl  string
		valid bool
	}{
		{"default reset_password", defaults[KeyResetPassword].Options.Message, true},
		{"default email_confirmation", defaults[KeyEmailConfirmation].Options.Message, true},
		{"default subjects", defaults[KeyResetPassword].Options.Object, true},
		{"empty", "", true},
		{"plain html", "<p>Hello</p>", true},
		{"spaces", "<%= CODE %>", true},
		{"no spaces", "<%=CODE%>", true},
		{"newlines and tabs", "<%=\n\tURL\n%>", true},
		{"every allowed key", "<%= URL %><%= ADMIN_URL %><%= SERVER_URL %><%= CODE %><%= USER %><%= USER.email %><%= USER.username %><%= TOKEN %>", true},
		{"percent text", "100% sure, 5 > 3 and 2 < 4", true},
		{"closing delimiter alone", "%> is harmless", true},
		{"dollar without brace", "costs $5 {not a template}", true},
		{"dollar brace never closed", "${ unclosed", true},

		{"evaluate block", "<% CODE %>", false},
		{"evaluate without spaces", "<%CODE%>", false},
		{"escape block", "<%- CODE %>", false},
		{"evaluate payload", "<% process.exit(1) %>", false},
		{"lone opening", "text <% more", false},
		{"opening at end", "text <%", false},
		{"template literal", "${process.env.SECRET}", false},
		{"template literal with nested braces", "${a{b}}", false},
		{"template literal spread out", "${ \n }", false},
		{"backtick payload in interpolation", "<%= `${process.env}` %>", false},
		{"unknown key", "<%= FOO %>", false},
		{"private user field", "<%= USER.password %>", false},
		{"user field not allowed at save", "<%= USER.id %>", false},
		{"prototype key", "<%= constructor %>", false},
		{"lower-case key", "<%= url %>", false},
		{"expression", "<%= URL + TOKEN %>", false},
		{"call", "<%= URL() %>", false},
		{"double equals", "<%== URL %>", false},
		{"nested blocks", "<%= <%= URL %> %>", false},
		{"nested allowed key inside unknown", "<%=<%= CODE %>%>", false},
		{"unterminated", "<p><%= URL </p>", false},
		{"valid then invalid", "<%= URL %> <%= global.process %>", false},
		{"invalid between valid", "<%= URL %><% x %><%= CODE %>", false},
		{"strict match but loose extra", "<%= URL %> <%= URL.constructor %>", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateTemplate(tt.tmpl)
			if got := err == nil; got != tt.valid {
				t.Fatalf("ValidateTemplate(%q) = %v, want valid %v", tt.tmpl, err, tt.valid)
			}
			if err != nil && !errors.Is(err, ErrInvalidTemplate) {
				t.Errorf("ValidateTemplate(%q) = %v, want it to wrap ErrInvalidTemplate", tt.tmpl, err)
			}
		})
	}
}

func TestValidateTemplateErrorIsShort(t *testing.T) {
	tmpl := "<%= " + strings.Repeat("A", 10000) + " %>"
	err := ValidateTemplate(tmpl)
	if err == nil {
		t.Fatalf("ValidateTemplate(long unknown key) = nil, want error")
	}
	if got := len(err.Error()); got > 300 {
		t.Errorf("len(ValidateTemplate(long unknown key).Error()) = %d, want at most 300", got)
	}
}

func TestTemplatesValidate(t *testing.T) {
	if err := DefaultTemplates().Validate(); err != nil {
		t.Fatalf("DefaultTemplates().Validate() = %v, want nil", err)
	}

	tests := []struct {
		name      string
		key       string
		object    string
		message   string
		wantField string
	}{
		{"bad message", KeyResetPassword, "Reset password", "<% evil %>", "message"},
		{"bad object", KeyEmailConfirmation, "Hi <%= USER.password %>", "<p>ok</p>", "object"},
		{"object with template literal", KeyEmailConfirmation, "${x}", "<p>ok</p>", "object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpls := DefaultTemplates()
			tmpl := tmpls[tt.key]
			tmpl.Options.Object = tt.object
			tmpl.Options.Message = tt.message
			tmpls[tt.key] = tmpl

			err := tmpls.Validate()
			if !errors.Is(err, ErrInvalidTemplate) {
				t.Fatalf("Validate() = %v, want an error wrapping ErrInvalidTemplate", err)
			}
			var te *TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("Validate() = %T, want *TemplateError", err)
			}
			if te.Key != tt.key || te.Field != tt.wantField {
				t.Errorf("Validate() failed at %s.%s, want %s.%s", te.Key, te.Field, tt.key, tt.wantField)
			}
			if !strings.Contains(err.Error(), tt.key) {
				t.Errorf("Validate().Error() = %q, want it to name %q", err, tt.key)
			}
		})
	}
}
