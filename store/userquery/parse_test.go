package userquery

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func parseQueryString(t testing.TB, raw string) (Query, error) {
	t.Helper()
	values, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("url.ParseQuery(%q): %v", raw, err)
	}
	return ParseQuery(values)
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
// InvalidKeyError naming it. (Nothing can reach the database: this package
// has no connection; store's TestFindRejectsForgedQueries counts queries.)
func TestParseQueryPrivateKeys(t *testing.T) {
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
		})
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
