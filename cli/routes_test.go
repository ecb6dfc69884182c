package cli

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// appFunctions is a protected app's functions file.
const appFunctions = `upstream: http://127.0.0.1:3000
functions:
  - name: api::post.post.find
    method: GET
    path: /api/posts
  - name: api::post.post.findOne
    method: GET
    path: /api/posts/:id
  - name: api::post.post.delete
    method: DELETE
    path: /api/posts/:id
`

// TestPolicyCommandsReadTheFunctionsFile: policy test, check and lint see
// the app's functions (--routes-file, or $ROUTES_FILE).
func TestPolicyCommandsReadTheFunctionsFile(t *testing.T) {
	db := newDB(t)
	functions := writeFile(t, "functions.yaml", appFunctions)
	policyFile := writeFile(t, "policy.csv", `p, public, /api/auth/local, POST
p, public, /api/posts, GET
p, authenticated, /api/posts/:id, GET
p, admin, /api/posts/:id, DELETE
p, admin, /api/users-permissions/*, *
g, admin, authenticated
`)
	matrix := writeFile(t, "matrix.csv", `role,method,path,expect
public, GET, /api/posts, allow
public, GET, /api/posts/7, deny
authenticated, GET, /api/posts/7, allow
authenticated, DELETE, /api/posts/7, deny
admin, DELETE, /api/posts/7, allow
admin, GET, /api/posts/7, allow
`)
	out, err := runCLI(t, db, "policy", "test", matrix, "--policy", policyFile, "--routes-file", functions)
	if err != nil || !strings.Contains(out, "6 passed, 0 failed") {
		t.Errorf("policy test --routes-file: %v\n%s", err, out)
	}
	// Without the file the app's paths match no route.
	if out, err := runCLI(t, db, "policy", "test", matrix, "--policy", policyFile); err == nil {
		t.Errorf("policy test without the functions file passed:\n%s", out)
	}
	// $ROUTES_FILE is the default.
	env := func(k string) (string, bool) {
		if k == "ROUTES_FILE" {
			return functions, true
		}
		return "", false
	}
	out, _, err = execute(t, Options{LookupEnv: env}, "policy", "check", "authenticated", "DELETE", "/api/posts/7", "--database-url", "sqlite://"+db)
	if err == nil || !strings.Contains(out, "api::post.post.delete") || !strings.Contains(out, "→ deny") {
		t.Errorf("policy check with $ROUTES_FILE: %v\n%s", err, out)
	}
	out, _, _ = execute(t, Options{LookupEnv: env}, "policy", "lint", "--database-url", "sqlite://"+db)
	if !strings.Contains(out, "/api/posts/:id") {
		t.Errorf("policy lint with $ROUTES_FILE does not mention the app's routes:\n%s", out)
	}
	bad := writeFile(t, "bad.yaml", "functions:\n  - name: api::a.a.a\n    nope: 1\n")
	if _, err := runCLI(t, db, "policy", "test", matrix, "--routes-file", bad); err == nil || !strings.Contains(err.Error(), "bad.yaml:3") {
		t.Errorf("policy test with a bad functions file: %v", err)
	}
}

// TestPolicyHistoryCommandsReadTheFunctionsFile: policy apply, revert and
// show name the app's functions among the decisions a change flips
// (--routes-file, like the other policy commands).
func TestPolicyHistoryCommandsReadTheFunctionsFile(t *testing.T) {
	db := newDB(t)
	functions := writeFile(t, "functions.yaml", appFunctions)
	reviewed := writeFile(t, "policy.csv", `p, public, /api/auth/local, POST
p, public, /api/posts, GET
p, admin, /api/users-permissions/*, *
g, admin, authenticated
`)
	out, err := runCLI(t, db, "policy", "apply", reviewed, "--dry-run", "--routes-file", functions)
	if err != nil || !strings.Contains(out, "/api/posts") {
		t.Fatalf("policy apply --dry-run --routes-file: %v\n%s", err, out)
	}
	without, _ := runCLI(t, db, "policy", "apply", reviewed, "--dry-run")
	if strings.Contains(without, "GET /api/posts") {
		t.Errorf("policy apply without the functions file names the app's route:\n%s", without)
	}
	if out, err := runCLI(t, db, "policy", "apply", reviewed, "--routes-file", functions); err != nil {
		t.Fatalf("policy apply --routes-file: %v\n%s", err, out)
	}
	entries := historyJSON(t, db)
	if len(entries) < 2 {
		t.Fatalf("history: %+v, want the apply and what came before", entries)
	}
	applied, before := strconv.FormatInt(entries[0].Revision, 10), strconv.FormatInt(entries[1].Revision, 10)
	for _, args := range [][]string{{"policy", "show", applied}, {"policy", "revert", before, "--dry-run"}} {
		out, err := runCLI(t, db, append(args, "--routes-file", functions)...)
		if err != nil || !strings.Contains(out, "/api/posts") {
			t.Errorf("%v --routes-file: %v, want the app's route among the flips\n%s", args, err, out)
		}
	}
}

func TestRoutesCheck(t *testing.T) {
	good := writeFile(t, "good.yaml", appFunctions)
	out, _, err := execute(t, Options{}, "routes", "check", good)
	if err != nil || !strings.Contains(out, "3 function(s), 0 error(s), 0 warning(s)") {
		t.Errorf("routes check of a good file: %v\n%s", err, out)
	}
	bad := writeFile(t, "bad.yaml", `upstream: http://127.0.0.1:3000
functions:
  - name: api::post.post.find
    method: GET
    path: /api/posts
  - name: api::post.post.find
    method: GET
    path: /api/Posts
  - name: api::user.user.me
    method: GET
    path: /api/users/:id/avatar
  - name: api::user.user.hijack
    method: PUT
    path: /api/users/me
`)
	out, _, err = execute(t, Options{}, "routes", "check", bad)
	for _, want := range []string{
		"bad.yaml:6: error: function \"api::post.post.find\": the name is already used at line 3",
		"bad.yaml:6: error: function \"api::post.post.find\": GET /api/Posts matches the same requests as",
		"bad.yaml:12: error: function \"api::user.user.hijack\": /api/users/me overlaps Gatehouse's own route GET /api/users/me",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("routes check: output lacks %q\n%s", want, out)
		}
	}
	if err == nil || strings.Contains(out, "bad.yaml:9:") {
		t.Errorf("routes check: err = %v; /api/users/:id/avatar is no route of Gatehouse's\n%s", err, out)
	}
	syntax := writeFile(t, "syntax.yaml", "functions:\n  - name: api::a.a.a\n    method: GET\n    path: /a\n    upstream: ftp://x\n    colour: red\n")
	out, _, err = execute(t, Options{}, "routes", "check", syntax)
	if err == nil || !strings.Contains(out, "syntax.yaml:6") || !strings.Contains(out, "colour") {
		t.Errorf("routes check of an unknown key: %v\n%s", err, out)
	}
	// --probe: one upstream listening, one not.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	probed := writeFile(t, "probed.yaml", "functions:\n  - name: api::a.a.a\n    method: GET\n    path: /a\n    upstream: http://"+ln.Addr().String()+
		"\n  - name: api::b.b.b\n    method: GET\n    path: /b\n    upstream: http://127.0.0.1:1\n")
	if out, _, err := execute(t, Options{}, "routes", "check", probed); err != nil {
		t.Errorf("routes check without --probe: %v\n%s", err, out)
	}
	out, _, err = execute(t, Options{}, "routes", "check", "--probe", probed)
	if err == nil || !strings.Contains(out, "probed.yaml:6: error: upstream http://127.0.0.1:1 is unreachable") || strings.Contains(out, ":2: error") {
		t.Errorf("routes check --probe: %v\n%s", err, out)
	}
}
