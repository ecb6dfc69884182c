package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
)

// ---- helpers ----------------------------------------------------------------

func openQueryTestSQLite(t testing.TB) *Store {
	t.Helper()
	s, err := Open("sqlite://" + filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// openQueryTestPostgres opens a fresh schema of GATEHOUSE_TEST_POSTGRES_URL
// (search_path set per connection) and drops it afterwards.
func openQueryTestPostgres(t testing.TB) *Store {
	t.Helper()
	base := os.Getenv("GATEHOUSE_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable): skipping the PostgreSQL run")
	}
	admin, err := Open(base)
	if err != nil {
		t.Fatalf("Open(%s): %v", base, err)
	}
	schema := "gatehouse_q_" + randomHex(6)
	if err := admin.DB.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		admin.Close()
		t.Fatalf("CREATE SCHEMA: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	v := u.Query()
	v.Set("search_path", schema)
	u.RawQuery = v.Encode()
	s, err := Open(u.String())
	if err != nil {
		t.Fatalf("Open(schema %s): %v", schema, err)
	}
	t.Cleanup(func() {
		s.Close()
		if err := admin.DB.Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			t.Errorf("DROP SCHEMA %s: %v", schema, err)
		}
		admin.Close()
	})
	if err := s.Migrate(); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// openQueryTestMySQL creates a database gatehouse_q_<random> next to
// GATEHOUSE_TEST_MYSQL_URL's and drops it afterwards.
func openQueryTestMySQL(t testing.TB) *Store {
	t.Helper()
	base := os.Getenv("GATEHOUSE_TEST_MYSQL_URL")
	if base == "" {
		t.Skip("GATEHOUSE_TEST_MYSQL_URL is not set (e.g. mysql://root@127.0.0.1:3306/test): skipping the MySQL/MariaDB run")
	}
	admin, err := Open(base)
	if err != nil {
		t.Fatalf("Open(%s): %v", base, err)
	}
	name := "gatehouse_q_" + randomHex(6)
	if err := admin.DB.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci").Error; err != nil {
		admin.Close()
		t.Fatalf("CREATE DATABASE: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	s, err := Open(u.String())
	if err != nil {
		t.Fatalf("Open(database %s): %v", name, err)
	}
	t.Cleanup(func() {
		s.Close()
		if err := admin.DB.Exec("DROP DATABASE " + name).Error; err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
		admin.Close()
	})
	if err := s.Migrate(); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func queryMonth(m time.Month) time.Time { return time.Date(2024, m, 1, 0, 0, 0, 0, time.UTC) }

// seedQueryUsers inserts 3 roles and 12 users with fixed ids; user n was
// created on the first of month n of 2024, updated an hour later.
func seedQueryUsers(t testing.TB, s *Store) {
	t.Helper()
	roles := []Role{
		{ID: 1, DocumentID: "role-authenticated", Name: "Authenticated", Description: "Default role given to authenticated user.", Type: "authenticated"},
		{ID: 2, DocumentID: "role-public", Name: "Public", Description: "Default role given to unauthenticated user.", Type: "public"},
		{ID: 3, DocumentID: "role-editor", Name: "Editor", Description: "Edits things", Type: "editor"},
	}
	for i := range roles {
		roles[i].CreatedAt, roles[i].UpdatedAt, roles[i].PublishedAt = queryMonth(1), queryMonth(1), queryMonth(1)
		if err := s.DB.Create(&roles[i]).Error; err != nil {
			t.Fatalf("seed role %s: %v", roles[i].Type, err)
		}
	}
	type row struct {
		name, email, provider string
		confirmed, blocked    bool
		role                  uint
	}
	rows := []row{
		{"alice", "alice@example.com", "local", true, false, 1},
		{"bob", "bob@example.com", "google", true, true, 2},
		{"carol", "carol@example.org", "local", false, false, 3},
		{"dave", "dave@example.org", "github", true, false, 0},
		{"per%cent", "percent@example.com", "local", true, false, 1},
		{"perXcent", "perxcent@example.com", "local", true, false, 1},
		{"under_score", "under@example.com", "local", true, false, 1},
		{"underXscore", "underx@example.com", "local", true, false, 1},
		{"bang!user", "bang@example.com", "local", true, false, 1},
		{"Zoë", "zoe@example.com", "local", true, false, 1},
		{"o'brien", "obrien@example.com", "local", true, false, 2},
		{"emoji🙂", "emoji@example.com", "local", true, false, 2},
	}
	for i, r := range rows {
		u := User{
			ID:                 uint(i + 1),
			DocumentID:         "doc-" + r.name,
			Username:           r.name,
			Email:              r.email,
			Provider:           r.provider,
			Password:           "$2a$10$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012",
			ResetPasswordToken: new("reset-" + r.name),
			ConfirmationToken:  new("confirm-" + r.name),
			Confirmed:          r.confirmed,
			Blocked:            r.blocked,
			CreatedAt:          queryMonth(time.Month(i + 1)),
			UpdatedAt:          queryMonth(time.Month(i + 1)).Add(time.Hour),
			PublishedAt:        queryMonth(time.Month(i + 1)),
			TokensValidAfter:   queryMonth(1),
		}
		if r.role != 0 {
			u.RoleID = new(r.role)
		}
		if err := s.DB.Create(&u).Error; err != nil {
			t.Fatalf("seed user %s: %v", r.name, err)
		}
	}
}

func parseQueryString(t testing.TB, raw string) (Query, error) {
	t.Helper()
	values, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("url.ParseQuery(%q): %v", raw, err)
	}
	return ParseQuery(values)
}

func queryUsernames(users []User) []string {
	out := []string{}
	for _, u := range users {
		out = append(out, u.Username)
	}
	return out
}

// queryRecorder counts the SELECTs a store runs and keeps their SQL.
type queryRecorder struct {
	mu      sync.Mutex
	queries int
	sql     []string
	vars    [][]any
}

func recordQueries(t testing.TB, s *Store) *queryRecorder {
	t.Helper()
	r := &queryRecorder{}
	err := s.DB.Callback().Query().After("gorm:query").Register("gatehouse_test:record", func(tx *gorm.DB) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.queries++
		r.sql = append(r.sql, tx.Statement.SQL.String())
		r.vars = append(r.vars, slices.Clone(tx.Statement.Vars))
	})
	if err != nil {
		t.Fatalf("register callback: %v", err)
	}
	return r
}

func (r *queryRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queries
}

// ---- parsing ----------------------------------------------------------------

func TestParseQuery(t *testing.T) {
	tm := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	eq := func(field string, v any) Filter { return Filter{Op: "$eq", Field: field, Values: []any{v}} }
	tests := []struct {
		name  string
		query string
		want  Query
	}{
		{"nothing", "", Query{Limit: MaxLimit}},
		{"unknown params ignored", "foo=bar&_q=x&status=draft&locale=en&Filters[password]=x&filtersX=1", Query{Limit: MaxLimit}},
		{"implicit eq", "filters[username]=x", Query{Filters: eq("username", "x"), Limit: MaxLimit}},
		{"explicit eq", "filters[username][$eq]=x", Query{Filters: eq("username", "x"), Limit: MaxLimit}},
		{"qs leading bracket", "[filters][username]=x", Query{Filters: eq("username", "x"), Limit: MaxLimit}},
		{"in indexed", "filters[id][$in][0]=1&filters[id][$in][1]=2", Query{Filters: Filter{Op: "$in", Field: "id", Values: []any{int64(1), int64(2)}}, Limit: MaxLimit}},
		{"in pushed", "filters[id][$in][]=1&filters[id][$in][]=2", Query{Filters: Filter{Op: "$in", Field: "id", Values: []any{int64(1), int64(2)}}, Limit: MaxLimit}},
		{"repeated eq becomes in", "filters[username]=a&filters[username]=b", Query{Filters: Filter{Op: "$in", Field: "username", Values: []any{"a", "b"}}, Limit: MaxLimit}},
		{"array value becomes in", "filters[username][0]=a&filters[username][1]=b", Query{Filters: Filter{Op: "$in", Field: "username", Values: []any{"a", "b"}}, Limit: MaxLimit}},
		{"repeated ne becomes notIn", "filters[username][$ne]=a&filters[username][$ne]=b", Query{Filters: Filter{Op: "$notIn", Field: "username", Values: []any{"a", "b"}}, Limit: MaxLimit}},
		{"repeated startsWith becomes or", "filters[username][$startsWith][0]=a&filters[username][$startsWith][1]=b", Query{Filters: Filter{Op: "$or", Children: []Filter{
			{Op: "$startsWith", Field: "username", Values: []any{"a"}},
			{Op: "$startsWith", Field: "username", Values: []any{"b"}},
		}}, Limit: MaxLimit}},
		{"relation field", "filters[role][type][$eq]=public", Query{Filters: eq("role.type", "public"), Limit: MaxLimit}},
		{"relation id shorthand", "filters[role]=2", Query{Filters: eq("role.id", int64(2)), Limit: MaxLimit}},
		{"relation id operator", "filters[role][$in][0]=2", Query{Filters: Filter{Op: "$in", Field: "role.id", Values: []any{int64(2)}}, Limit: MaxLimit}},
		{"relation id in", "filters[role][id][$in][0]=1", Query{Filters: Filter{Op: "$in", Field: "role.id", Values: []any{int64(1)}}, Limit: MaxLimit}},
		{"or", "filters[$or][0][username][$eq]=a&filters[$or][1][email][$containsi]=b", Query{Filters: Filter{Op: "$or", Children: []Filter{
			eq("username", "a"),
			{Op: "$containsi", Field: "email", Values: []any{"b"}},
		}}, Limit: MaxLimit}},
		{"and with two keys per element", "filters[$and][0][username]=a&filters[$and][0][provider]=local", Query{Filters: Filter{Op: "$and", Children: []Filter{
			{Op: "$and", Children: []Filter{eq("provider", "local"), eq("username", "a")}},
		}}, Limit: MaxLimit}},
		{"not", "filters[$not][blocked]=true", Query{Filters: Filter{Op: "$not", Children: []Filter{eq("blocked", true)}}, Limit: MaxLimit}},
		{"field not", "filters[username][$not][$eq]=a", Query{Filters: Filter{Op: "$not", Children: []Filter{eq("username", "a")}}, Limit: MaxLimit}},
		{"typed values", "filters[confirmed]=1&filters[createdAt][$gt]=2024-01-01T00:00:00%2B02:00", Query{Filters: Filter{Op: "$and", Children: []Filter{
			eq("confirmed", true),
			{Op: "$gt", Field: "createdAt", Values: []any{tm("2023-12-31T22:00:00Z")}},
		}}, Limit: MaxLimit}},
		{"date only", "filters[createdAt][$lt]=2024-03-01", Query{Filters: Filter{Op: "$lt", Field: "createdAt", Values: []any{tm("2024-03-01T00:00:00Z")}}, Limit: MaxLimit}},
		{"null", "filters[username][$null]=false", Query{Filters: Filter{Op: "$null", Field: "username", Values: []any{false}}, Limit: MaxLimit}},
		{"between", "filters[id][$between][0]=1&filters[id][$between][1]=5", Query{Filters: Filter{Op: "$between", Field: "id", Values: []any{int64(1), int64(5)}}, Limit: MaxLimit}},
		{"unicode value", "filters[username][$containsi]=Zo%C3%AB%F0%9F%99%82", Query{Filters: Filter{Op: "$containsi", Field: "username", Values: []any{"Zoë🙂"}}, Limit: MaxLimit}},

		{"sort one", "sort=username:asc", Query{Sort: []SortField{{Field: "username"}}, Limit: MaxLimit}},
		{"sort list", "sort=username,email:desc", Query{Sort: []SortField{{Field: "username"}, {Field: "email", Desc: true}}, Limit: MaxLimit}},
		{"sort indexed", "sort[0]=email:desc&sort[1]=username", Query{Sort: []SortField{{Field: "email", Desc: true}, {Field: "username"}}, Limit: MaxLimit}},
		{"sort pushed upper case", "sort[]=email:DESC", Query{Sort: []SortField{{Field: "email", Desc: true}}, Limit: MaxLimit}},
		{"sort object", "sort[username]=desc", Query{Sort: []SortField{{Field: "username", Desc: true}}, Limit: MaxLimit}},
		{"sort nested object", "sort[0][role][name]=asc", Query{Sort: []SortField{{Field: "role.name"}}, Limit: MaxLimit}},
		{"sort relation path", "sort=role.type:desc,id", Query{Sort: []SortField{{Field: "role.type", Desc: true}, {Field: "id"}}, Limit: MaxLimit}},
		{"sort duplicate keeps first", "sort=username&sort=username:desc", Query{Sort: []SortField{{Field: "username"}}, Limit: MaxLimit}},

		{"page", "pagination[page]=3&pagination[pageSize]=10", Query{Offset: 20, Limit: 10}},
		{"pageSize only", "pagination[pageSize]=10", Query{Limit: 10}},
		{"page only", "pagination[page]=2", Query{Offset: DefaultPageSize, Limit: DefaultPageSize}},
		{"start limit", "pagination[start]=5&pagination[limit]=7", Query{Offset: 5, Limit: 7}},
		{"start only", "pagination[start]=5", Query{Offset: 5, Limit: MaxLimit}},
		{"limit -1", "pagination[limit]=-1", Query{Limit: MaxLimit}},
		{"top-level page", "page=2&pageSize=3", Query{Offset: 3, Limit: 3}},
		{"top-level start", "start=4&limit=2", Query{Offset: 4, Limit: 2}},
		{"withCount", "pagination[page]=1&pagination[pageSize]=1000&pagination[withCount]=false", Query{Limit: 1000}},

		{"populate role", "populate=role", Query{PopulateRole: true, Limit: MaxLimit}},
		{"populate star", "populate=*", Query{PopulateRole: true, Limit: MaxLimit}},
		{"populate indexed", "populate[0]=role", Query{PopulateRole: true, Limit: MaxLimit}},
		{"populate object", "populate[role]=true", Query{PopulateRole: true, Limit: MaxLimit}},
		{"populate false", "populate[role]=false", Query{Limit: MaxLimit}},
		{"populate empty", "populate=", Query{Limit: MaxLimit}},
		{"populate role users dropped", "populate[role][populate][0]=users", Query{PopulateRole: true, Limit: MaxLimit}},
		{"populate role users star dropped", "populate[role][populate]=*", Query{PopulateRole: true, Limit: MaxLimit}},
		{"populate dotted users dropped", "populate=role.users", Query{PopulateRole: true, Limit: MaxLimit}},
		{"populate role users object dropped", "populate[role][populate][users][fields][0]=username&populate[role][populate][users][filters][username]=x", Query{PopulateRole: true, Limit: MaxLimit}},
		{"populate role fields", "populate[role][fields][0]=name&populate[role][fields][1]=type", Query{PopulateRole: true, RoleFields: []string{"name", "type"}, Limit: MaxLimit}},
		{"populate role fields list", "populate[role][fields]=name,type", Query{PopulateRole: true, RoleFields: []string{"name", "type"}, Limit: MaxLimit}},
		{"populate role filters", "populate[role][filters][type][$eq]=public", Query{PopulateRole: true, RoleFilters: eq("type", "public"), Limit: MaxLimit}},
		{"populate role sort validated", "populate[role][sort]=name:asc", Query{PopulateRole: true, Limit: MaxLimit}},

		{"fields indexed", "fields[0]=username&fields[1]=email", Query{Fields: []string{"username", "email"}, Limit: MaxLimit}},
		{"fields list", "fields=username,email", Query{Fields: []string{"username", "email"}, Limit: MaxLimit}},
		{"fields repeated", "fields=username&fields=email", Query{Fields: []string{"username", "email"}, Limit: MaxLimit}},
		{"fields deduplicated", "fields=email,email", Query{Fields: []string{"email"}, Limit: MaxLimit}},
		{"fields star", "fields=*", Query{Limit: MaxLimit}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseQueryString(t, tc.query)
			if err != nil {
				t.Fatalf("ParseQuery(%s): %v", tc.query, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseQuery(%s) =\n%#v\nwant\n%#v", tc.query, got, tc.want)
			}
		})
	}
}

func TestParseQueryErrors(t *testing.T) {
	nested := func(n int) string {
		return "filters" + strings.Repeat("[$and][0]", n) + "[username]=x"
	}
	many := func(format string, n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(format, i, i)
		}
		return strings.Join(parts, "&")
	}
	tests := []struct {
		name, query, want string
	}{
		{"filters not an object", "filters=abc", "expected an object"},
		{"unknown field operator", "filters[username][$foo]=x", "unknown operator"},
		{"operator case", "filters[username][$EQ]=x", "unknown operator"},
		{"unknown root operator", "filters[$foo][username]=x", "unknown operator"},
		{"root comparison", "filters[$eq]=1", "unknown operator"},
		{"bad integer", "filters[id][$eq]=abc", "expects an integer"},
		{"fractional integer", "filters[id]=1.5", "expects an integer"},
		{"integer overflow", "filters[id]=99999999999999999999", "expects an integer"},
		{"empty integer", "filters[role][id]=", "expects an integer"},
		{"bad boolean", "filters[confirmed][$eq]=yes", "true or false"},
		{"bad time", "filters[createdAt][$gt]=yesterday", "RFC 3339"},
		{"year 0", "filters[createdAt][$gte]=0000-01-01", "RFC 3339"},
		{"year 0 after UTC", "filters[createdAt][$gte]=0001-01-01T00:00:00%2B01:00", "RFC 3339"},
		{"contains on integer", "filters[id][$contains]=1", "cannot be used"},
		{"lt on boolean", "filters[confirmed][$lt]=true", "cannot be used"},
		{"containsi on boolean", "filters[blocked][$containsi]=t", "cannot be used"},
		{"eqi on time", "filters[createdAt][$eqi]=2024-01-01", "cannot be used"},
		{"between one value", "filters[id][$between][0]=1", "two values"},
		{"between three values", "filters[id][$between][0]=1&filters[id][$between][1]=2&filters[id][$between][2]=3", "two values"},
		{"null not boolean", "filters[username][$null]=maybe", "true or false"},
		{"null empty", "filters[username][$null]=", "true or false"},
		{"or object", "filters[$or][a][username]=x", "expects an array"},
		{"or value", "filters[$or]=x", "expects an array"},
		{"or of values", "filters[$or][0]=x", "array of objects"},
		{"not value", "filters[$not]=x", "$not expects an object"},
		{"operator object", "filters[username][$eq][x]=1", "expects a value"},
		{"invalid utf8", "filters[username][$eq]=%FF", "UTF-8"},
		{"nul byte", "filters[username][$eq]=a%00b", "UTF-8"},
		{"value and keys", "filters[username]=a&filters[username][$eq]=b", "mixes a value"},
		{"too deep", nested(11), "nesting deeper than 10"},
		{"too many leaves", many("filters[$or][%d][id]=%d", maxFilterLeaves+1), "more than 100 conditions"},
		{"too many in values", many("filters[id][$in][%d]=%d", maxInValues+1), "more than 1000 values"},
		{"too many segments", "filters" + strings.Repeat("[a]", maxKeySegments+1) + "=x", "nesting deeper than"},
		{"malformed brackets", "filters[username=x", "malformed"},
		{"trailing junk", "filters[username]x=1", "malformed"},
		{"malformed sort", "sort[=x", "malformed"},

		{"page 0", "pagination[page]=0", "Invalid 'page' parameter"},
		{"page negative", "pagination[page]=-1", "Invalid 'page' parameter"},
		{"page text", "pagination[page]=abc", "Invalid 'page' parameter"},
		{"page fraction", "pagination[page]=1.5", "Invalid 'page' parameter"},
		{"page too large", "pagination[page]=99999999999&pagination[pageSize]=1000", "too large"},
		{"pageSize too large", "pagination[pageSize]=1001", "Invalid 'pageSize' parameter"},
		{"pageSize 0", "pagination[pageSize]=0", "Invalid 'pageSize' parameter"},
		{"start negative", "pagination[start]=-1", "Invalid 'start' parameter"},
		{"limit 0", "pagination[limit]=0", "Invalid 'limit' parameter"},
		{"limit too large", "pagination[limit]=1001", "Invalid 'limit' parameter"},
		{"limit -2", "pagination[limit]=-2", "Invalid 'limit' parameter"},
		{"mixed page and start", "pagination[page]=1&pagination[limit]=5", "Expected either start/limit or page/pageSize"},
		{"mixed top-level", "page=1&start=5", "Expected either start/limit or page/pageSize"},
		{"pagination value", "pagination=5", "Invalid pagination parameters"},
		{"pagination unknown", "pagination[foo]=1", "Invalid pagination parameter"},
		{"page twice", "pagination[page]=1&pagination[page]=2", "single value"},
		{"page in both places", "pagination[page]=1&page=2", "single value"},
		{"page with brackets", "page[x]=1", "single value"},
		{"page array", "pagination[page][0]=1", "single value"},
		{"withCount", "pagination[withCount]=maybe", "withCount"},

		{"sort direction", "sort=username:up", "asc or desc"},
		{"sort direction injection", "sort=username:asc%3BDROP TABLE up_users", "asc or desc"},
		{"sort no field", "sort=:asc", "has no field"},
		{"sort object direction", "sort[username]=sideways", "asc or desc"},
		{"sort two directions", "sort[username]=asc&sort[username]=desc", "one direction"},
		{"populate bad value", "populate[role]=maybe", "expects true, false"},
		{"empty sort segment", "sort=.00000000000", "empty name"},
		{"empty fields segment", "sort=role.:asc", "empty name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseQueryString(t, tc.query)
			var qe *QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("ParseQuery(%.80s): error = %v (%T), want *QueryError", tc.query, err, err)
			}
			if !strings.Contains(qe.Message, tc.want) {
				t.Errorf("ParseQuery(%.80s): message = %q, want it to contain %q", tc.query, qe.Message, tc.want)
			}
		})
	}

	// The limits themselves are accepted.
	for _, raw := range []string{
		nested(maxFilterDepth),
		many("filters[$or][%d][id]=%d", maxFilterLeaves),
		many("filters[id][$in][%d]=%d", maxInValues),
		"pagination[pageSize]=1000",
		"pagination[limit]=1000",
	} {
		if _, err := parseQueryString(t, raw); err != nil {
			t.Errorf("ParseQuery(%.80s…): %v, want it accepted", raw, err)
		}
	}
}

// ---- security -----------------------------------------------------------------

// TestParseQueryPrivateKeys is the CVE-2023-22894 / CVE-2023-34235 /
// CVE-2022-30618 regression table: every route to a private attribute is an
// InvalidKeyError naming it, and nothing reaches the database.
func TestParseQueryPrivateKeys(t *testing.T) {
	s := openQueryTestSQLite(t)
	seedQueryUsers(t, s)
	rec := recordQueries(t, s)

	tests := []struct {
		query, key, path string // path "" is not checked
	}{
		// filters
		{"filters[password][$startsWith]=$2a", "password", "password"},
		{"filters%5Bpassword%5D%5B%24startsWith%5D=%242a", "password", "password"},
		{"filters[password]=x", "password", "password"},
		{"filters[password][$null]=false", "password", "password"},
		{"filters[PASSWORD][$eq]=x", "password", ""},
		{"filters[resetPasswordToken][$null]=false", "resetPasswordToken", "resetPasswordToken"},
		{"filters[resetPasswordToken][$startsWith]=a", "resetPasswordToken", ""},
		{"filters[confirmationToken][$eq]=abc", "confirmationToken", "confirmationToken"},
		{"filters[reset_password_token][$notNull]=true", "resetPasswordToken", ""},
		{"filters[confirmation_token]=x", "confirmationToken", ""},
		{"filters[t0.password][$startsWith]=$2", "password", "t0.password"},
		{"filters[t1.reset_password_token][$eq]=x", "resetPasswordToken", ""},
		{"filters[up_users.password][$startsWith]=$2", "password", "up_users.password"},
		{`filters["password"][$eq]=x`, "password", ""},
		{"filters[`password`][$eq]=x", "password", ""},
		{"filters[$or][0][password][$startsWith]=$2", "password", "password"},
		{"filters[$or][0][username]=a&filters[$or][1][password][$startsWith]=$2", "password", "password"},
		{"filters[$and][0][$or][0][$not][password][$null]=false", "password", "password"},
		{"filters[$not][password][$null]=true", "password", "password"},
		{"filters[0][password]=x", "password", "password"},
		{"filters[role][users][password][$startsWith]=$2", "password", "role.users.password"},
		{"filters[role][users][resetPasswordToken][$null]=false", "resetPasswordToken", "role.users.resetPasswordToken"},
		{"filters[role][$or][0][users][password][$eq]=x", "password", "role.users.password"},
		{"filters[role.users.password][$eq]=x", "password", ""},
		{"filters[username][password]=x", "password", "username.password"},
		{"filters[username][$eq][password]=x", "password", ""},
		{"filters[$or][password]=x", "password", ""},
		{"filters[username][$or][password]=x", "password", ""},
		{"filters[$password]=x", "password", ""},
		{"[filters][password][$eq]=x", "password", "password"},
		{"filters[password=x", "password", ""},
		{"filters[password]x=1", "password", ""},
		{"filters[role][users][id]=1", "users", "role.users"},
		{"filters[role][users]=1", "users", "role.users"},
		{"filters[tokensValidAfter][$gt]=2024-01-01", "tokensValidAfter", ""},
		// sort
		{"sort=password", "password", "password"},
		{"sort=password:asc", "password", ""},
		{"sort=username,password:desc", "password", ""},
		{"sort[0]=password:desc", "password", ""},
		{"sort[password]=asc", "password", ""},
		{"sort=t0.password", "password", ""},
		{"sort=up_users.password:asc", "password", ""},
		{"sort=role.users.password", "password", "role.users.password"},
		{"sort[role][users][password]=asc", "password", "role.users.password"},
		{"sort=resetPasswordToken", "resetPasswordToken", ""},
		{"sort=role", "role", ""},
		// fields
		{"fields=password", "password", ""},
		{"fields[0]=username&fields[1]=password", "password", ""},
		{"fields=username,confirmationToken", "confirmationToken", ""},
		{"fields=up_users.password", "password", ""},
		{"fields[password]=true", "password", ""},
		{"fields=role", "role", ""},
		// populate
		{"populate=password", "password", ""},
		{"populate[password]=true", "password", ""},
		{"populate=role.users.password", "password", ""},
		{"populate[role][fields][0]=password", "password", ""},
		{"populate[role][sort]=password", "password", ""},
		{"populate[role][filters][users][password][$eq]=x", "password", "role.users.password"},
		{"populate[role][filters][users][id]=1", "users", "role.users"},
		{"populate[role][populate][users][filters][password][$startsWith]=$2", "password", "role.users.password"},
		{"populate[role][populate][users][fields][0]=password", "password", ""},
		{"populate[role][populate][users][sort]=password:asc", "password", ""},
		{"populate[role][populate][users][populate][role][filters][users][password]=x", "password", ""},
		{"populate[role][password]=true", "password", ""},
		{"populate[role][populate][permissions]=true", "permissions", ""},
		// keys carrying SQL
		{"filters[username' OR 1%3D1 --][$eq]=x", "username' OR 1=1 --", ""},
		{"filters[username) OR (1%3D1][$eq]=x", "username) OR (1=1", ""},
		{"sort=username%3BDROP TABLE up_users", "username;DROP TABLE up_users", ""},
		{"sort=(SELECT password FROM up_users)", "password", ""},
		{"fields=username FROM up_users%3B --", "username FROM up_users; --", ""},
		{"populate=role%3BDROP TABLE up_roles", "role;DROP TABLE up_roles", ""},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			before := rec.count()
			q, err := parseQueryString(t, tc.query)
			var ike *InvalidKeyError
			if !errors.As(err, &ike) {
				t.Fatalf("ParseQuery(%s): error = %v (%T), want *InvalidKeyError; query %+v", tc.query, err, err, q)
			}
			if ike.Key != tc.key {
				t.Errorf("ParseQuery(%s): Key = %q, want %q", tc.query, ike.Key, tc.key)
			}
			if tc.path != "" && ike.Path != tc.path {
				t.Errorf("ParseQuery(%s): Path = %q, want %q", tc.query, ike.Path, tc.path)
			}
			if got, want := ike.Error(), "Invalid key "+tc.key; got != want {
				t.Errorf("ParseQuery(%s): Error() = %q, want %q", tc.query, got, want)
			}
			if got := rec.count(); got != before {
				t.Errorf("ParseQuery(%s): %d queries ran, want none", tc.query, got-before)
			}
		})
	}
}

// TestFindRejectsForgedQueries checks the second line of defence: a Query
// built by hand is validated again and fails before any SQL runs.
func TestFindRejectsForgedQueries(t *testing.T) {
	s := openQueryTestSQLite(t)
	seedQueryUsers(t, s)
	rec := recordQueries(t, s)
	users := s.Users()
	ctx := context.Background()
	leaf := func(field string) Filter { return Filter{Op: "$startsWith", Field: field, Values: []any{"$2"}} }
	tests := []struct {
		name  string
		q     Query
		key   string
		count bool // Count must reject it too
	}{
		{"filter password", Query{Filters: leaf("password")}, "password", true},
		{"filter alias", Query{Filters: leaf("t0.password")}, "password", true},
		{"filter table alias", Query{Filters: leaf("up_users.password")}, "password", true},
		{"filter column name", Query{Filters: leaf("reset_password_token")}, "resetPasswordToken", true},
		{"filter relation", Query{Filters: leaf("role.users.password")}, "password", true},
		{"filter role users", Query{Filters: Filter{Op: "$eq", Field: "role.users", Values: []any{int64(1)}}}, "users", true},
		{"filter nested", Query{Filters: Filter{Op: "$or", Children: []Filter{
			{Op: "$eq", Field: "username", Values: []any{"alice"}},
			{Op: "$not", Children: []Filter{leaf("password")}},
		}}}, "password", true},
		{"filter raw SQL", Query{Filters: leaf("1=1) OR (username")}, "1=1) OR (username", true},
		{"sort", Query{Sort: []SortField{{Field: "password"}}}, "password", false},
		{"sort relation", Query{Sort: []SortField{{Field: "role.users.password"}}}, "password", false},
		{"fields", Query{Fields: []string{"username", "password"}}, "password", false},
		{"fields token", Query{Fields: []string{"confirmationToken"}}, "confirmationToken", false},
		{"role fields", Query{PopulateRole: true, RoleFields: []string{"users"}}, "users", false},
		{"role filters", Query{PopulateRole: true, RoleFilters: leaf("users.password")}, "password", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := rec.count()
			got, err := users.Find(ctx, tc.q)
			var ike *InvalidKeyError
			if !errors.As(err, &ike) || ike.Key != tc.key {
				t.Errorf("Find: users %v, error = %v, want InvalidKeyError %q", queryUsernames(got), err, tc.key)
			}
			if tc.count {
				n, err := users.Count(ctx, tc.q)
				if !errors.As(err, &ike) || ike.Key != tc.key {
					t.Errorf("Count: %d, error = %v, want InvalidKeyError %q", n, err, tc.key)
				}
			}
			if n := rec.count() - before; n != 0 {
				t.Errorf("%d queries ran, want none", n)
			}
		})
	}
	// Hand-built mistakes that are not about keys are QueryErrors.
	for _, q := range []Query{
		{Filters: Filter{Op: "$regex", Field: "username", Values: []any{"a"}}},
		{Filters: Filter{Op: "$contains", Field: "id", Values: []any{int64(1)}}},
		{Filters: Filter{Op: "$eq", Field: "id", Values: []any{"one"}}},
		{Filters: Filter{Op: "$eq", Field: "id", Values: []any{3.5}}},
		{Filters: Filter{Op: "$gt", Field: "createdAt", Values: []any{time.Time{}.AddDate(-1, 0, 0)}}},
		{Filters: Filter{Op: "$in", Field: "id"}},
		{Filters: Filter{Op: "$or"}},
		{Offset: -1},
	} {
		if _, err := users.Find(ctx, q); !errors.As(err, new(*QueryError)) {
			t.Errorf("Find(%+v): error = %v, want *QueryError", q, err)
		}
	}
}

func TestFindValuesAreBound(t *testing.T) {
	s := openQueryTestSQLite(t)
	seedQueryUsers(t, s)
	rec := recordQueries(t, s)
	ctx := context.Background()
	for _, raw := range []string{
		"filters[username][$eq]=' OR 1=1 --",
		"filters[username][$containsi]=' OR '1'='1",
		"filters[username]=alice' --",
		"filters[$or][0][email][$startsWith]=%25' OR 1=1%3B DROP TABLE up_users%3B --",
		"filters[role][name][$eq]=x')%3B DROP TABLE up_roles%3B --",
	} {
		q, err := parseQueryString(t, raw)
		if err != nil {
			t.Fatalf("ParseQuery(%s): %v", raw, err)
		}
		got, err := s.Users().Find(ctx, q)
		if err != nil {
			t.Fatalf("Find(%s): %v", raw, err)
		}
		if len(got) != 0 {
			t.Errorf("Find(%s) = %v, want none", raw, queryUsernames(got))
		}
		rec.mu.Lock()
		last := rec.sql[len(rec.sql)-1]
		rec.mu.Unlock()
		if strings.Contains(last, "1=1") || strings.Contains(last, "DROP") || strings.Contains(last, "'1'") {
			t.Errorf("Find(%s): user input reached the SQL text: %s", raw, last)
		}
	}
	q, _ := parseQueryString(t, "filters[username]=o'brien")
	if got, err := s.Users().Find(ctx, q); err != nil || !slices.Equal(queryUsernames(got), []string{"o'brien"}) {
		t.Errorf("Find(o'brien) = %v, %v; want [o'brien]", queryUsernames(got), err)
	}
	if n, err := s.Users().Count(ctx, Query{}); n != 12 || err != nil {
		t.Errorf("Count after injection attempts = %d, %v; want 12 (tables intact)", n, err)
	}
}

func TestPatterns(t *testing.T) {
	if got, want := likePattern(`50%_!x`, true, true), `%50!%!_!!x%`; got != want {
		t.Errorf("likePattern = %q, want %q", got, want)
	}
	if got, want := likePattern("ab", false, true), "ab%"; got != want {
		t.Errorf("likePattern = %q, want %q", got, want)
	}
	if got, want := globPattern("a*b?[c]", true, false), "*a[*]b[?][[]c]"; got != want {
		t.Errorf("globPattern = %q, want %q", got, want)
	}
}

// ---- Find and Count on every database ----------------------------------------

var queryAllUsers = []string{"alice", "bob", "carol", "dave", "per%cent", "perXcent", "under_score", "underXscore", "bang!user", "Zoë", "o'brien", "emoji🙂"}

type queryFindCase struct {
	name  string
	query string
	want  []string
	// per overrides want on a dialect whose collation differs (MySQL's
	// utf8mb4_unicode_ci ignores case and accents; SQLite's LOWER is ASCII-only).
	per   map[string][]string
	total int64 // Count; 0 means len(want)
	check func(t *testing.T, users []User)
}

func queryRoleTypes(users []User) []string {
	var out []string
	for _, u := range users {
		if u.Role == nil {
			out = append(out, "-")
		} else {
			out = append(out, u.Role.Type)
		}
	}
	return out
}

var queryFindCases = []queryFindCase{
	{name: "no parameters", query: "", want: queryAllUsers},
	{name: "implicit eq", query: "filters[username]=alice", want: []string{"alice"}},
	{name: "eq", query: "filters[username][$eq]=bob", want: []string{"bob"}},
	{name: "eq is case-sensitive", query: "filters[username][$eq]=ALICE", want: []string{}},
	{name: "eqi", query: "filters[username][$eqi]=ALICE", want: []string{"alice"}},
	{name: "eqi unicode", query: "filters[username][$eqi]=zo%C3%8B", want: []string{"Zoë"}, per: map[string][]string{"sqlite": {}}},
	{name: "ne", query: "filters[provider][$ne]=local", want: []string{"bob", "dave"}},
	{name: "nei", query: "filters[provider][$nei]=LOCAL", want: []string{"bob", "dave"}},
	{name: "lt", query: "filters[id][$lt]=3", want: []string{"alice", "bob"}},
	{name: "lte", query: "filters[id][$lte]=3", want: []string{"alice", "bob", "carol"}},
	{name: "gt", query: "filters[id][$gt]=10", want: []string{"o'brien", "emoji🙂"}},
	{name: "gte", query: "filters[id][$gte]=10", want: []string{"Zoë", "o'brien", "emoji🙂"}},
	{name: "in", query: "filters[id][$in][0]=1&filters[id][$in][1]=3", want: []string{"alice", "carol"}},
	{name: "in repeated", query: "filters[id][$in]=2&filters[id][$in]=4", want: []string{"bob", "dave"}},
	{name: "notIn", query: "filters[provider][$notIn][]=local&filters[provider][$notIn][]=google", want: []string{"dave"}},
	{name: "contains percent is literal", query: "filters[username][$contains]=%25", want: []string{"per%cent"}},
	{name: "contains underscore is literal", query: "filters[username][$contains]=_", want: []string{"under_score"}},
	{name: "contains escape char is literal", query: "filters[username][$contains]=!", want: []string{"bang!user"}},
	{name: "contains is case-sensitive", query: "filters[username][$contains]=Ali", want: []string{}},
	{name: "notContains", query: "filters[email][$notContains]=example.com", want: []string{"carol", "dave"}},
	{name: "containsi", query: "filters[username][$containsi]=ALI", want: []string{"alice"}},
	{name: "containsi X", query: "filters[username][$containsi]=x", want: []string{"perXcent", "underXscore"}},
	{name: "containsi unicode", query: "filters[username][$containsi]=ZO%C3%8B", want: []string{"Zoë"}, per: map[string][]string{"sqlite": {}}},
	{name: "notContainsi", query: "filters[email][$notContainsi]=EXAMPLE.COM", want: []string{"carol", "dave"}},
	{name: "startsWith escapes", query: "filters[username][$startsWith]=per%25", want: []string{"per%cent"}},
	{name: "startsWith is case-sensitive", query: "filters[username][$startsWith]=PER", want: []string{}},
	{name: "startsWithi", query: "filters[username][$startsWithi]=PER", want: []string{"per%cent", "perXcent"}},
	{name: "endsWith", query: "filters[username][$endsWith]=score", want: []string{"under_score", "underXscore"}},
	{name: "endsWith dot", query: "filters[email][$endsWith]=.org", want: []string{"carol", "dave"}},
	{name: "endsWithi", query: "filters[email][$endsWithi]=.ORG", want: []string{"carol", "dave"}},
	{name: "null relation", query: "filters[role][$null]=true", want: []string{"dave"}},
	{name: "notNull false", query: "filters[role][$notNull]=false", want: []string{"dave"}},
	{name: "notNull relation id", query: "filters[role][id][$notNull]=true", want: slices.DeleteFunc(slices.Clone(queryAllUsers), func(s string) bool { return s == "dave" })},
	{name: "null scalar", query: "filters[username][$null]=true", want: []string{}},
	{name: "notNull scalar", query: "filters[username][$notNull]=1", want: queryAllUsers},
	{name: "between times", query: "filters[createdAt][$between][0]=2024-02-01T00:00:00Z&filters[createdAt][$between][1]=2024-04-01T00:00:00Z", want: []string{"bob", "carol", "dave"}},
	{name: "between ids", query: "filters[id][$between][0]=2&filters[id][$between][1]=3", want: []string{"bob", "carol"}},
	{name: "boolean true", query: "filters[blocked][$eq]=true", want: []string{"bob"}},
	{name: "boolean implicit false", query: "filters[confirmed]=false", want: []string{"carol"}},
	{name: "boolean 0", query: "filters[confirmed][$eq]=0", want: []string{"carol"}},
	{name: "boolean in", query: "filters[blocked][$in][0]=1", want: []string{"bob"}},
	{name: "boolean ne", query: "filters[blocked][$ne]=false", want: []string{"bob"}},
	{name: "time lt", query: "filters[createdAt][$lt]=2024-02-15T00:00:00Z", want: []string{"alice", "bob"}},
	{name: "time with offset", query: "filters[createdAt][$lt]=2024-01-31T23:00:00-02:00", want: []string{"alice", "bob"}},
	{name: "date only", query: "filters[createdAt][$lt]=2024-03-01", want: []string{"alice", "bob"}},
	{name: "time gte fractional", query: "filters[createdAt][$gte]=2024-12-01T00:00:00.000Z", want: []string{"emoji🙂"}},
	{name: "time eq", query: "filters[createdAt][$eq]=2024-03-01T00:00:00Z", want: []string{"carol"}},
	{name: "updatedAt gt", query: "filters[updatedAt][$gt]=2024-11-01T00:30:00Z", want: []string{"o'brien", "emoji🙂"}},
	{name: "publishedAt lte", query: "filters[publishedAt][$lte]=2024-01-01T00:00:00Z", want: []string{"alice"}},
	{name: "time year 1", query: "filters[createdAt][$gt]=0001-01-01T00:00:00Z", want: queryAllUsers},
	{name: "time year 9999", query: "filters[createdAt][$lt]=9999-12-31T23:59:59.999999999Z", want: queryAllUsers},
	{name: "large id", query: "filters[id][$lt]=9223372036854775807&filters[id][$gt]=-9223372036854775808", want: queryAllUsers},
	{name: "documentId", query: "filters[documentId]=doc-carol", want: []string{"carol"}},
	{name: "or", query: "filters[$or][0][username][$eq]=alice&filters[$or][1][email][$containsi]=BOB", want: []string{"alice", "bob"}},
	{name: "and", query: "filters[$and][0][provider]=local&filters[$and][1][role][type]=public", want: []string{"o'brien", "emoji🙂"}},
	{name: "not", query: "filters[$not][provider][$eq]=local", want: []string{"bob", "dave"}},
	{name: "nested logic", query: "filters[$or][0][$and][0][provider]=local&filters[$or][0][$and][1][confirmed]=false&filters[$or][1][$not][$or][0][provider]=local&filters[$or][1][$not][$or][1][provider]=google", want: []string{"carol", "dave"}},
	{name: "field-level not", query: "filters[username][$not][$contains]=e", want: []string{"bob", "carol", "Zoë"}},
	{name: "field-level or", query: "filters[username][$or][0][$eq]=alice&filters[username][$or][1][$eq]=carol", want: []string{"alice", "carol"}},
	{name: "repeated value", query: "filters[username]=alice&filters[username]=dave", want: []string{"alice", "dave"}},
	{name: "array value", query: "filters[username][0]=alice&filters[username][1]=dave", want: []string{"alice", "dave"}},
	{name: "several contains", query: "filters[username][$contains][0]=%25&filters[username][$contains][1]=!", want: []string{"per%cent", "bang!user"}},
	{name: "two fields", query: "filters[provider]=local&filters[confirmed]=false", want: []string{"carol"}},
	{name: "filters array", query: "filters[0][username]=alice&filters[1][provider]=local", want: []string{"alice"}},
	{name: "qs leading bracket", query: "[filters][username]=alice", want: []string{"alice"}},
	{name: "relation type", query: "filters[role][type][$eq]=public", want: []string{"bob", "o'brien", "emoji🙂"}},
	{name: "relation id in", query: "filters[role][id][$in][0]=2&filters[role][id][$in][1]=3", want: []string{"bob", "carol", "o'brien", "emoji🙂"}},
	{name: "relation shorthand", query: "filters[role]=3", want: []string{"carol"}},
	{name: "relation eq", query: "filters[role][$eq]=3", want: []string{"carol"}},
	{name: "relation in", query: "filters[role][$in][0]=3", want: []string{"carol"}},
	{name: "relation containsi", query: "filters[role][name][$containsi]=EDIT", want: []string{"carol"}},
	{name: "relation or", query: "filters[role][$or][0][type]=editor&filters[role][$or][1][type]=public", want: []string{"bob", "carol", "o'brien", "emoji🙂"}},
	{name: "relation ne excludes no role", query: "filters[role][type][$ne]=authenticated", want: []string{"bob", "carol", "o'brien", "emoji🙂"}},
	{name: "unicode eq", query: "filters[username][$eq]=Zo%C3%AB", want: []string{"Zoë"}},
	{name: "unicode containsi ascii", query: "filters[username][$containsi]=ZO", want: []string{"Zoë"}},
	{name: "emoji contains", query: "filters[username][$contains]=%F0%9F%99%82", want: []string{"emoji🙂"}},
	{name: "emoji startsWith", query: "filters[username][$startsWith]=emoji%F0%9F%99%82", want: []string{"emoji🙂"}},
	{name: "quote value", query: "filters[username]=o'brien", want: []string{"o'brien"}},
	{name: "injection value", query: "filters[username][$eq]=' OR 1=1 --", want: []string{}},
	{name: "injection containsi", query: "filters[username][$containsi]=' OR '1'='1", want: []string{}},

	{name: "sort desc", query: "filters[id][$lte]=4&sort=username:desc", want: []string{"dave", "carol", "bob", "alice"}},
	{name: "sort list", query: "filters[id][$lte]=4&sort=provider,username:desc", want: []string{"dave", "bob", "carol", "alice"}},
	{name: "sort indexed", query: "filters[id][$lte]=3&sort[0]=email:desc", want: []string{"carol", "bob", "alice"}},
	{name: "sort boolean then id", query: "filters[id][$lte]=4&sort=confirmed:asc,id:desc", want: []string{"carol", "dave", "bob", "alice"}},
	{name: "sort object with page size", query: "sort[0][createdAt]=desc&pagination[pageSize]=2", want: []string{"emoji🙂", "o'brien"}, total: 12},
	{name: "sort relation nulls first", query: "filters[id][$in][0]=1&filters[id][$in][1]=2&filters[id][$in][2]=4&sort=role.name:asc", want: []string{"dave", "alice", "bob"}},
	{name: "sort relation desc nulls last", query: "filters[id][$lte]=4&sort[role][name]=desc", want: []string{"bob", "carol", "alice", "dave"}},
	{name: "page 2", query: "pagination[page]=2&pagination[pageSize]=5", want: []string{"perXcent", "under_score", "underXscore", "bang!user", "Zoë"}, total: 12},
	{name: "page 3", query: "pagination[page]=3&pagination[pageSize]=5", want: []string{"o'brien", "emoji🙂"}, total: 12},
	{name: "page past the end", query: "pagination[page]=9&pagination[pageSize]=5", want: []string{}, total: 12},
	{name: "page 1 default size", query: "pagination[page]=1", want: queryAllUsers},
	{name: "start limit", query: "pagination[start]=10&pagination[limit]=5", want: []string{"o'brien", "emoji🙂"}, total: 12},
	{name: "limit", query: "pagination[limit]=2", want: []string{"alice", "bob"}, total: 12},
	{name: "limit -1", query: "pagination[limit]=-1", want: queryAllUsers},
	{name: "top-level start limit", query: "start=1&limit=1", want: []string{"bob"}, total: 12},
	{name: "filtered page", query: "filters[provider]=local&pagination[pageSize]=2", want: []string{"alice", "carol"}, total: 10},

	{name: "no populate", query: "filters[id][$lte]=2", want: []string{"alice", "bob"}, check: func(t *testing.T, users []User) {
		for _, u := range users {
			if u.Role != nil {
				t.Errorf("%s: Role = %+v, want nil without populate", u.Username, u.Role)
			}
		}
	}},
	{name: "populate role", query: "filters[id][$lte]=4&populate=role", want: []string{"alice", "bob", "carol", "dave"}, check: func(t *testing.T, users []User) {
		if got, want := queryRoleTypes(users), []string{"authenticated", "public", "editor", "-"}; !slices.Equal(got, want) {
			t.Errorf("role types = %v, want %v", got, want)
		}
		if r := users[0].Role; r.Name != "Authenticated" || r.DocumentID != "role-authenticated" || r.Description == "" {
			t.Errorf("alice's role = %+v, want every attribute", r)
		}
	}},
	{name: "populate star", query: "filters[id]=2&populate=*", want: []string{"bob"}, check: func(t *testing.T, users []User) {
		if got := queryRoleTypes(users); !slices.Equal(got, []string{"public"}) {
			t.Errorf("role types = %v, want [public]", got)
		}
	}},
	{name: "populate indexed", query: "filters[id]=1&populate[0]=role", want: []string{"alice"}, check: func(t *testing.T, users []User) {
		if got := queryRoleTypes(users); !slices.Equal(got, []string{"authenticated"}) {
			t.Errorf("role types = %v, want [authenticated]", got)
		}
	}},
	{name: "populate object with users", query: "filters[id]=1&populate[role][populate][0]=users", want: []string{"alice"}, check: func(t *testing.T, users []User) {
		if got := queryRoleTypes(users); !slices.Equal(got, []string{"authenticated"}) {
			t.Errorf("role types = %v, want [authenticated]", got)
		}
	}},
	{name: "populate role fields", query: "filters[id]=1&populate[role][fields][0]=name", want: []string{"alice"}, check: func(t *testing.T, users []User) {
		r := users[0].Role
		if r == nil || r.ID != 1 || r.DocumentID != "role-authenticated" || r.Name != "Authenticated" || r.Type != "" || r.Description != "" {
			t.Errorf("role = %+v, want id, documentId and name only", r)
		}
	}},
	{name: "populate role filters", query: "filters[id][$lte]=2&populate[role][filters][type]=public", want: []string{"alice", "bob"}, check: func(t *testing.T, users []User) {
		if got, want := queryRoleTypes(users), []string{"-", "public"}; !slices.Equal(got, want) {
			t.Errorf("role types = %v, want %v", got, want)
		}
	}},
	{name: "populate with relation filter and sort", query: "filters[role][type][$ne]=editor&sort=role.type:desc,id:desc&populate=role&pagination[pageSize]=3", want: []string{"emoji🙂", "o'brien", "bob"}, total: 10, check: func(t *testing.T, users []User) {
		if got, want := queryRoleTypes(users), []string{"public", "public", "public"}; !slices.Equal(got, want) {
			t.Errorf("role types = %v, want %v", got, want)
		}
	}},
	{name: "fields", query: "filters[id]=1&fields[0]=username", want: []string{"alice"}, check: func(t *testing.T, users []User) {
		u := users[0]
		if u.ID != 1 || u.DocumentID == "" || u.Email != "" || u.Provider != "" || !u.CreatedAt.IsZero() {
			t.Errorf("user = %+v, want id, documentId and username only", u)
		}
	}},
	{name: "fields list with populate", query: "filters[id]=1&fields=username,email&populate=role", want: []string{"alice"}, check: func(t *testing.T, users []User) {
		u := users[0]
		if u.Email != "alice@example.com" || u.Provider != "" || u.Role == nil || u.Role.Type != "authenticated" {
			t.Errorf("user = %+v role %+v, want username, email and the role", u, u.Role)
		}
	}},
}

func TestUsersFindCount(t *testing.T) {
	backends := []struct {
		name string
		open func(t *testing.T) *Store
	}{
		{"sqlite", func(t *testing.T) *Store { return openQueryTestSQLite(t) }},
		{"postgres", func(t *testing.T) *Store { return openQueryTestPostgres(t) }},
		{"mysql", func(t *testing.T) *Store { return openQueryTestMySQL(t) }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			seedQueryUsers(t, s)
			users := s.Users()
			ctx := context.Background()
			for _, tc := range queryFindCases {
				t.Run(tc.name, func(t *testing.T) {
					q, err := parseQueryString(t, tc.query)
					if err != nil {
						t.Fatalf("ParseQuery(%s): %v", tc.query, err)
					}
					want := tc.want
					if w, ok := tc.per[string(s.Dialect)]; ok {
						want = w
					}
					got, err := users.Find(ctx, q)
					if err != nil {
						t.Fatalf("Find(%s): %v", tc.query, err)
					}
					if names := queryUsernames(got); !slices.Equal(names, want) {
						t.Errorf("Find(%s) = %q, want %q", tc.query, names, want)
					}
					for _, u := range got {
						if u.Password != "" || u.ResetPasswordToken != nil || u.ConfirmationToken != nil {
							t.Errorf("Find(%s): %s carries a private column: %+v", tc.query, u.Username, u)
						}
					}
					total := tc.total
					if total == 0 {
						total = int64(len(want))
					}
					n, err := users.Count(ctx, q)
					if err != nil {
						t.Fatalf("Count(%s): %v", tc.query, err)
					}
					if n != total {
						t.Errorf("Count(%s) = %d, want %d", tc.query, n, total)
					}
					if tc.check != nil && len(got) == len(want) {
						tc.check(t, got)
					}
				})
			}
			t.Run("zero Query", func(t *testing.T) {
				got, err := users.Find(ctx, Query{})
				if err != nil || !slices.Equal(queryUsernames(got), queryAllUsers) {
					t.Errorf("Find(Query{}) = %q, %v; want every user", queryUsernames(got), err)
				}
			})
		})
	}
}

// ---- fuzzing ----------------------------------------------------------------

var (
	queryUserFields = map[string]bool{"id": true, "documentId": true, "username": true, "email": true, "provider": true,
		"confirmed": true, "blocked": true, "createdAt": true, "updatedAt": true, "publishedAt": true}
	queryRoleFields = map[string]bool{"id": true, "documentId": true, "name": true, "description": true, "type": true,
		"createdAt": true, "updatedAt": true, "publishedAt": true}
)

// queryAllowedPath is the test's own copy of the whitelist.
func queryAllowedPath(field string, relative bool) bool {
	if relative {
		return queryRoleFields[field]
	}
	if rest, ok := strings.CutPrefix(field, "role."); ok {
		return queryRoleFields[rest]
	}
	return queryUserFields[field]
}

func queryCheckFilterFields(t *testing.T, f Filter, relative bool) {
	t.Helper()
	if f.Field != "" && !queryAllowedPath(f.Field, relative) {
		t.Fatalf("accepted filter on %q", f.Field)
	}
	for _, c := range f.Children {
		queryCheckFilterFields(t, c, relative)
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, seed := range []string{
		"", "filters[username][$eq]=x", "filters[password][$startsWith]=$2a", "filters[t0.password]=x",
		"filters[up_users.password]=x", "filters[$or][0][password]=x", "filters[role][users][password]=x",
		"filters[role][type][$eq]=public&populate=role", "filters[role][id][$in][0]=1",
		"filters[$or][0][username][$eq]=a&filters[$or][1][email][$containsi]=b", "filters[$not][blocked]=true",
		"filters[username][$not][$contains]=e", "filters[id][$between][0]=1&filters[id][$between][1]=2",
		"filters[createdAt][$gt]=2024-01-01T00:00:00Z", "filters[username][$null]=true",
		"sort=username:asc", "sort=username,email:desc", "sort[0]=email:desc", "sort[role][name]=desc", "sort=password",
		"pagination[page]=2&pagination[pageSize]=5", "pagination[start]=1&pagination[limit]=2", "pagination[page]=1&pagination[start]=1",
		"populate=role", "populate=*", "populate[0]=role", "populate[role]=true", "populate[role][populate][0]=users",
		"populate[role][filters][users][password]=x", "populate[role][fields][0]=name", "fields=username,email",
		"fields[0]=password", "[filters][password]=x", "filters[username]=%27%20OR%201%3D1%20--", "filters[username]=Zo%C3%AB",
		"filters%5Bpassword%5D=x", "filters[username][$eq]=%FF", "sort=.00000000000", "filters[$or][][username]=a&filters[$or][][email]=b",
	} {
		f.Add(seed)
	}
	// Accepted queries run on SQLite, and on PostgreSQL and MySQL when their
	// addresses are set: no accepted query may end in a driver error.
	stores := []*Store{openQueryTestSQLite(f)}
	if os.Getenv("GATEHOUSE_TEST_POSTGRES_URL") != "" {
		stores = append(stores, openQueryTestPostgres(f))
	}
	if os.Getenv("GATEHOUSE_TEST_MYSQL_URL") != "" {
		stores = append(stores, openQueryTestMySQL(f))
	}
	for _, s := range stores {
		seedQueryUsers(f, s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		values, _ := url.ParseQuery(raw)
		q, err := ParseQuery(values)
		if err != nil {
			var ike *InvalidKeyError
			var qe *QueryError
			switch {
			case errors.As(err, &ike):
				if ike.Key == "" || ike.Error() != "Invalid key "+ike.Key {
					t.Fatalf("InvalidKeyError %+v", ike)
				}
			case errors.As(err, &qe):
				if qe.Message == "" {
					t.Fatal("empty QueryError")
				}
			default:
				t.Fatalf("error %v (%T) is neither *InvalidKeyError nor *QueryError", err, err)
			}
			return
		}
		queryCheckFilterFields(t, q.Filters, false)
		queryCheckFilterFields(t, q.RoleFilters, true)
		for _, sf := range q.Sort {
			if !queryAllowedPath(sf.Field, false) {
				t.Fatalf("accepted sort on %q", sf.Field)
			}
		}
		for _, name := range q.Fields {
			if !queryUserFields[name] {
				t.Fatalf("accepted field %q", name)
			}
		}
		for _, name := range q.RoleFields {
			if !queryRoleFields[name] {
				t.Fatalf("accepted role field %q", name)
			}
		}
		if q.Limit < 1 || q.Limit > MaxLimit || q.Offset < 0 {
			t.Fatalf("pagination offset %d limit %d", q.Offset, q.Limit)
		}
		for _, d := range []Dialect{SQLite, Postgres, MySQL} {
			if _, err := q.plan(string(d), true); err != nil {
				t.Fatalf("plan(%s) of an accepted query: %v", d, err)
			}
		}
		for _, s := range stores {
			if _, err := s.Users().Find(context.Background(), q); err != nil {
				t.Fatalf("%s: Find of an accepted query: %v", s.Dialect, err)
			}
			if _, err := s.Users().Count(context.Background(), q); err != nil {
				t.Fatalf("%s: Count of an accepted query: %v", s.Dialect, err)
			}
		}
	})
}
