package userquery

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ---- whitelist --------------------------------------------------------------

type kind int

const (
	kindString kind = iota
	kindInt
	kindBool
	kindTime
	kindFloat
	kindDate
	kindJSON
)

func (k kind) String() string {
	return [...]string{"text", "integer", "boolean", "date-time", "number", "date", "json"}[k]
}

// sortable says whether ORDER BY may use the kind; JSON documents have no
// order.
func (k kind) sortable() bool { return k != kindJSON }

type attribute struct {
	column string
	kind   kind
	rel    *entity // non-nil for a relation; column is then the foreign key
	// custom marks a configured user field: Find reads it apart from the
	// User struct. Its column may hold NULL.
	custom   bool
	nullable bool
}

type entity struct {
	table string
	// attrs is the whitelist of filterable, sortable and selectable attributes.
	attrs map[string]attribute
	// order lists the scalar attributes in the order Find selects them.
	order []string
	// custom lists the public custom attributes in declaration order.
	custom []string
	// populate names the relations populate may mention; only user.role is
	// ever loaded (role.users is validated and dropped).
	populate map[string]*entity
}

// Field is a custom user attribute the query language may filter, sort and
// select. Private custom attributes are left out of the Schema: naming one
// is then "Invalid key <name>", as for password.
type Field struct {
	// Name is the JSON name, e.g. "firstName".
	Name string
	// Column is the column of up_users holding it, e.g. "cf_first_name".
	Column string
	// Type is the declared type: string, text, email, enumeration, integer,
	// number, boolean, date, datetime or json.
	Type string
}

// Schema is the whitelist queries are validated against: the built-in user
// and role attributes and the custom user fields.
type Schema struct {
	user, role *entity
}

// builtin is the Schema without custom fields.
var builtin = mustSchema()

// Builtin returns the Schema of the built-in attributes only.
func Builtin() *Schema { return builtin }

func mustSchema() *Schema {
	s, err := NewSchema(nil)
	if err != nil {
		panic(err)
	}
	return s
}

// NewSchema returns the whitelist extended with the given custom fields. A
// field whose name is already an attribute (or a private one), whose column
// is already used or whose type is unknown is an error.
func NewSchema(fields []Field) (*Schema, error) {
	user, role := newEntities()
	columns := make(map[string]bool)
	for _, a := range user.attrs {
		columns[a.column] = true
	}
	for _, name := range []string{"password", "reset_password_token", "reset_token_expires_at", "confirmation_token", "confirmation_expires", "tokens_valid_after"} {
		columns[name] = true
	}
	for _, f := range fields {
		k, ok := fieldKinds[f.Type]
		if !ok {
			return nil, fmt.Errorf("userquery: field %q: unknown type %q", f.Name, f.Type)
		}
		if _, taken := user.attrs[f.Name]; taken || f.Name == "" || f.Column == "" {
			return nil, fmt.Errorf("userquery: field %q: name already used", f.Name)
		}
		if _, private := privateName(f.Name); private {
			return nil, fmt.Errorf("userquery: field %q: name of a private attribute", f.Name)
		}
		if columns[f.Column] {
			return nil, fmt.Errorf("userquery: field %q: column %q already used", f.Name, f.Column)
		}
		columns[f.Column] = true
		user.attrs[f.Name] = attribute{column: f.Column, kind: k, custom: true, nullable: true}
		user.custom = append(user.custom, f.Name)
	}
	return &Schema{user: user, role: role}, nil
}

// fieldKinds maps the declared types to what the query language compares.
var fieldKinds = map[string]kind{
	"string": kindString, "text": kindString, "email": kindString, "enumeration": kindString,
	"integer": kindInt, "number": kindFloat, "boolean": kindBool,
	"date": kindDate, "datetime": kindTime, "json": kindJSON,
}

// Custom returns the names of the custom fields, in declaration order.
func (s *Schema) Custom() []string { return s.user.custom }

func newEntities() (*entity, *entity) {
	common := func() map[string]attribute {
		return map[string]attribute{
			"id":          {column: "id", kind: kindInt},
			"documentId":  {column: "document_id", kind: kindString},
			"createdAt":   {column: "created_at", kind: kindTime},
			"updatedAt":   {column: "updated_at", kind: kindTime},
			"publishedAt": {column: "published_at", kind: kindTime},
		}
	}
	role := &entity{
		table: "up_roles",
		attrs: common(),
		order: []string{"id", "documentId", "name", "description", "type", "createdAt", "updatedAt", "publishedAt"},
	}
	for _, name := range []string{"name", "description", "type"} {
		role.attrs[name] = attribute{column: name, kind: kindString}
	}
	user := &entity{
		table: "up_users",
		attrs: common(),
		order: []string{"id", "documentId", "username", "email", "provider", "confirmed", "blocked", "createdAt", "updatedAt", "publishedAt"},
	}
	for _, name := range []string{"username", "email", "provider"} {
		user.attrs[name] = attribute{column: name, kind: kindString}
	}
	user.attrs["confirmed"] = attribute{column: "confirmed", kind: kindBool}
	user.attrs["blocked"] = attribute{column: "blocked", kind: kindBool}
	user.attrs["role"] = attribute{column: "role_id", kind: kindInt, rel: role}
	user.populate = map[string]*entity{"role": role}
	role.populate = map[string]*entity{"users": user}
	return user, role
}

// privateName reports whether s names a private attribute, alone or inside an
// alias or column spelling (t0.password, up_users.password, reset_password_token,
// "password"), and returns its JSON name.
func privateName(s string) (string, bool) {
	tokens := strings.FieldsFunc(s, func(r rune) bool {
		return !(r == '_' || r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)))
	})
	for _, t := range tokens {
		switch strings.ToLower(strings.ReplaceAll(t, "_", "")) {
		case "password":
			return "password", true
		case "resetpasswordtoken":
			return "resetPasswordToken", true
		case "confirmationtoken":
			return "confirmationToken", true
		}
	}
	return "", false
}

// invalidKey builds the InvalidKeyError for segment seg reached through the
// attribute path prefix. When a private name hides in seg, in the remaining
// path segments rest or among the keys of the subtree sub, that name is
// reported: filters[role][users][password] is "Invalid key password".
// An empty name is a QueryError, not an InvalidKeyError.
func invalidKey(seg string, prefix, rest []string, sub *qsNode) error {
	path := append(append([]string(nil), prefix...), seg)
	if name, ok := privateName(seg); ok {
		return &InvalidKeyError{Key: name, Path: strings.Join(path, ".")}
	}
	for i, r := range rest {
		if name, ok := privateName(r); ok {
			p := append(path, rest[:i+1]...)
			return &InvalidKeyError{Key: name, Path: strings.Join(p, ".")}
		}
	}
	if sub != nil {
		if name, p, ok := findPrivate(sub, path); ok {
			return &InvalidKeyError{Key: name, Path: strings.Join(p, ".")}
		}
	}
	if seg == "" {
		return queryErrorf("Invalid key path %s: empty name", quoteInput(strings.Join(append(path, rest...), ".")))
	}
	return &InvalidKeyError{Key: seg, Path: strings.Join(path, ".")}
}

// findPrivate searches the keys of n (depth first, in key order) for a
// private name; operators and array indexes are left out of the path.
func findPrivate(n *qsNode, path []string) (string, []string, bool) {
	for _, k := range n.sortedKeys() {
		p := path
		if !strings.HasPrefix(k, "$") && !isIndex(k) {
			p = append(append([]string(nil), path...), k)
		}
		if name, ok := privateName(k); ok {
			return name, p, true
		}
		if name, found, ok := findPrivate(n.kids[k], p); ok {
			return name, found, true
		}
	}
	return "", nil, false
}

// resolveField walks a dotted JSON path from sch to a scalar attribute.
func resolveField(sch *entity, field string) (*entity, attribute, error) {
	segs := strings.Split(field, ".")
	for i, seg := range segs {
		a, ok := sch.attrs[seg]
		if !ok {
			return nil, attribute{}, invalidKey(seg, segs[:i], segs[i+1:], nil)
		}
		last := i == len(segs)-1
		switch {
		case a.rel != nil && last:
			return nil, attribute{}, &InvalidKeyError{Key: seg, Path: field}
		case a.rel != nil:
			sch = a.rel
		case !last:
			return nil, attribute{}, invalidKey(segs[i+1], segs[:i+1], segs[i+2:], nil)
		default:
			return sch, a, nil
		}
	}
	return nil, attribute{}, &InvalidKeyError{Key: field, Path: field}
}
