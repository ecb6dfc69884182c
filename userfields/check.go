package userfields

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER: larger integers
// would not survive a Strapi client's JSON.parse.
const maxSafeInteger = 1<<53 - 1

// Check converts a decoded value (from encoding/json with UseNumber, or from
// YAML) to what the field's column stores — string, int64, float64, bool,
// time.Time (datetime), a "YYYY-MM-DD" string (date) or compact JSON text
// (json) — or returns the message yup would give (Strapi's entity
// validator). A nil value is for the caller (required, or NULL). The email
// type's address syntax is the caller's to check too: only the length and
// type are checked here.
func (f Field) Check(v any) (any, string) {
	switch f.Type {
	case "string", "text", "email", "enumeration":
		s, ok := v.(string)
		if !ok {
			return nil, f.typeError("string", v)
		}
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return nil, f.Name + " must be valid UTF-8 text without NUL"
		}
		n := utf8.RuneCountInString(s)
		if f.MinLength != nil && n < *f.MinLength {
			return nil, fmt.Sprintf("%s must be at least %d characters", f.Name, *f.MinLength)
		}
		limit := maxStringLength
		if f.Type == "text" {
			limit = maxTextLength
		}
		if f.MaxLength != nil {
			limit = *f.MaxLength
		}
		if n > limit {
			return nil, fmt.Sprintf("%s must be at most %d characters", f.Name, limit)
		}
		if f.Type == "enumeration" && !slices.Contains(f.Values, s) {
			return nil, fmt.Sprintf("%s must be one of the following values: %s", f.Name, strings.Join(f.Values, ", "))
		}
		return s, ""
	case "integer":
		x, ok := number(v)
		if !ok {
			return nil, f.typeError("number", v)
		}
		if x != math.Trunc(x) {
			return nil, f.Name + " must be an integer"
		}
		if math.Abs(x) > maxSafeInteger {
			return nil, fmt.Sprintf("%s must be less than or equal to %d", f.Name, int64(maxSafeInteger))
		}
		return int64(x), ""
	case "number":
		x, ok := number(v)
		if !ok {
			return nil, f.typeError("number", v)
		}
		return x, ""
	case "boolean":
		b, ok := v.(bool)
		if !ok {
			return nil, f.typeError("boolean", v)
		}
		return b, ""
	case "date":
		s, ok := v.(string)
		t, err := time.Parse(time.DateOnly, s)
		if !ok || err != nil {
			return nil, f.typeError("date", v)
		}
		return t.Format(time.DateOnly), ""
	case "datetime":
		s, ok := v.(string)
		t, err := time.Parse(time.RFC3339Nano, s)
		if !ok || err != nil || t.UTC().Year() < 1 || t.UTC().Year() > 9999 {
			return nil, f.typeError("date", v)
		}
		return t.UTC(), ""
	case "json":
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, f.Name + " must be a JSON value"
		}
		if len(raw) > maxTextLength {
			return nil, fmt.Sprintf("%s must be at most %d bytes of JSON", f.Name, maxTextLength)
		}
		return string(raw), ""
	}
	return nil, f.Name + " has an unknown type"
}

// number reads a JSON number (json.Number) or a YAML one.
func number(v any) (float64, bool) {
	var x float64
	switch n := v.(type) {
	case json.Number:
		var err error
		if x, err = strconv.ParseFloat(string(n), 64); err != nil {
			return 0, false
		}
	case float64:
		x = n
	case int:
		x = float64(n)
	case int64:
		x = float64(n)
	case uint64:
		x = float64(n)
	default:
		return 0, false
	}
	return x, !math.IsInf(x, 0) && !math.IsNaN(x)
}

// typeError is yup's strict type message.
func (f Field) typeError(want string, v any) string {
	return fmt.Sprintf("%s must be a `%s` type, but the final value was: `%s`.", f.Name, want, finalValue(v))
}

// finalValue renders a value as yup's message does, shortened.
func finalValue(v any) string {
	switch x := v.(type) {
	case map[string]any:
		return "{}"
	case []any:
		return "[]"
	case string:
		if len(x) > 64 {
			x = x[:64] + "…"
		}
		return strconv.Quote(x)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(raw)
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return s
}

// MissingMessage is Strapi v5's message for a missing required attribute.
func (f Field) MissingMessage() string { return f.Name + " must be defined." }
