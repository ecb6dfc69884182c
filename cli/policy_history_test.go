package cli

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/history"
	"github.com/gatehouse/gatehouse/policy"
)

// historyJSON runs `policy history --json` and decodes it.
func historyJSON(t *testing.T, db string, args ...string) []history.Entry {
	t.Helper()
	out, err := runCLI(t, db, append([]string{"policy", "history", "--json"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var entries []history.Entry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("policy history --json: %v\n%s", err, out)
	}
	return entries
}

// TestPolicyHistoryCommands: import and apply record one entry each by
// cli:<os user> with the message; history filters; show prints rows and
// flips; apply --expect-revision refuses a stale file (ErrStale, the
// changes since listed) and accepts a fresh one; revert restores; diff
// --live detects drift.
func TestPolicyHistoryCommands(t *testing.T) {
	db := newDB(t)
	actor := cliActor()
	entries := historyJSON(t, db)
	if len(entries) != 1 || entries[0].Actor != "bootstrap" {
		t.Fatalf("a new database: entries = %+v, want one bootstrap entry", entries)
	}
	reviewed := entries[0].Revision
	opened := writeFile(t, "opened.csv", policy.DefaultCSV+"p, public, /api/users, GET\n")
	if _, err := runCLI(t, db, "policy", "import", opened); err != nil {
		t.Fatal(err)
	}
	entries = historyJSON(t, db)
	if len(entries) != 2 || entries[0].Actor != actor || entries[0].Source != "cli" || entries[0].AddedCount != 1 {
		t.Fatalf("after import: entries = %+v, want a second one by %s", entries, actor)
	}
	imported := entries[0].Revision

	// A file reviewed against the bootstrap revision is stale now.
	reviewedFile := writeFile(t, "reviewed.csv", policy.DefaultCSV+"p, public, /api/users/count, GET\n")
	_, stderr, err := runCLIStderr(t, db, "policy", "apply", reviewedFile, "--expect-revision", strconv.FormatInt(reviewed, 10), "--message", "PR 12")
	if !errors.Is(err, ErrStale) {
		t.Fatalf("stale apply: error = %v, want ErrStale", err)
	}
	if !strings.Contains(stderr, "changes since") || !strings.Contains(stderr, actor) {
		t.Errorf("stale apply does not list the change since:\n%s", stderr)
	}
	if got := historyJSON(t, db); len(got) != 2 {
		t.Fatalf("a refused apply recorded an entry: %+v", got)
	}
	out, err := runCLI(t, db, "policy", "apply", reviewedFile, "--expect-revision", strconv.FormatInt(imported, 10), "--message", "PR 12")
	if err != nil || !strings.Contains(out, "applied") {
		t.Fatalf("fresh apply: %v\n%s", err, out)
	}
	entries = historyJSON(t, db)
	if len(entries) != 3 || entries[0].Message != "PR 12" || entries[0].Actor != actor {
		t.Fatalf("after apply: entries = %+v", entries[:1])
	}
	if got := historyJSON(t, db, "--role", "admin"); len(got) != 1 || got[0].Actor != "bootstrap" {
		t.Errorf("history --role admin = %+v, want only the bootstrap entry", got)
	}
	if got := historyJSON(t, db, "--since", "2999-01-01"); len(got) != 0 {
		t.Errorf("history --since 2999-01-01 = %+v, want none", got)
	}
	if out, err := runCLI(t, db, "policy", "history"); err != nil || !regexp.MustCompile(`PR 12\n`).MatchString(out) {
		t.Errorf("policy history: %v\n%s", err, out)
	}

	out, err = runCLI(t, db, "policy", "show", strconv.FormatInt(entries[0].Revision, 10))
	if err != nil || !strings.Contains(out, "+ p, public, /api/users/count, GET") || !strings.Contains(out, "- p, public, /api/users, GET") ||
		!strings.Contains(out, "deny → allow") {
		t.Errorf("policy show: %v\n%s", err, out)
	}

	// Drift: the stored policy differs from the default file until reverted.
	defaults := writeFile(t, "default.csv", policy.DefaultCSV)
	out, err = runCLI(t, db, "policy", "diff", "--live", defaults, "--exit-code")
	if !errors.Is(err, ErrFailed) || !strings.Contains(out, "- p, public, /api/users/count, GET") {
		t.Errorf("diff --live with drift: %v\n%s", err, out)
	}
	out, err = runCLI(t, db, "policy", "revert", strconv.FormatInt(reviewed, 10), "--dry-run")
	if err != nil || !strings.Contains(out, "allow → deny") || !strings.Contains(out, "dry run") {
		t.Errorf("revert --dry-run: %v\n%s", err, out)
	}
	if _, err := runCLI(t, db, "policy", "revert", strconv.FormatInt(reviewed, 10)); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, db, "policy", "diff", "--live", defaults, "--exit-code"); err != nil {
		t.Errorf("diff --live after the revert: %v\n%s", err, out)
	}
	if entries = historyJSON(t, db); entries[0].Reverts != reviewed || entries[0].Actor != actor {
		t.Errorf("revert entry = %+v", entries[0])
	}
	if _, err := runCLI(t, db, "policy", "show", "999999"); err == nil {
		t.Error("show of an unknown revision succeeded")
	}
}

// TestAuditCommand: a role created and deleted, an admin created and a
// user given another role with the CLI are in the audit log, by
// cli:<os user>, without the password.
func TestAuditCommand(t *testing.T) {
	db := newDB(t)
	if _, err := runCLI(t, db, "role", "create", "Auditors"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, db, "role", "delete", "auditors"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, db, "admin", "create", "--email", "boss@example.com", "--password", "a-long-enough-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, db, "user", "set-role", "boss@example.com", "authenticated"); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, db, "audit", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct{ Actor, Source, Action, Target string }
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, out)
	}
	if len(entries) != 4 || entries[0].Action != "user.role" || entries[1].Action != "user.create" || entries[2].Action != "role.delete" ||
		entries[3].Action != "role.create" || entries[3].Target != "role:auditors" || entries[0].Actor != cliActor() || entries[1].Actor != cliActor() ||
		entries[0].Source != "cli" {
		t.Errorf("audit entries = %+v, want user.role, user.create (the admin), role.delete and role.create of role:auditors by %s (cli)", entries, cliActor())
	}
	if strings.Contains(out, "a-long-enough-password") {
		t.Errorf("the audit log holds the admin's password:\n%s", out)
	}
	if out, err := runCLI(t, db, "audit", "--action", "role.create"); err != nil || !strings.Contains(out, "role:auditors") || strings.Contains(out, "role.delete") {
		t.Errorf("audit --action role.create: %v\n%s", err, out)
	}
}
