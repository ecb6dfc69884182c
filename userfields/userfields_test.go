package userfields

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseRefuses(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"built-in name", "fields: [{name: email, type: string}]", "collides with the built-in attribute email"},
		{"built-in in other case", "fields: [{name: Password, type: string}]", "collides with the built-in attribute password"},
		{"private column spelling", "fields: [{name: reset_password_token, type: string}]", "collides with the built-in attribute resetPasswordToken"},
		{"role", "fields: [{name: role, type: integer}]", "collides"},
		{"not an identifier", "fields: [{name: \"first name\", type: string}]", "a name is a letter"},
		{"sql in the name", "fields: [{name: \"x; DROP TABLE up_users\", type: string}]", "a name is a letter"},
		{"leading digit", "fields: [{name: 1st, type: string}]", "a name is a letter"},
		{"unicode", "fields: [{name: prénom, type: string}]", "a name is a letter"},
		{"too long", "fields: [{name: " + strings.Repeat("a", 41) + ", type: string}]", "a name is a letter"},
		{"duplicate ignoring case", "fields: [{name: nickName, type: string}, {name: nickname, type: string}]", "collides with field"},
		{"same column", "fields: [{name: nickName, type: string}, {name: nick_name, type: string}]", "collides with field"},
		{"same column by capitals", "fields: [{name: isVIP, type: string}, {name: is_vip, type: string}]", "collides with field"},
		{"unknown type", "fields: [{name: x, type: uuid}]", "type \"uuid\" is not one of"},
		{"unknown rule", "fields: [{name: x, type: string, maxlength: 3}]", "unknown field"},
		{"unique text", "fields: [{name: x, type: text, unique: true}]", "a text cannot be unique"},
		{"enumeration without values", "fields: [{name: x, type: enumeration}]", "needs values"},
		{"values on a string", "fields: [{name: x, type: string, values: [a]}]", "values are for enumerations"},
		{"length on an integer", "fields: [{name: x, type: integer, maxLength: 3}]", "minLength and maxLength are for"},
		{"min above max", "fields: [{name: x, type: string, minLength: 5, maxLength: 3}]", "minLength <= maxLength"},
		{"string longer than its column", "fields: [{name: x, type: string, maxLength: 300}]", "at most 255"},
		{"bad default", "fields: [{name: x, type: integer, default: many}]", "default: x must be a `number` type"},
		{"default outside the enumeration", "fields: [{name: x, type: enumeration, values: [a, b], default: c}]", "must be one of the following values: a, b"},
		{"unique with default", "fields: [{name: x, type: string, unique: true, default: a}]", "cannot have a default"},
		{"allowed field undeclared", "register: {allowedFields: [confirmed]}", "\"confirmed\" is not a declared field"},
		{"not YAML", "fields: [", "userfields:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%s): error = %v, want one containing %q", tc.yaml, err, tc.want)
			}
		})
	}
}

func TestParseJSONAndColumns(t *testing.T) {
	c, err := Parse([]byte(`{"fields":[{"name":"firstName","type":"string","maxLength":50},{"name":"isVIP","type":"boolean","default":true},{"name":"plan","type":"enumeration","values":["a","b"]}],"register":{"allowedFields":["firstName"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"firstName": "cf_first_name", "isVIP": "cf_is_vip", "plan": "cf_plan"} {
		if f, ok := c.Field(name); !ok || f.Column() != want {
			t.Errorf("Field(%s).Column() = %q, want %q", name, f.Column(), want)
		}
	}
	if !c.Allowed("firstName") || c.Allowed("isVIP") {
		t.Errorf("Allowed: firstName %v, isVIP %v; want true, false", c.Allowed("firstName"), c.Allowed("isVIP"))
	}
	if empty, err := Parse(nil); err != nil || len(empty.Fields) != 0 {
		t.Errorf("Parse(nil) = %+v, %v; want no fields", empty, err)
	}
}

func TestCheck(t *testing.T) {
	n := func(s string) any { return json.Number(s) }
	three := 3
	tests := []struct {
		f       Field
		in      any
		want    any
		wantMsg string
	}{
		{Field{Name: "s", Type: "string", MinLength: &three}, "abc", "abc", ""},
		{Field{Name: "s", Type: "string", MinLength: &three}, "ab", nil, "s must be at least 3 characters"},
		{Field{Name: "s", Type: "string"}, strings.Repeat("é", 256), nil, "s must be at most 255 characters"},
		{Field{Name: "s", Type: "string"}, "a\x00b", nil, "s must be valid UTF-8 text without NUL"},
		{Field{Name: "s", Type: "string"}, n("12"), nil, "s must be a `string` type, but the final value was: `12`."},
		{Field{Name: "i", Type: "integer"}, n("42"), int64(42), ""},
		{Field{Name: "i", Type: "integer"}, n("4.2"), nil, "i must be an integer"},
		{Field{Name: "i", Type: "integer"}, n("1e300"), nil, "i must be less than or equal to 9007199254740991"},
		{Field{Name: "i", Type: "integer"}, true, nil, "i must be a `number` type, but the final value was: `true`."},
		{Field{Name: "f", Type: "number"}, n("-0.5"), -0.5, ""},
		{Field{Name: "b", Type: "boolean"}, "true", nil, "b must be a `boolean` type, but the final value was: `\"true\"`."},
		{Field{Name: "d", Type: "date"}, "2024-02-29", "2024-02-29", ""},
		{Field{Name: "d", Type: "date"}, "2023-02-29", nil, "d must be a `date` type, but the final value was: `\"2023-02-29\"`."},
		{Field{Name: "t", Type: "datetime"}, "2024-01-02T03:04:05+01:00", time.Date(2024, 1, 2, 2, 4, 5, 0, time.UTC), ""},
		{Field{Name: "t", Type: "datetime"}, "yesterday", nil, "t must be a `date` type, but the final value was: `\"yesterday\"`."},
		{Field{Name: "e", Type: "enumeration", Values: []string{"a", "b"}}, "c", nil, "e must be one of the following values: a, b"},
		{Field{Name: "j", Type: "json"}, map[string]any{"a": []any{n("1")}}, `{"a":[1]}`, ""},
	}
	for _, tc := range tests {
		got, msg := tc.f.Check(tc.in)
		if msg != tc.wantMsg || msg == "" && got != tc.want {
			t.Errorf("%s %s: Check(%#v) = %#v, %q; want %#v, %q", tc.f.Type, tc.f.Name, tc.in, got, msg, tc.want, tc.wantMsg)
		}
	}
}

// FuzzParse: no input panics, and an accepted file's columns are safe SQL
// identifiers that no built-in attribute uses.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"fields: [{name: firstName, type: string, required: true, minLength: 2, maxLength: 50}]",
		"fields: [{name: plan, type: enumeration, values: [free, pro], default: free}]\nregister: {allowedFields: [plan]}",
		`{"fields":[{"name":"age","type":"integer","default":3}]}`,
		"fields: [{name: x, type: json, default: {a: [1, 2]}}]",
		"fields: [{name: \"a;b\", type: string}]", "fields: [{name: isVIP, type: boolean, default: true}]", "[]", "fields: 3",
	} {
		f.Add(seed)
	}
	column := regexp.MustCompile(`^cf_[a-z0-9_]{1,60}$`)
	f.Fuzz(func(t *testing.T, data string) {
		c, err := Parse([]byte(data))
		if err != nil {
			return
		}
		for _, fd := range c.Fields {
			if !column.MatchString(fd.Column()) {
				t.Fatalf("field %q: column %q", fd.Name, fd.Column())
			}
			for _, r := range reserved {
				if squash(fd.Name) == squash(r) {
					t.Fatalf("field %q accepted, reserved %q", fd.Name, r)
				}
			}
		}
	})
}
