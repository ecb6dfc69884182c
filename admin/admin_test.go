package admin_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/admin"
)

func get(t *testing.T, h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "/", nil)
	req.URL.Path = target // as a router passes it: decoded, not cleaned
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHandlerServesThePageWithSecurityHeaders(t *testing.T) {
	h := admin.Handler()
	tests := []struct {
		path, contentType, cacheControl, want string
	}{
		{"/admin", "text/html; charset=utf-8", "no-store", `<script src="/admin/app.js" defer></script>`},
		{"/admin/", "text/html; charset=utf-8", "no-store", "<title>Gatehouse admin</title>"},
		{"/admin/index.html", "text/html; charset=utf-8", "no-store", "<title>Gatehouse admin</title>"},
		{"/admin/app.js", "text/javascript; charset=utf-8", "no-cache", "sessionStorage"},
		{"/admin/app.css", "text/css; charset=utf-8", "no-cache", ":root"},
		{"/admin/favicon.svg", "image/svg+xml", "no-cache", "<svg"},
	}
	for _, tt := range tests {
		rec := get(t, h, http.MethodGet, tt.path, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: status = %d, want 200", tt.path, rec.Code)
			continue
		}
		for header, want := range map[string]string{
			"Content-Security-Policy": admin.ContentSecurityPolicy,
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"Content-Type":            tt.contentType,
			"Cache-Control":           tt.cacheControl,
		} {
			if got := rec.Header().Get(header); got != want {
				t.Errorf("GET %s: %s = %q, want %q", tt.path, header, got, want)
			}
		}
		if !strings.Contains(rec.Body.String(), tt.want) {
			t.Errorf("GET %s: body lacks %q", tt.path, tt.want)
		}
	}
}

func TestHandlerCSPIsStrict(t *testing.T) {
	for _, directive := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
		"frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
		if !strings.Contains(admin.ContentSecurityPolicy, directive) {
			t.Errorf("CSP %q lacks %q", admin.ContentSecurityPolicy, directive)
		}
	}
	if strings.Contains(admin.ContentSecurityPolicy, "unsafe") {
		t.Errorf("CSP %q allows unsafe sources", admin.ContentSecurityPolicy)
	}
}

// TestPageHasNoInlineCode: the CSP forbids inline scripts, styles and event
// handlers, so the page must not rely on them.
func TestPageHasNoInlineCode(t *testing.T) {
	body := get(t, admin.Handler(), http.MethodGet, "/admin", nil).Body.String()
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]+</script>`),
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`),
		regexp.MustCompile(`(?:src|href)="(?:https?:)?//`),
	} {
		if m := re.FindString(body); m != "" {
			t.Errorf("index.html has %q: the CSP forbids inline code and other origins", m)
		}
	}
	scripts := regexp.MustCompile(`<script src="/admin/([a-z-]+\.js)" defer></script>`).FindAllStringSubmatch(body, -1)
	if len(scripts) < 3 {
		t.Fatalf("index.html loads %d scripts, want app.js and each screen's own", len(scripts))
	}
	for _, m := range scripts {
		rec := get(t, admin.Handler(), http.MethodGet, "/admin/"+m[1], nil)
		if rec.Code != http.StatusOK {
			t.Errorf("GET /admin/%s: status = %d, want 200", m[1], rec.Code)
			continue
		}
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "localStorage", "document.cookie", "eval("} {
			if strings.Contains(rec.Body.String(), bad) {
				t.Errorf("%s uses %s", m[1], bad)
			}
		}
	}
}

// TestPageHasEveryScreen: the sections and tabs of the page, each screen's
// script, and its assets served with the CSP like the page itself.
func TestPageHasEveryScreen(t *testing.T) {
	h := admin.Handler()
	page := get(t, h, http.MethodGet, "/admin", nil).Body.String()
	for _, want := range []string{
		`<section id="roles-view"`, `<section id="role-view"`, `<section id="policy-view"`,
		`<section id="users-view"`, `<section id="templates-view"`, `<section id="providers-view"`, `<section id="provider-view"`,
		`href="#/users" data-tab="users"`, `href="#/email-templates" data-tab="email-templates"`, `href="#/providers" data-tab="providers"`,
		`<input id="users-search"`, `<button id="users-prev"`, `<button id="users-next"`, `<form id="provider-form"`,
		`<section id="advanced-view"`, `href="#/advanced" data-tab="advanced"`, `<script src="/admin/advanced.js" defer></script>`,
		`<section id="custom-provider-view"`, `href="#/custom-provider/new"`, `<script src="/admin/custom-providers.js" defer></script>`,
		`<div id="public-warning"`, `gatehouse admin create --email`, `<button id="nav-toggle"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("index.html lacks %s", want)
		}
	}
	js := get(t, h, http.MethodGet, "/admin/app.js", nil)
	if got := js.Header().Get("Content-Security-Policy"); got != admin.ContentSecurityPolicy {
		t.Errorf("GET /admin/app.js: CSP = %q", got)
	}
	body := js.Body.String()
	for _, want := range []string{
		"'/api/users'", "'/api/users/count'", "UP + '/email-templates'", "UP + '/providers'",
		"filters[$or][0][username][$containsi]", "pagination[pageSize]", "confirm(",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("app.js lacks %s", want)
		}
	}
	// The page never reads a private field of a user, nor writes a
	// provider's secret from the API into a field.
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`\.(?:password|resetPasswordToken|confirmationToken)\b`),
		regexp.MustCompile(`value:\s*[a-z.]*secret`),
		regexp.MustCompile(`setAttribute\(\s*['"](?:style|on[a-z]+)`),
	} {
		if m := re.FindString(body); m != "" {
			t.Errorf("app.js has %q", m)
		}
	}
	css := get(t, h, http.MethodGet, "/admin/app.css", nil)
	if got := css.Header().Get("Content-Security-Policy"); got != admin.ContentSecurityPolicy || !strings.Contains(css.Body.String(), ".pager") {
		t.Errorf("GET /admin/app.css: CSP = %q, or the users screen's styles are missing", got)
	}
}

func TestHandlerStaysInsideTheEmbeddedFiles(t *testing.T) {
	h := admin.Handler()
	for _, p := range []string{
		"/admin/../go.mod", "/admin/..", "/admin/../admin/admin.go", "/admin/static/index.html", "/admin/static",
		"/admin/./app.js", "/admin//app.js", "/admin/app.js/", "/admin/admin.go", "/admin/.hidden",
		`/admin/..\go.mod`, "/admin/nope.js", "/adminx", "/admin/app.js\x00", "/admin/%2e%2e/go.mod", "/other",
	} {
		rec := get(t, h, http.MethodGet, p, nil)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %q: status = %d, want 404\n%s", p, rec.Code, rec.Body)
		}
		if got := rec.Header().Get("Content-Security-Policy"); got != admin.ContentSecurityPolicy {
			t.Errorf("GET %q: no CSP on the 404", p)
		}
		if body := rec.Body.String(); !strings.Contains(body, `"name":"NotFoundError"`) {
			t.Errorf("GET %q: body = %s, want the error envelope", p, body)
		}
	}
}

func TestHandlerMethodsAndRevalidation(t *testing.T) {
	h := admin.Handler()
	if rec := get(t, h, http.MethodPost, "/admin", nil); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /admin: status = %d, Allow = %q; want 405, GET, HEAD", rec.Code, rec.Header().Get("Allow"))
	}
	head := get(t, h, http.MethodHead, "/admin", nil)
	if b, _ := io.ReadAll(head.Body); head.Code != http.StatusOK || len(b) != 0 {
		t.Errorf("HEAD /admin: status = %d, body %d bytes; want 200 and none", head.Code, len(b))
	}
	first := get(t, h, http.MethodGet, "/admin/app.js", nil)
	etag := first.Header().Get("ETag")
	if etag == "" {
		t.Fatal("GET /admin/app.js: no ETag")
	}
	again := get(t, h, http.MethodGet, "/admin/app.js", http.Header{"If-None-Match": {etag}})
	if again.Code != http.StatusNotModified {
		t.Errorf("GET /admin/app.js with If-None-Match: status = %d, want 304", again.Code)
	}
}
