// Package userfields declares the custom attributes of the users (Strapi's
// extended User content type): their names, types and rules, read from the
// file USER_FIELDS_FILE names, with the register.allowedFields list of the
// fields a caller may send to POST /api/auth/local/register.
//
// It owns the definitions and the checks of values against them (Strapi's
// validation messages); store owns their columns, handlers their HTTP use.
package userfields

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/goccy/go-yaml"
)

// Types are the declarable attribute types, as Strapi names them.
var Types = []string{"string", "text", "integer", "number", "boolean", "date", "datetime", "email", "enumeration", "json"}

// Field is one custom user attribute.
type Field struct {
	// Name is the attribute's JSON name: a letter, then letters, digits or
	// underscores (at most 40).
	Name string `yaml:"name" json:"name"`
	// Type is one of Types.
	Type string `yaml:"type" json:"type"`
	// Required refuses a missing or null value on create and null on update.
	Required bool `yaml:"required,omitempty" json:"required,omitempty"`
	// Unique refuses a value another user holds (a unique index: every
	// instance sees it). Not for text, boolean and json.
	Unique bool `yaml:"unique,omitempty" json:"unique,omitempty"`
	// Private fields are never returned, filtered, sorted or selected, as
	// password; they may still be written.
	Private bool `yaml:"private,omitempty" json:"private,omitempty"`
	// Default is the value a create without this field stores.
	Default any `yaml:"default,omitempty" json:"default,omitempty"`
	// MinLength and MaxLength bound string, text and email values, in
	// characters. string, email and enumeration hold at most 255.
	MinLength *int `yaml:"minLength,omitempty" json:"minLength,omitempty"`
	MaxLength *int `yaml:"maxLength,omitempty" json:"maxLength,omitempty"`
	// Values are an enumeration's allowed values.
	Values []string `yaml:"values,omitempty" json:"values,omitempty"`
}

// Config is the content of USER_FIELDS_FILE.
type Config struct {
	// Fields are the custom attributes, in display order.
	Fields []Field `yaml:"fields" json:"fields"`
	// Register holds Strapi's register options.
	Register Register `yaml:"register" json:"register"`
}

// Register is Strapi v5's plugin config register: allowedFields lists the
// custom fields POST /api/auth/local/register accepts besides username,
// email and password; every other key is refused.
type Register struct {
	AllowedFields []string `yaml:"allowedFields" json:"allowedFields"`
}

// maxStringLength is the column size of string, email and enumeration.
const maxStringLength = 255

// maxTextLength bounds text and json values (MySQL's TEXT holds 64 KiB; the
// column is larger, the bound keeps one user row small).
const maxTextLength = 65535

var nameRule = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,39}$`)

// reserved are the built-in attributes of a user and the names Strapi or
// Gatehouse give a meaning to anywhere in a user's JSON or the query
// language; a custom field may not take them (compared ignoring case and
// underscores, so neither Password nor reset_password_token passes).
var reserved = []string{
	"id", "documentId", "username", "email", "provider", "password", "resetPasswordToken", "resetTokenExpiresAt",
	"confirmationToken", "confirmationExpires", "tokensValidAfter", "confirmed", "blocked", "role", "roleId",
	"createdAt", "updatedAt", "publishedAt", "createdBy", "updatedBy", "locale", "localizations", "users",
	"jwt", "refreshToken", "deviceId", "identifier", "passwordConfirmation", "currentPassword", "code",
}

func squash(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }

// Load reads and checks the file (YAML, or JSON which YAML includes). An
// empty path is no custom fields.
func Load(path string) (*Config, error) {
	if path == "" {
		return &Config{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("userfields: %w", err)
	}
	return Parse(data)
}

// Parse decodes and checks a configuration. Unknown keys are errors, so a
// misspelt rule ("maxlength") is not silently ignored.
func Parse(data []byte) (*Config, error) {
	var c Config
	if len(bytes.TrimSpace(data)) > 0 {
		if err := yaml.UnmarshalWithOptions(data, &c, yaml.DisallowUnknownField(), yaml.UseJSONUnmarshaler()); err != nil {
			return nil, fmt.Errorf("userfields: %s", yaml.FormatError(err, false, false))
		}
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) check() error {
	seen := make(map[string]string)
	columns := make(map[string]string)
	for i := range c.Fields {
		f := &c.Fields[i]
		bad := func(format string, args ...any) error {
			return fmt.Errorf("userfields: field %q: %s", f.Name, fmt.Sprintf(format, args...))
		}
		if !nameRule.MatchString(f.Name) {
			return bad("a name is a letter then up to 39 letters, digits or underscores")
		}
		for _, r := range reserved {
			if squash(f.Name) == squash(r) {
				return bad("collides with the built-in attribute %s", r)
			}
		}
		if other, dup := seen[squash(f.Name)]; dup {
			return bad("collides with field %q (names are compared ignoring case and underscores)", other)
		}
		seen[squash(f.Name)] = f.Name
		if other, dup := columns[f.Column()]; dup {
			return bad("its column %s is field %q's", f.Column(), other)
		}
		columns[f.Column()] = f.Name
		if !slices.Contains(Types, f.Type) {
			return bad("type %q is not one of %s", f.Type, strings.Join(Types, ", "))
		}
		if f.Unique && (f.Type == "text" || f.Type == "boolean" || f.Type == "json") {
			return bad("a %s cannot be unique", f.Type)
		}
		if f.Type == "enumeration" {
			if len(f.Values) == 0 {
				return bad("an enumeration needs values")
			}
			for _, v := range f.Values {
				if v == "" || len([]rune(v)) > maxStringLength || !printable(v) {
					return bad("enumeration value %q is empty, too long or not printable", v)
				}
			}
		} else if len(f.Values) > 0 {
			return bad("values are for enumerations")
		}
		if f.MinLength != nil || f.MaxLength != nil {
			switch f.Type {
			case "string", "text", "email":
			default:
				return bad("minLength and maxLength are for string, text and email")
			}
			if f.MinLength != nil && *f.MinLength < 0 || f.MaxLength != nil && *f.MaxLength < 1 ||
				f.MinLength != nil && f.MaxLength != nil && *f.MinLength > *f.MaxLength {
				return bad("minLength must be >= 0, maxLength >= 1 and minLength <= maxLength")
			}
			if f.MaxLength != nil && f.Type != "text" && *f.MaxLength > maxStringLength {
				return bad("maxLength of a %s is at most %d", f.Type, maxStringLength)
			}
		}
		if f.Default != nil {
			if f.Unique {
				return bad("a unique field cannot have a default (every user would share it)")
			}
			if _, msg := f.Check(f.Default); msg != "" {
				return bad("default: %s", msg)
			}
		}
	}
	for _, name := range c.Register.AllowedFields {
		if _, ok := c.Field(name); !ok {
			return fmt.Errorf("userfields: register.allowedFields: %q is not a declared field", name)
		}
	}
	return nil
}

func printable(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

// Field returns the declared field of this name.
func (c *Config) Field(name string) (Field, bool) {
	if c == nil {
		return Field{}, false
	}
	for _, f := range c.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Allowed reports whether register accepts the field.
func (c *Config) Allowed(name string) bool {
	return c != nil && slices.Contains(c.Register.AllowedFields, name)
}

// Column is the field's column in up_users: "cf_" and the name in lower
// snake case (firstName → cf_first_name, isVIP → cf_is_vip). The prefix keeps custom columns
// apart from every present and future built-in one.
func (f Field) Column() string {
	var b strings.Builder
	b.WriteString("cf_")
	prev := rune(0)
	for _, r := range f.Name {
		if unicode.IsUpper(r) {
			if unicode.IsLower(prev) || unicode.IsDigit(prev) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
		} else {
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}
