package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/store"
)

// TestAuditLog: each administrative action through the API records one
// audit entry naming the admin, the action and the target — in the
// database, on GET …/audit and on the JSON-lines sink — and no password,
// hash or provider secret ever reaches any of them.
func TestAuditLog(t *testing.T) {
	var sink bytes.Buffer
	e := newTestEnv(t, func(c *Config) { c.AuditSink = &sink })
	const (
		userPassword = "Sup3r-secret-pass"
		newPassword  = "An0ther-secret-pass"
		ghSecret     = "gh-s3cret-value-never-logged"
	)
	secrets := []string{userPassword, newPassword, ghSecret, "$2a$", "$2b$"}
	var userID, roleID uint
	steps := []struct {
		name, method, url, body string
		action, target          string
	}{
		{"create a role", "POST", "/api/users-permissions/roles", `{"name":"Editors"}`, "role.create", "role:editors"},
		{"rename it", "PUT", "/api/users-permissions/roles/{role}", `{"name":"Editors team"}`, "role.update", "role:editors"},
		{"create a user", "POST", "/api/users", `{"username":"bob","email":"bob@example.com","password":"` + userPassword + `"}`, "user.create", "user:{user}"},
		{"block them", "PUT", "/api/users/{user}", `{"blocked":true}`, "user.block", "user:{user}"},
		{"change their role", "PUT", "/api/users/{user}", `{"role":{role}}`, "user.role", "user:{user}"},
		{"change their password", "PUT", "/api/users/{user}", `{"password":"` + newPassword + `"}`, "user.update", "user:{user}"},
		{"delete them", "DELETE", "/api/users/{user}", ``, "user.delete", "user:{user}"},
		{"delete the role", "DELETE", "/api/users-permissions/roles/{role}", ``, "role.delete", "role:editors"},
		{"advanced settings", "PUT", "/api/users-permissions/advanced", `{"allow_register":false}`, "settings.advanced", "settings:advanced"},
		{"email templates", "PUT", "/api/users-permissions/email-templates",
			`{"email-templates":{"email_confirmation":{"options":{"object":"Confirm","message":"<%= URL %>?confirmation=<%= CODE %>"}}}}`, "settings.email-templates", "settings:email-templates"},
		{"providers", "PUT", "/api/users-permissions/providers",
			`{"providers":{"github":{"enabled":true,"key":"gh-id","secret":"` + ghSecret + `","callback":"https://app.example.com/connected"}}}`, "settings.providers", "settings:providers"},
	}
	fill := func(s string) string {
		return strings.NewReplacer("{user}", fmt.Sprint(userID), "{role}", fmt.Sprint(roleID)).Replace(s)
	}
	for _, step := range steps {
		rec := e.request(step.method, fill(step.url), fill(step.body), e.adminHeader())
		if rec.Code != http.StatusOK && rec.Code != http.StatusCreated {
			t.Fatalf("%s: %s %s = %d\n%s", step.name, step.method, fill(step.url), rec.Code, rec.Body)
		}
		if roleID == 0 {
			r, err := e.store.Roles().ByType(context.Background(), "editors")
			if err != nil {
				t.Fatal(err)
			}
			roleID = r.ID
		}
		if step.action == "user.create" {
			var u struct{ ID uint }
			json.Unmarshal(rec.Body.Bytes(), &u)
			userID = u.ID
		}
		entries, _, err := e.store.Audit().List(context.Background(), store.AuditFilter{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Fatalf("%s: no audit entry", step.name)
		}
		got := entries[0]
		if got.Action != step.action || got.Target != fill(step.target) || got.Actor != "root" || got.UserID != e.users["admin"].ID || got.Source != "api" {
			t.Errorf("%s: entry %s %s by %s (user %d, %s), want %s %s by root (api)", step.name, got.Action, got.Target, got.Actor, got.UserID, got.Source,
				step.action, fill(step.target))
		}
	}
	all, total, err := e.store.Audit().List(context.Background(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if int(total) != len(steps) {
		t.Errorf("%d audit entries, want %d (one per action)", total, len(steps))
	}
	stored, _ := json.Marshal(all)
	rec := e.request("GET", "/api/users-permissions/audit?pageSize=100", "", e.adminHeader())
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"action":"settings.providers"`) || !strings.Contains(rec.Body.String(), fmt.Sprintf(`"total":%d`, len(steps))) {
		t.Errorf("GET …/audit = %d\n%s", rec.Code, rec.Body)
	}
	if lines := strings.Count(sink.String(), "\n"); lines != len(steps) {
		t.Errorf("the sink got %d lines, want %d", lines, len(steps))
	}
	for _, where := range []struct{ name, text string }{{"database", string(stored)}, {"GET …/audit", rec.Body.String()}, {"sink", sink.String()}} {
		for _, secret := range secrets {
			if strings.Contains(where.text, secret) {
				t.Errorf("the audit %s holds %q:\n%s", where.name, secret, where.text)
			}
		}
	}
	if !strings.Contains(string(stored), `"changed":["password"]`) {
		t.Errorf("the password change is not named (without its value):\n%s", stored)
	}
	if rec := e.request("GET", "/api/users-permissions/audit?action=user.block", "", e.adminHeader()); !strings.Contains(rec.Body.String(), `"total":1`) {
		t.Errorf("filter by action: %s", rec.Body)
	}
	if rec := e.request("GET", "/api/users-permissions/audit?secret=1", "", e.adminHeader()); rec.Code != 400 {
		t.Errorf("unknown parameter: %d", rec.Code)
	}
	if rec := e.request("GET", "/api/users-permissions/audit", "", http.Header{"Authorization": {"Bearer " + e.token(e.users["authenticated"].ID)}}); rec.Code != 403 {
		t.Errorf("authenticated GET …/audit = %d, want 403", rec.Code)
	}
}
