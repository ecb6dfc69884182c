package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/history"
	"github.com/gatehouse/gatehouse/policy"
)

// TestPolicyHistoryPaths runs every way of changing the policy against the
// whole app — bootstrap, the roles API, the admin page, PUT …/policy, a
// role deletion, the CLI's import and apply (a stale apply refused with
// exit 2), an SQL edit seen at the next revision check, a revert — and
// checks that each records exactly one entry with the right actor and
// source: on SQLite, and on PostgreSQL and MySQL/MariaDB when
// GATEHOUSE_TEST_POSTGRES_URL and GATEHOUSE_TEST_MYSQL_URL are set.
func TestPolicyHistoryPaths(t *testing.T) {
	for _, db := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db") }},
		{"postgres", freshPostgres},
		{"mysql", func(t *testing.T) string { return freshMySQL(t, "") }},
	} {
		t.Run(db.name, func(t *testing.T) { runHistoryPaths(t, db.url(t)) })
	}
}

func runHistoryPaths(t *testing.T, databaseURL string) {
	a := startApp(t, databaseURL, nil)
	ctx := context.Background()
	entries := func() []history.Entry {
		t.Helper()
		list, _, err := a.enforcer.History(ctx, history.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	if got := entries(); len(got) != 1 || got[0].Actor != "bootstrap" || got[0].Source != "bootstrap" {
		t.Fatalf("after start-up: entries = %+v, want one by bootstrap", got)
	}
	token := a.login("admin@example.com", "admin-password")
	var me struct{ Username string }
	json.Unmarshal([]byte(a.expect(http.StatusOK, "GET", "/api/users/me", "", token)), &me)
	osUser, _ := user.Current()
	cliActor := "cli:" + osUser.Username
	file := func(name, text string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	publicID := func() uint {
		r, err := a.store.Roles().ByType(ctx, "public")
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}()
	var reviewed int64
	steps := []struct {
		name          string
		do            func()
		actor, source string
	}{
		{"roles API: create a role", func() {
			a.expect(http.StatusOK, "POST", "/api/users-permissions/roles",
				`{"name":"Editors","permissions":{"plugin::users-permissions":{"controllers":{"user":{"find":{"enabled":true}}}}}}`, token)
		}, me.Username, "api"},
		{"admin page: open a route to public", func() {
			a.expect(http.StatusOK, "PUT", fmt.Sprintf("/api/users-permissions/roles/%d", publicID),
				`{"permissions":{"plugin::users-permissions":{"controllers":{"auth":{"callback":{"enabled":true}},"user":{"count":{"enabled":true}}}}}}`, token,
				"X-Gatehouse-Client", "admin")
		}, me.Username, "admin"},
		{"PUT policy", func() {
			a.expect(http.StatusOK, "PUT", "/api/users-permissions/policy", policy.DefaultCSV+"p, editors, /api/users, GET\n", token, "Content-Type", "text/csv")
		}, me.Username, "api"},
		{"role deletion", func() {
			r, err := a.store.Roles().ByType(ctx, "editors")
			if err != nil {
				t.Fatal(err)
			}
			a.expect(http.StatusOK, "DELETE", fmt.Sprintf("/api/users-permissions/roles/%d", r.ID), "", token)
			reviewed = a.enforcer.Revision()
		}, me.Username, "api"},
		{"CLI import", func() {
			if code, _, stderr := runMain("policy", "import", file("a.csv", policy.DefaultCSV+"p, public, /api/users/count, GET\n"), "--database-url", databaseURL); code != 0 {
				t.Fatalf("policy import: exit %d\n%s", code, stderr)
			}
		}, cliActor, "cli"},
		{"CLI apply: stale refused (no entry), fresh applied", func() {
			f := file("b.csv", policy.DefaultCSV+"p, public, /api/users/me, GET\n")
			if code, _, stderr := runMain("policy", "apply", f, "--expect-revision", fmt.Sprint(reviewed), "--database-url", databaseURL); code != 2 ||
				!strings.Contains(stderr, cliActor) {
				t.Fatalf("stale apply: exit %d, want 2 listing the import by %s\n%s", code, cliActor, stderr)
			}
			if _, _, err := a.enforcer.ReloadIfChanged(ctx); err != nil {
				t.Fatal(err)
			}
			if code, _, stderr := runMain("policy", "apply", f, "--expect-revision", fmt.Sprint(a.enforcer.Revision()), "--message", "PR 7", "--database-url", databaseURL); code != 0 {
				t.Fatalf("fresh apply: exit %d\n%s", code, stderr)
			}
		}, cliActor, "cli"},
		{"SQL edit, seen at the next revision check", func() {
			if err := a.store.DB.Exec(`INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES ('p', 'public', '/api/users/:id', 'GET', '', '', '')`).Error; err != nil {
				t.Fatal(err)
			}
			if _, _, err := a.enforcer.ReloadIfChanged(ctx); err != nil {
				t.Fatal(err)
			}
		}, "sql", "sql"},
		{"revert", func() {
			a.expect(http.StatusOK, "POST", "/api/users-permissions/policy/revert", fmt.Sprintf(`{"revision":%d}`, reviewed), token)
		}, me.Username, "api"},
	}
	for _, step := range steps {
		before := len(entries())
		step.do()
		if _, _, err := a.enforcer.ReloadIfChanged(ctx); err != nil {
			t.Fatal(err)
		}
		got := entries()
		if len(got) != before+1 {
			t.Fatalf("%s: %d entries, want %d", step.name, len(got), before+1)
		}
		if got[0].Actor != step.actor || got[0].Source != step.source {
			t.Errorf("%s: entry by %q (%s), want %q (%s)", step.name, got[0].Actor, got[0].Source, step.actor, step.source)
		}
	}
	rules, err := a.enforcer.RulesAt(ctx, reviewed)
	if err != nil {
		t.Fatal(err)
	}
	now, err := a.enforcer.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if added, removed := history.Diff(policy.Rows(rules), policy.Rows(now)); len(added)+len(removed) != 0 {
		t.Errorf("after the revert the policy differs from revision %d: +%v -%v", reviewed, added, removed)
	}
}
