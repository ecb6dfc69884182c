package mail

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Template keys of the Strapi email store.
const (
	// KeyResetPassword is the store key of the forgot-password email.
	KeyResetPassword = "reset_password"
	// KeyEmailConfirmation is the store key of the email-confirmation email.
	KeyEmailConfirmation = "email_confirmation"
)

// ErrInvalidTemplate is wrapped by every template validation error. It maps
// to Strapi's 400 ValidationError "Invalid template".
var ErrInvalidTemplate = errors.New("mail: invalid template")

// Templates is the email-template store exactly as Strapi keeps it (and as
// GET/PUT /users-permissions/email-templates exchange it), keyed by
// KeyResetPassword and KeyEmailConfirmation.
type Templates map[string]Template

// Template is one entry of the email-template store.
type Template struct {
	Display string          `json:"display"`
	Icon    string          `json:"icon"`
	Options TemplateOptions `json:"options"`
}

// TemplateOptions holds the sender, reply address, subject (Object) and body
// (Message) of a template. Object and Message use Strapi's `<%= KEY %>`
// syntax; Message is HTML.
type TemplateOptions struct {
	From          Address `json:"from"`
	ResponseEmail string  `json:"response_email"`
	Object        string  `json:"object"`
	Message       string  `json:"message"`
}

// Address is the sender of a template: a display name and an email address,
// either of which may be empty.
type Address struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Default template bodies, byte for byte as Strapi's bootstrap writes them
// (note the curly apostrophe in "don’t").
const (
	defaultResetPasswordMessage = `<p>We heard that you lost your password. Sorry about that!</p>

<p>But don’t worry! You can use the following link to reset your password:</p>
<p><%= URL %>?code=<%= TOKEN %></p>

<p>Thanks.</p>`

	defaultEmailConfirmationMessage = `<p>Thank you for registering!</p>

<p>You have to confirm your email address. Please click on the link below.</p>

<p><%= URL %>?confirmation=<%= CODE %></p>

<p>Thanks.</p>`
)

// DefaultTemplates returns the default email-template store, the value
// written when the store is absent: Strapi's texts, keys and shape, with
// Gatehouse's sender default instead of Strapi's "Administration Panel"
// <no-reply@strapi.io> (StrapiPlaceholderSender). The sender is empty, which
// means the mailer's default sender (EMAIL_FROM, and EMAIL_REPLY_TO for
// replies), so a fresh install sends from its own domain and follows a
// later change of EMAIL_FROM. Each call returns a fresh map.
func DefaultTemplates() Templates {
	var from Address
	return Templates{
		KeyResetPassword: {
			Display: "Email.template.reset_password",
			Icon:    "sync",
			Options: TemplateOptions{
				From:          from,
				ResponseEmail: "",
				Object:        "Reset password",
				Message:       defaultResetPasswordMessage,
			},
		},
		KeyEmailConfirmation: {
			Display: "Email.template.email_confirmation",
			Icon:    "check-square",
			Options: TemplateOptions{
				From:          from,
				ResponseEmail: "",
				Object:        "Account confirmation",
				Message:       defaultEmailConfirmationMessage,
			},
		},
	}
}

// StrapiPlaceholderSender is the sender of Strapi's default templates. A
// store copied from Strapi (or seeded by an older Gatehouse) may still name
// it; handlers send such mail from the mailer's default sender instead, as
// mail from strapi.io's domain would not be delivered.
const StrapiPlaceholderSender = "no-reply@strapi.io"

// IsStrapiPlaceholder reports whether a is Strapi's default sender
// (StrapiPlaceholderSender, whatever its name), which stands for "the
// mailer's default sender" in Gatehouse.
func (a Address) IsStrapiPlaceholder() bool {
	return strings.EqualFold(strings.TrimSpace(a.Email), StrapiPlaceholderSender)
}

// TemplateError reports which template and which field of it failed
// validation. It wraps an error that wraps ErrInvalidTemplate.
type TemplateError struct {
	Key   string // store key, e.g. "reset_password"
	Field string // "object" or "message"
	Err   error
}

// Error implements error.
func (e *TemplateError) Error() string {
	return fmt.Sprintf("mail: template %s.%s: %s", e.Key, e.Field, strings.TrimPrefix(e.Err.Error(), "mail: "))
}

// Unwrap returns the underlying validation error.
func (e *TemplateError) Unwrap() error { return e.Err }

// Validate checks the subject (Object) and body (Message) of every template
// with ValidateTemplate, in key order, and returns a *TemplateError for the
// first one that fails. Strapi checks only the body; Gatehouse renders
// subjects with the same engine, so it checks both.
func (t Templates) Validate() error {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		opts := t[k].Options
		if err := ValidateTemplate(opts.Object); err != nil {
			return &TemplateError{Key: k, Field: "object", Err: err}
		}
		if err := ValidateTemplate(opts.Message); err != nil {
			return &TemplateError{Key: k, Field: "message", Err: err}
		}
	}
	return nil
}

// allowedKeys are the interpolation keys a stored template may use, as in
// Strapi's controllers/validation/email-template.js.
var allowedKeys = []string{"URL", "ADMIN_URL", "SERVER_URL", "CODE", "USER", "USER.email", "USER.username", "TOKEN"}

// strictBlock matches exactly one interpolation block over an allowed key.
var strictBlock = regexp.MustCompile(`^<%=\s*(?:` + keyAlternation(allowedKeys) + `)\s*%>$`)

func keyAlternation(keys []string) string {
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = regexp.QuoteMeta(k)
	}
	return strings.Join(quoted, "|")
}

// ValidateTemplate reports whether s is safe to store as a template. It
// follows Strapi's isValidEmailTemplate, made stricter. s is rejected, with
// an error wrapping ErrInvalidTemplate, when it contains:
//   - `<%` not immediately followed by `=` (lodash evaluate and escape
//     blocks such as `<% … %>` and `<%- … %>`);
//   - `${` with a `}` anywhere after it (template-literal payloads);
//   - an interpolation block `<%= … %>` (from `<%=` to the first `%>`) that
//     is not exactly one allowed key with optional whitespace: URL,
//     ADMIN_URL, SERVER_URL, CODE, USER, USER.email, USER.username, TOKEN.
//     This also rejects nested blocks;
//   - a `<%=` that is never closed.
func ValidateTemplate(s string) error {
	for i := 0; ; {
		j := strings.Index(s[i:], "<%")
		if j < 0 {
			break
		}
		i += j
		if i+2 >= len(s) || s[i+2] != '=' {
			return fmt.Errorf("%w: %q at byte %d is not followed by %q", ErrInvalidTemplate, "<%", i, "=")
		}
		end := strings.Index(s[i+3:], "%>")
		if end < 0 {
			return fmt.Errorf("%w: %q at byte %d is never closed", ErrInvalidTemplate, "<%=", i)
		}
		block := s[i : i+3+end+2]
		if !strictBlock.MatchString(block) {
			return fmt.Errorf("%w: %s at byte %d is not one of the keys %s", ErrInvalidTemplate, quoteShort(block), i, strings.Join(allowedKeys, ", "))
		}
		i += len(block)
	}
	if i := strings.Index(s, "${"); i >= 0 && strings.Contains(s[i+2:], "}") {
		return fmt.Errorf("%w: %q at byte %d", ErrInvalidTemplate, "${…}", i)
	}
	return nil
}

// quoteShort quotes s, shortened so that an error never echoes a whole
// template.
func quoteShort(s string) string {
	const limit = 40
	if len(s) > limit {
		r := []rune(s)
		if len(r) > limit {
			s = string(r[:limit]) + "…"
		}
	}
	return fmt.Sprintf("%q", s)
}
