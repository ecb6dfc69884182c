package main

import (
	"bytes"
	"encoding/xml"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs gatehouse with args against the database, returning stdout and the error.
func runCLI(t *testing.T, db string, args ...string) (string, error) {
	t.Helper()
	out, _, err := runCLIStderr(t, db, args...)
	return out, err
}

// runCLIStderr is runCLI also returning what the command wrote to stderr.
func runCLIStderr(t *testing.T, db string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := rootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append(args, "--database-url", "sqlite://"+db, "--bcrypt-cost", "4"))
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicyCLI(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cli.db")
	out, err := runCLI(t, db, "policy", "export")
	if err != nil || !strings.Contains(out, "p, public, /api/auth/local, POST") {
		t.Fatalf("export: %v\n%s", err, out)
	}
	exported := writeFile(t, "exported.csv", out)
	granted := writeFile(t, "granted.csv", out+"p, public, /api/users, GET\n")

	out, err = runCLI(t, db, "policy", "import", granted, "--dry-run")
	if err != nil || !strings.Contains(out, "public  GET     /api/users  plugin::users-permissions.user.find  deny → allow") || !strings.Contains(out, "1 decision(s) change") {
		t.Errorf("import --dry-run: %v\n%s", err, out)
	}
	if out, err := runCLI(t, db, "policy", "check", "public", "GET", "/api/users"); err == nil || !strings.Contains(out, "allow it:  p, public, /api/users, GET") {
		t.Errorf("check before import: %v\n%s", err, out)
	}
	if out, err := runCLI(t, db, "policy", "import", granted); err != nil || !strings.Contains(out, "imported") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if out, err := runCLI(t, db, "policy", "check", "public", "get", "/api/users"); err != nil || !strings.Contains(out, "rule:      p, public, /api/users, GET") {
		t.Errorf("check after import: %v\n%s", err, out)
	}
	diff := rootCommand()
	var diffOut bytes.Buffer
	diff.SetOut(&diffOut)
	diff.SetArgs([]string{"policy", "diff", exported, granted})
	if err := diff.Execute(); err != nil || !strings.Contains(diffOut.String(), "deny → allow") {
		out := diffOut.String()
		t.Errorf("diff: %v\n%s", err, out)
	}

	bad := writeFile(t, "bad.csv", "p, public, /api/users, GET\np, ghost, /api/users, GET\n")
	if _, err := runCLI(t, db, "policy", "import", bad); err == nil || !strings.Contains(err.Error(), "bad.csv:2: role \"ghost\" does not exist") {
		t.Errorf("import of a bad file: %v", err)
	}
	malformed := writeFile(t, "malformed.csv", "p, public\n")
	if _, err := runCLI(t, db, "policy", "import", malformed); err == nil || !strings.Contains(err.Error(), "malformed.csv:1:") {
		t.Errorf("import of a malformed file: %v", err)
	}
	// The failed imports left the policy alone.
	if _, err := runCLI(t, db, "policy", "check", "public", "GET", "/api/users"); err != nil {
		t.Errorf("a failed import changed the policy: %v", err)
	}
}

func TestPolicyTestAndLintCLI(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cli.db")
	matrix := writeFile(t, "matrix.csv", `role,method,path,expect
# the default policy
public, POST, /api/auth/local, allow
public, GET, /api/users/me, deny
authenticated, GET, /api/users/me, allow
admin, DELETE, /api/users/7, allow
public, GET, /api/users, allow
`)
	junit := filepath.Join(t.TempDir(), "junit.xml")
	out, err := runCLI(t, db, "policy", "test", matrix, "--junit", junit)
	if err == nil || !strings.Contains(out, "4 passed, 1 failed") || !strings.Contains(out, "got deny, want allow") {
		t.Errorf("policy test: %v\n%s", err, out)
	}
	raw, _ := os.ReadFile(junit)
	var suite struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal(raw, &suite); err != nil || suite.Tests != 5 || suite.Failures != 1 {
		t.Errorf("junit = %+v, %v\n%s", suite, err, raw)
	}
	passing := writeFile(t, "passing.csv", "public, POST, /api/auth/local, allow\n")
	if out, err := runCLI(t, db, "policy", "test", passing); err != nil || !strings.Contains(out, "1 passed, 0 failed") {
		t.Errorf("passing matrix: %v\n%s", err, out)
	}
	if out, err := runCLI(t, db, "policy", "lint"); err != nil || !strings.Contains(out, "no findings") {
		t.Errorf("lint of the default policy: %v\n%s", err, out)
	}
	open := writeFile(t, "open.csv", "p, public, /api/users/:id, DELETE\np, admin, /api/users/*, *\np, admin, /api/users/:id, GET\n")
	out, err = runCLI(t, db, "policy", "lint", "--policy", open)
	if err == nil || !strings.Contains(out, "public-write: public may call DELETE /api/users/:id") || !strings.Contains(out, "shadowed-rule") || !strings.Contains(out, "unreachable-route") {
		t.Errorf("lint: %v\n%s", err, out)
	}
}

func TestRoleAndUserCLI(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cli.db")
	if out, err := runCLI(t, db, "role", "create", "Content Editors"); err != nil || !strings.Contains(out, "type content_editors") {
		t.Fatalf("role create: %v\n%s", err, out)
	}
	if _, err := runCLI(t, db, "role", "create", "Content Editors"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate role create: %v", err)
	}
	if _, err := runCLI(t, db, "admin", "create", "--email", "Ed@Example.com", "--password", "secret123", "--username", "eddy"); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, db, "user", "set-role", "ed@example.com", "content_editors"); err != nil || !strings.Contains(out, "is now content_editors") {
		t.Errorf("set-role: %v\n%s", err, out)
	}
	if _, err := runCLI(t, db, "user", "set-role", "nobody@example.com", "admin"); err == nil {
		t.Errorf("set-role of an unknown user succeeded")
	}
	if _, err := runCLI(t, db, "user", "set-role", "ed@example.com", "ghost"); err == nil || !strings.Contains(err.Error(), `role "ghost" does not exist`) {
		t.Errorf("set-role to an unknown role: %v", err)
	}
	out, err := runCLI(t, db, "role", "list")
	if err != nil || !strings.Contains(out, "content_editors") || !strings.Contains(strings.Join(strings.Fields(out), " "), "3 admin Admin 0 authenticated") {
		t.Errorf("role list: %v\n%s", err, out)
	}
	if _, err := runCLI(t, db, "role", "delete", "public"); err == nil || !strings.Contains(err.Error(), "Cannot delete public role") {
		t.Errorf("delete public: %v", err)
	}
	if out, err := runCLI(t, db, "role", "delete", "content_editors"); err != nil || !strings.Contains(out, "deleted") {
		t.Errorf("role delete: %v\n%s", err, out)
	}
	if out, _ := runCLI(t, db, "role", "list"); strings.Contains(out, "content_editors") {
		t.Errorf("role still listed:\n%s", out)
	}
}

// TestCLIRedisUnreachable: with a REDIS_URL that does not answer, a command
// that changes something still makes the change and succeeds, warning that
// the running instances apply it at their periodic reload; a command that
// changes nothing does not try Redis at all. It needs no Redis.
func TestCLIRedisUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	redisURL := "redis://:secret@" + ln.Addr().String() + "/0"
	ln.Close() // nothing listens there now
	db := filepath.Join(t.TempDir(), "cli.db")
	if _, err := runCLI(t, db, "admin", "create", "--email", "ed@example.com", "--password", "secret123", "--username", "eddy"); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"role", "create", "Reviewers"},
		{"user", "set-role", "ed@example.com", "reviewers"},
		{"role", "delete", "reviewers"},
	} {
		out, stderr, err := runCLIStderr(t, db, append(args, "--redis-url", redisURL)...)
		if err != nil {
			t.Errorf("%s with Redis unreachable: %v, want success\n%s", strings.Join(args, " "), err, out)
		}
		for _, want := range []string{"warning: the change is saved", "does not answer", "periodic policy reload", "POLICY_RELOAD_INTERVAL"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: stderr = %q, want it to mention %q", strings.Join(args, " "), stderr, want)
			}
		}
		if strings.Contains(stderr, "secret") {
			t.Errorf("%s: stderr = %q leaks the Redis password", strings.Join(args, " "), stderr)
		}
	}
	// The changes were made: ed went to reviewers, then back to the
	// default role when reviewers was deleted.
	out, err := runCLI(t, db, "role", "list")
	if err != nil || strings.Contains(out, "reviewers") || !strings.Contains(strings.Join(strings.Fields(out), " "), "authenticated Authenticated 1") {
		t.Errorf("role list after the changes: %v\n%s", err, out)
	}
	if _, stderr, err := runCLIStderr(t, db, "role", "list", "--redis-url", redisURL); err != nil || stderr != "" {
		t.Errorf("role list with Redis unreachable: %v, stderr = %q, want no warning", err, stderr)
	}
	if _, stderr, err := runCLIStderr(t, db, "role", "create", "Reviewers"); err != nil || stderr != "" {
		t.Errorf("role create without REDIS_URL: %v, stderr = %q, want no warning", err, stderr)
	}
}
