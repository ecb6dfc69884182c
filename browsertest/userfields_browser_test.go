package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestAdminPageUserFields drives the Users screen with custom user fields
// (USER_FIELDS_FILE): a user's public fields show in typed inputs, a private
// one never reaches the page, edits are saved through PUT /api/users/:id and
// checked through the API, and Strapi's validation messages are shown.
func TestAdminPageUserFields(t *testing.T) {
	bin := chromiumPath(t)
	fieldsFile := filepath.Join(t.TempDir(), "user-fields.yaml")
	if err := os.WriteFile(fieldsFile, []byte(`
fields:
  - {name: firstName, type: string, required: true, minLength: 2}
  - {name: age, type: integer}
  - {name: plan, type: enumeration, values: [free, pro], default: free}
  - {name: newsletter, type: boolean, default: false}
  - {name: prefs, type: json}
  - {name: secretNote, type: string, private: true}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startGatehouse(t, "USER_FIELDS_FILE="+fieldsFile)
	token := adminToken(t, srv.URL)
	status, body := apiRequest(t, http.MethodPost, srv.URL+"/api/users", token, map[string]any{"username": "zed", "email": "zed@example.com",
		"password": "zed-password", "firstName": "Zed", "age": 40, "secretNote": "hidden-value-123"})
	var zed struct {
		ID uint `json:"id"`
	}
	if status != http.StatusCreated || json.Unmarshal(body, &zed) != nil {
		t.Fatalf("POST /api/users: status = %d, want 201\n%s", status, body)
	}
	p, consoleMessages := newBrowserPage(t, bin)
	row := fmt.Sprintf(`#users-body tr[data-user-id="%d"]`, zed.ID)
	form := `form.user-fields`
	input := func(name string) string { return fmt.Sprintf(`%s [data-field=%q]`, form, name) }
	open := func() {
		p.t.Helper()
		p.waitTrue("the Fields button shows", fmt.Sprintf(`(() => { const b = document.querySelector(%q); return !!b && !b.hidden; })()`, row+` button[data-action="fields"]`))
		p.do("open the fields", chromedp.Click(chromedp.CSS(row+` button[data-action="fields"]`)), chromedp.WaitVisible(chromedp.CSS(form)))
	}
	value := func(name string) string {
		return eval[string](p, fmt.Sprintf(`document.querySelector(%q).value`, input(name)))
	}

	if !t.Run("log in, the fields show in typed inputs, the private one nowhere", func(t *testing.T) {
		p.t = t
		p.do("open the page", chromedp.Navigate(srv.URL+"/admin"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
		p.do("log in",
			chromedp.SetValue(chromedp.CSS("#login-identifier"), adminPageEmail),
			chromedp.SetValue(chromedp.CSS("#login-password"), adminPagePassword),
			chromedp.Click(chromedp.CSS("#login-submit")),
			chromedp.WaitVisible(chromedp.CSS("#roles-view")))
		p.do("open the users tab", chromedp.Click(chromedp.CSS(`#nav a[data-tab="users"]`)))
		p.waitUsersList()
		open()
		for name, want := range map[string]string{"firstName": "Zed", "age": "40", "plan": "free", "prefs": ""} {
			if got := value(name); got != want {
				t.Errorf("%s input = %q, want %q", name, got, want)
			}
		}
		if eval[bool](p, fmt.Sprintf(`document.querySelector(%q).checked`, input("newsletter"))) {
			t.Errorf("newsletter is ticked, want its default false")
		}
		if got := eval[string](p, fmt.Sprintf(`document.querySelector(%q).type + ' ' + document.querySelector(%q).tagName`, input("age"), input("plan"))); got != "number SELECT" {
			t.Errorf("age and plan controls = %q, want a number input and a select", got)
		}
		if n := eval[int](p, fmt.Sprintf(`document.querySelectorAll(%q).length`, input("secretNote"))); n != 0 {
			t.Errorf("the private field has %d inputs", n)
		}
		p.noSecretsInPage("hidden-value-123", "$2a$")
		p.screenshot("user-fields.png")
	}) {
		return
	}

	t.Run("edit and save, checked through the API", func(t *testing.T) {
		p.t = t
		p.clearStatus("users-status")
		p.do("edit", chromedp.SetValue(chromedp.CSS(input("firstName")), "Zedd"), chromedp.SetValue(chromedp.CSS(input("age")), "41"),
			chromedp.SetValue(chromedp.CSS(input("plan")), "pro"), chromedp.Click(chromedp.CSS(input("newsletter"))),
			chromedp.SetValue(chromedp.CSS(input("prefs")), `{"theme": "dark"}`),
			chromedp.Click(chromedp.CSS(form+` button[type="submit"]`)))
		p.waitText("#users-status", "Saved the fields of zed.")
		p.waitUsersList()
		status, body := apiRequest(t, http.MethodGet, fmt.Sprintf("%s/api/users/%d", srv.URL, zed.ID), token, nil)
		for _, want := range []string{`"firstName":"Zedd"`, `"age":41`, `"plan":"pro"`, `"newsletter":true`, `"prefs":{"theme":"dark"}`} {
			if status != http.StatusOK || !strings.Contains(string(body), want) {
				t.Errorf("GET /api/users/%d: %d, lacks %s\n%s", zed.ID, status, want, body)
			}
		}
		var secret string
		if err := srv.store.DB.WithContext(context.Background()).Raw("SELECT cf_secret_note FROM up_users WHERE id = ?", zed.ID).Scan(&secret).Error; err != nil || secret != "hidden-value-123" {
			t.Errorf("secretNote = %q, %v; want it untouched", secret, err)
		}
	})

	t.Run("validation messages", func(t *testing.T) {
		p.t = t
		open()
		p.clearStatus("users-status")
		p.do("too short", chromedp.SetValue(chromedp.CSS(input("firstName")), "Z"), chromedp.Click(chromedp.CSS(form+` button[type="submit"]`)))
		p.waitText("#users-status", "firstName must be at least 2 characters")
		p.clearStatus("users-status")
		p.do("bad JSON", chromedp.SetValue(chromedp.CSS(input("firstName")), "Zedd"), chromedp.SetValue(chromedp.CSS(input("prefs")), `{"theme":`),
			chromedp.Click(chromedp.CSS(form+` button[type="submit"]`)))
		p.waitText("#users-status", "prefs is not valid JSON")
		status, body := apiRequest(t, http.MethodGet, fmt.Sprintf("%s/api/users/%d", srv.URL, zed.ID), token, nil)
		if status != http.StatusOK || !strings.Contains(string(body), `"firstName":"Zedd"`) {
			t.Errorf("after refused edits: %d %s, want firstName still Zedd", status, body)
		}
	})

	t.Run("the fields form at 420 px", func(t *testing.T) {
		p.t = t
		p.do("a 420 px wide viewport", chromedp.EmulateViewport(420, 900))
		defer p.do("back to the desktop viewport", chromedp.EmulateReset())
		if eval[int](p, `document.querySelectorAll('form.user-fields').length`) == 0 {
			open()
		}
		p.checkNarrow("users with the fields form open")
		p.screenshot("narrow-user-fields.png")
	})

	// The refused edits' 400 answers are network errors in the console;
	// anything else (an exception, a CSP refusal) is a bug.
	for _, m := range consoleMessages() {
		if m.IsException() || m.Source == "security" || (m.Type == chromedp.ConsoleError && m.Source != "network") {
			t.Errorf("browser console: %s %s: %s (%s:%d)", m.Type, m.Source, m.Text, m.URL, m.Line+1)
		}
	}
}
