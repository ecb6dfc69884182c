package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// body is a decoded JSON object body: each key's raw value.
type body map[string]json.RawMessage

// readBody decodes the request body as a JSON object. An empty body is an
// empty object, whatever its Content-Type. A body sent without
// application/json (or a +json type) is 415: HTML forms and no-cors fetches
// can send text/plain, form types or none across sites without a
// preflight, and a body read as JSON anyway made a cross-site form able to
// sign a browser in. Malformed JSON (invalid UTF-8, data after the object
// included) is a 400 SyntaxError, the name Strapi's body parser gives it; a
// non-object or a control character in a string (checkControlCharacters)
// are 400 ValidationErrors; an oversized body is 413.
func readBody(c *gin.Context) (body, error) {
	raw, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errPayloadTooLarge
		}
		return nil, &Error{Status: http.StatusBadRequest, Name: "BadRequestError", Message: "Could not read the request body", Err: err}
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return body{}, nil
	}
	if !jsonContentType(c.GetHeader("Content-Type")) {
		return nil, UnsupportedMediaTypeError("Request body must be JSON (Content-Type: application/json)")
	}
	if !utf8.Valid(raw) {
		return nil, SyntaxError("Invalid JSON: body is not valid UTF-8")
	}
	var b body
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&b); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, ValidationError("Request body must be a JSON object", nil)
		}
		return nil, SyntaxError("Invalid JSON: " + err.Error())
	}
	if dec.More() {
		return nil, SyntaxError("Invalid JSON: unexpected data after the object")
	}
	if b == nil { // the body was "null"
		b = body{}
	}
	if err := checkControlCharacters(b); err != nil {
		return nil, err
	}
	return b, nil
}

// jsonContentType reports whether the Content-Type header names JSON:
// application/json or a structured +json type, with any parameters.
func jsonContentType(header string) bool {
	mt, _, err := mime.ParseMediaType(header)
	return err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// unknownKeys lists the keys of b not in allowed, sorted.
func (b body) unknownKeys(allowed ...string) []string {
	var unknown []string
	for k := range b {
		if !contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	return unknown
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// fieldError is one entry of a ValidationError's details.errors (yup's shape).
type fieldError struct {
	Path    []string `json:"path"`
	Message string   `json:"message"`
	Name    string   `json:"name"`
	Value   any      `json:"value,omitempty"`
}

// validator collects yup-style field errors; err() renders them as Strapi does
// (one error: its message; several: "N errors occurred").
type validator struct {
	errs []fieldError
}

func (v *validator) add(field, message string, value any) {
	v.errs = append(v.errs, fieldError{Path: []string{field}, Message: message, Name: "ValidationError", Value: value})
}

func (v *validator) failed(field string) bool {
	for _, e := range v.errs {
		if len(e.Path) == 1 && e.Path[0] == field {
			return true
		}
	}
	return false
}

func (v *validator) err() error {
	switch len(v.errs) {
	case 0:
		return nil
	case 1:
		return ValidationError(v.errs[0].Message, gin.H{"errors": v.errs})
	}
	return ValidationError(fmt.Sprintf("%d errors occurred", len(v.errs)), gin.H{"errors": v.errs})
}

// str reads an optional string field; present is false when absent or null.
// A value of another type is a yup strict type error.
func (v *validator) str(b body, field string) (value string, present bool) {
	raw, ok := b[field]
	if !ok || string(raw) == "null" {
		return "", false
	}
	if err := json.Unmarshal(raw, &value); err != nil {
		v.add(field, fmt.Sprintf("%s must be a `string` type, but the final value was: `%s`.", field, yupValue(raw)), json.RawMessage(raw))
		return "", false
	}
	return value, true
}

// requiredStr reads a required string field (absent, null and "" fail).
func (v *validator) requiredStr(b body, field string) string {
	value, present := v.str(b, field)
	if !present && !v.failed(field) || present && value == "" {
		v.add(field, field+" is a required field", nil)
	}
	return value
}

// yupValue prints a JSON value as yup's messages do.
func yupValue(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	switch x := v.(type) {
	case map[string]any:
		return "{}"
	case []any:
		return "[]"
	case string:
		return fmt.Sprintf("%q", x)
	}
	s := string(bytes.TrimSpace(raw))
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return s
}

// emailPattern follows yup's email check (RFC 5322 dot-atoms, letters beyond
// ASCII allowed, a dotted domain with a letter TLD), without quoted locals.
var emailPattern = regexp.MustCompile(`(?i)^[a-z0-9!#$%&'*+/=?^_` + "`" + `{|}~\x{00A0}-\x{D7FF}\x{F900}-\x{FDCF}\x{FDF0}-\x{FFEF}-]+(\.[a-z0-9!#$%&'*+/=?^_` + "`" + `{|}~\x{00A0}-\x{D7FF}\x{F900}-\x{FDCF}\x{FDF0}-\x{FFEF}-]+)*@(([a-z0-9\x{00A0}-\x{D7FF}\x{F900}-\x{FDCF}\x{FDF0}-\x{FFEF}]([a-z0-9\x{00A0}-\x{D7FF}\x{F900}-\x{FDCF}\x{FDF0}-\x{FFEF}_~.-]*[a-z0-9\x{00A0}-\x{D7FF}\x{F900}-\x{FDCF}\x{FDF0}-\x{FFEF}])?)\.)+[a-z\x{00A0}-\x{D7FF}\x{F900}-\x{FDCF}\x{FDF0}-\x{FFEF}]([a-z0-9\x{00A0}-\x{D7FF}\x{F900}-\x{FDCF}\x{FDF0}-\x{FFEF}_~.-]*[a-z\x{00A0}-\x{D7FF}\x{F900}-\x{FDCF}\x{FDF0}-\x{FFEF}])?$`)

// validEmail reports whether s is an email address yup would accept.
func validEmail(s string) bool {
	return len(s) <= 254 && emailPattern.MatchString(s)
}

// email validates a required email field.
func (v *validator) requiredEmail(b body, field string) string {
	value := v.requiredStr(b, field)
	if value != "" && !validEmail(value) {
		v.add(field, field+" must be a valid email", value)
	}
	return value
}

// maxPasswordBytes is bcrypt's limit: bytes past it are ignored, so longer
// passwords are refused (GHSA-vj5w-qf45-pg8h).
const maxPasswordBytes = 72

// checkPasswordLength adds Strapi's byte-length message.
func (v *validator) checkPasswordLength(field, password string) {
	if len(password) > maxPasswordBytes {
		v.add(field, "Password must be less than 73 bytes", nil)
	}
}

// credentials reads the required email, username and password of a new
// user, the password at most 72 bytes.
func (v *validator) credentials(b body) (email, username, password string) {
	email = v.requiredEmail(b, "email")
	username = v.requiredStr(b, "username")
	password = v.requiredStr(b, "password")
	if !v.failed("password") {
		v.checkPasswordLength("password", password)
	}
	return email, username, password
}

// writeJSON writes a 200 JSON answer.
func writeJSON(c *gin.Context, status int, v any) error {
	c.JSON(status, v)
	return nil
}
