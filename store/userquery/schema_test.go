package userquery

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func customSchema(t *testing.T) *Schema {
	t.Helper()
	s, err := NewSchema([]Field{
		{Name: "firstName", Column: "cf_first_name", Type: "string"},
		{Name: "age", Column: "cf_age", Type: "integer"},
		{Name: "score", Column: "cf_score", Type: "number"},
		{Name: "birthday", Column: "cf_birthday", Type: "date"},
		{Name: "prefs", Column: "cf_prefs", Type: "json"},
	})
	if err != nil {
		t.Fatalf("NewSchema: %v", err)
	}
	return s
}

func TestSchemaCustomFields(t *testing.T) {
	s := customSchema(t)
	parse := func(raw string) (Query, error) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatal(err)
		}
		return s.Parse(v)
	}
	ok := []struct {
		query string
		want  Filter
	}{
		{"filters[firstName][$containsi]=an", Filter{Op: "$containsi", Field: "firstName", Values: []any{"an"}}},
		{"filters[age][$gte]=18", Filter{Op: "$gte", Field: "age", Values: []any{int64(18)}}},
		{"filters[score][$lt]=2.5", Filter{Op: "$lt", Field: "score", Values: []any{2.5}}},
		{"filters[birthday][$between][0]=2000-01-01&filters[birthday][$between][1]=2000-12-31", Filter{Op: "$between", Field: "birthday", Values: []any{"2000-01-01", "2000-12-31"}}},
		{"filters[prefs][$null]=true", Filter{Op: "$null", Field: "prefs", Values: []any{true}}},
	}
	for _, tc := range ok {
		q, err := parse(tc.query)
		if err != nil {
			t.Errorf("Parse(%s): %v", tc.query, err)
			continue
		}
		if !reflect.DeepEqual(q.Filters, tc.want) {
			t.Errorf("Parse(%s).Filters = %#v, want %#v", tc.query, q.Filters, tc.want)
		}
		if _, err := s.Plan(q, "postgres"); err != nil {
			t.Errorf("Plan(%s): %v", tc.query, err)
		}
	}
	bad := []struct{ query, want string }{
		{"filters[age][$contains]=1", "cannot be used on age"},
		{"filters[age]=x", "expects an integer"},
		{"filters[score]=NaN", "expects a number"},
		{"filters[birthday]=2000-13-01", "expects a date"},
		{"filters[prefs][$eq]=x", "cannot be used on prefs"},
		{"sort=prefs:asc", "cannot be sorted"},
	}
	for _, tc := range bad {
		_, err := parse(tc.query)
		var qe *QueryError
		if !errors.As(err, &qe) || !strings.Contains(qe.Message, tc.want) {
			t.Errorf("Parse(%s): error = %v, want a QueryError containing %q", tc.query, err, tc.want)
		}
	}
	// The built-in schema does not know them: Invalid key, as for password.
	if _, err := ParseQuery(url.Values{"filters[age]": {"1"}}); !errors.As(err, new(*InvalidKeyError)) {
		t.Errorf("ParseQuery(filters[age]) without the field: error = %v, want InvalidKeyError", err)
	}
	q, err := parse("fields=username,age")
	if err != nil {
		t.Fatal(err)
	}
	pl, err := s.Plan(q, "sqlite")
	if err != nil || !reflect.DeepEqual(pl.Custom, []string{"age"}) || len(pl.Columns) != 3 {
		t.Errorf("Plan(fields=username,age): columns %v custom %v, %v; want id, document_id, username and custom [age]", pl.Columns, pl.Custom, err)
	}
	pl, _ = s.Plan(Query{}, "sqlite")
	if want := []string{"firstName", "age", "score", "birthday", "prefs"}; !reflect.DeepEqual(pl.Custom, want) {
		t.Errorf("Plan(Query{}).Custom = %v, want %v", pl.Custom, want)
	}
}

func TestNewSchemaRefusesCollisions(t *testing.T) {
	for _, f := range []Field{
		{Name: "email", Column: "cf_email", Type: "string"},
		{Name: "role", Column: "cf_role", Type: "string"},
		{Name: "passWord", Column: "cf_password", Type: "string"},
		{Name: "x", Column: "username", Type: "string"},
		{Name: "x", Column: "tokens_valid_after", Type: "string"},
		{Name: "x", Column: "cf_x", Type: "uuid"},
	} {
		if _, err := NewSchema([]Field{f}); err == nil {
			t.Errorf("NewSchema(%+v) accepted", f)
		}
	}
}
