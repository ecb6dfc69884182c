package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/policy"
)

func TestParseTestdata(t *testing.T) {
	tab, err := Load("testdata/functions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(tab.Functions); got != 6 {
		t.Fatalf("functions = %d, want 6", got)
	}
	fn := tab.Functions[1]
	if fn.Name != "api::post.post.findOne" || fn.Method != "GET" || fn.Route != "/api/posts/:id" || fn.Upstream.String() != "http://127.0.0.1:3000" || fn.Line != 8 {
		t.Errorf("function 1 = %+v (line %d)", fn.Function, fn.Line)
	}
	if !tab.Functions[5].Public {
		t.Error("healthz: Public = false, want true")
	}
	cat := tab.Catalog()
	if got := cat[0]; got != (policy.Function{Name: "api::post.post.find", Method: "GET", Route: "/api/posts"}) {
		t.Errorf("Catalog()[0] = %+v", got)
	}
}

// TestParseRefuses: every problem is reported with its line.
func TestParseRefuses(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "functions:\n  - name: api::a.a.a\n    method: GET\n    path: /a\n    upstream: http://x\n    pubic: true\n", []string{":6:", "pubic"}},
		{"unknown top key", "upstreams: http://x\nfunctions: []\n", []string{":1:", "upstreams"}},
		{"duplicate key", "functions:\n  - name: api::a.a.a\n    name: api::b.b.b\n", []string{":3:", "already defined"}},
		{"empty", "", []string{"empty"}},
		{"no functions", "upstream: http://x\n", []string{"no functions"}},
		{"bad name", "upstream: http://x\nfunctions:\n  - name: post.find\n    method: GET\n    path: /a\n", []string{":3:", "name: want api::"}},
		{"own name", "upstream: http://x\nfunctions:\n  - name: plugin::users-permissions.user.me\n    method: GET\n    path: /a\n", []string{"Gatehouse's own"}},
		{"bad method", "upstream: http://x\nfunctions:\n  - name: api::a.a.a\n    method: FETCH\n    path: /a\n", []string{":3:", "method \"FETCH\""}},
		{"no path", "upstream: http://x\nfunctions:\n  - name: api::a.a.a\n    method: GET\n", []string{"path is missing"}},
		{"relative path", "upstream: http://x\nfunctions:\n  - name: api::a.a.a\n    method: GET\n    path: api/a\n", []string{"does not start with /"}},
		{"trailing slash", "upstream: http://x\nfunctions:\n  - name: api::a.a.a\n    method: GET\n    path: /api/a/\n", []string{"trailing slash"}},
		{"dot segment", "upstream: http://x\nfunctions:\n  - name: api::a.a.a\n    method: GET\n    path: /api/../a\n", []string{"dot segment"}},
		{"percent literal", "upstream: http://x\nfunctions:\n  - name: api::a.a.a\n    method: GET\n    path: /api/a%20b\n", []string{"literals are"}},
		{"catch-all not last", "upstream: http://x\nfunctions:\n  - name: api::a.a.a\n    method: GET\n    path: /api/*rest/x\n", []string{"last segment"}},
		{"param twice", "upstream: http://x\nfunctions:\n  - name: api::a.a.a\n    method: GET\n    path: /api/:id/:id\n", []string{"twice"}},
		{"no upstream", "functions:\n  - name: api::a.a.a\n    method: GET\n    path: /a\n", []string{"upstream: missing"}},
		{"ftp upstream", "functions:\n  - name: api::a.a.a\n    method: GET\n    path: /a\n    upstream: ftp://x\n", []string{"http://"}},
		{"upstream credentials", "functions:\n  - name: api::a.a.a\n    method: GET\n    path: /a\n    upstream: http://u:p@x\n", []string{"credentials"}},
		{"upstream query", "functions:\n  - name: api::a.a.a\n    method: GET\n    path: /a\n    upstream: http://x/?a=1\n", []string{"query"}},
		{"upstream no host", "functions:\n  - name: api::a.a.a\n    method: GET\n    path: /a\n    upstream: http:///x\n", []string{"no host"}},
		{"upstream bad port", "functions:\n  - name: api::a.a.a\n    method: GET\n    path: /a\n    upstream: http://x:99999\n", []string{"port"}},
		{"rewrite unknown param", "upstream: http://x\nfunctions:\n  - name: api::a.a.a\n    method: GET\n    path: /a/:id\n    rewrite: /b/:slug\n", []string{"rewrite: \"slug\""}},
		{"negative maxBody", "upstream: http://x\nfunctions:\n  - name: api::a.a.a\n    method: POST\n    path: /a\n    maxBody: -1\n", []string{"maxBody"}},
		{"wrong type", "upstream: http://x\nfunctions:\n  - name: api::a.a.a\n    method: GET\n    path: /a\n    public: maybe\n", []string{":6:"}},
		{"two problems", "upstream: http://x\nfunctions:\n  - name: x\n    method: GET\n    path: /a\n  - name: api::b.b.b\n    method: NOPE\n    path: /b\n", []string{":3:", ":6:"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), "f.yaml")
			if err == nil {
				t.Fatalf("Parse: no error, want %q", c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse: error = %v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestCheck(t *testing.T) {
	yaml := `upstream: http://127.0.0.1:3000
functions:
  - name: api::post.post.find
    method: GET
    path: /api/posts
  - name: api::post.post.find
    method: POST
    path: /api/posts
  - name: api::post.post.findOne
    method: GET
    path: /api/posts/:id
  - name: api::post.post.bySlug
    method: GET
    path: /api/posts/:slug
  - name: api::post.post.count
    method: GET
    path: /api/POSTS/count
  - name: api::user.user.shadow
    method: PATCH
    path: /api/users/:id
  - name: api::admin.admin.page
    method: GET
    path: /admin/x
  - name: api::verify.verify.x
    method: POST
    path: /api/authz/verify
`
	tab, err := Parse([]byte(yaml), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	own := policy.Catalog{
		{Name: "plugin::users-permissions.user.findOne", Method: "GET", Route: "/api/users/:id"},
		{Name: "gatehouse::admin", Method: "GET", Route: "/admin/*file"},
		{Name: "gatehouse::authz.verify", Method: "GET", Route: "/api/authz/verify"},
	}
	var got []string
	for _, f := range tab.Check(own) {
		got = append(got, f.String())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		`6: error: function "api::post.post.find": the name is already used at line 3`,
		`12: error: function "api::post.post.bySlug": GET /api/posts/:slug matches the same requests as "api::post.post.findOne" (line 9, /api/posts/:id)`,
		`15: warning: function "api::post.post.count": GET /api/POSTS/count overlaps`,
		`18: error: function "api::user.user.shadow": /api/users/:id overlaps Gatehouse's own route GET /api/users/:id`,
		`21: error: function "api::admin.admin.page": /admin/x overlaps Gatehouse's own route GET /admin/*file`,
		`24: error: function "api::verify.verify.x": /api/authz/verify overlaps Gatehouse's own route`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("Check: findings\n%s\nwant one containing %q", all, want)
		}
	}
	if n := len(Errors(tab.Check(own))); n != 5 {
		t.Errorf("Errors: %d, want 5\n%s", n, all)
	}
}

func TestProbe(t *testing.T) {
	tab, err := Parse([]byte("functions:\n  - name: api::a.a.a\n    method: GET\n    path: /a\n    upstream: http://127.0.0.1:1\n"), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	findings := tab.Probe(t.Context(), 2e9)
	if len(findings) != 1 || !strings.Contains(findings[0].Message, "unreachable") {
		t.Errorf("Probe: %v, want one unreachable upstream", findings)
	}
}

// TestReloadKeepsPreviousOnError: a bad file is refused and the previous
// table stays; a good one replaces it.
func TestReloadKeepsPreviousOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "functions.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("upstream: http://127.0.0.1:3000\nfunctions:\n  - name: api::a.a.a\n    method: GET\n    path: /a\n")
	r, err := NewRoutes(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := r.Table()
	write("upstream: http://127.0.0.1:3000\nfunctions:\n  - name: api::a.a.a\n    method: GET\n    path: /a\n    bogus: 1\n")
	if err := r.Reload(); err == nil || !strings.Contains(err.Error(), ":6:") {
		t.Errorf("Reload of a bad file: err = %v, want the line", err)
	}
	if r.Table() != first {
		t.Error("Reload of a bad file replaced the table")
	}
	write("upstream: http://127.0.0.1:3000\nfunctions:\n  - name: api::a.a.a\n    method: GET\n    path: /a\n  - name: api::b.b.b\n    method: GET\n    path: /a\n")
	if err := r.Reload(); err == nil {
		t.Error("Reload of a file with duplicate patterns: no error")
	}
	if r.Table() != first {
		t.Error("Reload of a file failing Check replaced the table")
	}
	write("upstream: http://127.0.0.1:3000\nfunctions:\n  - name: api::a.a.a\n    method: GET\n    path: /a\n  - name: api::b.b.b\n    method: GET\n    path: /b\n")
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := len(r.Table().Functions); got != 2 {
		t.Errorf("after a good reload: %d functions, want 2", got)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil || len(r.Table().Functions) != 2 {
		t.Errorf("Reload of a missing file: err = %v, functions = %d, want an error and 2", err, len(r.Table().Functions))
	}
}
