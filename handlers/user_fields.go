package handlers

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/userfields"
	"github.com/gin-gonic/gin"
)

// customFields reads the custom user fields (USER_FIELDS_FILE) present in b,
// checked with Strapi's messages into v, and returns them by name. On
// create, an absent field takes its default, and an absent required one
// without default is "<name> must be defined.". A value another user than
// exceptID holds in a unique field is "This attribute must be unique" (the
// unique index refuses it anyway if two requests race).
func (s *Server) customFields(c *gin.Context, b body, v *validator, create bool, exceptID uint) (map[string]any, error) {
	fields := s.store.UserFields().Fields
	if len(fields) == 0 {
		return nil, nil
	}
	values := make(map[string]any)
	for _, f := range fields {
		raw, present := b[f.Name]
		switch {
		case present && string(bytes.TrimSpace(raw)) == "null":
			if f.Required {
				v.add(f.Name, f.MissingMessage(), nil)
				continue
			}
			values[f.Name] = nil
		case present:
			var decoded any
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&decoded); err != nil {
				v.add(f.Name, f.Name+" must be a JSON value", nil)
				continue
			}
			value, msg := f.Check(decoded)
			if msg == "" && f.Type == "email" && !validEmail(value.(string)) {
				msg = f.Name + " must be a valid email"
			}
			if msg != "" {
				v.add(f.Name, msg, json.RawMessage(raw))
				continue
			}
			values[f.Name] = value
		case create && f.Default != nil:
			value, _ := f.Check(f.Default) // checked when the file was read
			values[f.Name] = value
		case create && f.Required:
			v.add(f.Name, f.MissingMessage(), nil)
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	for _, f := range fields {
		if value := values[f.Name]; f.Unique && value != nil {
			taken, err := s.store.Users().FieldTaken(ctx(c), f.Name, value, exceptID)
			if err != nil {
				return nil, err
			}
			if taken {
				v.add(f.Name, "This attribute must be unique", value)
			}
		}
	}
	return values, v.err()
}

// customColumns maps custom values by name to their up_users columns.
func (s *Server) customColumns(values map[string]any, columns map[string]any) {
	cfg := s.store.UserFields()
	for name, value := range values {
		if f, ok := cfg.Field(name); ok {
			columns[f.Column()] = value
		}
	}
}

// userWithFields is a user's public JSON followed by its public custom
// fields. Users without custom fields keep userView's plain encoding.
type userWithFields struct {
	userView
	custom map[string]any
}

// MarshalJSON writes userView's object with the custom fields appended, in
// name order; a datetime is rendered as Strapi's timestamps are.
func (u userWithFields) MarshalJSON() ([]byte, error) {
	base, err := json.Marshal(u.userView)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(u.custom))
	for name := range u.custom {
		names = append(names, name)
	}
	sort.Strings(names)
	b := make([]byte, 0, len(base)+32*len(names))
	b = append(b, base[:len(base)-1]...)
	for _, name := range names {
		b = append(b, ',')
		b = strconv.AppendQuote(b, name) // a field name is [A-Za-z0-9_]
		b = append(b, ':')
		switch v := u.custom[name].(type) {
		case nil:
			b = append(b, "null"...)
		case bool:
			b = strconv.AppendBool(b, v)
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case time.Time:
			b = append(b, '"')
			b = appendTimestamp(b, v)
			b = append(b, '"')
		case json.RawMessage:
			b = append(b, v...) // checked by the encoder's compaction
		default: // strings (JSON escaping), numbers
			raw, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			b = append(b, raw...)
		}
	}
	return append(b, '}'), nil
}

// fieldDefinitions is GET /api/users-permissions/user-fields: the custom
// user fields and register.allowedFields, for the admin page.
func (s *Server) fieldDefinitions(c *gin.Context) error {
	cfg := s.store.UserFields()
	fields := cfg.Fields
	if fields == nil {
		fields = []userfields.Field{}
	}
	allowed := cfg.Register.AllowedFields
	if allowed == nil {
		allowed = []string{}
	}
	return writeJSON(c, 200, gin.H{"fields": fields, "register": gin.H{"allowedFields": allowed}})
}
