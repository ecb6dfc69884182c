package browsertest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestAdminPageAppFunctions: a protected app's functions (ROUTES_FILE) show
// in the admin page's permission grid like Gatehouse's own; ticking one for
// the public role lets an anonymous request through gateway mode to the app,
// unticking it stops it there.
func TestAdminPageAppFunctions(t *testing.T) {
	bin := chromiumPath(t)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "the app's posts")
	}))
	t.Cleanup(app.Close)
	routes := filepath.Join(t.TempDir(), "functions.yaml")
	if err := os.WriteFile(routes, []byte(`upstream: `+app.URL+`
functions:
  - name: api::post.post.find
    method: GET
    path: /api/posts
  - name: api::post.post.findOne
    method: GET
    path: /api/posts/:id
  - name: api::comment.comment.create
    method: POST
    path: /api/posts/:id/comments
`), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startGatehouse(t, "ROUTES_FILE="+routes, "GATEWAY=true")
	p, consoleMessages := newBrowserPage(t, bin)
	postFind := `input[data-function="api::post.post.find"]`

	p.do("open the page", chromedp.Navigate(srv.URL+"/admin"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	p.do("log in",
		chromedp.SetValue(chromedp.CSS("#login-identifier"), adminPageEmail),
		chromedp.SetValue(chromedp.CSS("#login-password"), adminPagePassword),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#roles-view")))
	p.waitRolesList()
	p.do("open the public role",
		chromedp.Click(chromedp.CSS(`#roles-body tr[data-role-type="public"] a.role-link`)),
		chromedp.WaitVisible(chromedp.CSS(postFind)))
	for _, fn := range []string{"api::post.post.findOne", "api::comment.comment.create", "plugin::users-permissions.user.find"} {
		if n := eval[int](p, `document.querySelectorAll('input[data-function="`+fn+`"]').length`); n != 1 {
			t.Errorf("the grid has %d checkboxes for %s, want 1", n, fn)
		}
	}
	p.waitText(`fieldset[data-controller="post"]`, "findOne")
	if p.checked(postFind) {
		t.Fatal("api::post.post.find is ticked for public before any change")
	}
	if got := anonymousStatus(t, http.MethodGet, srv.URL+"/api/posts"); got != http.StatusForbidden {
		t.Fatalf("anonymous GET /api/posts before: status = %d, want 403", got)
	}

	p.clearStatus("role-status")
	p.do("tick post.find and save", chromedp.Click(chromedp.CSS(postFind)), chromedp.Click(chromedp.CSS("#role-save")))
	p.waitText("#role-status", "Saved Public.")
	status, body := apiRequest(t, http.MethodGet, srv.URL+"/api/posts", "", nil)
	if status != http.StatusOK || string(body) != "the app's posts" {
		t.Errorf("anonymous GET /api/posts after ticking post.find: %d %q, want 200 from the app", status, body)
	}
	p.screenshot("app-functions.png")

	p.clearStatus("role-status")
	p.do("untick post.find and save", chromedp.Click(chromedp.CSS(postFind)), chromedp.Click(chromedp.CSS("#role-save")))
	p.waitText("#role-status", "Saved Public.")
	if got := anonymousStatus(t, http.MethodGet, srv.URL+"/api/posts"); got != http.StatusForbidden {
		t.Errorf("anonymous GET /api/posts after unticking: status = %d, want 403", got)
	}
	for _, m := range consoleMessages() {
		if m.IsException() || m.Source == "security" || (m.Type == chromedp.ConsoleError && m.Source != "network") {
			t.Errorf("browser console: %s %s: %s (%s:%d)", m.Type, m.Source, m.Text, m.URL, m.Line+1)
		}
	}
}
