package cli

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gin-gonic/gin"
	"github.com/spf13/cobra"
)

// noEnv is an environment with nothing set, so the developer's own
// DATABASE_URL or REDIS_URL never reaches a test.
func noEnv(string) (string, bool) { return "", false }

// testRoot is what an embedding app builds: its own root with the
// commands, given its catalogue.
func testRoot(opts Options) *cobra.Command {
	root := &cobra.Command{Use: "myapp", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(PolicyCommand(opts), RoleCommand(opts), UserCommand(opts), AdminCommand(opts), VersionCommand(), HealthCommand(opts), MailCommand(opts), RoutesCommand(opts), AuditCommand(opts))
	return root
}

// execute runs the command line with opts, returning stdout, stderr and the error.
func execute(t *testing.T, opts Options, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	if opts.LookupEnv == nil {
		opts.LookupEnv = noEnv
	}
	root := testRoot(opts)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// runCLI runs a database command against the SQLite file db with
// Gatehouse's own catalogue.
func runCLI(t *testing.T, db string, args ...string) (string, error) {
	t.Helper()
	out, _, err := runCLIStderr(t, db, args...)
	return out, err
}

// runCLIStderr is runCLI also returning what the command wrote to stderr.
func runCLIStderr(t *testing.T, db string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return execute(t, Options{}, append(args, "--database-url", "sqlite://"+db)...)
}

// newDB sets up a Gatehouse database (roles, default policy) as the first
// `gatehouse serve` would, and returns its path.
func newDB(t *testing.T) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "cli.db")
	st, _, err := Open(context.Background(), "sqlite://"+db, storeOptions, policy.Model, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	return db
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
	db := newDB(t)
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

	// diff needs no database; --exit-code makes differences exit 1.
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr bool
		want    string
	}{
		{"differences", []string{exported, granted}, false, "deny → allow"},
		{"differences --exit-code", []string{exported, granted, "--exit-code"}, true, "1 decision(s) change"},
		{"same --exit-code", []string{exported, exported, "--exit-code"}, false, "no decision changes"},
	} {
		out, _, err := execute(t, Options{}, append([]string{"policy", "diff"}, tc.args...)...)
		if (err != nil) != tc.wantErr || !strings.Contains(out, tc.want) {
			t.Errorf("diff %s: err = %v, want error %v\n%s", tc.name, err, tc.wantErr, out)
		}
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
	db := newDB(t)
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
	// With --policy no database is opened: a URL of a file that does not
	// exist (the read-only commands refuse to create one) still works, and
	// the file is not created.
	nowhere := filepath.Join(t.TempDir(), "none.db")
	policyFile := writeFile(t, "policy.csv", policy.DefaultCSV)
	if out, err := runCLI(t, nowhere, "policy", "test", passing, "--policy", policyFile); err != nil || !strings.Contains(out, "1 passed, 0 failed") {
		t.Errorf("policy test --policy without a database: %v\n%s", err, out)
	}
	if _, err := os.Stat(nowhere); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("policy test --policy touched the database file: %v", err)
	}
	if out, err := runCLI(t, db, "policy", "lint"); err != nil || !strings.Contains(out, "no findings (") {
		t.Errorf("lint of the default policy: %v\n%s", err, out)
	}
	open := writeFile(t, "open.csv", "p, public, /api/users/:id, DELETE\np, admin, /api/users/*, *\np, admin, /api/users/:id, GET\n")
	out, err = runCLI(t, db, "policy", "lint", "--policy", open)
	if err == nil || !strings.Contains(out, "public-write: public may call DELETE /api/users/:id") || !strings.Contains(out, "shadowed-rule") || !strings.Contains(out, "unreachable-route") {
		t.Errorf("lint: %v\n%s", err, out)
	}
	// The summary line counts the findings by kind and says what was linted.
	if !strings.Contains(out, "finding(s): ") || !strings.Contains(out, "1 public-write") || !strings.Contains(out, "1 shadowed-rule") ||
		!strings.Contains(out, "(3 rules, ") {
		t.Errorf("lint summary:\n%s", out)
	}
}

// TestAppCatalogue: an app mounting the commands with its own catalogue
// gets lint, check, test and import that know its routes; with Gatehouse's
// catalogue alone the same rows are dead and the route unknown.
func TestAppCatalogue(t *testing.T) {
	db := newDB(t)
	posts := []policy.Function{
		{Name: "api::post.post.find", Method: "GET", Route: "/api/posts"},
		{Name: "api::post.post.create", Method: "POST", Route: "/api/posts"},
	}
	app := Options{Catalog: append(handlers.DefaultCatalog(), posts...)}
	url := "sqlite://" + db
	exported, _, err := execute(t, app, "policy", "export", "--database-url", url)
	if err != nil {
		t.Fatal(err)
	}
	withPosts := writeFile(t, "posts.csv", exported+"p, authenticated, /api/posts, GET\np, admin, /api/posts, POST\n")

	// import plans over the app's routes.
	out, _, err := execute(t, app, "policy", "import", withPosts, "--database-url", url)
	if err != nil || !strings.Contains(out, "api::post.post.find") || !strings.Contains(out, "api::post.post.create") {
		t.Fatalf("import with the app's catalogue: %v\n%s", err, out)
	}
	// check finds the app's route.
	out, _, err = execute(t, app, "policy", "check", "authenticated", "GET", "/api/posts", "--database-url", url)
	if err != nil || !strings.Contains(out, "route:     /api/posts (api::post.post.find)") {
		t.Errorf("check with the app's catalogue: %v\n%s", err, out)
	}
	if _, err := runCLI(t, db, "policy", "check", "authenticated", "GET", "/api/posts"); err == nil || !strings.Contains(err.Error(), "no route matches GET /api/posts") {
		t.Errorf("check with Gatehouse's catalogue: %v, want no route matches", err)
	}
	// lint: the rows are live with the app's catalogue, dead without.
	out, _, err = execute(t, app, "policy", "lint", "--database-url", url)
	if err != nil || !strings.Contains(out, "no findings") {
		t.Errorf("lint with the app's catalogue: %v\n%s", err, out)
	}
	out, err = runCLI(t, db, "policy", "lint")
	if err == nil || !strings.Contains(out, "dead-rule: p, authenticated, /api/posts, GET matches no route") {
		t.Errorf("lint with Gatehouse's catalogue: %v\n%s", err, out)
	}
	// test reads the app's routes too.
	matrix := writeFile(t, "matrix.csv", "authenticated, GET, /api/posts, allow\nauthenticated, POST, /api/posts, deny\npublic, GET, /api/posts, deny\n")
	out, _, err = execute(t, app, "policy", "test", matrix, "--database-url", url)
	if err != nil || !strings.Contains(out, "3 passed, 0 failed") {
		t.Errorf("test with the app's catalogue: %v\n%s", err, out)
	}
	// diff over the app's routes.
	out, _, err = execute(t, app, "policy", "diff", writeFile(t, "before.csv", exported), withPosts, "--exit-code")
	if err == nil || !strings.Contains(out, "authenticated  GET     /api/posts") {
		t.Errorf("diff with the app's catalogue: %v\n%s", err, out)
	}
}

// TestReadOnlyCommandsCreateNothing: a read-only command given a database
// that does not exist (a mistyped path) or that Gatehouse never set up fails
// naming it, and leaves no file behind.
func TestReadOnlyCommandsCreateNothing(t *testing.T) {
	matrix := writeFile(t, "matrix.csv", "public, POST, /api/auth/local, allow\n")
	empty := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"policy", "export"},
		{"policy", "check", "public", "POST", "/api/auth/local"},
		{"policy", "lint"},
		{"policy", "test", matrix},
		{"role", "list"},
	} {
		missing := filepath.Join(t.TempDir(), "gatehuose.db")
		_, _, err := execute(t, Options{}, append(args, "--database-url", "sqlite://"+missing)...)
		if err == nil || !strings.Contains(err.Error(), "database file "+missing+" does not exist") ||
			!strings.Contains(err.Error(), "never creates a database") {
			t.Errorf("%s on a missing database: %v, want an error naming %s", strings.Join(args, " "), err, missing)
		}
		if _, err := os.Stat(missing); !os.IsNotExist(err) {
			t.Errorf("%s created %s", strings.Join(args, " "), missing)
		}
		_, _, err = execute(t, Options{}, append(args, "--database-url", "sqlite://"+empty)...)
		if err == nil || !strings.Contains(err.Error(), "holds no Gatehouse tables") {
			t.Errorf("%s on a database without Gatehouse's tables: %v", strings.Join(args, " "), err)
		}
	}
	if info, err := os.Stat(empty); err != nil || info.Size() != 0 {
		t.Errorf("the empty database was written: %v, %v", info, err)
	}
	// A command that writes sets up a new database, as serve does.
	fresh := filepath.Join(t.TempDir(), "fresh.db")
	if _, err := runCLI(t, fresh, "role", "create", "Editors"); err != nil {
		t.Errorf("role create on a new database: %v", err)
	}
}

// TestOpenBootstrapsOnlyAnEmptyDatabase: opening a database a second time
// does not seed again what was removed.
func TestOpenBootstrapsOnlyAnEmptyDatabase(t *testing.T) {
	db := newDB(t)
	ctx := context.Background()
	st, enforcer, err := Open(ctx, "sqlite://"+db, storeOptions, policy.Model, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := enforcer.Remove([]policy.Rule{{Type: "p", Values: []string{"public", "/api/auth/local", "POST"}}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, enforcer, err = Open(ctx, "sqlite://"+db, storeOptions, policy.Model, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if allowed, _ := enforcer.Allow("public", "/api/auth/local", "POST"); allowed {
		t.Errorf("Open re-seeded a removed rule on a database set up already")
	}
	if roles, _ := st.Roles().List(ctx); len(roles) != 3 {
		t.Errorf("roles = %d, want 3", len(roles))
	}
}

func TestRoleAndUserCLI(t *testing.T) {
	db := newDB(t)
	if out, err := runCLI(t, db, "role", "create", "Content Editors"); err != nil || !strings.Contains(out, "type content_editors") {
		t.Fatalf("role create: %v\n%s", err, out)
	}
	if _, err := runCLI(t, db, "role", "create", "Content Editors"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate role create: %v", err)
	}
	if _, err := runCLI(t, db, "admin", "create", "--email", "Ed@Example.com", "--password", "secret123", "--username", "eddy", "--bcrypt-cost", "4"); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, db, "user", "set-role", "ed@example.com", "content_editors"); err != nil || !strings.Contains(out, "is now content_editors") {
		t.Errorf("set-role: %v\n%s", err, out)
	}
	// admin create never promotes: ed is no admin now, and keeps his email and username.
	for _, tt := range []struct{ email, username, want string }{
		{"ed@example.com", "boss", "gatehouse user set-role ed@example.com admin"},
		{"boss@example.com", "eddy", "--username"},
	} {
		_, err := runCLI(t, db, "admin", "create", "--email", tt.email, "--password", "secret123", "--username", tt.username, "--bcrypt-cost", "4")
		if err == nil || !strings.Contains(err.Error(), "never promotes") || !strings.Contains(err.Error(), `"eddy"`) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("admin create over ed's account (%s, %s): err = %v; want a refusal naming eddy and %q", tt.email, tt.username, err, tt.want)
		}
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
	db := newDB(t)
	if _, err := runCLI(t, db, "admin", "create", "--email", "ed@example.com", "--password", "secret123", "--username", "eddy", "--bcrypt-cost", "4"); err != nil {
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
	// role list only reads: it has no --redis-url and never tries Redis.
	if _, _, err := runCLIStderr(t, db, "role", "list", "--redis-url", redisURL); err == nil || !strings.Contains(err.Error(), "unknown flag: --redis-url") {
		t.Errorf("role list --redis-url: %v, want unknown flag", err)
	}
	if _, stderr, err := runCLIStderr(t, db, "role", "create", "Reviewers"); err != nil || stderr != "" {
		t.Errorf("role create without REDIS_URL: %v, stderr = %q, want no warning", err, stderr)
	}
}

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}
