package main

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminBootstrapSquatted (issue 11, point 7): an account registered
// before the first start with ADMIN_EMAIL — with that email, or with the
// admin's username — is never promoted; the start is refused with a
// message naming the account and the commands that fix it, and goes
// through once the operator chose a free username.
func TestAdminBootstrapSquatted(t *testing.T) {
	ctx := context.Background()
	databaseURL := "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
	open := startApp(t, databaseURL, map[string]string{"ADMIN_EMAIL": "", "ADMIN_PASSWORD": ""}) // registration open, no admin yet
	for _, squat := range [][2]string{{"squatter", "boss@example.com"}, {"admin", "squat@example.com"}} {
		if code, body := open.register(squat[0], squat[1]); code != http.StatusOK {
			t.Fatalf("register %s <%s>: status = %d\n%s", squat[0], squat[1], code, body)
		}
	}
	roleOf := func(email string) string {
		users, err := open.store.Users().ByEmail(ctx, email)
		if err != nil || len(users) != 1 || users[0].Role == nil {
			t.Fatalf("users with email %s = %+v, %v; want one with a role", email, users, err)
		}
		return users[0].Role.Type
	}

	for _, tt := range []struct {
		name, email, username string
		want                  []string
	}{
		{"email registered first", "Boss@Example.com", "", []string{"refusing to start", "never promotes", `"squatter"`,
			"DELETE /api/users/", "gatehouse user set-role boss@example.com admin", "gatehouse admin create --email OTHER_EMAIL"}},
		{"username registered first", "ceo@example.com", "admin", []string{"refusing to start", "never promotes", "username", `"admin"`,
			"ADMIN_USERNAME", "gatehouse admin create --email ceo@example.com --username OTHER_USERNAME"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, map[string]string{"DATABASE_URL": databaseURL, "JWT_SECRET": "integration-secret-integration-secret",
				"ADMIN_EMAIL": tt.email, "ADMIN_USERNAME": tt.username, "ADMIN_PASSWORD": "admin-password"})
			a, err := newApp(ctx, cfg, slog.New(slog.DiscardHandler))
			if err == nil {
				a.store.Close()
				t.Fatal("newApp with ADMIN_EMAIL over a squatted account: err = nil, want a refusal")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %q\nwant it to contain %q", err, want)
				}
			}
		})
	}
	for _, email := range []string{"boss@example.com", "squat@example.com"} {
		if got := roleOf(email); got != "authenticated" {
			t.Errorf("squatting account %s: role = %s, want authenticated (never promoted)", email, got)
		}
	}
	if users, _ := open.store.Users().ByEmail(ctx, "ceo@example.com"); len(users) != 0 {
		t.Errorf("refused start created %d users for ceo@example.com", len(users))
	}

	// The fix the message gives for the username: a free one.
	fixed := startApp(t, databaseURL, map[string]string{"ADMIN_EMAIL": "ceo@example.com", "ADMIN_USERNAME": "ceo"})
	if got := roleOf("ceo@example.com"); got != "admin" {
		t.Errorf("admin created with a free username: role = %s, want admin", got)
	}
	fixed.login("ceo@example.com", "admin-password")
}
