package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/config"
)

// runMain runs the command line as main does, returning the exit code and
// what was printed.
func runMain(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

var flagPattern = regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)`)

// TestCLIHelpListsOnlyItsFlags: each command's help lists its own flags and
// nothing else (no server settings outside serve).
func TestCLIHelpListsOnlyItsFlags(t *testing.T) {
	var serveFlags []string
	for _, v := range config.Vars {
		serveFlags = append(serveFlags, v.Flag)
	}
	tests := []struct {
		command string
		flags   []string
	}{
		{"", []string{"version"}},
		{"serve", serveFlags},
		{"policy", nil},
		{"policy export", []string{"database-url", "output"}},
		{"policy import", []string{"database-url", "redis-url", "redis-watcher-channel", "dry-run", "message", "routes-file"}},
		{"policy check", []string{"database-url", "routes-file"}},
		{"policy diff", []string{"database-url", "exit-code", "live", "routes-file"}},
		{"policy history", []string{"database-url", "role", "actor", "since", "until", "limit", "json"}},
		{"policy show", []string{"database-url", "json", "routes-file"}},
		{"audit", []string{"database-url", "since", "until", "actor", "action", "limit", "json"}},
		{"policy revert", []string{"database-url", "redis-url", "redis-watcher-channel", "dry-run", "message", "routes-file"}},
		{"policy apply", []string{"database-url", "redis-url", "redis-watcher-channel", "dry-run", "message", "expect-revision", "routes-file"}},
		{"policy lint", []string{"database-url", "policy", "routes-file"}},
		{"policy test", []string{"database-url", "junit", "policy", "routes-file"}},
		{"routes check", []string{"probe", "probe-timeout"}},
		{"role list", []string{"database-url"}},
		{"role create", []string{"database-url", "redis-url", "redis-watcher-channel", "type", "description"}},
		{"role delete", []string{"database-url", "redis-url", "redis-watcher-channel"}},
		{"user set-role", []string{"database-url", "redis-url", "redis-watcher-channel"}},
		{"admin create", []string{"email", "username", "password", "database-url", "bcrypt-cost"}},
		{"health", []string{"url", "timeout"}},
		{"version", nil},
	}
	for _, tc := range tests {
		code, out, stderr := runMain(append(strings.Fields(tc.command), "--help")...)
		if code != 0 {
			t.Errorf("%s --help: exit %d, want 0\n%s", tc.command, code, stderr)
		}
		var got []string
		for _, m := range flagPattern.FindAllStringSubmatch(out, -1) {
			got = append(got, m[1])
		}
		want := append(slices.Clone(tc.flags), "help")
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("gatehouse %s --help lists flags %v, want %v\n%s", tc.command, got, want, out)
		}
	}
}

// TestCLIServeFlagsAreTypedWithRealDefaults: booleans need no value and show
// no type, durations and numbers say so, the database URL shows its real
// default and a secret from the environment shows only "(set)".
func TestCLIServeFlagsAreTypedWithRealDefaults(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("JWT_SECRET", "")
	for _, env := range []string{"DATABASE_URL", "JWT_SECRET"} {
		unsetenv(t, env)
	}
	_, out, _ := runMain("serve", "--help")
	for _, want := range []string{
		`--database-url string `, `(default "sqlite://./data/gatehouse.db")`,
		"--rate-limit-enabled ", "rate-limit the auth routes [$RATE_LIMIT_ENABLED] (default true)",
		"--rate-limit-interval duration", "--port int", "--jwt-expires-in duration",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --help does not contain %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "--rate-limit-enabled string") || strings.Contains(out, `(set)`) {
		t.Errorf("serve --help shows a typeless bool or a secret that is not set:\n%s", out)
	}
	t.Setenv("DATABASE_URL", "postgres://gatehouse:hunter2@db/gatehouse")
	t.Setenv("JWT_SECRET", "a-secret-of-enough-length-for-this-test")
	_, out, _ = runMain("serve", "--help")
	if strings.Contains(out, "hunter2") || strings.Contains(out, "a-secret-of") || strings.Count(out, `(default "(set)")`) != 2 {
		t.Errorf("serve --help with secrets in the environment:\n%s", out)
	}
}

// TestCLIExitCodes: 0 on success, 1 on any failure, unknown commands
// included; a failure the command explained itself adds no error line.
func TestCLIExitCodes(t *testing.T) {
	db := filepath.Join(t.TempDir(), "gatehouse.db")
	if code, _, stderr := runMain("admin", "create", "--email", "ed@example.com", "--password", "secret123", "--bcrypt-cost", "4", "--database-url", "sqlite://"+db); code != 0 {
		t.Fatalf("admin create: exit %d\n%s", code, stderr)
	}
	missing := filepath.Join(t.TempDir(), "gatehuose.db")
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_health" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		http.NotFound(w, r)
	}))
	defer healthy.Close()
	tests := []struct {
		args       string
		wantCode   int
		wantOut    string
		wantStderr string
	}{
		{"version", 0, "gatehouse ", ""},
		{"--version", 0, "gatehouse ", ""},
		{"frob", 1, "", `unknown command "frob" for "gatehouse"`},
		{"policy frob", 1, "", `unknown command "frob" for "gatehouse policy"`},
		{"role frob", 1, "", `unknown command "frob" for "gatehouse role"`},
		{"policy", 0, "Available Commands:", ""},
		{"policy lint --bogus", 1, "", "unknown flag: --bogus"},
		{"serve --port x", 1, "", `invalid argument "x" for "--port" flag: want a whole number`},
		{"serve --rate-limit-interval 5", 1, "", "want a Go duration"},
		{"serve --rate-limit-enabled=maybe", 1, "", "want true or false"},
		{"policy check public POST /api/auth/local --database-url sqlite://" + db, 0, "→ allow", ""},
		{"policy check public GET /api/users --database-url sqlite://" + db, 1, "→ deny", ""},
		{"policy lint --database-url sqlite://" + db, 0, "no findings", ""},
		{"policy export --database-url sqlite://" + missing, 1, "", "database file " + missing + " does not exist"},
		{"health --url " + healthy.URL + "/_health", 0, "healthy", ""},
		{"health --timeout 2s --url " + healthy.URL + "/nothing", 1, "", "404"},
	}
	for _, tc := range tests {
		code, out, stderr := runMain(strings.Fields(tc.args)...)
		if code != tc.wantCode || !strings.Contains(out, tc.wantOut) || !strings.Contains(stderr, tc.wantStderr) {
			t.Errorf("gatehouse %s: exit %d, want %d\nstdout: %s\nstderr: %s\nwant stdout %q, stderr %q", tc.args, code, tc.wantCode, out, stderr, tc.wantOut, tc.wantStderr)
		}
		if tc.wantCode == 1 && tc.wantStderr == "" && stderr != "" {
			t.Errorf("gatehouse %s: stderr = %q, want nothing (the command explained the failure)", tc.args, stderr)
		}
	}
}

// unsetenv removes env for the test (t.Setenv first, which restores it).
func unsetenv(t *testing.T, env string) {
	t.Helper()
	t.Setenv(env, "")
	if err := os.Unsetenv(env); err != nil {
		t.Fatal(err)
	}
}

// runCLI runs a database command of gatehouse against the SQLite file db,
// returning stdout, and an error holding stderr when it exits 1.
func runCLI(t *testing.T, db string, args ...string) (string, error) {
	t.Helper()
	code, out, stderr := runMain(append(args, "--database-url", "sqlite://"+db)...)
	if code != 0 {
		return out, fmt.Errorf("gatehouse %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return out, nil
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
