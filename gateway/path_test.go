package gateway

import (
	"errors"
	"strings"
	"testing"
)

func TestCanonical(t *testing.T) {
	cases := []struct {
		in        string
		segments  string // decoded, joined with |
		canonical string
		refused   string // substring of the reason; "" for accepted
	}{
		{"/", "", "/", ""},
		{"/api/posts", "api|posts", "/api/posts", ""},
		{"/api/posts/", "api|posts", "/api/posts", ""},
		{"/api/posts/caf%C3%A9", "api|posts|café", "/api/posts/caf%C3%A9", ""},
		{"/api/posts/a%20b", "api|posts|a b", "/api/posts/a%20b", ""},
		{"/api/posts/..", "", "", "dot segment"},
		{"/api/posts/../admin", "", "", "dot segment"},
		{"/api/./posts", "", "", "dot segment"},
		{"/api/posts/%2e%2e/admin", "", "", "unreserved"},
		{"/api/posts/%2E%2E", "", "", "unreserved"},
		{"/api/posts/.%2e", "", "", "unreserved"},
		{"/api/posts%2Fadmin", "", "", "separator"},
		{"/api/posts%2fadmin", "", "", "separator"},
		{"/api/posts%5Cadmin", "", "", "separator"},
		{"/api/posts\\admin", "", "", "backslash"},
		{"/api//posts", "", "", "empty segment"},
		{"//api/posts", "", "", "empty segment"},
		{"/api/posts//", "", "", "empty segment"},
		{"/api/posts;x=1", "", "", "matrix"},
		{"/api/posts/%61dmin", "", "", "unreserved"},
		{"/api/posts/%252e", "", "", "double"},
		{"/api/posts/%00", "", "", "control"},
		{"/api/posts/%zz", "", "", "malformed"},
		{"/api/posts/%2", "", "", "malformed"},
		{"/api/po sts", "", "", "space"},
		{"api/posts", "", "", "start with /"},
		{"", "", "", "start with /"},
		{"http://evil/api/posts", "", "", "start with /"},
	}
	for _, c := range cases {
		segments, canonical, err := Canonical(c.in)
		if c.refused != "" {
			if err == nil || !errors.Is(err, ErrPath) || !strings.Contains(err.Error(), c.refused) {
				t.Errorf("Canonical(%q): err = %v, want a refusal for %q", c.in, err, c.refused)
			}
			continue
		}
		if err != nil {
			t.Errorf("Canonical(%q): %v", c.in, err)
			continue
		}
		if got := strings.Join(segments, "|"); got != c.segments || canonical != c.canonical {
			t.Errorf("Canonical(%q) = %q, %q; want %q, %q", c.in, got, canonical, c.segments, c.canonical)
		}
	}
}

func TestMatch(t *testing.T) {
	tab, err := Load("testdata/functions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		method, path, want string // want "" for no function, "!" for refused
	}{
		{"GET", "/api/posts", "api::post.post.find"},
		{"GET", "/api/posts/", "api::post.post.find"},
		{"POST", "/api/posts", "api::post.post.create"},
		{"DELETE", "/api/posts", ""},
		{"GET", "/api/posts/42", "api::post.post.findOne"},
		{"HEAD", "/api/posts/42", "api::post.post.findOne"},
		{"GET", "/api/posts/admin", "api::post.post.admin"},
		// Case: read case-sensitively it is findOne, case-insensitively
		// admin: refused, an upstream could serve either.
		{"GET", "/api/posts/ADMIN", "!"},
		{"GET", "/API/POSTS", "api::post.post.find"},
		{"GET", "/api/posts/42/comments", ""},
		{"GET", "/api/files/a/b.txt", "api::file.file.download"},
		{"GET", "/api/files", ""},
		{"GET", "/api/healthz", "api::health.health.check"},
		{"GET", "/api", ""},
		{"GET", "/", ""},
	}
	for _, c := range cases {
		segments, _, err := Canonical(c.path)
		if err != nil {
			t.Fatal(err)
		}
		fn, err := tab.Match(c.method, segments)
		got := ""
		switch {
		case errors.Is(err, ErrPath):
			got = "!"
		case err == nil:
			got = fn.Name
		case !errors.Is(err, ErrNoFunction):
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("Match(%s %s) = %q, want %q", c.method, c.path, got, c.want)
		}
	}
}

// TestMatchCaseAmbiguity: when the case-sensitive reading picks another
// function than the case-insensitive one, the request is refused.
func TestMatchCaseAmbiguity(t *testing.T) {
	tab, err := Parse([]byte(`upstream: http://127.0.0.1:3000
functions:
  - name: api::a.a.public
    method: GET
    path: /api/open
  - name: api::a.a.item
    method: GET
    path: /api/:name
`), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"/api/open": "api::a.a.public", "/api/other": "api::a.a.item", "/api/OPEN": "!"} {
		segments, _, _ := Canonical(path)
		fn, err := tab.Match("GET", segments)
		got := "!"
		if err == nil {
			got = fn.Name
		} else if !errors.Is(err, ErrPath) {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Match(GET %s) = %q, want %q", path, got, want)
		}
	}
}

func TestUpstreamPath(t *testing.T) {
	tab, err := Parse([]byte(`upstream: http://127.0.0.1:3000/base
functions:
  - name: api::a.a.plain
    method: GET
    path: /api/posts/:id
  - name: api::a.a.rewritten
    method: GET
    path: /api/files/:kind/*rest
    rewrite: /static/:kind/*rest
  - name: api::a.a.root
    method: GET
    path: /api/root
    rewrite: /
`), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct{ canonical, want string }{
		{"/api/posts/caf%C3%A9", "/base/api/posts/caf%C3%A9"},
		{"/api/files/img/a/b%20c.png", "/base/static/img/a/b%20c.png"},
		{"/api/root", "/base"},
	} {
		if got := tab.Functions[i].UpstreamPath(c.canonical); got != c.want {
			t.Errorf("UpstreamPath(%q) = %q, want %q", c.canonical, got, c.want)
		}
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"/api/posts/1", "/api/%2e%2e/x", "/a//b", "/a/%2F", "/a;b", "/%C3%A9/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		segments, canonical, err := Canonical(in)
		if err != nil {
			return
		}
		for _, s := range segments {
			if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\;\x00") {
				t.Fatalf("Canonical(%q) accepted segment %q", in, s)
			}
		}
		// The canonical path is a fixed point.
		again, c2, err := Canonical(canonical)
		if err != nil || c2 != canonical || strings.Join(again, "/") != strings.Join(segments, "/") {
			t.Fatalf("Canonical(%q) = %q, which canonicalises to %q, %v", in, canonical, c2, err)
		}
	})
}
