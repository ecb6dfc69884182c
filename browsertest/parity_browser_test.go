package browsertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// logIn opens the admin page and logs the admin in.
func (p *browserPage) logIn(srvURL string) {
	p.t.Helper()
	p.do("open the page", chromedp.Navigate(srvURL+"/admin"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	p.do("log in",
		chromedp.SetValue(chromedp.CSS("#login-identifier"), adminPageEmail),
		chromedp.SetValue(chromedp.CSS("#login-password"), adminPagePassword),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#roles-view")))
	p.waitRolesList()
}

// goTo changes the page's hash and waits for the view to be shown.
func (p *browserPage) goTo(hash, view string) {
	p.t.Helper()
	eval[chromedp.Void](p, fmt.Sprintf(`location.hash = %q`, hash))
	p.waitTrue("the view "+view+" is shown", fmt.Sprintf(`!document.getElementById(%q).hidden`, view))
}

// getJSON is an admin GET of the API, decoded into v.
func getJSON(t *testing.T, url, token string, v any) {
	t.Helper()
	status, body := apiRequest(t, http.MethodGet, url, token, nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s: status = %d, want 200\n%s", url, status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, body)
	}
}

// offScreenControls lists every visible control (link, button, input,
// select, textarea, chip label) whose bounding box leaves the viewport's
// width, and a page wider than the viewport. A control inside a table that
// scrolls in its card counts where scrolling that table brings it.
const offScreenControls = `(() => {
  const vw = document.documentElement.clientWidth;
  const bad = [];
  if (document.documentElement.scrollWidth > vw + 1) bad.push('the page is ' + document.documentElement.scrollWidth + 'px wide');
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '') +
    ' "' + (el.textContent || el.value || '').trim().slice(0, 30) + '"';
  let visible = 0;
  for (const el of document.querySelectorAll('a[href], button, input, select, textarea, label.chip')) {
    if (el.getClientRects().length === 0 || getComputedStyle(el).visibility === 'hidden') continue;
    if (el.closest('.sr-only')) continue;
    visible++;
    let r = el.getBoundingClientRect();
    const scroller = el.closest('.table-scroll');
    if (scroller && (r.left < 0 || r.right > vw)) {
      const before = scroller.scrollLeft;
      scroller.scrollLeft += r.right > vw ? r.right - scroller.getBoundingClientRect().right + 8 : r.left - scroller.getBoundingClientRect().left - 8;
      r = el.getBoundingClientRect();
      scroller.scrollLeft = before;
    }
    if (r.left < -1 || r.right > vw + 1) bad.push(name(el) + ' spans ' + Math.round(r.left) + '…' + Math.round(r.right) + 'px');
  }
  if (visible === 0) bad.push('no visible control at all');
  return bad;
})()`

// checkNarrow fails the test for each control of the current screen off a
// 420 px wide viewport.
func (p *browserPage) checkNarrow(screen string) {
	p.t.Helper()
	if bad := eval[[]string](p, offScreenControls); len(bad) > 0 {
		p.t.Errorf("%s at 420 px: %d controls off-screen:\n%s", screen, len(bad), strings.Join(bad, "\n"))
	}
}

// TestAdminPageParityBrowser drives issue 16's admin screens in headless
// Chromium against the real binary: the first-admin hint on the login card,
// the Advanced settings screen, no Delete button on system roles, the
// warning before giving Public a write route or an inherited role, lint
// findings in the policy preview, adding, editing and removing custom
// providers, and every screen at a 420 px wide viewport.
func TestAdminPageParityBrowser(t *testing.T) {
	bin := chromiumPath(t)
	srv := startGatehouse(t)
	p, consoleMessages := newBrowserPage(t, bin)
	token := adminToken(t, srv.URL)
	up := srv.URL + "/api/users-permissions"
	for _, body := range []map[string]string{{"name": "Member", "type": "member"}, {"name": "Editors"}} {
		if status, out := apiRequest(t, http.MethodPost, up+"/roles", token, body); status != http.StatusOK {
			t.Fatalf("POST roles: status = %d\n%s", status, out)
		}
	}

	if !t.Run("the login card says how to create the first admin", func(t *testing.T) {
		p.t = t
		p.do("open the page", chromedp.Navigate(srv.URL+"/admin"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
		p.waitText("#login-first-admin", "gatehouse admin create --email you@example.com --password")
		p.waitText("#login-first-admin", "ADMIN_EMAIL")
		p.logIn(srv.URL)
	}) {
		return
	}

	if !t.Run("advanced settings: shown, saved, refused when invalid", func(t *testing.T) {
		p.t = t
		p.do("open the Advanced tab", chromedp.Click(chromedp.CSS(`#nav a[data-tab="advanced"]`)), chromedp.WaitVisible(chromedp.CSS("#advanced-allow-register")))
		if !p.checked("#advanced-allow-register") || p.checked("#advanced-email-confirmation") || !p.checked("#advanced-unique-email") {
			t.Errorf("switches do not show the defaults (registration on, confirmation off, unique email on)")
		}
		if got := eval[string](p, `document.getElementById('advanced-default-role').value`); got != "authenticated" {
			t.Errorf("default role shown = %q, want authenticated", got)
		}
		if n := eval[int](p, `document.querySelectorAll('#advanced-default-role option[value="public"]').length`); n != 0 {
			t.Errorf("public is offered as the default role of new users")
		}
		p.waitText("#advanced-reset-warning", "sent without a link")

		p.clearStatus("advanced-status")
		p.do("an invalid reset URL",
			chromedp.SetValue(chromedp.CSS("#advanced-email-reset-password"), "not a url"),
			chromedp.Click(chromedp.CSS("#advanced-save")))
		p.waitText("#advanced-status", "email_reset_password must be a valid URL")
		var adv struct {
			Settings map[string]any `json:"settings"`
		}
		getJSON(t, up+"/advanced", token, &adv)
		if adv.Settings["email_reset_password"] != nil || adv.Settings["allow_register"] != true {
			t.Errorf("a refused save changed the settings: %v", adv.Settings)
		}

		p.clearStatus("advanced-status")
		p.do("change every setting and save",
			chromedp.Click(chromedp.CSS("#advanced-allow-register")),
			chromedp.Click(chromedp.CSS("#advanced-email-confirmation")),
			chromedp.Click(chromedp.CSS("#advanced-unique-email")),
			chromedp.SetValue(chromedp.CSS("#advanced-default-role"), "member"),
			chromedp.SetValue(chromedp.CSS("#advanced-email-reset-password"), "https://app.example.com/reset"),
			chromedp.SetValue(chromedp.CSS("#advanced-email-confirmation-redirection"), "https://app.example.com/welcome"),
			chromedp.Click(chromedp.CSS("#advanced-save")))
		p.waitText("#advanced-status", "Saved the advanced settings.")
		getJSON(t, up+"/advanced", token, &adv)
		want := map[string]any{"allow_register": false, "email_confirmation": true, "unique_email": false, "default_role": "member",
			"email_reset_password": "https://app.example.com/reset", "email_confirmation_redirection": "https://app.example.com/welcome"}
		for k, v := range want {
			if adv.Settings[k] != v {
				t.Errorf("stored %s = %v, want %v", k, adv.Settings[k], v)
			}
		}
		status, body := apiRequest(t, http.MethodPost, srv.URL+"/api/auth/local/register", "", map[string]string{"username": "newbie", "email": "newbie@example.com", "password": "newbie-password"})
		if status != http.StatusBadRequest || !strings.Contains(string(body), "Register action is currently disabled") {
			t.Errorf("register after turning it off: status = %d\n%s", status, body)
		}
		p.waitTrue("the saved values are shown", `document.getElementById('advanced-default-role').value === 'member' && !document.getElementById('advanced-allow-register').checked && !document.getElementById('advanced-reset-warning')`)
		if got := p.text("#advanced-fields"); strings.Contains(got, "null") || strings.Contains(got, "undefined") {
			t.Errorf("the advanced settings show a JavaScript value as text: %q", got)
		}
		p.screenshot("advanced.png")

		p.clearStatus("advanced-status")
		eval[chromedp.Void](p, `document.getElementById('advanced-email-confirmation-redirection').value = ''`)
		p.do("clear the redirect", chromedp.Click(chromedp.CSS("#advanced-save")))
		p.waitText("#advanced-status", "Saved the advanced settings.")
		getJSON(t, up+"/advanced", token, &adv)
		if adv.Settings["email_confirmation_redirection"] != nil {
			t.Errorf("an emptied redirect is stored as %v, want null", adv.Settings["email_confirmation_redirection"])
		}
	}) {
		return
	}

	t.Run("system roles have no Delete button", func(t *testing.T) {
		p.t = t
		var roles struct {
			Roles []struct {
				ID   int    `json:"id"`
				Type string `json:"type"`
			} `json:"roles"`
		}
		getJSON(t, up+"/roles", token, &roles)
		for _, r := range roles.Roles {
			p.goTo(fmt.Sprintf("#/roles/%d", r.ID), "role-view")
			p.waitTrue("the role is loaded", `!document.getElementById('role-form').hasAttribute('aria-busy')`)
			system := r.Type == "public" || r.Type == "authenticated" || r.Type == "admin" || r.Type == "member" // member is the default role now
			shown := eval[bool](p, `document.getElementById('role-delete').getClientRects().length > 0`)
			if shown == system {
				t.Errorf("role %s: Delete button shown = %v, want %v", r.Type, shown, !system)
			}
			if system {
				status, body := apiRequest(t, http.MethodDelete, fmt.Sprintf("%s/roles/%d", up, r.ID), token, nil)
				if status != http.StatusBadRequest {
					t.Errorf("DELETE role %s: status = %d, want 400\n%s", r.Type, status, body)
				}
			}
		}
	})

	t.Run("public: a write route or an inherited role asks before saving", func(t *testing.T) {
		p.t = t
		const create = `input[data-function="plugin::users-permissions.user.create"]`
		const count = `input[data-function="plugin::users-permissions.user.count"]`
		p.goTo("#/roles/2", "role-view")
		p.waitText("#role-title", "Public")
		p.waitTrue("the permissions are shown", `document.querySelector('`+create+`') !== null`)

		p.clearStatus("role-status")
		p.do("tick user.create (POST /api/users) and save", chromedp.Click(chromedp.CSS(create)), chromedp.Click(chromedp.CSS("#role-save")))
		p.waitText("#public-warning", "Anyone could call POST /api/users")
		p.screenshot("public-warning.png")
		if got := anonymousStatus(t, http.MethodPost, srv.URL+"/api/users"); got != http.StatusForbidden {
			t.Errorf("anonymous POST /api/users before confirming: status = %d, want 403", got)
		}
		p.do("cancel", chromedp.Click(chromedp.CSS("#public-warning-cancel")))
		p.waitTrue("the warning is gone", `document.getElementById('public-warning').hidden`)
		if p.text("#role-status") != "" || srv.allowed(t, token, "public", http.MethodPost, "/api/users") {
			t.Errorf("cancelling saved the role")
		}

		p.do("save, then save anyway", chromedp.Click(chromedp.CSS("#role-save")), chromedp.WaitVisible(chromedp.CSS("#public-warning-save")),
			chromedp.Click(chromedp.CSS("#public-warning-save")))
		p.waitText("#role-status", "Saved Public.")
		if !srv.allowed(t, token, "public", http.MethodPost, "/api/users") {
			t.Errorf("Save anyway did not grant public POST /api/users")
		}

		p.clearStatus("role-status")
		p.do("untick it: no warning for taking a write away", chromedp.Click(chromedp.CSS(create)), chromedp.Click(chromedp.CSS("#role-save")))
		p.waitText("#role-status", "Saved Public.")
		if srv.allowed(t, token, "public", http.MethodPost, "/api/users") {
			t.Errorf("public can still POST /api/users")
		}

		p.clearStatus("role-status")
		p.do("a read route saves without a warning", chromedp.Click(chromedp.CSS(count)), chromedp.Click(chromedp.CSS("#role-save")))
		p.waitText("#role-status", "Saved Public.")
		if !eval[bool](p, `document.getElementById('public-warning').hidden`) {
			t.Errorf("a read route raised the warning")
		}

		p.clearStatus("role-status")
		p.do("inherit authenticated and save", chromedp.Click(chromedp.CSS("#inherit-authenticated")), chromedp.Click(chromedp.CSS("#role-save")))
		p.waitText("#public-warning", "Public would inherit every permission of the role authenticated.")
		p.do("cancel", chromedp.Click(chromedp.CSS("#public-warning-cancel")))
		status, body := apiRequest(t, http.MethodGet, up+"/roles/2", token, nil)
		if status != http.StatusOK || strings.Contains(string(body), `"inherits":["authenticated"]`) {
			t.Errorf("public inherits authenticated after cancelling\n%s", body)
		}
	})

	t.Run("policy preview shows the lint findings next to the flips", func(t *testing.T) {
		p.t = t
		p.do("open the policy tab", chromedp.Click(chromedp.CSS(`#nav a[data-tab="policy"]`)))
		p.waitTrue("the CSV is loaded", `document.getElementById('policy-csv').value.includes('p, public, /api/auth/local, POST')`)
		csv := eval[string](p, `document.getElementById('policy-csv').value`)
		edited := strings.TrimRight(csv, "\n") + "\np, public, /api/users/:id, DELETE\np, public, /api/nowhere, GET\n"
		p.clearStatus("policy-status")
		p.do("preview", chromedp.SetValue(chromedp.CSS("#policy-csv"), edited), chromedp.Click(chromedp.CSS("#policy-preview")))
		p.waitText("#policy-status", "1 decision would change")
		p.waitText("#policy-findings", "lint finding")
		kinds := eval[[]string](p, `[...document.querySelectorAll('#policy-findings li')].map(li => li.dataset.kind + ': ' + li.textContent)`)
		var write, dead bool
		for _, k := range kinds {
			write = write || strings.HasPrefix(k, "public-write: ") && strings.Contains(k, "/api/users/:id")
			dead = dead || strings.HasPrefix(k, "dead-rule: ") && strings.Contains(k, "/api/nowhere")
		}
		if !write || !dead {
			t.Errorf("findings = %q, want a public-write on /api/users/:id and a dead-rule on /api/nowhere", kinds)
		}
		if eval[int](p, `document.querySelectorAll('#policy-changes-table tbody tr').length`) != 1 {
			t.Errorf("the flips table is not shown with the findings")
		}
		p.screenshot("policy-lint.png")
	})

	t.Run("custom providers: add, edit, remove", func(t *testing.T) {
		p.t = t
		p.goTo("#/providers", "providers-view")
		p.waitProvidersList()
		p.do("add a provider", chromedp.Click(chromedp.CSS("#provider-add")), chromedp.WaitVisible(chromedp.CSS("#custom-provider-name")))
		p.waitTrue("the OIDC fields are shown", `document.getElementById('custom-provider-issuer') !== null`)
		p.clearStatus("custom-provider-status")
		p.do("save without an issuer",
			chromedp.SetValue(chromedp.CSS("#custom-provider-name"), "corp"),
			chromedp.SetValue(chromedp.CSS("#custom-provider-key"), "corp-client"),
			chromedp.Click(chromedp.CSS("#custom-provider-save")))
		p.waitText("#custom-provider-status", "issuer is required for an oidc provider")

		const secret = "corp-secret-never-shown"
		p.clearStatus("custom-provider-status")
		p.do("fill in and save",
			chromedp.SetValue(chromedp.CSS("#custom-provider-displayName"), "Corp SSO"),
			chromedp.SetValue(chromedp.CSS("#custom-provider-secret"), secret),
			chromedp.SetValue(chromedp.CSS("#custom-provider-callback"), "https://app.example.com/connect/corp/redirect"),
			chromedp.SetValue(chromedp.CSS("#custom-provider-issuer"), "https://sso.corp.example"),
			chromedp.SetValue(chromedp.CSS("#custom-provider-usernameClaim"), "upn"),
			chromedp.Click(chromedp.CSS("#custom-provider-enabled")),
			chromedp.Click(chromedp.CSS("#custom-provider-save")))
		p.waitText("#custom-provider-status", "Saved corp.")
		p.waitText("#custom-provider-redirect", "/api/connect/corp/callback")
		p.noSecretsInPage(secret)
		var all map[string]map[string]any
		getJSON(t, up+"/providers", token, &all)
		corp := all["corp"]
		if corp["type"] != "oidc" || corp["issuer"] != "https://sso.corp.example" || corp["usernameClaim"] != "upn" ||
			corp["enabled"] != true || corp["secret"] != "••••••••" || corp["displayName"] != "Corp SSO" {
			t.Errorf("stored corp = %v", corp)
		}

		p.clearStatus("custom-provider-status")
		p.do("edit the display name, secret left empty",
			chromedp.SetValue(chromedp.CSS("#custom-provider-displayName"), "Corp"),
			chromedp.Click(chromedp.CSS("#custom-provider-save")))
		p.waitText("#custom-provider-status", "Saved corp.")
		getJSON(t, up+"/providers", token, &all)
		if all["corp"]["displayName"] != "Corp" || all["corp"]["secret"] != "••••••••" {
			t.Errorf("after the edit: corp = %v, want the new name and the secret kept", all["corp"])
		}

		p.goTo("#/custom-provider/new", "custom-provider-view")
		p.waitTrue("an empty form", `document.getElementById('custom-provider-name') !== null && document.getElementById('custom-provider-name').value === ''`)
		eval[chromedp.Void](p, `(() => { const s = document.getElementById('custom-provider-type'); s.value = 'oauth2'; s.dispatchEvent(new Event('change')); })()`)
		p.waitTrue("the OAuth 2.0 fields are shown", `document.getElementById('custom-provider-userinfoUrl') !== null && document.getElementById('custom-provider-issuer') === null`)
		p.clearStatus("custom-provider-status")
		p.do("add an OAuth 2.0 provider without PKCE",
			chromedp.SetValue(chromedp.CSS("#custom-provider-name"), "acme"),
			chromedp.SetValue(chromedp.CSS("#custom-provider-key"), "acme-client"),
			chromedp.SetValue(chromedp.CSS("#custom-provider-callback"), "https://app.example.com/connect/acme/redirect"),
			chromedp.SetValue(chromedp.CSS("#custom-provider-scope"), "profile, email"),
			chromedp.SetValue(chromedp.CSS("#custom-provider-authorizeUrl"), "https://acme.example/authorize"),
			chromedp.SetValue(chromedp.CSS("#custom-provider-tokenUrl"), "https://acme.example/token"),
			chromedp.SetValue(chromedp.CSS("#custom-provider-userinfoUrl"), "https://acme.example/me"),
			chromedp.SetValue(chromedp.CSS("#custom-provider-idPath"), "data.id"),
			chromedp.SetValue(chromedp.CSS("#custom-provider-emailPath"), "data.email"),
			chromedp.SetValue(chromedp.CSS("#custom-provider-emailVerifiedPath"), "data.verified"),
			chromedp.Click(chromedp.CSS("#custom-provider-pkce")),
			chromedp.Click(chromedp.CSS("#custom-provider-save")))
		p.waitText("#custom-provider-status", "Saved acme.")
		getJSON(t, up+"/providers", token, &all)
		acme := all["acme"]
		if acme["type"] != "oauth2" || acme["pkce"] != false || acme["userinfoUrl"] != "https://acme.example/me" || acme["emailVerifiedPath"] != "data.verified" ||
			fmt.Sprint(acme["scope"]) != "[profile email]" {
			t.Errorf("stored acme = %v", acme)
		}

		p.goTo("#/providers", "providers-view")
		p.waitProvidersList()
		p.waitText(`#providers-body tr[data-provider="corp"]`, "OpenID Connect")
		p.waitText(`#providers-body tr[data-provider="acme"]`, "OAuth 2.0")
		p.waitText(`#providers-body tr[data-provider="twitter"]`, "twitter")

		p.do("open acme", chromedp.Click(chromedp.CSS(`#providers-body tr[data-provider="acme"] a.role-link`)), chromedp.WaitVisible(chromedp.CSS("#custom-provider-remove")))
		p.waitTrue("acme is loaded", `document.getElementById('custom-provider-userinfoUrl') !== null && document.getElementById('custom-provider-userinfoUrl').value === 'https://acme.example/me' && !document.getElementById('custom-provider-pkce').checked`)
		p.answerConfirm(true)
		p.do("remove it", chromedp.Click(chromedp.CSS("#custom-provider-remove")), chromedp.WaitVisible(chromedp.CSS("#providers-view")))
		p.waitText("#providers-status", "Removed acme.")
		var after map[string]map[string]any
		getJSON(t, up+"/providers", token, &after)
		if _, ok := after["acme"]; ok {
			t.Errorf("acme is still stored after its removal")
		}
	})

	t.Run("every screen at 420 px", func(t *testing.T) {
		p.t = t
		p.do("a 420 px wide viewport", chromedp.EmulateViewport(420, 900))
		defer p.do("back to the desktop viewport", chromedp.EmulateReset())

		p.goTo("#/roles", "roles-view")
		p.waitRolesList()
		if eval[bool](p, `document.getElementById('nav').getClientRects().length > 0 && [...document.querySelectorAll('#nav a')].some(a => a.getClientRects().length > 0)`) {
			t.Errorf("the navigation is not collapsed at 420 px")
		}
		p.checkNarrow("roles list (menu closed)")
		p.do("open the menu", chromedp.Click(chromedp.CSS("#nav-toggle")))
		p.waitTrue("the menu is open", `[...document.querySelectorAll('#nav a')].every(a => a.getClientRects().length > 0)`)
		p.checkNarrow("roles list (menu open)")
		p.screenshot("narrow-menu.png")
		p.do("go to the users", chromedp.Click(chromedp.CSS(`#nav a[data-tab="users"]`)))
		p.waitUsersList()
		if eval[bool](p, `[...document.querySelectorAll('#nav a')].some(a => a.getClientRects().length > 0)`) {
			t.Errorf("the menu stays open after choosing a section")
		}
		p.checkNarrow("users")
		if !eval[bool](p, `(() => { const s = document.querySelector('#users-view .table-scroll'); return s.scrollWidth > s.clientWidth && s.getBoundingClientRect().right <= document.documentElement.clientWidth; })()`) {
			t.Errorf("the users table does not scroll inside its card at 420 px")
		}
		p.screenshot("narrow-users.png")

		for _, s := range []struct{ hash, view, ready, name string }{
			{"#/roles/2", "role-view", `document.querySelector('input[data-function]') !== null && !document.getElementById('role-form').hasAttribute('aria-busy')`, "narrow-role.png"},
			{"#/providers", "providers-view", `!document.getElementById('providers-table').hasAttribute('aria-busy')`, "narrow-providers.png"},
			{"#/providers/github", "provider-view", `document.getElementById('provider-key') !== null`, ""},
			{"#/custom-provider/edit/corp", "custom-provider-view", `document.getElementById('custom-provider-issuer') !== null`, "narrow-custom-provider.png"},
			{"#/custom-provider/new", "custom-provider-view", `document.getElementById('custom-provider-name') !== null`, ""},
			{"#/advanced", "advanced-view", `document.getElementById('advanced-default-role') !== null`, "narrow-advanced.png"},
			{"#/email-templates", "templates-view", `document.querySelector('#templates-forms form') !== null`, ""},
			{"#/policy", "policy-view", `document.getElementById('policy-csv').value !== ''`, ""},
			{"#/history", "history-view", `document.getElementById('history-list') !== null && !document.getElementById('history-list').hasAttribute('aria-busy') && document.querySelector('#history-list li') !== null`, "narrow-history.png"},
		} {
			p.goTo(s.hash, s.view)
			p.waitTrue(s.hash+" is loaded", s.ready)
			p.checkNarrow(s.hash)
			if s.name != "" {
				p.screenshot(s.name)
			}
		}
		// Route labels break after a "/", never inside a segment.
		p.goTo("#/roles/2", "role-view")
		p.waitTrue("the routes are shown", `document.querySelector('.action-route') !== null`)
		if n := eval[int](p, `[...document.querySelectorAll('.action-route')].filter(el => el.querySelectorAll('wbr').length < (el.textContent.match(/\//g) || []).length - 0).length`); n != 0 {
			t.Errorf("%d route labels have a '/' without a break opportunity", n)
		}
		if got := eval[string](p, `getComputedStyle(document.querySelector('.action-route')).overflowWrap`); got == "anywhere" {
			t.Errorf("route labels still break anywhere (overflow-wrap: %s)", got)
		}

		p.goTo("#/policy", "policy-view")
		csv := eval[string](p, `document.getElementById('policy-csv').value`)
		p.do("preview at 420 px", chromedp.SetValue(chromedp.CSS("#policy-csv"), strings.TrimRight(csv, "\n")+"\np, public, /api/users-permissions/roles/:id, DELETE\n"),
			chromedp.Click(chromedp.CSS("#policy-preview")))
		p.waitText("#policy-findings", "lint finding")
		p.checkNarrow("policy preview")
		p.screenshot("narrow-policy.png")

		p.do("log out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
		if eval[bool](p, `document.getElementById('nav-toggle').getClientRects().length > 0`) {
			t.Errorf("the menu button is shown to a signed-out visitor")
		}
		p.checkNarrow("login")
		p.screenshot("narrow-login.png")
	})

	for _, d := range p.openedDialogs() {
		if d.Type != page.DialogTypeConfirm || !strings.HasPrefix(d.Message, "Remove the provider acme?") {
			t.Errorf("the page opened a %s dialog: %q", d.Type, d.Message)
		}
	}
	checkConsole(t, consoleMessages())
}

// checkConsole fails the test for an exception, a CSP violation (an inline
// script or style would be one) or any console error of the page but the
// network's (failed API calls, 4xx, are expected).
func checkConsole(t *testing.T, messages []chromedp.ConsoleMessage) {
	t.Helper()
	for _, m := range messages {
		if m.IsException() || m.Source == "security" || (m.Type == chromedp.ConsoleError && m.Source != "network") {
			t.Errorf("browser console: %s %s: %s (%s:%d)", m.Type, m.Source, m.Text, m.URL, m.Line+1)
		}
	}
}
