package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
)

// Mailer sends one email. *mail.SMTP and *mail.Outbox implement it. Send
// must return when ctx is done.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// Defaults of the email settings of Config.
const (
	defaultResetTokenTTL        = time.Hour
	defaultConfirmationTokenTTL = 24 * time.Hour
	defaultResendInterval       = time.Minute
	defaultMailTimeout          = 15 * time.Second
)

func positiveOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (s *Server) resetTokenTTL() time.Duration {
	return positiveOr(s.cfg.ResetTokenTTL, defaultResetTokenTTL)
}

func (s *Server) confirmationTokenTTL() time.Duration {
	return positiveOr(s.cfg.ConfirmationTokenTTL, defaultConfirmationTokenTTL)
}

func (s *Server) resendInterval() time.Duration {
	return positiveOr(s.cfg.ResendInterval, defaultResendInterval)
}

func (s *Server) adminURL() string {
	if s.cfg.AdminURL != "" {
		return strings.TrimRight(s.cfg.AdminURL, "/")
	}
	return s.cfg.PublicURL
}

// emailTemplates returns the stored email templates over the defaults
// (a database bootstrapped without them still sends the default texts).
func (s *Server) emailTemplates(c context.Context) (mail.Templates, error) {
	var stored mail.Templates
	if _, err := s.store.Settings().Get(c, store.KeyEmail, &stored); err != nil {
		return nil, err
	}
	templates := mail.DefaultTemplates()
	for k, t := range stored {
		if t.Options.From.IsStrapiPlaceholder() {
			// Seeded by Strapi or an older Gatehouse: shown and sent as
			// what it means here, the mailer's default sender.
			t.Options.From = mail.Address{}
		}
		templates[k] = t
	}
	return templates, nil
}

// userVars is the sanitised user as templates see it (USER, USER.username,
// …): exactly the public user view, so no private field can be rendered.
func userVars(u store.User) map[string]any {
	raw, err := json.Marshal(newUserView(u, false))
	if err != nil {
		return map[string]any{}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil {
		return map[string]any{}
	}
	return m
}

// composeMail renders template key of templates for the user. The body gets
// every variable (values HTML-escaped in the HTML part); the subject only
// USER, as in Strapi, so a code never travels in a subject line.
func (s *Server) composeMail(templates mail.Templates, key string, user store.User, vars mail.Vars) (mail.Message, error) {
	t, ok := templates[key]
	if !ok {
		return mail.Message{}, fmt.Errorf("handlers: no %s email template", key)
	}
	vars.ServerURL = s.cfg.PublicURL
	vars.AdminURL = s.adminURL()
	vars.User = userVars(user)
	msg := mail.Compose(t, user.Email, vars)
	msg.Subject = mail.Compose(t, user.Email, mail.Vars{User: vars.User}).Subject
	if t.Options.From.IsStrapiPlaceholder() {
		// A template copied from Strapi: its sender would not be delivered.
		msg.From = ""
	}
	return msg, nil
}

// deliverMail sends msg within MailTimeout (and ctx). Without a Mailer the
// message is logged instead, as mail.Outbox does (development only: the text
// holds the link).
func (s *Server) deliverMail(c context.Context, msg mail.Message) error {
	if s.cfg.Mailer == nil {
		s.log.WarnContext(c, "mail: email is not configured; message logged, not sent",
			"to", msg.To, "subject", msg.Subject, "text", msg.Text)
		return nil
	}
	c, cancel := context.WithTimeout(c, positiveOr(s.cfg.MailTimeout, defaultMailTimeout))
	defer cancel()
	return s.cfg.Mailer.Send(c, msg)
}

// addAt adds a yup-style error at a nested path.
func (v *validator) addAt(path []string, message string) {
	v.errs = append(v.errs, fieldError{Path: append([]string{}, path...), Message: message, Name: "ValidationError"})
}

// noUnknown adds yup's object().noUnknown() error for the keys of b not in
// allowed. Call it after the field checks: yup lists field errors first.
func (v *validator) noUnknown(b body, path []string, allowed ...string) {
	if unknown := b.unknownKeys(allowed...); len(unknown) > 0 {
		v.addAt(path, pathLabel(path)+" field has unspecified keys: "+strings.Join(unknown, ", "))
	}
}

// pathLabel names a path as yup does ("this" for the root).
func pathLabel(path []string) string {
	if len(path) == 0 {
		return "this"
	}
	return strings.Join(path, ".")
}

// objectAt decodes raw as a JSON object; anything else is a type error.
func (v *validator) objectAt(raw json.RawMessage, path []string) (body, bool) {
	var b body
	if string(bytes.TrimSpace(raw)) == "null" || json.Unmarshal(raw, &b) != nil {
		v.addAt(path, fmt.Sprintf("%s must be a `object` type, but the final value was: `%s`.", pathLabel(path), yupValue(raw)))
		return nil, false
	}
	return b, true
}

// stringAt reads the optional string b[key] at path; null counts as absent.
func (v *validator) stringAt(b body, path []string, key string) (string, bool) {
	raw, ok := b[key]
	if !ok || string(raw) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		p := append(append([]string{}, path...), key)
		v.addAt(p, fmt.Sprintf("%s must be a `string` type, but the final value was: `%s`.", pathLabel(p), yupValue(raw)))
		return "", false
	}
	return s, true
}

// getEmailTemplate is GET /api/users-permissions/email-templates: the
// email-template store (spec §6), {reset_password:{…}, email_confirmation:{…}}.
func (s *Server) getEmailTemplate(c *gin.Context) error {
	templates, err := s.emailTemplates(ctx(c))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, templates)
}

// templateKeys are the templates Gatehouse sends.
var templateKeys = []string{mail.KeyResetPassword, mail.KeyEmailConfirmation}

// updateEmailTemplate is PUT /api/users-permissions/email-templates with
// {"email-templates": {<key>: {display, icon, options: {from: {name, email},
// response_email, object, message}}}} → {ok:true}. Unlike Strapi, the shape
// is checked (known templates and keys only, strings, valid addresses) and
// both the subject (object) and the body (message) must pass
// mail.ValidateTemplate, else 400 ValidationError "Invalid template"
// (CVE-2023-22621). A template left out of the body keeps its stored value;
// display and icon left out keep theirs.
func (s *Server) updateEmailTemplate(c *gin.Context) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return ValidationError("Request body cannot be empty", nil)
	}
	current, err := s.emailTemplates(ctx(c))
	if err != nil {
		return err
	}
	var v validator
	given := mail.Templates{}
	if raw, ok := b["email-templates"]; !ok {
		v.add("email-templates", "email-templates is a required field", nil)
	} else if all, ok := v.objectAt(raw, []string{"email-templates"}); ok {
		keys := make([]string, 0, len(all))
		for k := range all {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, key := range keys {
			if !contains(templateKeys, key) {
				continue
			}
			if t, ok := v.template(all[key], key, current[key]); ok {
				given[key] = t
			}
		}
		v.noUnknown(all, []string{"email-templates"}, templateKeys...)
	}
	v.noUnknown(b, nil, "email-templates")
	if err := v.err(); err != nil {
		return err
	}
	if err := given.Validate(); err != nil {
		var te *mail.TemplateError
		if !errors.As(err, &te) {
			return err
		}
		return &Error{Status: http.StatusBadRequest, Name: "ValidationError", Message: "Invalid template", Err: err,
			Details: gin.H{"errors": []fieldError{{
				Path:    []string{"email-templates", te.Key, "options", te.Field},
				Message: strings.TrimPrefix(te.Err.Error(), "mail: "),
				Name:    "ValidationError",
			}}}}
	}
	for k, t := range given {
		current[k] = t
	}
	if err := s.store.Settings().Put(ctx(c), store.KeyEmail, current); err != nil {
		return err
	}
	s.Audit(s.changeCtx(c, ""), "settings.email-templates", "settings:email-templates", map[string]any{"templates": sortedKeys(given)})
	return writeJSON(c, http.StatusOK, gin.H{"ok": true})
}

// template reads one template of the PUT body; fallback gives display and
// icon when they are left out.
func (v *validator) template(raw json.RawMessage, key string, fallback mail.Template) (mail.Template, bool) {
	before := len(v.errs)
	path := []string{"email-templates", key}
	t := mail.Template{Display: fallback.Display, Icon: fallback.Icon}
	obj, ok := v.objectAt(raw, path)
	if !ok {
		return t, false
	}
	if s, ok := v.stringAt(obj, path, "display"); ok {
		t.Display = s
	}
	if s, ok := v.stringAt(obj, path, "icon"); ok {
		t.Icon = s
	}
	optPath := append(path, "options")
	if rawOpts, ok := obj["options"]; !ok {
		v.addAt(optPath, pathLabel(optPath)+" is a required field")
	} else if opts, ok := v.objectAt(rawOpts, optPath); ok {
		if rawFrom, ok := opts["from"]; ok && string(rawFrom) != "null" {
			fromPath := append(append([]string{}, optPath...), "from")
			if from, ok := v.objectAt(rawFrom, fromPath); ok {
				t.Options.From.Name, _ = v.stringAt(from, fromPath, "name")
				t.Options.From.Email, _ = v.stringAt(from, fromPath, "email")
				if e := t.Options.From.Email; e != "" && !validEmail(e) {
					v.addAt(append(fromPath, "email"), pathLabel(fromPath)+".email must be a valid email")
				}
				v.noUnknown(from, fromPath, "name", "email")
			}
		}
		t.Options.ResponseEmail, _ = v.stringAt(opts, optPath, "response_email")
		if e := t.Options.ResponseEmail; e != "" && !validEmail(e) {
			v.addAt(append(optPath, "response_email"), pathLabel(optPath)+".response_email must be a valid email")
		}
		for _, field := range []string{"object", "message"} {
			value, _ := v.stringAt(opts, optPath, field)
			p := append(append([]string{}, optPath...), field)
			if strings.TrimSpace(value) == "" && !v.failedAt(p) {
				v.addAt(p, pathLabel(p)+" is a required field")
			}
			if field == "object" {
				t.Options.Object = value
			} else {
				t.Options.Message = value
			}
		}
		v.noUnknown(opts, optPath, "from", "response_email", "object", "message")
	}
	v.noUnknown(obj, path, "display", "icon", "options")
	return t, len(v.errs) == before
}

// failedAt reports whether an error was added at exactly path.
func (v *validator) failedAt(path []string) bool {
	for _, e := range v.errs {
		if strings.Join(e.Path, "\x00") == strings.Join(path, "\x00") {
			return true
		}
	}
	return false
}

// getAdvancedSettings is GET /api/users-permissions/advanced:
// {settings: <advanced settings>, roles: [… with nb_users]} (spec §2.13).
func (s *Server) getAdvancedSettings(c *gin.Context) error {
	adv, err := s.store.Settings().Advanced(ctx(c))
	if err != nil {
		return err
	}
	roles, err := s.rolesWithCounts(ctx(c))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, gin.H{"settings": adv, "roles": roles})
}

// advancedBools and advancedURLs are the advanced settings by type.
var (
	advancedBools = []string{"unique_email", "allow_register", "email_confirmation"}
	advancedURLs  = []string{"email_reset_password", "email_confirmation_redirection"}
	advancedKeys  = append(append(append([]string{}, advancedBools...), advancedURLs...), "default_role")
)

// parseAdvanced applies the PUT body b to the current settings. Unlike
// Strapi, which stores any body as it is, every key must be known and of its
// type: booleans; for the two URLs an absolute http(s) URL, null or ""
// (stored as null); default_role a non-empty role type (whose existence the
// caller checks). Keys left out keep their current value.
func parseAdvanced(b body, current store.Advanced) (store.Advanced, error) {
	adv := current
	var v validator
	bools := map[string]*bool{"unique_email": &adv.UniqueEmail, "allow_register": &adv.AllowRegister, "email_confirmation": &adv.EmailConfirmation}
	for _, key := range advancedBools {
		raw, ok := b[key]
		if !ok {
			continue
		}
		if string(bytes.TrimSpace(raw)) == "null" {
			v.add(key, key+" cannot be null", nil)
			continue
		}
		if err := json.Unmarshal(raw, bools[key]); err != nil {
			v.add(key, fmt.Sprintf("%s must be a `boolean` type, but the final value was: `%s`.", key, yupValue(raw)), json.RawMessage(raw))
		}
	}
	urls := map[string]**string{"email_reset_password": &adv.EmailResetPassword, "email_confirmation_redirection": &adv.EmailConfirmationRedirection}
	for _, key := range advancedURLs {
		if _, ok := b[key]; !ok {
			continue
		}
		value, present := v.str(b, key)
		switch {
		case v.failed(key):
		case !present || value == "":
			*urls[key] = nil
		case !validAbsoluteURL(value):
			v.add(key, key+" must be a valid URL", value)
		default:
			*urls[key] = &value
		}
	}
	if _, ok := b["default_role"]; ok {
		adv.DefaultRole = v.requiredStr(b, "default_role")
	}
	v.noUnknown(b, nil, advancedKeys...)
	return adv, v.err()
}

// validAbsoluteURL accepts absolute http and https URLs with a host and
// without spaces or control characters.
func validAbsoluteURL(s string) bool {
	if strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// updateAdvancedSettings is PUT /api/users-permissions/advanced → {ok:true};
// an empty body → 400 "Request body cannot be empty" (spec §2.13). The body
// is validated (parseAdvanced) and default_role must name an existing role.
func (s *Server) updateAdvancedSettings(c *gin.Context) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return ValidationError("Request body cannot be empty", nil)
	}
	current, err := s.store.Settings().Advanced(ctx(c))
	if err != nil {
		return err
	}
	adv, err := parseAdvanced(b, current)
	if err != nil {
		return err
	}
	if _, given := b["default_role"]; given {
		_, err := s.store.Roles().ByType(ctx(c), adv.DefaultRole)
		if errors.Is(err, store.ErrNotFound) {
			var v validator
			v.add("default_role", fmt.Sprintf("default_role %q is not the type of an existing role", adv.DefaultRole), adv.DefaultRole)
			return v.err()
		}
		if err != nil {
			return err
		}
	}
	if err := s.store.Settings().Put(ctx(c), store.KeyAdvanced, adv); err != nil {
		return err
	}
	s.Audit(s.changeCtx(c, ""), "settings.advanced", "settings:advanced", map[string]any{"changed": sortedKeys(b), "after": adv})
	return writeJSON(c, http.StatusOK, gin.H{"ok": true})
}
