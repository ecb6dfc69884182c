package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/gatehouse/gatehouse/store"
)

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

	dialogMu      sync.Mutex
	dialogs       []page.EventJavascriptDialogOpening // every dialog the page opened
	acceptConfirm bool                                // answer to confirm(): OK (true) or Cancel
}

// answerConfirm sets the answer to the page's next confirm() dialogs.
func (p *browserPage) answerConfirm(accept bool) {
	p.dialogMu.Lock()
	defer p.dialogMu.Unlock()
	p.acceptConfirm = accept
}

// openedDialogs returns the dialogs the page opened so far.
func (p *browserPage) openedDialogs() []page.EventJavascriptDialogOpening {
	p.dialogMu.Lock()
	defer p.dialogMu.Unlock()
	return append([]page.EventJavascriptDialogOpening(nil), p.dialogs...)
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
	// Dialogs block the page (and the click that opened them) until they
	// are answered: each is recorded, and answered here, a confirm() as
	// answerConfirm says, anything else dismissed.
	p := &browserPage{t: t, ctx: ctx}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			p.dialogMu.Lock()
			p.dialogs = append(p.dialogs, ev)
			accept := ev.Type == page.DialogTypeConfirm && p.acceptConfirm
			p.dialogMu.Unlock()
			if _, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept}); err != nil {
				return
			}
		}
	}()
	return p, func() []chromedp.ConsoleMessage {
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
	srv := startGatehouse(t)
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
		// No Delete button (parity_browser_test.go checks every system
		// role), and the API refuses it anyway.
		p.waitTrue("public has no Delete button", `document.getElementById('role-delete').getClientRects().length === 0`)
		status, body := apiRequest(t, http.MethodDelete, srv.URL+"/api/users-permissions/roles/2", adminToken(t, srv.URL), nil)
		if status != http.StatusBadRequest || !strings.Contains(string(body), "Cannot delete public role") {
			t.Errorf("DELETE public: status = %d, want 400 Cannot delete public role\n%s", status, body)
		}
		if _, err := srv.store.Roles().ByType(ctx, "public"); err != nil {
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
		roles, err := srv.store.Roles().List(ctx)
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
		if _, err := srv.store.Roles().ByType(ctx, roleType); err == nil {
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
		token := adminToken(t, srv.URL)
		before := srv.policyRevision(t, token)
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
		if after := srv.policyRevision(t, token); after != before {
			t.Errorf("policy revision moved from %d to %d after a refused CSV", before, after)
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
		if err := srv.store.DB.Exec(`INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES ('p', 'authenticated', '/api/users/count', 'GET', '', '', '')`).Error; err != nil {
			t.Fatal(err)
		}
		p.clearStatus("policy-status")
		p.do("reload", chromedp.Click(chromedp.CSS("#policy-reload")))
		p.waitText("#policy-status", "Reloaded from the database: revision")
		p.waitTrue("the CSV shows the row added by SQL", `document.getElementById('policy-csv').value.includes('p, authenticated, /api/users/count, GET')`)
		if !srv.allowed(t, adminToken(t, srv.URL), "authenticated", http.MethodGet, "/api/users/count") {
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

	testAdminPageUsers(t, p, srv)
	testAdminPageTemplates(t, p, srv)
	testAdminPageProviders(t, p, srv)

	t.Run("log out forgets the token", func(t *testing.T) {
		p.t = t
		p.do("log out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
		if got := eval[int](p, `sessionStorage.length`); got != 0 {
			t.Errorf("sessionStorage has %d items after logging out", got)
		}
		if got := eval[string](p, `document.getElementById('policy-csv').value`); got != "" {
			t.Errorf("the policy is still in the page after logging out")
		}
		for _, sel := range []string{"#users-body", "#templates-forms", "#providers-body", "#provider-fields"} {
			if got := p.text(sel); got != "" {
				t.Errorf("%s still shows %q after logging out", sel, got)
			}
		}
	})

	// The only dialogs are the deletion's confirm(): no alert, whatever the
	// user names held.
	for _, d := range p.openedDialogs() {
		if d.Type != page.DialogTypeConfirm || !strings.HasPrefix(d.Message, "Delete the user") {
			t.Errorf("the page opened a %s dialog: %q", d.Type, d.Message)
		}
	}

	// The page must run without exceptions and without CSP violations.
	checkConsole(t, consoleMessages())
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

// apiRequest sends a JSON request (token "" for none) and returns the status
// and the body.
func apiRequest(t *testing.T, method, url, token string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// loginStatus is the status and body of POST /api/auth/local.
func loginStatus(t *testing.T, srvURL, identifier, password string) (int, string) {
	t.Helper()
	status, body := apiRequest(t, http.MethodPost, srvURL+"/api/auth/local", "", map[string]string{"identifier": identifier, "password": password})
	return status, string(body)
}

// adminToken logs the admin in from Go.
func adminToken(t *testing.T, srvURL string) string {
	t.Helper()
	status, body := apiRequest(t, http.MethodPost, srvURL+"/api/auth/local", "", map[string]string{"identifier": adminPageEmail, "password": adminPagePassword})
	var out struct {
		JWT string `json:"jwt"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil || out.JWT == "" {
		t.Fatalf("POST /api/auth/local as the admin: status = %d, want 200\n%s", status, body)
	}
	return out.JWT
}

// holdRequests makes the page's fetch calls wait until releaseRequests, to
// see the page while a request is in flight.
func (p *browserPage) holdRequests() {
	p.t.Helper()
	eval[chromedp.Void](p, `(() => {
		const original = window.fetch;
		let release;
		const gate = new Promise((resolve) => { release = resolve; });
		window.fetch = (...args) => gate.then(() => original(...args));
		window.releaseRequests = () => { window.fetch = original; release(); };
	})()`)
}

// releaseRequests lets the held requests go and stops holding new ones.
func (p *browserPage) releaseRequests() {
	p.t.Helper()
	eval[chromedp.Void](p, `window.releaseRequests()`)
}

// waitUsersList waits until the users list is shown and its latest load has
// finished.
func (p *browserPage) waitUsersList() {
	p.t.Helper()
	p.waitTrue("the users list is loaded", `!document.getElementById('users-view').hidden && !document.getElementById('users-table').hasAttribute('aria-busy')`)
}

// waitProvidersList waits until the providers list is shown and loaded.
func (p *browserPage) waitProvidersList() {
	p.t.Helper()
	p.waitTrue("the providers list is loaded", `!document.getElementById('providers-view').hidden && !document.getElementById('providers-table').hasAttribute('aria-busy')`)
}

// noSecretsInPage fails when the page's markup or any field's value holds one
// of the strings.
func (p *browserPage) noSecretsInPage(secrets ...string) {
	p.t.Helper()
	page := eval[string](p, `document.documentElement.outerHTML + '\n' + [...document.querySelectorAll('input, textarea, select')].map(e => e.value).join('\n')`)
	for _, s := range secrets {
		if strings.Contains(page, s) {
			p.t.Errorf("the page shows %q", s)
		}
	}
}

const xssUsername = `<img src=x onerror=alert(1)>`

// testAdminPageUsers drives the users screen: pages, search, a username
// that is markup, a role change, block and unblock, confirm and delete,
// each checked in the database or through the API.
func testAdminPageUsers(t *testing.T, p *browserPage, srv *gatehouse) {
	ctx := context.Background()
	token := adminToken(t, srv.URL)
	create := func(username, email, password string, confirmed bool) uint {
		t.Helper()
		status, body := apiRequest(t, http.MethodPost, srv.URL+"/api/users", token,
			map[string]any{"username": username, "email": email, "password": password, "confirmed": confirmed})
		var u struct {
			ID uint `json:"id"`
		}
		if status != http.StatusCreated || json.Unmarshal(body, &u) != nil {
			t.Fatalf("POST /api/users %s: status = %d, want 201\n%s", username, status, body)
		}
		return u.ID
	}
	xssID := create(xssUsername, "xss@example.com", "xss-user-password", true)
	carolID := create("carol", "carol@example.com", "carol-password", false)
	for i := 1; i <= 11; i++ {
		create(fmt.Sprintf("user%02d", i), fmt.Sprintf("user%02d@example.org", i), "filler-password", true)
	}
	daveID := create("dave", "dave@example.com", "dave-password", true)
	adminRole, err := srv.store.Roles().ByType(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	row := func(id uint) string { return fmt.Sprintf(`#users-body tr[data-user-id="%d"]`, id) }

	if !t.Run("users: pages and search; a username is text, never HTML", func(t *testing.T) {
		p.t = t
		p.do("open the users tab", chromedp.Click(chromedp.CSS(`#nav a[data-tab="users"]`)))
		p.waitUsersList()
		p.waitText("#users-total", "15 users")
		p.waitText("#users-page", "Page 1 of 2")
		if n := eval[int](p, `document.querySelectorAll('#users-body tr').length`); n != 10 {
			t.Errorf("page 1 shows %d users, want 10", n)
		}
		if !eval[bool](p, `document.getElementById('users-prev').disabled && !document.getElementById('users-next').disabled`) {
			t.Errorf("on page 1 of 2: Previous must be disabled, Next enabled")
		}
		p.screenshot("users-list.png")
		p.do("next page", chromedp.Click(chromedp.CSS("#users-next")))
		p.waitText("#users-page", "Page 2 of 2")
		p.waitUsersList()
		if n := eval[int](p, `document.querySelectorAll('#users-body tr').length`); n != 5 {
			t.Errorf("page 2 shows %d users, want 5", n)
		}
		p.waitText("#users-body", "dave@example.com")

		p.do("search, in another case", chromedp.SetValue(chromedp.CSS("#users-search"), "IMG SRC"), chromedp.Click(chromedp.CSS("#users-search-submit")))
		p.waitText("#users-total", "1 user")
		p.waitUsersList()
		p.waitText("#users-page", "Page 1 of 1")
		if got := p.text(row(xssID) + " .user-name"); got != xssUsername {
			t.Errorf("the username shows as %q, want the text %q", got, xssUsername)
		}
		if n := eval[int](p, `document.querySelectorAll('#users-body img, main img, [onerror]').length`); n != 0 {
			t.Errorf("%d elements were created from a username", n)
		}
		p.do("search by email", chromedp.SetValue(chromedp.CSS("#users-search"), "carol@EXAMPLE"), chromedp.Click(chromedp.CSS("#users-search-submit")))
		p.waitText("#users-total", "1 user")
		p.waitUsersList()
		p.waitText(row(carolID), "Unconfirmed")
		eval[chromedp.Void](p, `document.getElementById('users-search').value = ''`)
		p.do("clear the search", chromedp.Click(chromedp.CSS("#users-search-submit")))
		p.waitText("#users-total", "15 users")
		p.waitUsersList()
		p.noSecretsInPage("$2a$", "$2b$", "carol-password", "xss-user-password")
	}) {
		return
	}

	t.Run("users: change a role", func(t *testing.T) {
		p.t = t
		authenticated, err := srv.store.Roles().ByType(ctx, "authenticated")
		if err != nil {
			t.Fatal(err)
		}
		if got := eval[string](p, fmt.Sprintf(`document.querySelector(%q).value`, row(carolID)+" select.user-role")); got != fmt.Sprint(authenticated.ID) {
			t.Fatalf("carol's role select = %q, want %d (authenticated)", got, authenticated.ID)
		}
		p.clearStatus("users-status")
		eval[chromedp.Void](p, fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event('change')); })()`,
			row(carolID)+" select.user-role", fmt.Sprint(adminRole.ID)))
		p.waitText("#users-status", "Changed the role of carol to Admin.")
		p.waitUsersList()
		u, err := srv.store.Users().ByID(ctx, carolID)
		if err != nil {
			t.Fatal(err)
		}
		if u.RoleID == nil || *u.RoleID != adminRole.ID {
			t.Errorf("carol's role_id = %v, want %d (admin)", u.RoleID, adminRole.ID)
		}
		status, body := apiRequest(t, http.MethodGet, fmt.Sprintf("%s/api/users/%d?populate=role", srv.URL, carolID), token, nil)
		if status != http.StatusOK || !strings.Contains(string(body), `"type":"admin"`) {
			t.Errorf("GET /api/users/%d: status = %d, want 200 with the admin role\n%s", carolID, status, body)
		}
		if got := eval[string](p, fmt.Sprintf(`document.querySelector(%q).value`, row(carolID)+" select.user-role")); got != fmt.Sprint(adminRole.ID) {
			t.Errorf("carol's role select = %q after reloading, want %d", got, adminRole.ID)
		}
	})

	t.Run("users: block, then the login fails; unblock; confirm", func(t *testing.T) {
		p.t = t
		if status, body := loginStatus(t, srv.URL, "carol@example.com", "carol-password"); status != http.StatusOK {
			t.Fatalf("carol's login before blocking: status = %d, want 200\n%s", status, body)
		}
		p.clearStatus("users-status")
		p.holdRequests()
		p.do("block carol", chromedp.Click(chromedp.CSS(row(carolID)+` button[data-action="block"]`)))
		p.waitTrue("carol's row is disabled while the request runs",
			fmt.Sprintf(`[...document.querySelectorAll(%q)].every((e) => e.disabled)`, row(carolID)+" button, "+row(carolID)+" select"))
		p.releaseRequests()
		p.waitText("#users-status", "Blocked carol.")
		p.waitUsersList()
		p.waitText(row(carolID), "Blocked")
		status, body := loginStatus(t, srv.URL, "carol@example.com", "carol-password")
		if status != http.StatusBadRequest || !strings.Contains(body, "Your account has been blocked by an administrator") {
			t.Errorf("carol's login after blocking: status = %d, want 400 blocked\n%s", status, body)
		}

		p.clearStatus("users-status")
		p.do("unblock carol", chromedp.Click(chromedp.CSS(row(carolID)+` button[data-action="unblock"]`)))
		p.waitText("#users-status", "Unblocked carol.")
		p.waitUsersList()
		if status, body := loginStatus(t, srv.URL, "carol", "carol-password"); status != http.StatusOK {
			t.Errorf("carol's login after unblocking: status = %d, want 200\n%s", status, body)
		}

		p.clearStatus("users-status")
		p.do("confirm carol", chromedp.Click(chromedp.CSS(row(carolID)+` button[data-action="confirm"]`)))
		p.waitText("#users-status", "Confirmed carol.")
		p.waitUsersList()
		p.waitTrue("the Confirm button is gone", fmt.Sprintf(`document.querySelector(%q) === null`, row(carolID)+` button[data-action="confirm"]`))
		if u, err := srv.store.Users().ByID(ctx, carolID); err != nil || !u.Confirmed || u.Blocked {
			t.Errorf("carol: confirmed = %v, blocked = %v (%v); want confirmed and not blocked", u.Confirmed, u.Blocked, err)
		}
	})

	t.Run("users: delete asks first", func(t *testing.T) {
		p.t = t
		p.do("next page", chromedp.Click(chromedp.CSS("#users-next")))
		p.waitText("#users-page", "Page 2 of 2")
		p.waitUsersList()
		p.answerConfirm(false)
		p.do("delete dave, then cancel", chromedp.Click(chromedp.CSS(row(daveID)+` button[data-action="delete"]`)))
		if d := p.openedDialogs(); len(d) != 1 || !strings.Contains(d[0].Message, "dave@example.com") {
			t.Fatalf("dialogs = %+v, want one confirm naming dave", d)
		}
		if _, err := srv.store.Users().ByID(ctx, daveID); err != nil {
			t.Fatalf("dave after a cancelled deletion: %v", err)
		}
		p.answerConfirm(true)
		p.clearStatus("users-status")
		p.do("delete dave", chromedp.Click(chromedp.CSS(row(daveID)+` button[data-action="delete"]`)))
		p.waitText("#users-status", "Deleted the user dave.")
		p.waitUsersList()
		p.waitText("#users-total", "14 users")
		p.waitTrue("dave's row is gone", fmt.Sprintf(`document.querySelector(%q) === null`, row(daveID)))
		if _, err := srv.store.Users().ByID(ctx, daveID); err == nil {
			t.Errorf("dave is still in the database")
		}
		if status, _ := loginStatus(t, srv.URL, "dave@example.com", "dave-password"); status != http.StatusBadRequest {
			t.Errorf("dave's login after deletion: status = %d, want 400", status)
		}
		p.answerConfirm(false)
	})
}

// testAdminPageTemplates edits the reset-password template, reads it back
// through the API, and checks that a template the server refuses shows its
// error and changes nothing.
func testAdminPageTemplates(t *testing.T, p *browserPage, srv *gatehouse) {
	const msg = "#tpl-reset_password-message"
	type options struct {
		From          struct{ Name, Email string } `json:"from"`
		ResponseEmail string                       `json:"response_email"`
		Object        string                       `json:"object"`
		Message       string                       `json:"message"`
	}
	type template struct {
		Options options `json:"options"`
	}
	readBack := func(t *testing.T) map[string]template {
		t.Helper()
		status, body := apiRequest(t, http.MethodGet, srv.URL+"/api/users-permissions/email-templates", adminToken(t, srv.URL), nil)
		var out map[string]template
		if status != http.StatusOK || json.Unmarshal(body, &out) != nil {
			t.Fatalf("GET /api/users-permissions/email-templates: status = %d, want 200\n%s", status, body)
		}
		return out
	}

	t.Run("email templates: edit, save, read back", func(t *testing.T) {
		p.t = t
		p.do("open the templates tab", chromedp.Click(chromedp.CSS(`#nav a[data-tab="email-templates"]`)), chromedp.WaitVisible(chromedp.CSS(msg)))
		p.waitTrue("the templates are loaded", `document.querySelector('#tpl-reset_password-message').value.includes('<p>We heard that you lost your password.')`)
		p.waitTrue("both templates are shown", `document.querySelector('#tpl-email_confirmation-message').value.includes('?confirmation=<%= CODE %>')`)
		// The HTML of the templates is text in the fields, not elements.
		if n := eval[int](p, `document.querySelectorAll('#templates-forms p:not(.muted)').length`); n != 0 {
			t.Errorf("%d paragraphs were created from template HTML", n)
		}
		p.screenshot("email-templates.png")
		const message = "<p>Reset it here: <%= URL %>?code=<%= TOKEN %></p>\n<p>— the <b>Gatehouse</b> team</p>"
		p.do("edit the reset-password template",
			chromedp.SetValue(chromedp.CSS("#tpl-reset_password-from-name"), "Gatehouse <team>"),
			chromedp.SetValue(chromedp.CSS("#tpl-reset_password-from-email"), "team@example.com"),
			chromedp.SetValue(chromedp.CSS("#tpl-reset_password-reply-to"), "help@example.com"),
			chromedp.SetValue(chromedp.CSS("#tpl-reset_password-subject"), "Your new Gatehouse password, <%= USER.username %>"),
			chromedp.SetValue(chromedp.CSS(msg), message))
		p.holdRequests()
		p.do("save", chromedp.Click(chromedp.CSS("#tpl-reset_password-save")))
		p.waitText("#tpl-reset_password-status", "Saving…")
		if !eval[bool](p, `document.getElementById('tpl-reset_password-save').disabled`) {
			t.Errorf("Save is enabled while its request runs")
		}
		p.releaseRequests()
		p.waitText("#tpl-reset_password-status", "Saved the Reset password template.")
		if !eval[bool](p, `!document.getElementById('tpl-reset_password-save').disabled`) {
			t.Errorf("Save stays disabled after the answer")
		}
		got := readBack(t)["reset_password"].Options
		if got.From.Name != "Gatehouse <team>" || got.From.Email != "team@example.com" || got.ResponseEmail != "help@example.com" ||
			got.Object != "Your new Gatehouse password, <%= USER.username %>" || got.Message != message {
			t.Errorf("stored reset_password = %+v, want the edited values", got)
		}
		if n := eval[int](p, `document.querySelectorAll('#templates-forms b').length`); n != 0 {
			t.Errorf("the template's <b> became an element")
		}
	})

	t.Run("email templates: the server's validation error is shown", func(t *testing.T) {
		p.t = t
		before := readBack(t)["reset_password"].Options
		p.do("save a template with an unknown variable",
			chromedp.SetValue(chromedp.CSS(msg), "<p><%= PASSWORD %></p>"),
			chromedp.Click(chromedp.CSS("#tpl-reset_password-save")))
		p.waitText("#tpl-reset_password-status", "Invalid template")
		p.waitText("#tpl-reset_password-status", "is not one of the keys")
		if got := readBack(t)["reset_password"].Options; got != before {
			t.Errorf("a refused template changed the stored one: %+v, want %+v", got, before)
		}
		if got := eval[string](p, `document.querySelector('#tpl-reset_password-message').value`); got != "<p><%= PASSWORD %></p>" {
			t.Errorf("the editor lost the user's text after an error: %q", got)
		}
		p.do("save a bad sender address",
			chromedp.SetValue(chromedp.CSS("#tpl-email_confirmation-from-email"), "not-an-address"),
			chromedp.Click(chromedp.CSS("#tpl-email_confirmation-save")))
		p.waitText("#tpl-email_confirmation-status", "options.from.email must be a valid email")
		if !eval[bool](p, `!document.getElementById('tpl-email_confirmation-save').disabled`) {
			t.Errorf("the Save button stays disabled after the answer")
		}
	})
}

// testAdminPageProviders drives the providers screen: the list, an enable
// the server refuses, the editor (enable GitHub, read it back), the secret
// kept write-only, and the list's toggle.
func testAdminPageProviders(t *testing.T, p *browserPage, srv *gatehouse) {
	const secret = "gh-client-secret-value-42"
	type provider struct {
		Enabled  bool     `json:"enabled"`
		Key      string   `json:"key"`
		Secret   string   `json:"secret"`
		Callback string   `json:"callback"`
		Scope    []string `json:"scope"`
	}
	readBack := func(t *testing.T) provider {
		t.Helper()
		status, body := apiRequest(t, http.MethodGet, srv.URL+"/api/users-permissions/providers", adminToken(t, srv.URL), nil)
		var out map[string]provider
		if status != http.StatusOK || json.Unmarshal(body, &out) != nil {
			t.Fatalf("GET /api/users-permissions/providers: status = %d, want 200\n%s", status, body)
		}
		return out["github"]
	}
	storedSecret := func(t *testing.T) string {
		t.Helper()
		var grant map[string]provider
		if _, err := srv.store.Settings().Get(context.Background(), store.KeyGrant, &grant); err != nil {
			t.Fatal(err)
		}
		return grant["github"].Secret
	}
	const github = `#providers-body tr[data-provider="github"]`

	t.Run("providers: enabling without a key shows the API's errors", func(t *testing.T) {
		p.t = t
		p.do("open the providers tab", chromedp.Click(chromedp.CSS(`#nav a[data-tab="providers"]`)))
		p.waitProvidersList()
		p.waitText(`#providers-body tr[data-provider="email"]`, "password login")
		if !p.checked(`#providers-body tr[data-provider="email"] input.provider-enabled`) || p.checked(github+" input.provider-enabled") {
			t.Errorf("the list shows email off or github on")
		}
		p.waitText(github+" td:nth-child(4)", "not set")
		p.clearStatus("providers-status")
		p.do("tick github", chromedp.Click(chromedp.CSS(github+" input.provider-enabled")))
		p.waitText("#providers-status", "2 errors occurred")
		p.waitText("#providers-status", "key is required when the provider is enabled")
		p.waitText("#providers-status", "callback is required when the provider is enabled")
		if p.checked(github + " input.provider-enabled") {
			t.Errorf("the github toggle stays on after the server refused it")
		}
		if got := readBack(t); got.Enabled {
			t.Errorf("github is enabled after a refused change")
		}
	})

	t.Run("providers: enable github in the editor and read it back; the secret is write-only", func(t *testing.T) {
		p.t = t
		p.do("open github", chromedp.Click(chromedp.CSS(github+" a.role-link")), chromedp.WaitVisible(chromedp.CSS("#provider-key")))
		p.waitText("#provider-title", "github")
		p.waitText("#provider-redirect", "/api/connect/github/callback")
		p.waitText("#provider-secret-state", "not set")
		p.do("fill it in and save",
			chromedp.Click(chromedp.CSS("#provider-enabled")),
			chromedp.SetValue(chromedp.CSS("#provider-key"), "gh-client-id"),
			chromedp.SetValue(chromedp.CSS("#provider-secret"), secret),
			chromedp.SetValue(chromedp.CSS("#provider-callback"), "https://app.example.com/connect/github/redirect"),
			chromedp.SetValue(chromedp.CSS("#provider-scope"), "read:user, user:email"),
			chromedp.Click(chromedp.CSS("#provider-save")))
		p.waitText("#provider-status", "Saved github.")
		got := readBack(t)
		if !got.Enabled || got.Key != "gh-client-id" || got.Callback != "https://app.example.com/connect/github/redirect" ||
			strings.Join(got.Scope, " ") != "read:user user:email" || got.Secret != "••••••••" {
			t.Errorf("GET providers github = %+v, want enabled with the values saved and the secret masked", got)
		}
		if s := storedSecret(t); s != secret {
			t.Errorf("stored secret = %q, want the one typed", s)
		}
		p.waitTrue("the secret is said to be set", `document.querySelector('#provider-secret-state .flag').textContent === 'set'`)
		if got := eval[string](p, `document.getElementById('provider-secret').value`); got != "" {
			t.Errorf("the secret field holds %q after saving, want it empty", got)
		}
		p.noSecretsInPage(secret, "••••••••")
		p.screenshot("provider-editor.png")

		p.clearStatus("provider-status")
		p.do("change the key only", chromedp.SetValue(chromedp.CSS("#provider-key"), "gh-client-id-2"), chromedp.Click(chromedp.CSS("#provider-save")))
		p.waitText("#provider-status", "Saved github.")
		if got := readBack(t); got.Key != "gh-client-id-2" || !got.Enabled {
			t.Errorf("GET providers github = %+v, want key gh-client-id-2, still enabled", got)
		}
		if s := storedSecret(t); s != secret {
			t.Errorf("stored secret = %q after a save with the field left empty, want it kept", s)
		}

		p.clearStatus("provider-status")
		p.do("a callback the server refuses", chromedp.SetValue(chromedp.CSS("#provider-callback"), "javascript:alert(1)"), chromedp.Click(chromedp.CSS("#provider-save")))
		p.waitText("#provider-status", "callback must be an absolute URL")
		if got := readBack(t); got.Callback != "https://app.example.com/connect/github/redirect" {
			t.Errorf("callback = %q after a refused save", got.Callback)
		}
	})

	t.Run("providers: the list's toggle", func(t *testing.T) {
		p.t = t
		p.do("back to the list", chromedp.Click(chromedp.CSS(`.crumbs a[href="#/providers"]`)))
		p.waitProvidersList()
		p.waitText(github, "gh-client-id-2")
		if got := p.text(github + " td:nth-child(4)"); got != "set" {
			t.Errorf("the list's secret column = %q, want set", got)
		}
		if !p.checked(github + " input.provider-enabled") {
			t.Fatalf("the list shows github off")
		}
		p.clearStatus("providers-status")
		p.do("untick github", chromedp.Click(chromedp.CSS(github+" input.provider-enabled")))
		p.waitText("#providers-status", "Disabled github.")
		if got := readBack(t); got.Enabled || got.Key != "gh-client-id-2" {
			t.Errorf("GET providers github = %+v, want disabled with its key kept", got)
		}
		p.waitProvidersList()
		p.noSecretsInPage(secret, "••••••••")
	})
}
