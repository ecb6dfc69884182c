package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
)

func init() { gin.SetMode(gin.ReleaseMode) } // newApp alone leaves Gin's debug route dump on

// The PostgreSQL and MySQL/MariaDB suites run the whole app — bootstrap,
// the real router, two instances over one database — against a real server
// whose address comes from the environment:
//
//	GATEHOUSE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//	GATEHOUSE_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test
//
// Each test works in a schema (PostgreSQL) or database (MySQL) of its own,
// dropped at the end.

func TestIntegrationPostgres(t *testing.T) {
	runIntegration(t, freshPostgres(t))
}

func TestIntegrationMySQL(t *testing.T) {
	runIntegration(t, freshMySQL(t, ""))
}

// randomName returns prefix followed by 12 random hex digits.
func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// openAdmin opens a maintenance connection, closed at the end of the test.
func openAdmin(t *testing.T, databaseURL string) *store.Store {
	t.Helper()
	st, err := store.Open(databaseURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", redactURL(databaseURL), err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// freshPostgres creates the schema gh_<random> and returns a DATABASE_URL
// whose search_path is that schema.
func freshPostgres(t *testing.T) string {
	t.Helper()
	base := os.Getenv("GATEHOUSE_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("set GATEHOUSE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the PostgreSQL suite")
	}
	admin := openAdmin(t, base)
	schema := randomName("gh_")
	if err := admin.DB.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := admin.DB.Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// freshMySQL creates the database gatehouse_it_<random> and returns a
// DATABASE_URL for it, as root or, when user is set, as that user (created
// with every privilege on the database but those in revoke).
func freshMySQL(t *testing.T, revoke string) string {
	t.Helper()
	base := os.Getenv("GATEHOUSE_TEST_MYSQL_URL")
	if base == "" {
		t.Skip("set GATEHOUSE_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test to run the MySQL/MariaDB suite")
	}
	admin := openAdmin(t, base)
	name := randomName("gatehouse_it_")
	if err := admin.DB.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4").Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := admin.DB.Exec("DROP DATABASE " + name).Error; err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	if revoke != "" {
		user, password := name, randomName("pw")
		stmts := []string{
			fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", user, password),
			fmt.Sprintf("GRANT ALL PRIVILEGES ON %s.* TO '%s'@'%%'", name, user),
			fmt.Sprintf("REVOKE %s ON %s.* FROM '%s'@'%%'", revoke, name, user),
		}
		for _, s := range stmts {
			if err := admin.DB.Exec(s).Error; err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		t.Cleanup(func() { admin.DB.Exec(fmt.Sprintf("DROP USER '%s'@'%%'", user)) })
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// itApp is one running instance in an integration test.
type itApp struct {
	t *testing.T
	*app
}

// startApp wires an instance over databaseURL exactly as serve does (without
// the listener), with local rate limits off so the test's bursts are not
// refused.
func startApp(t *testing.T, databaseURL string, extra map[string]string) itApp {
	t.Helper()
	return startAppLogging(t, databaseURL, extra, slog.New(slog.DiscardHandler))
}

// startAppLogging is startApp with the instance's logs sent to log.
func startAppLogging(t *testing.T, databaseURL string, extra map[string]string, log *slog.Logger) itApp {
	t.Helper()
	values := map[string]string{"DATABASE_URL": databaseURL, "RATE_LIMIT_ENABLED": "false",
		"JWT_SECRET": "integration-secret-integration-secret", "ADMIN_EMAIL": "admin@example.com", "ADMIN_PASSWORD": "admin-password"}
	for k, v := range extra {
		values[k] = v
	}
	a, err := newApp(context.Background(), testConfig(t, values), log)
	if err != nil {
		t.Fatalf("newApp over %s: %v", redactURL(databaseURL), err)
	}
	t.Cleanup(func() {
		if a.cluster != nil {
			a.cluster.Close()
		}
		a.store.Close()
	})
	return itApp{t: t, app: a}
}

// do sends a request through the instance's router; token "" is public.
func (a itApp) do(method, target, body, token string, header ...string) (int, string) {
	a.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	a.server.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// expect sends the request and fails unless the status is want.
func (a itApp) expect(want int, method, target, body, token string, header ...string) string {
	a.t.Helper()
	got, resp := a.do(method, target, body, token, header...)
	if got != want {
		a.t.Fatalf("%s %s: status = %d, want %d\n%s", method, target, got, want, resp)
	}
	return resp
}

// login returns the JWT of a local login.
func (a itApp) login(identifier, password string) string {
	a.t.Helper()
	body := a.expect(http.StatusOK, "POST", "/api/auth/local", fmt.Sprintf(`{"identifier":%q,"password":%q}`, identifier, password), "")
	var resp struct{ JWT string }
	if err := json.Unmarshal([]byte(body), &resp); err != nil || resp.JWT == "" {
		a.t.Fatalf("POST /api/auth/local: no jwt in %s", body)
	}
	return resp.JWT
}

// register registers a local user and returns the HTTP status.
func (a itApp) register(username, email string) (int, string) {
	return a.do("POST", "/api/auth/local/register", fmt.Sprintf(`{"username":%q,"email":%q,"password":"correct-horse"}`, username, email), "")
}

// usernames decodes a GET /api/users answer into its usernames, in order.
func usernames(t *testing.T, body string) []string {
	t.Helper()
	var users []struct{ Username string }
	if err := json.Unmarshal([]byte(body), &users); err != nil {
		t.Fatalf("decode users: %v\n%s", err, body)
	}
	names := make([]string, len(users))
	for i, u := range users {
		names[i] = u.Username
	}
	return names
}

// runIntegration is the suite both server databases run.
func runIntegration(t *testing.T, databaseURL string) {
	a := startApp(t, databaseURL, nil)
	b := startApp(t, databaseURL, nil) // a second instance over the same database
	db := a.store.DB
	ctx := context.Background()

	t.Run("bootstrap", func(t *testing.T) {
		if n, err := a.store.Roles().Count(ctx); err != nil || n != 3 {
			t.Errorf("roles after two starts = %d, %v; want 3", n, err)
		}
		if ok, err := revisionTriggers(a.store); err != nil || !ok {
			t.Errorf("revision triggers installed on %s = %v, %v; want true", a.store.Dialect, ok, err)
		}
		if a.enforcer.Revision() < 2 {
			t.Errorf("revision after seeding = %d, want at least 2", a.enforcer.Revision())
		}
		if empty, err := b.enforcer.Empty(); err != nil || empty {
			t.Errorf("second instance's policy empty = %v, %v", empty, err)
		}
	})

	var aliceToken string
	t.Run("register, login, me", func(t *testing.T) {
		if status, body := a.register("alice", "Alice@Example.com"); status != http.StatusOK || !strings.Contains(body, `"jwt"`) {
			t.Fatalf("register: status = %d, want 200 with a jwt\n%s", status, body)
		}
		aliceToken = b.login("alice@example.com", "correct-horse") // on the other instance
		me := a.expect(http.StatusOK, "GET", "/api/users/me", "", aliceToken)
		if !strings.Contains(me, `"username":"alice"`) || !strings.Contains(me, `"email":"alice@example.com"`) || strings.Contains(me, "$2a$") {
			t.Errorf("GET /api/users/me = %s", me)
		}
		b.login("alice", "correct-horse") // by username
		if status, body := a.do("POST", "/api/auth/local", `{"identifier":"alice","password":"wrong-horse"}`, ""); status != http.StatusBadRequest {
			t.Errorf("wrong password: status = %d, want 400\n%s", status, body)
		}
		if status, body := a.do("GET", "/api/users/me", "", ""); status != http.StatusForbidden {
			t.Errorf("public /api/users/me: status = %d, want 403\n%s", status, body)
		}
	})

	t.Run("concurrent registrations of one email leave one user", func(t *testing.T) {
		const n = 16
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			inst := a
			if i%2 == 1 {
				inst = b // each instance has its own in-process lock: only the database decides
			}
			wg.Go(func() { statuses[i], _ = inst.register(fmt.Sprintf("racer%02d", i), "race@example.com") })
		}
		wg.Wait()
		ok := 0
		for i, s := range statuses {
			switch s {
			case http.StatusOK:
				ok++
			case http.StatusBadRequest:
			default:
				t.Errorf("registration %d: status = %d, want 200 or 400", i, s)
			}
		}
		var stored int64
		if err := db.Model(&store.User{}).Where("email = ?", "race@example.com").Count(&stored).Error; err != nil {
			t.Fatal(err)
		}
		if ok != 1 || stored != 1 {
			t.Errorf("%d registrations answered 200 and %d users have the email, want 1 and 1 (statuses %v)", ok, stored, statuses)
		}
	})

	adminToken := a.login("admin@example.com", "admin-password")
	t.Run("admin lists users with filters", func(t *testing.T) {
		for _, u := range [][2]string{{"Ann", "ann@example.com"}, {"bob", "bob@example.org"}, {"carol", "carol@example.com"}} {
			if status, body := b.register(u[0], u[1]); status != http.StatusOK {
				t.Fatalf("register %s: %d\n%s", u[0], status, body)
			}
		}
		scenarios := []struct {
			name, query string
			want        []string
		}{
			{"$eq is exact", "filters[username][$eq]=Ann", []string{"Ann"}},
			{"$eqi ignores case", "filters[username][$eqi]=aNN", []string{"Ann"}},
			{"$containsi", "filters[username][$containsi]=AR&sort=username", []string{"carol"}},
			{"$startsWith, sort desc", "filters[email][$startsWith]=a&sort=email:desc", []string{"Ann", "alice", "admin"}},
			{"$eq is case-sensitive", "filters[username][$eq]=ann", []string{}},
			{"$contains is case-sensitive", "filters[username][$contains]=AN", []string{}},
			{"$startsWith is case-sensitive", "filters[username][$startsWith]=a&filters[username][$ne]=admin&filters[username][$ne]=alice", []string{}},
			{"$endsWith with a LIKE wildcard in the value", "filters[email][$endsWith]=_example.org", []string{}},
			{"$endsWith", "filters[email][$endsWith]=@example.org", []string{"bob"}},
			{"$in", "filters[username][$in][0]=bob&filters[username][$in][1]=carol&sort=id", []string{"bob", "carol"}},
			{"$or", "filters[$or][0][username][$eq]=bob&filters[$or][1][email][$startsWith]=carol&sort=id:asc", []string{"bob", "carol"}},
			{"relation filter", "filters[role][type][$eq]=admin", []string{"admin"}},
			{"boolean and date", "filters[confirmed][$eq]=true&filters[blocked][$eq]=false&filters[createdAt][$gt]=2000-01-01T00:00:00.000Z&filters[username][$ne]=admin&filters[username][$notContains]=racer&sort=id:asc",
				[]string{"alice", "Ann", "bob", "carol"}},
			{"pagination", "sort=id:asc&pagination[start]=1&pagination[limit]=2&filters[username][$notContains]=racer", []string{"alice", "Ann"}},
			{"$null on the role", "filters[role][$null]=true", []string{}},
		}
		for _, sc := range scenarios {
			body := a.expect(http.StatusOK, "GET", "/api/users?"+sc.query, "", adminToken)
			got := usernames(t, body)
			if strings.Join(got, ",") != strings.Join(sc.want, ",") {
				t.Errorf("%s: GET /api/users?%s = %v, want %v", sc.name, sc.query, got, sc.want)
			}
		}
		if body := a.expect(http.StatusOK, "GET", "/api/users/count?filters[email][$containsi]=EXAMPLE.COM&filters[username][$notContains]=racer", "", adminToken); body != "4" {
			t.Errorf("count = %s, want 4 (admin, alice, Ann, carol)", body)
		}
		populated := a.expect(http.StatusOK, "GET", "/api/users?filters[username][$eq]=bob&populate=role", "", adminToken)
		if !strings.Contains(populated, `"type":"authenticated"`) {
			t.Errorf("populate=role: %s", populated)
		}
	})

	t.Run("admin updates a user twice with the same values", func(t *testing.T) {
		var bob store.User
		if err := db.Where("username = ?", "bob").Take(&bob).Error; err != nil {
			t.Fatal(err)
		}
		for range 2 { // MySQL reports 0 changed rows for a no-op update: still 200, not 404
			a.expect(http.StatusOK, "PUT", fmt.Sprintf("/api/users/%d", bob.ID), `{"username":"bob","blocked":false}`, adminToken)
		}
		if err := a.store.Users().Update(ctx, bob.ID, map[string]any{"blocked": false}); err != nil {
			t.Errorf("Users.Update with unchanged values: %v", err)
		}
	})

	t.Run("policy change through PUT /api/users-permissions/policy", func(t *testing.T) {
		a.expect(http.StatusForbidden, "GET", "/api/users/count", "", "")
		csv := a.expect(http.StatusOK, "GET", "/api/users-permissions/policy", "", adminToken, "Accept", "text/csv")
		csv += "p, public, /api/users/count, GET\n"
		before := a.enforcer.Revision()
		req := httptest.NewRequest("PUT", "/api/users-permissions/policy", strings.NewReader(csv))
		req.Header.Set("Content-Type", "text/csv")
		req.Header.Set("Authorization", "Bearer "+adminToken)
		rec := httptest.NewRecorder()
		a.server.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("PUT /api/users-permissions/policy: status = %d, want 200\n%s", rec.Code, rec.Body)
		}
		if a.enforcer.Revision() <= before {
			t.Errorf("revision %d → %d: did not move", before, a.enforcer.Revision())
		}
		a.expect(http.StatusOK, "GET", "/api/users/count", "", "")
		b.expect(http.StatusForbidden, "GET", "/api/users/count", "", "") // not reloaded yet
		if from, to, err := b.enforcer.ReloadIfChanged(ctx); err != nil || from == to || to != a.enforcer.Revision() {
			t.Fatalf("second instance ReloadIfChanged = %d, %d, %v; want a reload to %d", from, to, err, a.enforcer.Revision())
		}
		b.expect(http.StatusOK, "GET", "/api/users/count", "", "")
	})

	t.Run("a hand-edited casbin_rule row is picked up by ReloadIfChanged", func(t *testing.T) {
		a.expect(http.StatusForbidden, "GET", "/api/users", "", "")
		// What an operator would type: v3..v5 left to their defaults.
		if err := db.Exec(`INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES ('p', 'public', '/api/users', 'GET')`).Error; err != nil {
			t.Fatal(err)
		}
		for _, inst := range []itApp{a, b} {
			if from, to, err := inst.enforcer.ReloadIfChanged(ctx); err != nil || from == to {
				t.Fatalf("ReloadIfChanged after a hand edit = %d, %d, %v; want a reload", from, to, err)
			}
			inst.expect(http.StatusOK, "GET", "/api/users", "", "")
		}
		// The row stays manageable through the API: remove it with the rest.
		csv := a.expect(http.StatusOK, "GET", "/api/users-permissions/policy", "", adminToken, "Accept", "text/csv")
		csv = strings.Replace(csv, "p, public, /api/users, GET\n", "", 1)
		req := httptest.NewRequest("PUT", "/api/users-permissions/policy", strings.NewReader(csv))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		rec := httptest.NewRecorder()
		a.server.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("PUT policy without the hand-made row: %d\n%s", rec.Code, rec.Body)
		}
		a.expect(http.StatusForbidden, "GET", "/api/users", "", "")
	})

	if a.store.Dialect == store.Postgres {
		t.Run("a hand edit from a session with another search_path", func(t *testing.T) {
			var schema string
			if err := db.Raw("SELECT current_schema()").Scan(&schema).Error; err != nil {
				t.Fatal(err)
			}
			other := openAdmin(t, os.Getenv("GATEHOUSE_TEST_POSTGRES_URL")) // search_path: the default
			err := other.DB.Exec(`INSERT INTO ` + schema + `.casbin_rule (ptype, v0, v1, v2) VALUES ('p', 'public', '/api/users/:id', 'GET')`).Error
			if err != nil {
				t.Fatalf("schema-qualified hand edit: %v", err)
			}
			if from, to, err := a.enforcer.ReloadIfChanged(ctx); err != nil || from == to {
				t.Fatalf("ReloadIfChanged = %d, %d, %v; want a reload", from, to, err)
			}
		})
	}
}

// revisionTriggers reports whether the casbin_rule revision triggers exist.
func revisionTriggers(st *store.Store) (bool, error) {
	var n int64
	var err error
	switch st.Dialect {
	case store.Postgres:
		err = st.DB.Raw(`SELECT COUNT(*) FROM information_schema.triggers WHERE event_object_table = 'casbin_rule' AND trigger_schema = current_schema()`).Scan(&n).Error
	case store.MySQL:
		err = st.DB.Raw(`SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_TABLE = 'casbin_rule' AND TRIGGER_SCHEMA = DATABASE()`).Scan(&n).Error
	default:
		err = st.DB.Raw(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'casbin_rule'`).Scan(&n).Error
	}
	return n > 0, err
}

// TestIntegrationMySQLWithoutTriggerPrivilege: a MySQL account that may not
// CREATE TRIGGER still runs Gatehouse. Its own changes move the revision,
// so the other instances see them; a hand edit is loaded by POST
// /api/users-permissions/policy/reload, which moves the revision too.
func TestIntegrationMySQLWithoutTriggerPrivilege(t *testing.T) {
	databaseURL := freshMySQL(t, "TRIGGER")
	a := startApp(t, databaseURL, nil)
	b := startApp(t, databaseURL, nil)
	ctx := context.Background()
	if ok, err := revisionTriggers(a.store); err != nil || ok {
		t.Fatalf("triggers installed without the TRIGGER privilege = %v, %v; want false", ok, err)
	}
	admin := a.login("admin@example.com", "admin-password")

	// A change through the API reaches the other instance.
	csv := a.expect(http.StatusOK, "GET", "/api/users-permissions/policy", "", admin, "Accept", "text/csv")
	req := httptest.NewRequest("PUT", "/api/users-permissions/policy", strings.NewReader(csv+"p, public, /api/users/count, GET\n"))
	req.Header.Set("Authorization", "Bearer "+admin)
	rec := httptest.NewRecorder()
	a.server.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("PUT policy: %d\n%s", rec.Code, rec.Body)
	}
	if from, to, err := b.enforcer.ReloadIfChanged(ctx); err != nil || from == to {
		t.Fatalf("other instance after an API change: ReloadIfChanged = %d, %d, %v; want a reload", from, to, err)
	}
	b.expect(http.StatusOK, "GET", "/api/users/count", "", "")

	// A hand edit: invisible to the revision until someone reloads by hand.
	if err := a.store.DB.Exec(`INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES ('p', 'public', '/api/users', 'GET')`).Error; err != nil {
		t.Fatal(err)
	}
	if from, to, err := b.enforcer.ReloadIfChanged(ctx); err != nil || from != to {
		t.Fatalf("without triggers a hand edit moved the revision? ReloadIfChanged = %d, %d, %v", from, to, err)
	}
	a.expect(http.StatusOK, "POST", "/api/users-permissions/policy/reload", "", admin)
	a.expect(http.StatusOK, "GET", "/api/users", "", "")
	if from, to, err := b.enforcer.ReloadIfChanged(ctx); err != nil || from == to {
		t.Fatalf("other instance after POST /policy/reload: ReloadIfChanged = %d, %d, %v; want a reload", from, to, err)
	}
	b.expect(http.StatusOK, "GET", "/api/users", "", "")
}

// redactURL hides the password of a database URL in messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
