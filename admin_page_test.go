package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/cli"
	"github.com/gatehouse/gatehouse/config"
)

const (
	adminPageEmail    = "admin@example.com"
	adminPagePassword = "admin-page-secret"
)

// newAdminPageServer serves the real application over a fresh temporary
// SQLite database, with an admin user, on a local port. (The admin page's
// browser tests, in the browsertest module, run the built binary instead.)
func newAdminPageServer(t *testing.T) *httptest.Server {
	t.Helper()
	cfg, err := config.Parse(map[string]string{
		"DATABASE_URL":           "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db"),
		"JWT_SECRET":             "admin-page-secret-admin-page-secret-0123",
		"RATE_LIMIT_ENABLED":     "false",
		"BCRYPT_COST":            "4",
		"POLICY_RELOAD_INTERVAL": "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.store.Close() })
	if _, err := cli.CreateAdmin(context.Background(), a.store, adminPageEmail, "admin", adminPagePassword, 4); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.server)
	t.Cleanup(srv.Close)
	return srv
}

// anonymousStatus is the status of a request without a token.
func anonymousStatus(t *testing.T, method, url string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestAdminPageHTTP checks the page as served by the real router: no token
// needed, the security headers, and no path escaping the embedded files.
func TestAdminPageHTTP(t *testing.T) {
	srv := newAdminPageServer(t)
	for _, tt := range []struct {
		path, contentType, want string
	}{
		{"/admin", "text/html; charset=utf-8", `<script src="/admin/app.js" defer></script>`},
		{"/admin/", "text/html; charset=utf-8", "<title>Gatehouse admin</title>"},
		{"/admin/app.js", "text/javascript; charset=utf-8", "sessionStorage"},
		{"/admin/app.css", "text/css; charset=utf-8", ":root"},
	} {
		// A bad token changes nothing: the page is outside authentication.
		req, _ := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
		req.Header.Set("Authorization", "Bearer not-a-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status = %d, want 200\n%s", tt.path, resp.StatusCode, body)
			continue
		}
		for header, want := range map[string]string{
			"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"Content-Type":            tt.contentType,
		} {
			if got := resp.Header.Get(header); got != want {
				t.Errorf("GET %s: %s = %q, want %q", tt.path, header, got, want)
			}
		}
		if strings.HasSuffix(tt.contentType, "html; charset=utf-8") && resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: Cache-Control = %q, want no-store", tt.path, resp.Header.Get("Cache-Control"))
		}
		if !strings.Contains(string(body), tt.want) {
			t.Errorf("GET %s: body lacks %q", tt.path, tt.want)
		}
	}

	// Paths are sent as written (Go's client does not clean them).
	for _, p := range []string{
		"/admin/../go.mod", "/admin/../main.go", "/admin/..%2fgo.mod", "/admin/%2e%2e/go.mod", "/admin/%2e%2e%2fgo.mod",
		"/admin/static/app.js", "/admin/./../model.conf", "/admin/..%5cgo.mod", "/admin/admin.go", "/admin//etc/passwd",
		"/admin/app.js%00", "/admin/.%2e/.%2e/etc/passwd",
	} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status = %d, want 404\n%.200s", p, resp.StatusCode, body)
		}
		for _, leak := range []string{"module github.com", "package main", "[request_definition]", "root:"} {
			if strings.Contains(string(body), leak) {
				t.Errorf("GET %s: the answer leaks a file (%q)", p, leak)
			}
		}
	}
	if got := anonymousStatus(t, http.MethodPost, srv.URL+"/admin"); got != http.StatusMethodNotAllowed {
		t.Errorf("POST /admin: status = %d, want 405", got)
	}
	// Mounting the page opened nothing else to the public role.
	if got := anonymousStatus(t, http.MethodGet, srv.URL+"/api/users-permissions/roles"); got != http.StatusForbidden {
		t.Errorf("GET /api/users-permissions/roles without a token: status = %d, want 403", got)
	}
}
