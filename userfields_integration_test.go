package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// userFieldsYAML declares one field of each type, the rules, a private
// field and register.allowedFields (README "Custom user fields").
const userFieldsYAML = `
fields:
  - {name: firstName, type: string, required: true, minLength: 2, maxLength: 20}
  - {name: age, type: integer}
  - {name: score, type: number}
  - {name: newsletter, type: boolean, default: false}
  - {name: birthday, type: date}
  - {name: lastSeen, type: datetime}
  - {name: contactEmail, type: email}
  - {name: plan, type: enumeration, values: [free, pro], default: free}
  - {name: prefs, type: json}
  - {name: bio, type: text}
  - {name: badge, type: string, unique: true}
  - {name: secretNote, type: string, private: true}
register:
  allowedFields: [firstName, age, badge, secretNote, newsletter]
`

// startFieldsApp starts an instance over databaseURL with userFieldsYAML.
func startFieldsApp(t *testing.T, databaseURL string) itApp {
	t.Helper()
	path := filepath.Join(t.TempDir(), "user-fields.yaml")
	if err := os.WriteFile(path, []byte(userFieldsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	return startApp(t, databaseURL, map[string]string{"USER_FIELDS_FILE": path})
}

func TestUserFieldsSQLite(t *testing.T) {
	testUserFields(t, "sqlite://"+filepath.Join(t.TempDir(), "fields.db"))
}

func TestUserFieldsPostgres(t *testing.T) { testUserFields(t, freshPostgres(t)) }

func TestUserFieldsMySQL(t *testing.T) { testUserFields(t, freshMySQL(t, "")) }

// testUserFields is issue 16's custom fields over the real router and a
// real database: register with allowed and refused fields, Strapi's
// validation messages, private fields never returned nor usable in a query,
// filters, sort and fields on custom fields, unique across two instances.
func testUserFields(t *testing.T, databaseURL string) {
	a := startFieldsApp(t, databaseURL)
	admin := a.login("admin@example.com", "admin-password")
	reg := func(username string, extra string) string {
		return fmt.Sprintf(`{"username":%q,"email":"%s@example.com","password":"correct-horse"%s}`, username, username, extra)
	}
	// Three users to query: registered (allowed fields), and created by the admin (every field).
	a.expect(http.StatusOK, "POST", "/api/auth/local/register", reg("ann", `,"firstName":"Ann","age":31,"badge":"gold","secretNote":"top-secret-ann","newsletter":true`), "")
	a.expect(http.StatusOK, "POST", "/api/auth/local/register", reg("bob", `,"firstName":"Bob","age":25`), "")
	a.expect(http.StatusCreated, "POST", "/api/users", `{"username":"cyd","email":"cyd@example.com","password":"correct-horse","firstName":"Cyd","age":47,"score":2.5,
		"birthday":"1977-05-04","lastSeen":"2024-03-01T10:00:00+02:00","contactEmail":"cyd@work.example","plan":"pro","prefs":{"theme":"dark","n":[1,2]},"bio":"Long text","secretNote":"top-secret-cyd"}`, admin)
	annJWT := a.login("ann", "correct-horse")

	tests := []struct {
		name, method, url, body string
		who                     string // "", "ann" or "admin"
		wantStatus              int
		want, notWant           []string
	}{
		{name: "register: refused custom field", method: "POST", url: "/api/auth/local/register",
			body: reg("dan", `,"firstName":"Dan","plan":"pro","confirmed":true`), wantStatus: 400,
			want: []string{`"message":"Invalid parameters: confirmed, plan"`}},
		{name: "register: required field missing", method: "POST", url: "/api/auth/local/register",
			body: reg("dan", ``), wantStatus: 400, want: []string{`"message":"firstName must be defined."`, `"path":["firstName"]`}},
		{name: "register: required field null", method: "POST", url: "/api/auth/local/register",
			body: reg("dan", `,"firstName":null`), wantStatus: 400, want: []string{`"message":"firstName must be defined."`}},
		{name: "register: minLength", method: "POST", url: "/api/auth/local/register",
			body: reg("dan", `,"firstName":"D"`), wantStatus: 400, want: []string{`"message":"firstName must be at least 2 characters"`}},
		{name: "register: maxLength in characters", method: "POST", url: "/api/auth/local/register",
			body: reg("dan", `,"firstName":"`+strings.Repeat("É", 21)+`"`), wantStatus: 400, want: []string{`"message":"firstName must be at most 20 characters"`}},
		{name: "register: wrong type", method: "POST", url: "/api/auth/local/register",
			body: reg("dan", `,"firstName":"Dan","age":"old"`), wantStatus: 400, want: []string{"age must be a `number` type, but the final value was: `\\\"old\\\"`."}},
		{name: "register: not an integer", method: "POST", url: "/api/auth/local/register",
			body: reg("dan", `,"firstName":"Dan","age":1.5`), wantStatus: 400, want: []string{`"message":"age must be an integer"`}},
		{name: "register: two errors", method: "POST", url: "/api/auth/local/register",
			body: reg("dan", `,"firstName":7,"newsletter":"yes"`), wantStatus: 400, want: []string{`"message":"2 errors occurred"`, "newsletter must be a `boolean` type"}},
		{name: "register: unique taken", method: "POST", url: "/api/auth/local/register",
			body: reg("dan", `,"firstName":"Dan","badge":"gold"`), wantStatus: 400, want: []string{`"message":"This attribute must be unique"`, `"path":["badge"]`}},
		{name: "register: answer has public fields and defaults, not private", method: "POST", url: "/api/auth/local/register",
			body: reg("eve", `,"firstName":"Eve","secretNote":"top-secret-eve"`), wantStatus: 200,
			want:    []string{`"firstName":"Eve"`, `"plan":"free"`, `"newsletter":false`, `"age":null`},
			notWant: []string{"secretNote", "top-secret", "cf_"}},
		{name: "create: enumeration", method: "POST", url: "/api/users", who: "admin",
			body: `{"username":"fay","email":"fay@example.com","password":"correct-horse","firstName":"Fay","plan":"gold"}`, wantStatus: 400,
			want: []string{`"message":"plan must be one of the following values: free, pro"`}},
		{name: "create: email", method: "POST", url: "/api/users", who: "admin",
			body: `{"username":"fay","email":"fay@example.com","password":"correct-horse","firstName":"Fay","contactEmail":"nope"}`, wantStatus: 400,
			want: []string{`"message":"contactEmail must be a valid email"`}},
		{name: "create: required", method: "POST", url: "/api/users", who: "admin",
			body: `{"username":"fay","email":"fay@example.com","password":"correct-horse"}`, wantStatus: 400,
			want: []string{`"message":"firstName must be defined."`}},
		{name: "update: date", method: "PUT", url: "/api/users/4", who: "admin", body: `{"birthday":"1977-02-30"}`, wantStatus: 400,
			want: []string{"birthday must be a `date` type"}},
		{name: "update: required to null", method: "PUT", url: "/api/users/4", who: "admin", body: `{"firstName":null}`, wantStatus: 400,
			want: []string{`"message":"firstName must be defined."`}},
		{name: "update: unique taken by another", method: "PUT", url: "/api/users/4", who: "admin", body: `{"badge":"gold"}`, wantStatus: 400,
			want: []string{`"message":"This attribute must be unique"`}},
		{name: "update: unique kept by its owner", method: "PUT", url: "/api/users/2", who: "admin", body: `{"badge":"gold","age":32}`, wantStatus: 200,
			want: []string{`"badge":"gold"`, `"age":32`}, notWant: []string{"top-secret"}},
		{name: "update: clear an optional field", method: "PUT", url: "/api/users/4", who: "admin", body: `{"age":null,"secretNote":"changed-secret"}`, wantStatus: 200,
			want: []string{`"age":null`}, notWant: []string{"secretNote", "changed-secret"}},
		{name: "login: the user has custom fields, no private", method: "POST", url: "/api/auth/local", body: `{"identifier":"ann@example.com","password":"correct-horse"}`,
			wantStatus: 200, want: []string{`"jwt":`, `"firstName":"Ann"`, `"badge":"gold"`}, notWant: []string{"secretNote", "top-secret"}},
		{name: "me: custom fields, no private", method: "GET", url: "/api/users/me", who: "ann", wantStatus: 200,
			want:    []string{`"firstName":"Ann"`, `"badge":"gold"`, `"newsletter":true`, `"plan":"free"`},
			notWant: []string{"secretNote", "top-secret"}},
		{name: "me: fields", method: "GET", url: "/api/users/me?fields=firstName", who: "ann", wantStatus: 200,
			want: []string{`"firstName":"Ann"`}, notWant: []string{`"age"`, `"username"`}},
		{name: "findOne: every type rendered", method: "GET", url: "/api/users/4", who: "admin", wantStatus: 200,
			want: []string{`"score":2.5`, `"birthday":"1977-05-04"`, `"lastSeen":"2024-03-01T08:00:00.000Z"`, `"contactEmail":"cyd@work.example"`,
				`"plan":"pro"`, `"prefs":{"n":[1,2],"theme":"dark"}`, `"bio":"Long text"`}, notWant: []string{"top-secret"}},
		{name: "private: filter", method: "GET", url: "/api/users?filters[secretNote][$eq]=top-secret-ann", who: "admin", wantStatus: 400,
			want: []string{`"message":"Invalid key secretNote"`}},
		{name: "private: filter inside $or", method: "GET", url: "/api/users?filters[$or][0][age]=31&filters[$or][1][secretNote][$startsWith]=top", who: "admin", wantStatus: 400,
			want: []string{`"message":"Invalid key secretNote"`}},
		{name: "private: sort", method: "GET", url: "/api/users?sort=secretNote", who: "admin", wantStatus: 400,
			want: []string{`"message":"Invalid key secretNote"`}},
		{name: "private: fields", method: "GET", url: "/api/users?fields=secretNote", who: "admin", wantStatus: 400,
			want: []string{`"message":"Invalid key secretNote"`}},
		{name: "private: count", method: "GET", url: "/api/users/count?filters[secretNote][$null]=false", who: "admin", wantStatus: 400,
			want: []string{`"message":"Invalid key secretNote"`}},
		{name: "list never has private values", method: "GET", url: "/api/users", who: "admin", wantStatus: 200,
			want: []string{`"firstName":"Cyd"`}, notWant: []string{"secretNote", "top-secret", "changed-secret"}},
		{name: "json cannot be compared", method: "GET", url: "/api/users?filters[prefs][$eq]=x", who: "admin", wantStatus: 400,
			want: []string{"operator $eq cannot be used on prefs"}},
		{name: "json cannot be sorted", method: "GET", url: "/api/users?sort=prefs", who: "admin", wantStatus: 400,
			want: []string{"cannot be sorted"}},
		{name: "definitions for the admin page", method: "GET", url: "/api/users-permissions/user-fields", who: "admin", wantStatus: 200,
			want: []string{`{"name":"plan","type":"enumeration","default":"free","values":["free","pro"]}`, `"register":{"allowedFields":["firstName","age","badge","secretNote","newsletter"]}`}},
		{name: "definitions are not public", method: "GET", url: "/api/users-permissions/user-fields", wantStatus: 403},
		{name: "bad filter value", method: "GET", url: "/api/users?filters[age][$gt]=old", who: "admin", wantStatus: 400,
			want: []string{"age expects an integer"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token := map[string]string{"admin": admin, "ann": annJWT}[tc.who]
			code, body := a.do(tc.method, tc.url, tc.body, token)
			if code != tc.wantStatus {
				t.Fatalf("%s %s: status = %d, want %d\n%s", tc.method, tc.url, code, tc.wantStatus, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("%s %s: body lacks %s\n%s", tc.method, tc.url, w, body)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(body, w) {
					t.Errorf("%s %s: body has %s\n%s", tc.method, tc.url, w, body)
				}
			}
		})
	}

	// Filters and sort on custom fields (ann 32, bob 25, cyd null after the
	// update above, eve null; plus the admin).
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"filters[age][$gte]=26", []string{"ann"}},
		{"filters[age][$lt]=40&sort=username", []string{"ann", "bob"}},
		{"filters[age][$notNull]=true&sort=age:desc", []string{"ann", "bob"}},
		// NULL sorts first ascending and last descending on every database.
		{"sort=age:asc,username:asc", []string{"cyd", "eve", "bob", "ann"}},
		{"sort=age:desc,username:asc", []string{"ann", "bob", "cyd", "eve"}},
		{"filters[firstName][$containsi]=Y&sort=firstName:asc", []string{"cyd"}},
		{"filters[firstName][$in][0]=Eve&filters[firstName][$in][1]=Bob&sort=firstName:desc", []string{"eve", "bob"}},
		{"filters[plan]=pro", []string{"cyd"}},
		{"filters[newsletter]=true", []string{"ann"}},
		{"filters[score][$between][0]=2&filters[score][$between][1]=3", []string{"cyd"}},
		{"filters[birthday][$lt]=1980-01-01", []string{"cyd"}},
		{"filters[lastSeen][$gt]=2024-03-01T07:59:00Z", []string{"cyd"}},
		{"filters[prefs][$null]=false", []string{"cyd"}},
		{"filters[badge]=gold&fields[0]=badge", []string{"ann"}},
		{"filters[firstName][$notNull]=true&sort[0]=plan:desc&sort[1]=firstName:asc", []string{"cyd", "ann", "bob", "eve"}},
	} {
		body := a.expect(http.StatusOK, "GET", "/api/users?"+url.PathEscape(tc.query), "", admin)
		if got := usernamesOrFields(t, body); !slices.Equal(got, tc.want) {
			t.Errorf("GET /api/users?%s = %v, want %v\n%s", tc.query, got, tc.want, body)
		}
	}
	body := a.expect(http.StatusOK, "GET", "/api/users?fields=firstName,age&filters[username]=bob", "", admin)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(body), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("fields=firstName,age: %s", body)
	}
	if keys := mapKeys(rows[0]); !slices.Equal(keys, []string{"age", "documentId", "firstName", "id"}) {
		t.Errorf("fields=firstName,age: keys %v, want age, documentId, firstName, id", keys)
	}
	if n := a.expect(http.StatusOK, "GET", "/api/users/count?filters[age][$null]=true", "", admin); n != "3" {
		t.Errorf("count of users without age = %s, want 3 (cyd, eve, the admin)", n)
	}

	// The private field was written (register and update), only never read.
	var secrets []string
	if err := a.store.DB.Raw("SELECT cf_secret_note FROM up_users WHERE cf_secret_note IS NOT NULL ORDER BY id").Scan(&secrets).Error; err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(secrets, []string{"top-secret-ann", "changed-secret", "top-secret-eve"}) {
		t.Errorf("stored secret notes = %v", secrets)
	}

	testUniqueFieldRace(t, a, startFieldsApp(t, databaseURL))
}

// testUniqueFieldRace registers, on two instances at once, two users with
// the same unique badge, 30 times: exactly one of each pair is accepted,
// the other gets "This attribute must be unique" (from the pre-check or,
// when both passed it, from the unique index).
func testUniqueFieldRace(t *testing.T, a, b itApp) {
	const pairs = 30
	byIndex := 0
	for i := range pairs {
		body := func(side int) string {
			return fmt.Sprintf(`{"username":"race%d_%d","email":"race%d_%d@example.com","password":"correct-horse","firstName":"Racer","badge":"badge-%d"}`, i, side, i, side, i)
		}
		codes, bodies := registerAtOnce([2]itApp{a, b}, [2]string{body(0), body(1)})
		accepted := 0
		for side := range 2 {
			if strings.Contains(bodies[side], "ApplicationError") {
				byIndex++ // both passed the pre-check: the index refused one
			}
			switch {
			case codes[side] == http.StatusOK:
				accepted++
			case codes[side] != http.StatusBadRequest || !strings.Contains(bodies[side], `"message":"This attribute must be unique"`):
				t.Errorf("pair %d: register: %d %s, want 200 or 400 This attribute must be unique", i, codes[side], bodies[side])
			}
		}
		if accepted != 1 {
			t.Errorf("pair %d: %d registrations accepted, want 1\n%s\n%s", i, accepted, bodies[0], bodies[1])
		}
	}
	t.Logf("%s: %d of %d pairs refused by the unique index after both passed the pre-check", a.store.Dialect, byIndex, pairs)
	var n int64
	if err := a.store.DB.Raw("SELECT COUNT(*) FROM up_users WHERE cf_badge LIKE 'badge-%'").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != pairs {
		t.Errorf("users holding a raced badge = %d, want %d", n, pairs)
	}
}

// usernamesOrFields lists the usernames of a GET /api/users answer, or the
// badge when fields left the username out.
func usernamesOrFields(t *testing.T, body string) []string {
	t.Helper()
	var rows []map[string]any
	if err := json.Unmarshal([]byte(body), &rows); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	out := []string{}
	for _, r := range rows {
		if name, ok := r["username"].(string); ok {
			if name != "admin" {
				out = append(out, name)
			}
			continue
		}
		if r["badge"] == "gold" {
			out = append(out, "ann")
		}
	}
	return out
}

func mapKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
