package browsertest

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestHistoryTabBrowser: a change made through the admin page's grid (user
// destroy opened to Public) appears first in the History tab, by the admin
// from the admin page; expanded, it shows the row and the flip in red;
// restoring the revision before it shows the flips it would undo and then
// puts the policy back (anonymous DELETE /api/users/:id is refused again),
// as a new entry.
func TestHistoryTabBrowser(t *testing.T) {
	bin := chromiumPath(t)
	srv := startGatehouse(t)
	p, consoleMessages := newBrowserPage(t, bin)
	const userDestroy = `input[data-function="plugin::users-permissions.user.destroy"]`

	p.do("open the page and log in", chromedp.Navigate(srv.URL+"/admin"), chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SetValue(chromedp.CSS("#login-identifier"), adminPageEmail),
		chromedp.SetValue(chromedp.CSS("#login-password"), adminPagePassword),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#roles-view")))
	p.waitRolesList()
	before := srv.policyRevision(t, adminToken(t, srv.URL))

	p.do("open the public role", chromedp.Click(chromedp.CSS(`#roles-body tr[data-role-type="public"] a.role-link`)),
		chromedp.WaitVisible(chromedp.CSS(userDestroy)))
	p.clearStatus("role-status")
	p.do("tick user.destroy and save", chromedp.Click(chromedp.CSS(userDestroy)), chromedp.Click(chromedp.CSS("#role-save")))
	// Giving Public a write route asks first.
	p.waitTrue("the warning or the save", `!document.getElementById('public-warning').hidden || document.getElementById('role-status').textContent.includes('Saved')`)
	if eval[bool](p, `!document.getElementById('public-warning').hidden`) {
		p.do("confirm the warning", chromedp.Click(chromedp.CSS("#public-warning-save")))
	}
	p.waitText("#role-status", "Saved Public.")
	if got := anonymousStatus(t, http.MethodDelete, srv.URL+"/api/users/999"); got == http.StatusForbidden {
		t.Fatalf("anonymous DELETE /api/users/999 after ticking user.destroy: 403")
	}

	p.do("open the History tab", chromedp.Click(chromedp.CSS(`#nav a[data-tab="history"]`)), chromedp.WaitVisible(chromedp.CSS("#history-view")))
	p.waitTrue("the timeline is loaded", `document.querySelectorAll('#history-list li.history-entry').length >= 2`)
	first := p.text("#history-list li.history-entry:first-child .history-toggle")
	if !strings.Contains(first, "admin") || !strings.Contains(first, "+1") {
		t.Errorf("newest entry = %q, want the change by admin from the admin page adding one row", first)
	}
	if !strings.Contains(first, " admin ") && !strings.Contains(p.text("#history-list li.history-entry:first-child .history-source"), "admin") {
		t.Errorf("newest entry's source = %q, want admin", p.text("#history-list li.history-entry:first-child .history-source"))
	}
	p.do("expand it", chromedp.Click(chromedp.CSS("#history-list li.history-entry:first-child .history-toggle")))
	p.waitText("#history-list li.history-entry:first-child .history-details", "+ p, public, /api/users/:id, DELETE")
	red := eval[[]string](p, `[...document.querySelectorAll('#history-list li.history-entry:first-child tr.opened-public')].map(tr => tr.dataset.flip)`)
	if len(red) != 1 || red[0] != "public DELETE /api/users/:id" {
		t.Errorf("flips in red = %q, want exactly public DELETE /api/users/:id", red)
	}
	if color := eval[string](p, `getComputedStyle(document.querySelector('#history-list tr.opened-public td')).color`); color != "rgb(192, 38, 45)" {
		t.Errorf("the opened write route's color = %s, want the danger red rgb(192, 38, 45)", color)
	}

	// Restore the revision before the change: the second entry.
	second := `#history-list li.history-entry:nth-child(2)`
	rev := eval[string](p, `document.querySelector('`+second+`').dataset.revision`)
	if n, _ := strconv.ParseInt(rev, 10, 64); n != before {
		t.Errorf("second entry is revision %s, want %d (the revision before the change)", rev, before)
	}
	p.do("expand the previous revision", chromedp.Click(chromedp.CSS(second+" .history-toggle")))
	p.do("preview restoring it", chromedp.WaitVisible(chromedp.CSS(second+" .history-restore")), chromedp.Click(chromedp.CSS(second+" .history-restore")))
	p.waitText(second+" .history-preview", "1 decision(s) would change")
	p.waitText(second+" .history-preview", "allow → deny")
	if got := anonymousStatus(t, http.MethodDelete, srv.URL+"/api/users/999"); got == http.StatusForbidden {
		t.Fatalf("the preview reverted the policy")
	}
	p.do("restore it", chromedp.Click(chromedp.CSS(second+" .history-confirm")))
	p.waitText("#history-status", "Restored revision "+rev)
	if got := anonymousStatus(t, http.MethodDelete, srv.URL+"/api/users/999"); got != http.StatusForbidden {
		t.Errorf("anonymous DELETE /api/users/999 after the restore: status = %d, want 403", got)
	}
	p.waitTrue("the restore is the newest entry", `(document.querySelector('#history-list li.history-entry .history-toggle') || {textContent: ''}).textContent.includes('restored revision `+rev+`')`)
	p.screenshot("history-tab.png")
	checkConsole(t, consoleMessages())
}
