package mail

import (
	"encoding/json"
	"fmt"
	"html"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Vars are the values a template may interpolate.
//
//	<%= URL %>         URL
//	<%= SERVER_URL %>  ServerURL
//	<%= ADMIN_URL %>   AdminURL
//	<%= CODE %>        Code (email-confirmation token)
//	<%= TOKEN %>       Token (reset-password token)
//	<%= USER %>        User, as JSON
//	<%= USER.email %>  User["email"]; any field or dotted path of User works
//
// User should be the sanitised user (id, documentId, username, email,
// provider, confirmed, blocked, createdAt, …) as a JSON-like map: nested
// objects as map[string]any or map[string]string. As a second line of defence
// the renderer never outputs the fields password, resetPasswordToken and
// confirmationToken, at any depth.
type Vars struct {
	URL       string
	ServerURL string
	AdminURL  string
	Code      string
	Token     string
	User      map[string]any
}

// placeholder matches one interpolation block the renderer substitutes.
// It accepts every key ValidateTemplate allows, and any USER.<path>, like
// Strapi's keysDeep(data).
var placeholder = regexp.MustCompile(`<%=\s*(URL|ADMIN_URL|SERVER_URL|CODE|TOKEN|USER(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*)\s*%>`)

// Render substitutes the interpolation blocks `<%= KEY %>` of tmpl (see Vars
// for the keys) and leaves all other text, including unknown keys and
// `<% … %>` blocks, as it is. It is a single pass of string substitution:
// nothing is evaluated and substituted values are never re-scanned. Keys
// whose value is unset render as the empty string.
//
// When escapeHTML is true every substituted value is escaped with
// html.EscapeString, so it cannot add markup to an HTML body; the template's
// own text is never escaped.
func Render(tmpl string, v Vars, escapeHTML bool) string {
	return placeholder.ReplaceAllStringFunc(tmpl, func(block string) string {
		val, ok := v.lookup(block)
		if !ok {
			return block
		}
		if escapeHTML {
			return html.EscapeString(val)
		}
		return val
	})
}

// lookup returns the value of one placeholder block; ok is false when the
// block must stay literal.
func (v Vars) lookup(block string) (val string, ok bool) {
	m := placeholder.FindStringSubmatch(block)
	if m == nil {
		return "", false
	}
	switch key := m[1]; key {
	case "URL":
		return v.URL, true
	case "ADMIN_URL":
		return v.AdminURL, true
	case "SERVER_URL":
		return v.ServerURL, true
	case "CODE":
		return v.Code, true
	case "TOKEN":
		return v.Token, true
	case "USER":
		b, err := json.Marshal(publicValue(v.User))
		if err != nil {
			return "", true
		}
		return string(b), true
	default: // USER.<path>
		var cur any = v.User
		for _, field := range strings.Split(strings.TrimPrefix(key, "USER."), ".") {
			if isPrivateField(field) {
				return "", false
			}
			obj, isObj := publicValue(cur).(map[string]any)
			if !isObj {
				return "", true
			}
			cur = obj[field]
		}
		return scalarString(publicValue(cur)), true
	}
}

// isPrivateField reports whether a user field must never be rendered.
func isPrivateField(name string) bool {
	switch strings.ToLower(strings.ReplaceAll(name, "_", "")) {
	case "password", "resetpasswordtoken", "confirmationtoken":
		return true
	}
	return false
}

// publicValue returns v with private fields removed from every nested map.
func publicValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			if !isPrivateField(k) {
				out[k] = publicValue(x)
			}
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(t))
		for k, x := range t {
			if !isPrivateField(k) {
				out[k] = x
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = publicValue(x)
		}
		return out
	}
	return v
}

// scalarString formats a user field: strings as they are, numbers without
// exponent, nil as "", and composite values as JSON.
func scalarString(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case json.Number:
		return t.String()
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(t), 'f', -1, 32)
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(t)
	case time.Time:
		return t.UTC().Format("2006-01-02T15:04:05.000Z") // JavaScript's toISOString
	case fmt.Stringer:
		return t.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// Compose renders template t for recipient to:
//   - Subject is Render(Object) without escaping, with every control
//     character (CR and LF included) replaced by a space, so a value such
//     as a username cannot inject headers;
//   - HTML is Render(Message) with values HTML-escaped;
//   - Text is a plain-text version of Message: tags are removed (<p>, <br>
//     and other blocks become line breaks, links keep their href), entities
//     are decoded, and values are inserted unescaped after the markup is
//     removed, so a value is never mangled as if it were markup;
//   - From is `"Name" <email>` when both are set, the email alone when only
//     it is set, and empty otherwise (the sender's default applies);
//   - ReplyTo is ResponseEmail.
func Compose(t Template, to string, v Vars) Message {
	o := t.Options
	return Message{
		To:      to,
		From:    formatAddress(o.From),
		ReplyTo: strings.TrimSpace(headerSafe(o.ResponseEmail)),
		Subject: strings.TrimSpace(headerSafe(Render(o.Object, v, false))),
		Text:    renderText(o.Message, v),
		HTML:    Render(o.Message, v, true),
	}
}

// formatAddress formats a template sender for a From header.
func formatAddress(a Address) string {
	email := strings.TrimSpace(headerSafe(a.Email))
	if email == "" {
		return ""
	}
	name := strings.TrimSpace(headerSafe(a.Name))
	if name == "" {
		return email
	}
	return (&mail.Address{Name: name, Address: email}).String()
}

// mark delimits a value slot while markup is converted to text. Templates
// are cleaned of it first, so it cannot be forged.
const mark = "\x1a"

var markRef = regexp.MustCompile(mark + `([0-9]+)` + mark)

// renderText renders tmpl as plain text.
func renderText(tmpl string, v Vars) string {
	var vals []string
	slotted := placeholder.ReplaceAllStringFunc(strings.ReplaceAll(tmpl, mark, ""), func(block string) string {
		val, ok := v.lookup(block)
		if !ok {
			val = block
		}
		vals = append(vals, val)
		return mark + strconv.Itoa(len(vals)-1) + mark
	})
	text := htmlToText(slotted)
	return markRef.ReplaceAllStringFunc(text, func(ref string) string {
		i, err := strconv.Atoi(strings.Trim(ref, mark))
		if err != nil || i >= len(vals) {
			return ""
		}
		return vals[i]
	})
}
