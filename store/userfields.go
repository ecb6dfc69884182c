package store

// Custom user fields are real columns of up_users ("cf_" + snake_case name),
// added by Migrate, not a JSON document: filters, sort and unique then work
// as on the built-in columns — typed comparisons the same on SQLite,
// PostgreSQL and MariaDB, a plain or unique index each, and a unique index
// that every instance's writes meet.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/store/userquery"
	"github.com/gatehouse/gatehouse/userfields"
)

func (s *Store) useFields(c *userfields.Config) error {
	if c == nil {
		c = &userfields.Config{}
	}
	var public []userquery.Field
	for _, f := range c.Fields {
		if !f.Private {
			public = append(public, userquery.Field{Name: f.Name, Column: f.Column(), Type: f.Type})
		}
	}
	schema, err := userquery.NewSchema(public)
	if err != nil {
		return fmt.Errorf("store: user fields: %w", err)
	}
	s.fields, s.schema = c, schema
	return nil
}

func (s *Store) querySchema() *userquery.Schema {
	if s.schema == nil {
		return userquery.Builtin()
	}
	return s.schema
}

// UserFields returns the custom user fields (never nil).
func (s *Store) UserFields() *userfields.Config {
	if s.fields == nil {
		return &userfields.Config{}
	}
	return s.fields
}

// QuerySchema returns the whitelist of the users query language: the
// built-in attributes and the public custom fields.
func (s *Store) QuerySchema() *userquery.Schema { return s.querySchema() }

// fieldColumnType is the column type of a field type on a dialect. Text is
// compared byte for byte on MariaDB (utf8mb4_bin), as on PostgreSQL and
// SQLite, so that unique and $eq mean the same everywhere. A date is its
// ISO text, which sorts as the date does and binds the same on every driver.
func fieldColumnType(d Dialect, typ string) string {
	bin := ""
	if d == MySQL {
		bin = " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
	}
	switch typ {
	case "text", "json":
		if d == MySQL {
			return "mediumtext" + bin
		}
		return "text"
	case "integer":
		return "bigint"
	case "number":
		switch d {
		case Postgres:
			return "double precision"
		case MySQL:
			return "double"
		}
		return "real"
	case "boolean":
		return "boolean"
	case "datetime":
		switch d {
		case Postgres:
			return "timestamptz"
		case MySQL:
			return "datetime(3)"
		}
		return "datetime"
	case "date":
		return "varchar(10)" + bin
	}
	return "varchar(255)" + bin
}

// fieldColumnFamily says which database type names suit a field type: a
// column left by an earlier declaration with another type is refused at
// start rather than read wrongly.
func fieldColumnFamily(typ, dbType string) bool {
	t := strings.ToLower(dbType)
	has := func(parts ...string) bool {
		for _, p := range parts {
			if strings.Contains(t, p) {
				return true
			}
		}
		return false
	}
	switch typ {
	case "integer":
		return has("int")
	case "number":
		return has("double", "real", "float", "numeric")
	case "boolean":
		return has("bool", "tinyint", "numeric")
	case "datetime":
		return has("time", "date")
	}
	return has("char", "text")
}

func fieldIndexName(f userfields.Field) (name string, unique bool) {
	if f.Unique {
		return "uidx_up_users_" + f.Column(), true
	}
	return "idx_up_users_" + f.Column(), false
}

// migrateFields adds the custom fields' columns and indexes. A unique field
// gets a unique index (which also serves filters and sort), every other one
// but text and json a plain index. Nothing is ever dropped but an index
// that no longer matches (unique lifted); a field removed from the file
// keeps its column and data.
func (s *Store) migrateFields(ctx context.Context) error {
	if s.fields == nil || len(s.fields.Fields) == 0 {
		return nil
	}
	db := s.DB.WithContext(ctx)
	m := db.Migrator()
	types, err := m.ColumnTypes(&User{})
	if err != nil {
		return fmt.Errorf("user fields: %w", err)
	}
	existing := make(map[string]string)
	for _, ct := range types {
		existing[strings.ToLower(ct.Name())] = ct.DatabaseTypeName()
	}
	for _, f := range s.fields.Fields {
		col := f.Column()
		if dbType, ok := existing[col]; ok {
			if !fieldColumnFamily(f.Type, dbType) {
				return fmt.Errorf("user field %s: column %s is %s, not a %s: rename the field or convert the column by hand", f.Name, col, dbType, f.Type)
			}
		} else if err := db.Exec("ALTER TABLE up_users ADD COLUMN " + col + " " + fieldColumnType(s.Dialect, f.Type)).Error; err != nil && !m.HasColumn(&User{}, col) {
			return fmt.Errorf("user field %s: add column: %w", f.Name, err)
		}
		name, unique := fieldIndexName(f)
		other := "uidx_up_users_" + col
		if unique {
			other = "idx_up_users_" + col
		}
		if m.HasIndex(&User{}, other) {
			if err := m.DropIndex(&User{}, other); err != nil {
				return fmt.Errorf("user field %s: drop index %s: %w", f.Name, other, err)
			}
		}
		if f.Type == "text" || f.Type == "json" || m.HasIndex(&User{}, name) {
			continue
		}
		ddl := "CREATE INDEX "
		if unique {
			ddl = "CREATE UNIQUE INDEX "
		}
		if err := db.Exec(ddl + name + " ON up_users (" + col + ")").Error; err != nil && !m.HasIndex(&User{}, name) {
			if errors.Is(translate(err), ErrConflict) {
				return fmt.Errorf("user field %s: users already share values, it cannot be unique: %w", f.Name, err)
			}
			return fmt.Errorf("user field %s: create index: %w", f.Name, err)
		}
	}
	return nil
}

// publicFields lists the custom fields returned with users.
func (u Users) publicFields() []string {
	return u.schema.Custom()
}

// withCustom adds the public custom fields to a user another query read
// (one query by primary key, none without custom fields).
func (u Users) withCustom(ctx context.Context, user User, err error) (User, error) {
	if err != nil || len(u.publicFields()) == 0 {
		return user, err
	}
	users := []User{user}
	if err := u.loadCustom(ctx, users, u.publicFields()); err != nil {
		return User{}, err
	}
	return users[0], nil
}

// loadCustom fills users[i].Custom with the named custom fields, by primary
// key in one query (the columns are not User's: GORM cannot scan them).
func (u Users) loadCustom(ctx context.Context, users []User, names []string) error {
	if len(names) == 0 || len(users) == 0 || u.fields == nil {
		return nil
	}
	fields := make([]userfields.Field, 0, len(names))
	cols := []string{"id"}
	for _, n := range names {
		f, ok := u.fields.Field(n)
		if !ok || f.Private {
			return fmt.Errorf("store: users: custom field %q is not public", n)
		}
		fields = append(fields, f)
		cols = append(cols, f.Column())
	}
	ids := make([]uint, len(users))
	at := make(map[uint]int, len(users))
	for i, user := range users {
		ids[i], at[user.ID] = user.ID, i
	}
	rows, err := u.db.WithContext(ctx).Table("up_users").Select(cols).Where("id IN ?", ids).Rows()
	if err != nil {
		return fmt.Errorf("store: users: custom fields: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var id uint
		dests := []any{&id}
		for _, f := range fields {
			dests = append(dests, scanTarget(f.Type))
		}
		if err := rows.Scan(dests...); err != nil {
			return fmt.Errorf("store: users: custom fields: %w", err)
		}
		i, ok := at[id]
		if !ok {
			continue
		}
		values := make(map[string]any, len(fields))
		for j, f := range fields {
			values[f.Name] = scannedValue(f.Type, dests[j+1])
		}
		users[i].Custom = values
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: users: custom fields: %w", translate(err))
	}
	return nil
}

func scanTarget(typ string) any {
	switch typ {
	case "integer":
		return new(sql.NullInt64)
	case "number":
		return new(sql.NullFloat64)
	case "boolean":
		return new(sql.NullBool)
	case "datetime":
		return new(sql.NullTime)
	}
	return new(sql.NullString)
}

func scannedValue(typ string, dest any) any {
	switch d := dest.(type) {
	case *sql.NullInt64:
		if d.Valid {
			return d.Int64
		}
	case *sql.NullFloat64:
		if d.Valid {
			return d.Float64
		}
	case *sql.NullBool:
		if d.Valid {
			return d.Bool
		}
	case *sql.NullTime:
		if d.Valid {
			return d.Time.UTC()
		}
	case *sql.NullString:
		if d.Valid && typ == "json" {
			return json.RawMessage(d.String)
		}
		if d.Valid {
			return d.String
		}
	}
	return nil
}

// customColumns maps the named values to their columns for a write.
func (u Users) customColumns(values map[string]any) (map[string]any, error) {
	columns := make(map[string]any, len(values))
	for name, v := range values {
		f, ok := u.fields.Field(name)
		if !ok {
			return nil, fmt.Errorf("store: users: no custom field %q", name)
		}
		columns[f.Column()] = v
	}
	return columns, nil
}

// FieldTaken reports whether a user other than exceptID holds value in the
// custom field name (its unique index answers).
func (u Users) FieldTaken(ctx context.Context, name string, value any, exceptID uint) (bool, error) {
	f, ok := u.fields.Field(name)
	if !ok {
		return false, fmt.Errorf("store: users: no custom field %q", name)
	}
	var ids []uint
	err := u.db.WithContext(ctx).Table("up_users").Where(f.Column()+" = ? AND id <> ?", value, exceptID).Limit(1).Pluck("id", &ids).Error
	return len(ids) > 0, translate(err)
}
