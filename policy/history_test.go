package policy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/history"
	"github.com/gatehouse/gatehouse/store"
	"gorm.io/gorm"
)

// historyDatabases runs test on SQLite and, when their addresses are set,
// on PostgreSQL (a schema of its own) and MySQL/MariaDB (a database of its
// own), each dropped at the end. open returns a new connection pool to the
// same database (a second instance).
func historyDatabases(t *testing.T, test func(t *testing.T, open func() *gorm.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		db := openPolicyDB(t)
		test(t, func() *gorm.DB { return db })
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("GATEHOUSE_TEST_POSTGRES_URL")
		if base == "" {
			t.Skip("set GATEHOUSE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the PostgreSQL run")
		}
		admin := openStore(t, base)
		schema := "gh_hist_" + randomHex()
		if err := admin.DB.Exec("CREATE SCHEMA " + schema).Error; err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.DB.Exec("DROP SCHEMA " + schema + " CASCADE") })
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		test(t, func() *gorm.DB { return openStore(t, u.String()).DB })
	})
	t.Run("mysql", func(t *testing.T) {
		base := os.Getenv("GATEHOUSE_TEST_MYSQL_URL")
		if base == "" {
			t.Skip("set GATEHOUSE_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test to run the MySQL/MariaDB run")
		}
		admin := openStore(t, base)
		name := "gatehouse_hist_" + randomHex()
		if err := admin.DB.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4").Error; err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.DB.Exec("DROP DATABASE " + name) })
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + name
		test(t, func() *gorm.DB { return openStore(t, u.String()).DB })
	})
}

func openStore(t testing.TB, databaseURL string) *store.Store {
	t.Helper()
	st, err := store.Open(databaseURL)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func randomHex() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// entries returns every history entry, oldest first, with rows.
func entries(t *testing.T, e *Enforcer) []history.Entry {
	t.Helper()
	list, _, err := e.History(context.Background(), history.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(list)
	for i := range list {
		full, err := e.HistoryEntry(context.Background(), list[i].Revision)
		if err != nil {
			t.Fatal(err)
		}
		list[i] = full
	}
	return list
}

func as(actor, source string) context.Context {
	return history.WithChange(context.Background(), history.Change{UserID: 7, Actor: actor, Source: source})
}

func p(role, route, method string) Rule {
	return Rule{Type: "p", Values: []string{role, route, method}}
}

// ruleSet renders rules as sorted lines.
func ruleSet(rules []Rule) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.String()
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func storedRules(t *testing.T, db *gorm.DB) []string {
	t.Helper()
	var rows []struct{ Ptype, V0, V1, V2 string }
	if err := db.Raw(`SELECT ptype, v0, v1, COALESCE(v2, '') AS v2 FROM casbin_rule`).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	var rules []Rule
	for _, r := range rows {
		rule := Rule{Type: r.Ptype, Values: []string{r.V0, r.V1}}
		if r.V2 != "" {
			rule.Values = append(rule.Values, r.V2)
		}
		rules = append(rules, rule)
	}
	return ruleSet(rules)
}

// TestHistoryChangePaths: each way the policy changes records exactly one
// entry, with the actor, source and rows of the change; a change that moves
// no row records none.
func TestHistoryChangePaths(t *testing.T) {
	historyDatabases(t, func(t *testing.T, open func() *gorm.DB) {
		db := open()
		e := seededEnforcer(t, db)
		got := entries(t, e)
		if len(got) != 1 || got[0].Actor != "bootstrap" || got[0].Source != history.SourceBootstrap || got[0].AddedCount != len(Default()) || got[0].RemovedCount != 0 {
			t.Fatalf("after seeding: entries = %+v, want one bootstrap entry adding %d rows", got, len(Default()))
		}
		ctx := context.Background()
		// The first entry's flips compare with no policy at all.
		login := Catalog{{Name: "auth.callback", Method: "POST", Route: "/api/auth/local"}}
		if flips, err := e.Flips(ctx, got[0], []string{"public"}, login); err != nil || len(flips) != 1 || flips[0].To != "allow" {
			t.Errorf("Flips(bootstrap entry) = %+v, %v; want public POST /api/auth/local deny → allow", flips, err)
		}
		grant := p("public", "/api/users", "GET")
		steps := []struct {
			name          string
			do            func() error
			actor, source string
			added         []string
			removed       []string
		}{
			{"update adds", func() error { return e.Update(as("alice", "api"), []Rule{grant}, nil, nil) }, "alice", "api",
				[]string{"p,public,/api/users,GET"}, nil},
			{"update with the caller's writes", func() error {
				return e.Update(as("root", "admin"), []Rule{p("authenticated", "/api/users", "GET")}, []Rule{grant}, func(tx *gorm.DB) error { return nil })
			}, "root", "admin", []string{"p,authenticated,/api/users,GET"}, []string{"p,public,/api/users,GET"}},
			{"role removal", func() error { return e.RemoveRole(as("root", "api"), "authenticated", nil) }, "root", "api",
				nil, nil /* checked below: every authenticated row */},
			{"replace", func() error {
				return e.Replace(as("cli:ops", "cli"), []Rule{p("public", "/api/auth/local", "POST"), p("admin", "/api/*", "*")})
			}, "cli:ops", "cli", nil, nil},
			{"sql edit, seen at the next revision check", func() error {
				if err := db.Exec(`INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES ('p', 'public', '/api/users/me', 'GET', '', '', '')`).Error; err != nil {
					return err
				}
				_, _, err := e.ReloadIfChanged(ctx)
				return err
			}, "sql", "sql", []string{"p,public,/api/users/me,GET"}, nil},
		}
		for _, step := range steps {
			before := entries(t, e)
			wantRules := e.mustRules(t)
			if err := step.do(); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			after := entries(t, e)
			if len(after) != len(before)+1 {
				t.Fatalf("%s: %d entries, want %d", step.name, len(after), len(before)+1)
			}
			last := after[len(after)-1]
			if last.Actor != step.actor || last.Source != step.source {
				t.Errorf("%s: entry by %s (%s), want %s (%s)", step.name, last.Actor, last.Source, step.actor, step.source)
			}
			if last.Revision != e.Revision() {
				t.Errorf("%s: entry at revision %d, the enforcer is at %d", step.name, last.Revision, e.Revision())
			}
			// The entry is exactly the difference between the rows before and after.
			wantAdded, wantRemoved := history.Diff(Rows(ruleFromSet(wantRules)), Rows(ruleFromSet(storedRules(t, db))))
			if !slices.EqualFunc(last.Added, wantAdded, slices.Equal) || !slices.EqualFunc(last.Removed, wantRemoved, slices.Equal) {
				t.Errorf("%s: entry rows +%v -%v, want +%v -%v", step.name, last.Added, last.Removed, wantAdded, wantRemoved)
			}
			if step.added != nil && fmt.Sprint(joinRows(last.Added)) != fmt.Sprint(step.added) {
				t.Errorf("%s: added %v, want %v", step.name, joinRows(last.Added), step.added)
			}
			if step.removed != nil && fmt.Sprint(joinRows(last.Removed)) != fmt.Sprint(step.removed) {
				t.Errorf("%s: removed %v, want %v", step.name, joinRows(last.Removed), step.removed)
			}
		}
		// Moving no row records nothing.
		n := len(entries(t, e))
		if err := e.Update(as("alice", "api"), []Rule{p("public", "/api/auth/local", "POST")}, nil, nil); err != nil {
			t.Fatal(err)
		}
		if got := len(entries(t, e)); got != n {
			t.Errorf("a change adding a present row: %d entries, want %d", got, n)
		}
	})
}

func (e *Enforcer) mustRules(t *testing.T) []string {
	t.Helper()
	rules, err := e.Rules()
	if err != nil {
		t.Fatal(err)
	}
	return ruleSet(rules)
}

func ruleFromSet(lines []string) []Rule {
	rules, err := ParseCSV(joinLines(lines))
	if err != nil {
		panic(err)
	}
	return rules
}

func joinLines(lines []string) string {
	out := ""
	for _, l := range lines {
		out += l + "\n"
	}
	return out
}

func joinRows(rows [][]string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprint(r[0])
		for _, v := range r[1:] {
			out[i] += "," + v
		}
	}
	return out
}

// TestHistorySQLEditRecordedOnce: several instances notice one hand edit
// at once; exactly one records it.
func TestHistorySQLEditRecordedOnce(t *testing.T) {
	historyDatabases(t, func(t *testing.T, open func() *gorm.DB) {
		db := open()
		first := seededEnforcer(t, db)
		instances := []*Enforcer{first}
		for range 3 {
			e, err := New(open(), Model)
			if err != nil {
				t.Fatal(err)
			}
			instances = append(instances, e)
		}
		if err := db.Exec(`DELETE FROM casbin_rule WHERE ptype = 'p' AND v0 = 'public' AND v1 = '/api/auth/local' AND v2 = 'POST'`).Error; err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(instances))
		for i, e := range instances {
			wg.Go(func() { _, _, errs[i] = e.ReloadIfChanged(context.Background()) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		got := entries(t, first)
		if len(got) != 2 {
			t.Fatalf("%d entries, want the bootstrap and one sql entry: %+v", len(got), got)
		}
		if sql := got[1]; sql.Source != "sql" || sql.AddedCount != 0 || fmt.Sprint(joinRows(sql.Removed)) != "[p,public,/api/auth/local,POST]" {
			t.Errorf("sql entry = %+v", sql)
		}
	})
}

// TestHistoryConcurrentWriters: writers on two instances at once never
// lose or duplicate an entry; each entry holds exactly its writer's row.
func TestHistoryConcurrentWriters(t *testing.T) {
	historyDatabases(t, func(t *testing.T, open func() *gorm.DB) {
		a := seededEnforcer(t, open())
		b, err := New(open(), Model)
		if err != nil {
			t.Fatal(err)
		}
		const writers, each = 4, 8
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			e := []*Enforcer{a, b}[w%2]
			wg.Go(func() {
				for i := range each {
					route := fmt.Sprintf("/api/w%d/%d", w, i)
					errs <- e.Update(as(fmt.Sprintf("writer%d", w), "api"), []Rule{p("public", route, "GET")}, nil, nil)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got := entries(t, a)[1:]
		if len(got) != writers*each {
			t.Fatalf("%d entries, want %d", len(got), writers*each)
		}
		seen := map[string]bool{}
		for _, e := range got {
			if e.AddedCount != 1 || e.RemovedCount != 0 {
				t.Errorf("entry %d: +%d -%d, want +1 -0", e.Revision, e.AddedCount, e.RemovedCount)
				continue
			}
			row := joinRows(e.Added)[0]
			if seen[row] {
				t.Errorf("row %s recorded twice", row)
			}
			seen[row] = true
		}
	})
}

// TestHistoryRevert: a revert restores the exact row set of the revision,
// hand edits included, and is itself an entry naming it.
func TestHistoryRevert(t *testing.T) {
	historyDatabases(t, func(t *testing.T, open func() *gorm.DB) {
		db := open()
		e := seededEnforcer(t, db)
		ctx := context.Background()
		if err := e.Update(as("alice", "api"), []Rule{p("public", "/api/users", "GET")}, nil, nil); err != nil {
			t.Fatal(err)
		}
		target := e.Revision()
		want := storedRules(t, db)
		// Later changes of every kind.
		if err := e.RemoveRole(as("root", "api"), "authenticated", nil); err != nil {
			t.Fatal(err)
		}
		if err := db.Exec(`INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES ('g', 'public', 'admin', '', '', '', '')`).Error; err != nil {
			t.Fatal(err)
		}
		if err := e.Update(as("bob", "api"), []Rule{p("public", "/api/users/:id", "DELETE")}, []Rule{p("public", "/api/users", "GET")}, nil); err != nil {
			t.Fatal(err)
		}
		at, err := e.RulesAt(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		if got := ruleSet(at); !slices.Equal(got, want) {
			t.Fatalf("RulesAt(%d) = %v\nwant %v", target, got, want)
		}
		n := len(entries(t, e))
		if err := e.Revert(as("root", "admin"), target); err != nil {
			t.Fatal(err)
		}
		if got := storedRules(t, db); !slices.Equal(got, want) {
			t.Errorf("after the revert the table holds %v\nwant %v", got, want)
		}
		if got := e.mustRules(t); !slices.Equal(got, want) {
			t.Errorf("after the revert memory holds %v\nwant %v", got, want)
		}
		list := entries(t, e)
		if len(list) != n+1 {
			t.Fatalf("%d entries, want %d", len(list), n+1)
		}
		// bootstrap, alice, the role removal, the hand edit (caught by bob's write), bob, the revert
		if sql := list[3]; sql.Source != "sql" || fmt.Sprint(joinRows(sql.Added)) != "[g,public,admin]" {
			t.Errorf("hand edit entry = %+v", sql)
		}
		if last := list[len(list)-1]; last.Reverts != target || last.Actor != "root" || last.Source != "admin" {
			t.Errorf("revert entry = %+v, want one by root (admin) reverting %d", last, target)
		}
		if _, err := e.RulesAt(ctx, 999999); !errors.Is(err, history.ErrNotFound) {
			t.Errorf("RulesAt(future) error = %v, want ErrNotFound", err)
		}
	})
}

// TestHistoryReplaceIfStale: a replace against an older revision is
// refused and changes nothing; against the stored one it applies.
func TestHistoryReplaceIfStale(t *testing.T) {
	historyDatabases(t, func(t *testing.T, open func() *gorm.DB) {
		db := open()
		e := seededEnforcer(t, db)
		reviewed := e.Revision()
		if err := e.Update(as("alice", "api"), []Rule{p("public", "/api/users", "GET")}, nil, nil); err != nil {
			t.Fatal(err)
		}
		before := storedRules(t, db)
		err := e.ReplaceIf(as("cli:ci", "cli"), []Rule{p("admin", "/api/*", "*")}, reviewed)
		var stale *StaleError
		if !errors.As(err, &stale) || stale.Current != e.Revision() {
			t.Fatalf("ReplaceIf(stale) error = %v, want a StaleError at %d", err, e.Revision())
		}
		if got := storedRules(t, db); !slices.Equal(got, before) {
			t.Errorf("a refused replace changed the table: %v", got)
		}
		if err := e.ReplaceIf(as("cli:ci", "cli"), []Rule{p("admin", "/api/*", "*")}, e.Revision()); err != nil {
			t.Fatalf("ReplaceIf(fresh): %v", err)
		}
	})
}

// TestHistoryLargeReplaceOneEntry: replacing a large policy records one
// entry holding every row.
func TestHistoryLargeReplaceOneEntry(t *testing.T) {
	historyDatabases(t, func(t *testing.T, open func() *gorm.DB) {
		db := open()
		e := seededEnforcer(t, db)
		const n = 5000
		rules := []Rule{p("admin", "/api/*", "*")}
		for i := range n {
			rules = append(rules, p("public", fmt.Sprintf("/api/items%d/:id", i), "GET"))
		}
		if err := e.Replace(as("cli:ops", "cli"), rules); err != nil {
			t.Fatal(err)
		}
		var count int64
		if err := db.Table("gatehouse_policy_history").Count(&count).Error; err != nil {
			t.Fatal(err)
		}
		if count != 2 {
			t.Fatalf("%d history rows, want 2 (bootstrap and the replace)", count)
		}
		last := entries(t, e)[1]
		if last.AddedCount != n+1 || len(last.Added) != n+1 || last.RemovedCount != len(Default()) {
			t.Errorf("replace entry adds %d rows (%d listed) and removes %d, want %d and %d", last.AddedCount, len(last.Added), last.RemovedCount, n+1, len(Default()))
		}
	})
}

// TestHistorySettleAndPrune: the periodic upkeep brings the known rows up
// to date (a later hand edit is still recorded exactly) and retention
// prunes only entries the known rows no longer need.
func TestHistorySettleAndPrune(t *testing.T) {
	historyDatabases(t, func(t *testing.T, open func() *gorm.DB) {
		db := open()
		e := seededEnforcer(t, db)
		ctx := context.Background()
		for i := range 3 {
			if err := e.Update(as("alice", "api"), []Rule{p("public", fmt.Sprintf("/api/a%d", i), "GET")}, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		future := e.now().Add(time.Hour)
		// Before settling, the known rows are those of the empty table New
		// found: every entry comes after them and stays.
		var known int64
		if err := db.Transaction(func(tx *gorm.DB) error {
			var err error
			known, err = e.history.Settle(tx, 1000, e.now())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if n, err := e.history.Prune(ctx, db, future, known); err != nil || n != 0 {
			t.Fatalf("Prune before settling deleted %d entries (%v), want none", n, err)
		}
		if err := db.Transaction(func(tx *gorm.DB) error {
			var err error
			known, err = e.history.Settle(tx, 0, e.now())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if known != e.Revision() {
			t.Errorf("settled at %d, want the stored revision %d", known, e.Revision())
		}
		if err := db.Exec(`DELETE FROM casbin_rule WHERE v1 = '/api/a1'`).Error; err != nil {
			t.Fatal(err)
		}
		if err := e.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		list := entries(t, e)
		if last := list[len(list)-1]; last.Source != "sql" || fmt.Sprint(joinRows(last.Removed)) != "[p,public,/api/a1,GET]" || last.AddedCount != 0 {
			t.Errorf("hand edit after settling: entry %+v", last)
		}
		if n, err := e.history.Prune(ctx, db, future, known); err != nil || n != 4 {
			t.Errorf("Prune after settling deleted %d entries (%v), want 4 (bootstrap and alice's, not the hand edit after the known rows)", n, err)
		}
	})
}

// TestHistoryFastPathSeesOtherChanges: a write skips reading the history's
// state only while the stored revision is the one its own last write
// committed. An SQL edit, or another instance's write, between two writes
// of one instance (no ReloadIfChanged between) is still recorded, once and
// in order, and each write keeps its own rows.
func TestHistoryFastPathSeesOtherChanges(t *testing.T) {
	historyDatabases(t, func(t *testing.T, open func() *gorm.DB) {
		db := open()
		first := seededEnforcer(t, db)
		second, err := New(open(), Model)
		if err != nil {
			t.Fatal(err)
		}
		ctx := as("root", "api")
		write := func(e *Enforcer, route string) {
			t.Helper()
			if err := e.Update(ctx, []Rule{p("public", route, "GET")}, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		write(first, "/api/a")
		write(first, "/api/b") // the fast path
		if err := db.Exec(`INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES ('p', 'public', '/api/by-hand', 'GET', '', '', '')`).Error; err != nil {
			t.Fatal(err)
		}
		write(first, "/api/c") // must record the hand edit first
		write(second, "/api/d")
		write(first, "/api/e") // after another instance's write
		write(first, "/api/f")
		var got []string
		for _, entry := range entries(t, first)[1:] {
			got = append(got, entry.Source+" "+fmt.Sprint(joinRows(entry.Added))+fmt.Sprint(joinRows(entry.Removed)))
		}
		want := []string{
			"api [p,public,/api/a,GET][]",
			"api [p,public,/api/b,GET][]",
			"sql [p,public,/api/by-hand,GET][]",
			"api [p,public,/api/c,GET][]",
			"api [p,public,/api/d,GET][]",
			"api [p,public,/api/e,GET][]",
			"api [p,public,/api/f,GET][]",
		}
		if !slices.Equal(got, want) {
			t.Errorf("entries after the bootstrap:\n got %q\nwant %q", got, want)
		}
	})
}
