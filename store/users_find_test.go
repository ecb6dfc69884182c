package store

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store/userquery"
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

func parseQueryString(t testing.TB, raw string) (userquery.Query, error) {
	t.Helper()
	values, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("url.ParseQuery(%q): %v", raw, err)
	}
	return userquery.ParseQuery(values)
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

// TestFindRejectsForgedQueries checks the second line of defence: a userquery.Query
// built by hand is validated again and fails before any SQL runs.
func TestFindRejectsForgedQueries(t *testing.T) {
	s := openQueryTestSQLite(t)
	seedQueryUsers(t, s)
	rec := recordQueries(t, s)
	users := s.Users()
	ctx := context.Background()
	leaf := func(field string) userquery.Filter {
		return userquery.Filter{Op: "$startsWith", Field: field, Values: []any{"$2"}}
	}
	tests := []struct {
		name  string
		q     userquery.Query
		key   string
		count bool // Count must reject it too
	}{
		{"filter password", userquery.Query{Filters: leaf("password")}, "password", true},
		{"filter alias", userquery.Query{Filters: leaf("t0.password")}, "password", true},
		{"filter table alias", userquery.Query{Filters: leaf("up_users.password")}, "password", true},
		{"filter column name", userquery.Query{Filters: leaf("reset_password_token")}, "resetPasswordToken", true},
		{"filter relation", userquery.Query{Filters: leaf("role.users.password")}, "password", true},
		{"filter role users", userquery.Query{Filters: userquery.Filter{Op: "$eq", Field: "role.users", Values: []any{int64(1)}}}, "users", true},
		{"filter nested", userquery.Query{Filters: userquery.Filter{Op: "$or", Children: []userquery.Filter{
			{Op: "$eq", Field: "username", Values: []any{"alice"}},
			{Op: "$not", Children: []userquery.Filter{leaf("password")}},
		}}}, "password", true},
		{"filter raw SQL", userquery.Query{Filters: leaf("1=1) OR (username")}, "1=1) OR (username", true},
		{"sort", userquery.Query{Sort: []userquery.SortField{{Field: "password"}}}, "password", false},
		{"sort relation", userquery.Query{Sort: []userquery.SortField{{Field: "role.users.password"}}}, "password", false},
		{"fields", userquery.Query{Fields: []string{"username", "password"}}, "password", false},
		{"fields token", userquery.Query{Fields: []string{"confirmationToken"}}, "confirmationToken", false},
		{"role fields", userquery.Query{PopulateRole: true, RoleFields: []string{"users"}}, "users", false},
		{"role filters", userquery.Query{PopulateRole: true, RoleFilters: leaf("users.password")}, "password", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := rec.count()
			got, err := users.Find(ctx, tc.q)
			var ike *userquery.InvalidKeyError
			if !errors.As(err, &ike) || ike.Key != tc.key {
				t.Errorf("Find: users %v, error = %v, want userquery.InvalidKeyError %q", queryUsernames(got), err, tc.key)
			}
			if tc.count {
				n, err := users.Count(ctx, tc.q)
				if !errors.As(err, &ike) || ike.Key != tc.key {
					t.Errorf("Count: %d, error = %v, want userquery.InvalidKeyError %q", n, err, tc.key)
				}
			}
			if n := rec.count() - before; n != 0 {
				t.Errorf("%d queries ran, want none", n)
			}
		})
	}
	// Hand-built mistakes that are not about keys are QueryErrors.
	for _, q := range []userquery.Query{
		{Filters: userquery.Filter{Op: "$regex", Field: "username", Values: []any{"a"}}},
		{Filters: userquery.Filter{Op: "$contains", Field: "id", Values: []any{int64(1)}}},
		{Filters: userquery.Filter{Op: "$eq", Field: "id", Values: []any{"one"}}},
		{Filters: userquery.Filter{Op: "$eq", Field: "id", Values: []any{3.5}}},
		{Filters: userquery.Filter{Op: "$gt", Field: "createdAt", Values: []any{time.Time{}.AddDate(-1, 0, 0)}}},
		{Filters: userquery.Filter{Op: "$in", Field: "id"}},
		{Filters: userquery.Filter{Op: "$or"}},
		{Offset: -1},
	} {
		if _, err := users.Find(ctx, q); !errors.As(err, new(*userquery.QueryError)) {
			t.Errorf("Find(%+v): error = %v, want *userquery.QueryError", q, err)
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
			t.Fatalf("userquery.ParseQuery(%s): %v", raw, err)
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
	if n, err := s.Users().Count(ctx, userquery.Query{}); n != 12 || err != nil {
		t.Errorf("Count after injection attempts = %d, %v; want 12 (tables intact)", n, err)
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
						t.Fatalf("userquery.ParseQuery(%s): %v", tc.query, err)
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
			t.Run("zero userquery.Query", func(t *testing.T) {
				got, err := users.Find(ctx, userquery.Query{})
				if err != nil || !slices.Equal(queryUsernames(got), queryAllUsers) {
					t.Errorf("Find(userquery.Query{}) = %q, %v; want every user", queryUsernames(got), err)
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

func queryCheckFilterFields(t *testing.T, f userquery.Filter, relative bool) {
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
		q, err := userquery.ParseQuery(values)
		if err != nil {
			var ike *userquery.InvalidKeyError
			var qe *userquery.QueryError
			switch {
			case errors.As(err, &ike):
				if ike.Key == "" || ike.Error() != "Invalid key "+ike.Key {
					t.Fatalf("userquery.InvalidKeyError %+v", ike)
				}
			case errors.As(err, &qe):
				if qe.Message == "" {
					t.Fatal("empty userquery.QueryError")
				}
			default:
				t.Fatalf("error %v (%T) is neither *userquery.InvalidKeyError nor *userquery.QueryError", err, err)
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
		if q.Limit < 1 || q.Limit > userquery.MaxLimit || q.Offset < 0 {
			t.Fatalf("pagination offset %d limit %d", q.Offset, q.Limit)
		}
		for _, d := range []Dialect{SQLite, Postgres, MySQL} {
			if _, err := userquery.Builtin().Plan(q, string(d)); err != nil {
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
