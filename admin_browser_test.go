package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse/gatehouse/config"
)

const (
	adminPageEmail    = "admin@example.com"
	adminPagePassword = "admin-page-secret"
)

// newAdminPageServer serves the real application over a fresh temporary
// SQLite database, with an admin user, on a local port.
func newAdminPageServer(t *testing.T) (*app, *httptest.Server) {
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
	if _, err := createAdmin(context.Background(), a.store, adminPageEmail, "admin", adminPagePassword, 4); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.server)
	t.Cleanup(srv.Close)
	return a, srv
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
	_, srv := newAdminPageServer(t)
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

// chromiumPath finds Chromium: GATEHOUSE_TEST_CHROMIUM, /usr/bin/chromium, or
// chromium on PATH.
func chromiumPath(t *testing.T) string {
	if p := os.Getenv("GATEHOUSE_TEST_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("GATEHOUSE_TEST_CHROMIUM=%s: %v", p, err)
		}
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Skip("chromium not found: install Debian's chromium or set GATEHOUSE_TEST_CHROMIUM")
	return ""
}

// browserPage drives one tab; every step fails the test with what the page
// showed.
type browserPage struct {
	t   *testing.T
	ctx context.Context
}

const stepTimeout = 15 * time.Second

// newBrowserPage starts a headless Chromium with a fresh profile and opens a
// tab; console errors and exceptions of the page are collected for
// checkConsole.
func newBrowserPage(t *testing.T, bin string) (*browserPage, func() []chromedp.ConsoleMessage) {
	t.Helper()
	profile := t.TempDir() // removed after the browser has exited (cleanups run last-in first-out)
	var browserLog strings.Builder
	var logMu sync.Mutex
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1000),
		chromedp.CombinedOutput(writerFunc(func(p []byte) (int, error) {
			logMu.Lock()
			defer logMu.Unlock()
			return browserLog.Write(p)
		})),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// The first Run starts the browser; it gets no timeout (that would end
	// the browser with it).
	if err := chromedp.Do(ctx); err != nil {
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("start %s: %v\n%s", bin, err, browserLog.String())
	}
	var mu sync.Mutex
	var messages []chromedp.ConsoleMessage
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			mu.Lock()
			messages = append(messages, m)
			mu.Unlock()
		}
	}()
	return &browserPage{t: t, ctx: ctx}, func() []chromedp.ConsoleMessage {
		mu.Lock()
		defer mu.Unlock()
		return append([]chromedp.ConsoleMessage(nil), messages...)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// do runs steps with a timeout, failing the test with what the page shows.
func (p *browserPage) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v\npage shows:\n%s", what, err, p.visibleText())
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](p *browserPage, expression string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expression, err)
	}
	return v
}

// visibleText is the text of the page, for failure messages.
func (p *browserPage) visibleText() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return text
}

// text is the textContent of the first element matching sel ("" if none).
func (p *browserPage) text(sel string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.PollFunction[string](
		`(sel) => { const el = document.querySelector(sel); return el ? el.textContent + '\u0000' : '\u0000'; }`,
		chromedp.WithPollingArgs(sel)))
	if err != nil {
		p.t.Fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSuffix(v, "\x00")
}

// waitText waits until the element matching sel is shown and its text
// contains want.
func (p *browserPage) waitText(sel, want string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.PollFunction[bool](
		`(sel, want) => { const el = document.querySelector(sel); return !!el && el.getClientRects().length > 0 && el.textContent.includes(want); }`,
		chromedp.WithPollingArgs(sel, want), chromedp.WithPollingTimeout(stepTimeout-time.Second)))
	if err != nil {
		p.t.Fatalf("%s never showed %q: %v\n%s now shows: %q\npage shows:\n%s", sel, want, err, sel, p.text(sel), p.visibleText())
	}
}

// waitTrue waits until a JavaScript expression is true.
func (p *browserPage) waitTrue(what, expression string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expression, chromedp.WithPollingTimeout(stepTimeout-time.Second))); err != nil {
		p.t.Fatalf("%s (%s): %v\npage shows:\n%s", what, expression, err, p.visibleText())
	}
}

// clearStatus empties a status line, so that the next message is known to
// come from the next action.
func (p *browserPage) clearStatus(id string) {
	p.t.Helper()
	eval[chromedp.Void](p, fmt.Sprintf(`document.getElementById(%q).replaceChildren()`, id))
}

// waitRolesList waits until the roles list is shown and its latest load has
// finished (the table is aria-busy while it loads), so that no later render
// replaces the rows being clicked.
func (p *browserPage) waitRolesList() {
	p.t.Helper()
	p.waitTrue("the roles list is loaded", `!document.getElementById('roles-view').hidden && !document.getElementById('roles-table').hasAttribute('aria-busy')`)
}

func (p *browserPage) checked(sel string) bool {
	p.t.Helper()
	return eval[bool](p, fmt.Sprintf(`document.querySelector(%q).checked`, sel))
}

const userFind = `input[data-function="plugin::users-permissions.user.find"]`

// TestAdminPageBrowser drives the admin page in headless Chromium against
// the real server: login, the roles list, the public role's permissions,
// role creation and deletion, the policy editor and the decision check,
// each checked from Go with anonymous requests.
func TestAdminPageBrowser(t *testing.T) {
	bin := chromiumPath(t)
	a, srv := newAdminPageServer(t)
	p, consoleMessages := newBrowserPage(t, bin)
	ctx := context.Background()

	if !t.Run("wrong password shows the API error", func(t *testing.T) {
		p.t = t
		p.do("open the page", chromedp.Navigate(srv.URL+"/admin"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
		p.do("log in with a wrong password",
			chromedp.SetValue(chromedp.CSS("#login-identifier"), adminPageEmail),
			chromedp.SetValue(chromedp.CSS("#login-password"), "not-the-password"),
			chromedp.Click(chromedp.CSS("#login-submit")))
		p.waitText("#login-error", "Invalid identifier or password")
		if got := eval[int](p, `sessionStorage.length`); got != 0 {
			t.Errorf("sessionStorage has %d items after a failed login", got)
		}
	}) {
		return
	}

	if !t.Run("log in and list the roles", func(t *testing.T) {
		p.t = t
		p.do("log in",
			chromedp.SetValue(chromedp.CSS("#login-password"), adminPagePassword),
			chromedp.Click(chromedp.CSS("#login-submit")),
			chromedp.WaitVisible(chromedp.CSS("#roles-view")))
		p.waitRolesList()
		for _, name := range []string{"Public", "Authenticated", "Admin"} {
			p.waitText("#roles-body", name)
		}
		if got := p.text(`#roles-body tr[data-role-type="admin"]`); !strings.Contains(got, "authenticated") || !strings.Contains(got, "1") {
			t.Errorf("admin row = %q, want 1 user and inherits authenticated", got)
		}
		if !eval[bool](p, `sessionStorage.getItem('gatehouse.admin.jwt') !== null && localStorage.length === 0 && document.cookie === ''`) {
			t.Errorf("the token must be in sessionStorage only (not localStorage, not a cookie)")
		}
		p.waitText("#session-user", "admin")
		p.screenshot("roles-list.png")
	}) {
		return
	}

	if !t.Run("public role: tick user.find, save, untick, save", func(t *testing.T) {
		p.t = t
		p.do("open the public role",
			chromedp.Click(chromedp.CSS(`#roles-body tr[data-role-type="public"] a.role-link`)),
			chromedp.WaitVisible(chromedp.CSS(userFind)))
		p.waitText("#role-title", "Public")
		p.waitText(`fieldset[data-controller="user"]`, "find")
		if p.checked(userFind) {
			t.Fatal("user.find is ticked for public before any change")
		}
		if got := anonymousStatus(t, http.MethodGet, srv.URL+"/api/users"); got != http.StatusForbidden {
			t.Fatalf("anonymous GET /api/users before: status = %d, want 403", got)
		}

		p.clearStatus("role-status")
		p.do("tick user.find and save", chromedp.Click(chromedp.CSS(userFind)), chromedp.Click(chromedp.CSS("#role-save")))
		p.waitText("#role-status", "Saved Public.")
		if got := anonymousStatus(t, http.MethodGet, srv.URL+"/api/users"); got != http.StatusOK {
			t.Errorf("anonymous GET /api/users after ticking user.find: status = %d, want 200", got)
		}
		if !p.checked(userFind) {
			t.Errorf("user.find is not ticked after saving")
		}

		p.screenshot("roles-editor.png")

		p.clearStatus("role-status")
		p.do("untick user.find and save", chromedp.Click(chromedp.CSS(userFind)), chromedp.Click(chromedp.CSS("#role-save")))
		p.waitText("#role-status", "Saved Public.")
		if got := anonymousStatus(t, http.MethodGet, srv.URL+"/api/users"); got != http.StatusForbidden {
			t.Errorf("anonymous GET /api/users after unticking user.find: status = %d, want 403", got)
		}
		if p.checked(userFind) {
			t.Errorf("user.find is still ticked after saving it off")
		}
	}) {
		return
	}

	t.Run("the public role cannot be deleted", func(t *testing.T) {
		p.t = t
		p.clearStatus("role-status")
		p.do("delete public",
			chromedp.Click(chromedp.CSS("#role-delete")),
			chromedp.WaitVisible(chromedp.CSS("#delete-confirm")),
			chromedp.Click(chromedp.CSS("#delete-confirm-button")))
		p.waitText("#role-status", "Cannot delete public role")
		if _, err := a.store.Roles().ByType(ctx, "public"); err != nil {
			t.Errorf("public role: %v", err)
		}
	})

	t.Run("an action kept by a wildcard shows the API error", func(t *testing.T) {
		p.t = t
		p.do("back to the roles", chromedp.Click(chromedp.CSS(`.crumbs a`)))
		p.waitRolesList()
		p.do("open the admin role", chromedp.Click(chromedp.CSS(`#roles-body tr[data-role-type="admin"] a.role-link`)))
		p.waitText("#role-title", "Admin")
		p.waitTrue("user.find is ticked for admin", `document.querySelector('`+userFind+`') && document.querySelector('`+userFind+`').checked`)
		p.clearStatus("role-status")
		p.do("untick and save", chromedp.Click(chromedp.CSS(userFind)), chromedp.Click(chromedp.CSS("#role-save")))
		p.waitText("#role-status", `stays enabled through the rule "p, admin, /api/users, *"`)
		if p.checked(userFind) {
			t.Errorf("the editor lost the user's change after an error")
		}
	})

	t.Run("create and delete a role; names are text, never HTML", func(t *testing.T) {
		p.t = t
		name := `Editors <img src=x id=injected>`
		p.do("open the roles tab", chromedp.Click(chromedp.CSS(`#nav a[data-tab="roles"]`)))
		p.waitRolesList()
		p.do("create a role",
			chromedp.SetValue(chromedp.CSS("#create-role-name"), name),
			chromedp.SetValue(chromedp.CSS("#create-role-description"), `<b id=injected2>not bold</b>`),
			chromedp.Click(chromedp.CSS("#create-role-submit")))
		p.waitText("#create-role-status", "Created the role "+name+".")
		p.waitRolesList()
		p.waitText("#roles-body", name)
		p.waitText("#roles-body", "<b id=injected2>not bold</b>")
		if n := eval[int](p, `document.querySelectorAll('#injected, #injected2, #roles-body img, #roles-body b').length`); n != 0 {
			t.Errorf("%d elements were created from API data", n)
		}
		roles, err := a.store.Roles().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		roleType := ""
		for _, r := range roles {
			if r.Name == name {
				roleType = r.Type
			}
		}
		if roleType == "" {
			t.Fatalf("no role named %q in the database", name)
		}
		p.do("open and delete it",
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`#roles-body tr[data-role-type=%q] a.role-link`, roleType))),
			chromedp.WaitVisible(chromedp.CSS("#role-form")))
		p.waitText("#role-title", name)
		p.do("confirm the deletion",
			chromedp.Click(chromedp.CSS("#role-delete")),
			chromedp.WaitVisible(chromedp.CSS("#delete-confirm")),
			chromedp.Click(chromedp.CSS("#delete-confirm-button")),
			chromedp.WaitVisible(chromedp.CSS("#roles-view")))
		p.waitRolesList()
		p.waitText("#roles-status", "Deleted the role "+name+".")
		p.waitTrue("the row is gone", fmt.Sprintf(`document.querySelector('#roles-body tr[data-role-type=%q]') === null && document.querySelectorAll('#roles-body tr').length === 3`, roleType))
		if _, err := a.store.Roles().ByType(ctx, roleType); err == nil {
			t.Errorf("role %s is still in the database", roleType)
		}
	})

	if !t.Run("policy: preview and apply a new row", func(t *testing.T) {
		p.t = t
		p.do("open the policy tab", chromedp.Click(chromedp.CSS(`#nav a[data-tab="policy"]`)), chromedp.WaitVisible(chromedp.CSS("#policy-csv")))
		p.waitTrue("the CSV is loaded", `document.getElementById('policy-csv').value.includes('p, public, /api/auth/local, POST')`)
		csv := eval[string](p, `document.getElementById('policy-csv').value`)
		edited := strings.TrimRight(csv, "\n") + "\np, public, /api/users/count, GET\n"
		p.clearStatus("policy-status")
		p.do("preview", chromedp.SetValue(chromedp.CSS("#policy-csv"), edited), chromedp.Click(chromedp.CSS("#policy-preview")))
		p.waitText("#policy-status", "1 decision would change")
		flips := eval[[]string](p, `[...document.querySelectorAll('#policy-changes tbody tr')].map(tr => tr.dataset.flip + ' | ' + tr.textContent)`)
		if len(flips) != 1 || !strings.HasPrefix(flips[0], "public GET /api/users/count | ") || !strings.Contains(flips[0], "deny → allow") ||
			!strings.Contains(flips[0], "plugin::users-permissions.user.count") {
			t.Errorf("preview flips = %q, want exactly public GET /api/users/count user.count deny → allow", flips)
		}
		p.screenshot("policy-preview.png")
		if got := anonymousStatus(t, http.MethodGet, srv.URL+"/api/users/count"); got != http.StatusForbidden {
			t.Errorf("anonymous GET /api/users/count after a preview: status = %d, want 403", got)
		}
		p.clearStatus("policy-status")
		p.do("apply", chromedp.Click(chromedp.CSS("#policy-apply")))
		p.waitText("#policy-status", "Applied: revision")
		p.waitText("#policy-status", "1 decision changed.")
		if got := anonymousStatus(t, http.MethodGet, srv.URL+"/api/users/count"); got != http.StatusOK {
			t.Errorf("anonymous GET /api/users/count after apply: status = %d, want 200", got)
		}
		p.waitTrue("the applied CSV is shown", `document.getElementById('policy-csv').value.includes('p, public, /api/users/count, GET')`)
	}) {
		return
	}

	t.Run("policy: a bad line shows the API error and changes nothing", func(t *testing.T) {
		p.t = t
		before := a.enforcer.Revision()
		csv := eval[string](p, `document.getElementById('policy-csv').value`)
		edited := strings.TrimRight(csv, "\n") + "\np, public, /api/users\np, public, /api/users/:id, GET\n"
		badLine := strings.Count(strings.TrimRight(csv, "\n"), "\n") + 2
		p.clearStatus("policy-status")
		p.do("apply a bad CSV", chromedp.SetValue(chromedp.CSS("#policy-csv"), edited), chromedp.Click(chromedp.CSS("#policy-apply")))
		want := fmt.Sprintf("line %d: a p row is: p, ROLE, ROUTE, METHOD", badLine)
		p.waitText("#policy-status", want)
		if got := p.text("#policy-status"); !regexp.MustCompile(`^line \d+: `).MatchString(got) {
			t.Errorf("status = %q, want the API's message %q", got, want)
		}
		if a.enforcer.Revision() != before {
			t.Errorf("policy revision moved from %d to %d after a refused CSV", before, a.enforcer.Revision())
		}
		for _, path := range []string{"/api/users", "/api/users/1"} {
			if got := anonymousStatus(t, http.MethodGet, srv.URL+path); got != http.StatusForbidden {
				t.Errorf("anonymous GET %s after a refused CSV: status = %d, want 403", path, got)
			}
		}
		if got := eval[string](p, `document.getElementById('policy-csv').value`); got != edited {
			t.Errorf("the editor lost the user's text after an error")
		}
	})

	t.Run("policy: reload from the database", func(t *testing.T) {
		p.t = t
		if err := a.store.DB.Exec(`INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES ('p', 'authenticated', '/api/users/count', 'GET', '', '', '')`).Error; err != nil {
			t.Fatal(err)
		}
		p.clearStatus("policy-status")
		p.do("reload", chromedp.Click(chromedp.CSS("#policy-reload")))
		p.waitText("#policy-status", "Reloaded from the database: revision")
		p.waitTrue("the CSV shows the row added by SQL", `document.getElementById('policy-csv').value.includes('p, authenticated, /api/users/count, GET')`)
		if ok, _ := a.enforcer.Allow("authenticated", "/api/users/count", "GET"); !ok {
			t.Errorf("the enforcer did not reload the row added by SQL")
		}
	})

	t.Run("policy: check a decision", func(t *testing.T) {
		p.t = t
		p.do("check public GET /api/users/me",
			chromedp.SetValue(chromedp.CSS("#check-role"), "public"),
			chromedp.SetValue(chromedp.CSS("#check-method"), "GET"),
			chromedp.SetValue(chromedp.CSS("#check-path"), "/api/users/me"),
			chromedp.Click(chromedp.CSS("#check-submit")))
		p.waitText("#check-result", "Denied")
		p.waitText("#check-result", "p, public, /api/users/me, GET")
		p.waitText("#check-result", "plugin::users-permissions.user.me")
		p.do("check admin DELETE /api/users/42",
			chromedp.SetValue(chromedp.CSS("#check-role"), "admin"),
			chromedp.SetValue(chromedp.CSS("#check-method"), "DELETE"),
			chromedp.SetValue(chromedp.CSS("#check-path"), "/api/users/42"),
			chromedp.Click(chromedp.CSS("#check-submit")))
		p.waitText("#check-result", "Allowed")
		p.waitText("#check-result", "p, admin, /api/users/*, *")
		p.waitText("#check-result", "admin → authenticated")
		p.do("check an unknown path",
			chromedp.SetValue(chromedp.CSS("#check-path"), "/api/nothing"),
			chromedp.Click(chromedp.CSS("#check-submit")))
		p.waitText("#check-status", "No route matches DELETE /api/nothing")
	})

	t.Run("log out forgets the token", func(t *testing.T) {
		p.t = t
		p.do("log out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
		if got := eval[int](p, `sessionStorage.length`); got != 0 {
			t.Errorf("sessionStorage has %d items after logging out", got)
		}
		if got := eval[string](p, `document.getElementById('policy-csv').value`); got != "" {
			t.Errorf("the policy is still in the page after logging out")
		}
	})

	// The page must run without exceptions and without CSP violations (an
	// inline script or style would be one). Failed API calls (4xx) are logged
	// by the browser as network entries: expected.
	for _, m := range consoleMessages() {
		if m.IsException() || m.Source == "security" || (m.Type == chromedp.ConsoleError && m.Source != "network") {
			t.Errorf("browser console: %s %s: %s (%s:%d)", m.Type, m.Source, m.Text, m.URL, m.Line+1)
		}
	}
}

// screenshot writes a PNG of the whole page into the test's temporary
// directory, and into GATEHOUSE_TEST_SCREENSHOTS when set (to look at it
// after the run).
func (p *browserPage) screenshot(name string) {
	t := p.t
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot %s is not a PNG", name)
	}
	dirs := []string{t.TempDir()}
	if d := os.Getenv("GATEHOUSE_TEST_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		path := filepath.Join(d, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
}
