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
	"time"

	"github.com/gatehouse/gatehouse/cli"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/policy/policytest"
)

// defaultMatrix is Gatehouse's default policy as a permission matrix over
// every route: role, method, route pattern, allowed. TestDefaultPolicyMatrix
// fails when a registered route has no row here.
var defaultMatrix = []struct {
	role, method, route string
	allowed             bool
}{
	{"public", "POST", "/api/auth/local", true},
	{"authenticated", "POST", "/api/auth/local", false},
	{"admin", "POST", "/api/auth/local", false},
	{"public", "POST", "/api/auth/local/register", true},
	{"authenticated", "POST", "/api/auth/local/register", false},
	{"admin", "POST", "/api/auth/local/register", false},

	{"public", "GET", "/api/users/count", false},
	{"authenticated", "GET", "/api/users/count", false},
	{"admin", "GET", "/api/users/count", true},
	{"public", "GET", "/api/users", false},
	{"authenticated", "GET", "/api/users", false},
	{"admin", "GET", "/api/users", true},
	{"public", "GET", "/api/users/me", false},
	{"authenticated", "GET", "/api/users/me", true},
	{"admin", "GET", "/api/users/me", true},
	{"public", "GET", "/api/users/:id", false},
	{"authenticated", "GET", "/api/users/:id", false},
	{"admin", "GET", "/api/users/:id", true},
	{"public", "POST", "/api/users", false},
	{"authenticated", "POST", "/api/users", false},
	{"admin", "POST", "/api/users", true},
	{"public", "PUT", "/api/users/:id", false},
	{"authenticated", "PUT", "/api/users/:id", false},
	{"admin", "PUT", "/api/users/:id", true},
	{"public", "DELETE", "/api/users/:id", false},
	{"authenticated", "DELETE", "/api/users/:id", false},
	{"admin", "DELETE", "/api/users/:id", true},
	// -- email routes --
	{"public", "POST", "/api/auth/forgot-password", true},
	{"authenticated", "POST", "/api/auth/forgot-password", false},
	{"admin", "POST", "/api/auth/forgot-password", false},
	{"public", "POST", "/api/auth/reset-password", true},
	{"authenticated", "POST", "/api/auth/reset-password", false},
	{"admin", "POST", "/api/auth/reset-password", false},
	{"public", "POST", "/api/auth/change-password", false},
	{"authenticated", "POST", "/api/auth/change-password", true},
	{"admin", "POST", "/api/auth/change-password", true},
	{"public", "GET", "/api/auth/email-confirmation", true},
	{"authenticated", "GET", "/api/auth/email-confirmation", false},
	{"admin", "GET", "/api/auth/email-confirmation", false},
	{"public", "POST", "/api/auth/send-email-confirmation", true},
	{"authenticated", "POST", "/api/auth/send-email-confirmation", false},
	{"admin", "POST", "/api/auth/send-email-confirmation", false},
	{"public", "GET", "/api/users-permissions/email-templates", false},
	{"authenticated", "GET", "/api/users-permissions/email-templates", false},
	{"admin", "GET", "/api/users-permissions/email-templates", true},
	{"public", "PUT", "/api/users-permissions/email-templates", false},
	{"authenticated", "PUT", "/api/users-permissions/email-templates", false},
	{"admin", "PUT", "/api/users-permissions/email-templates", true},
	{"public", "GET", "/api/users-permissions/advanced", false},
	{"authenticated", "GET", "/api/users-permissions/advanced", false},
	{"admin", "GET", "/api/users-permissions/advanced", true},
	{"public", "PUT", "/api/users-permissions/advanced", false},
	{"authenticated", "PUT", "/api/users-permissions/advanced", false},
	{"admin", "PUT", "/api/users-permissions/advanced", true},
	{"public", "GET", "/api/users-permissions/user-fields", false},
	{"authenticated", "GET", "/api/users-permissions/user-fields", false},
	{"admin", "GET", "/api/users-permissions/user-fields", true},
	// -- end of email routes --
	// -- OAuth routes --
	{"public", "GET", "/api/connect/:provider", true},
	{"authenticated", "GET", "/api/connect/:provider", false},
	{"admin", "GET", "/api/connect/:provider", false},
	{"public", "GET", "/api/connect/:provider/callback", true},
	{"authenticated", "GET", "/api/connect/:provider/callback", false},
	{"admin", "GET", "/api/connect/:provider/callback", false},
	{"public", "GET", "/api/auth/:provider/callback", true},
	{"authenticated", "GET", "/api/auth/:provider/callback", false},
	{"admin", "GET", "/api/auth/:provider/callback", false},
	{"public", "GET", "/api/users-permissions/providers", false},
	{"authenticated", "GET", "/api/users-permissions/providers", false},
	{"admin", "GET", "/api/users-permissions/providers", true},
	{"public", "PUT", "/api/users-permissions/providers", false},
	{"authenticated", "PUT", "/api/users-permissions/providers", false},
	{"admin", "PUT", "/api/users-permissions/providers", true},
	// -- end of OAuth routes --
	// -- refresh-token routes (404 in the default legacy mode) --
	{"public", "POST", "/api/auth/refresh", true},
	{"authenticated", "POST", "/api/auth/refresh", false},
	{"admin", "POST", "/api/auth/refresh", false},
	{"public", "POST", "/api/auth/logout", false},
	{"authenticated", "POST", "/api/auth/logout", true},
	{"admin", "POST", "/api/auth/logout", true},
	{"public", "GET", "/api/auth/sessions", false},
	{"authenticated", "GET", "/api/auth/sessions", true},
	{"admin", "GET", "/api/auth/sessions", true},
	{"public", "DELETE", "/api/auth/sessions/:sessionId", false},
	{"authenticated", "DELETE", "/api/auth/sessions/:sessionId", true},
	{"admin", "DELETE", "/api/auth/sessions/:sessionId", true},
	// -- end of refresh-token routes --
	// -- roles, permissions and policy routes --
	{"public", "GET", "/api/users-permissions/roles", false},
	{"authenticated", "GET", "/api/users-permissions/roles", false},
	{"admin", "GET", "/api/users-permissions/roles", true},
	{"public", "GET", "/api/users-permissions/roles/:id", false},
	{"authenticated", "GET", "/api/users-permissions/roles/:id", false},
	{"admin", "GET", "/api/users-permissions/roles/:id", true},
	{"public", "POST", "/api/users-permissions/roles", false},
	{"authenticated", "POST", "/api/users-permissions/roles", false},
	{"admin", "POST", "/api/users-permissions/roles", true},
	{"public", "PUT", "/api/users-permissions/roles/:id", false},
	{"authenticated", "PUT", "/api/users-permissions/roles/:id", false},
	{"admin", "PUT", "/api/users-permissions/roles/:id", true},
	{"public", "DELETE", "/api/users-permissions/roles/:id", false},
	{"authenticated", "DELETE", "/api/users-permissions/roles/:id", false},
	{"admin", "DELETE", "/api/users-permissions/roles/:id", true},
	{"public", "GET", "/api/users-permissions/permissions", false},
	{"authenticated", "GET", "/api/users-permissions/permissions", false},
	{"admin", "GET", "/api/users-permissions/permissions", true},
	{"public", "GET", "/api/users-permissions/routes", false},
	{"authenticated", "GET", "/api/users-permissions/routes", false},
	{"admin", "GET", "/api/users-permissions/routes", true},
	{"public", "GET", "/api/users-permissions/policy", false},
	{"authenticated", "GET", "/api/users-permissions/policy", false},
	{"admin", "GET", "/api/users-permissions/policy", true},
	{"public", "PUT", "/api/users-permissions/policy", false},
	{"authenticated", "PUT", "/api/users-permissions/policy", false},
	{"admin", "PUT", "/api/users-permissions/policy", true},
	{"public", "POST", "/api/users-permissions/policy/check", false},
	{"authenticated", "POST", "/api/users-permissions/policy/check", false},
	{"admin", "POST", "/api/users-permissions/policy/check", true},
	{"public", "POST", "/api/users-permissions/policy/reload", false},
	{"authenticated", "POST", "/api/users-permissions/policy/reload", false},
	{"admin", "POST", "/api/users-permissions/policy/reload", true},
	{"public", "GET", "/api/users-permissions/policy/history", false},
	{"authenticated", "GET", "/api/users-permissions/policy/history", false},
	{"admin", "GET", "/api/users-permissions/policy/history", true},
	{"public", "GET", "/api/users-permissions/policy/history/:revision", false},
	{"authenticated", "GET", "/api/users-permissions/policy/history/:revision", false},
	{"admin", "GET", "/api/users-permissions/policy/history/:revision", true},
	{"public", "POST", "/api/users-permissions/policy/revert", false},
	{"authenticated", "POST", "/api/users-permissions/policy/revert", false},
	{"admin", "POST", "/api/users-permissions/policy/revert", true},
	{"public", "GET", "/api/users-permissions/audit", false},
	{"authenticated", "GET", "/api/users-permissions/audit", false},
	{"admin", "GET", "/api/users-permissions/audit", true},
	// -- end of roles, permissions and policy routes --
}

var matrixRoles = []string{"public", "authenticated", "admin"}

// newTestApp wires the real application over a temporary SQLite database.
func newTestApp(t *testing.T) *app {
	t.Helper()
	cfg, err := config.Parse(map[string]string{
		"DATABASE_URL":       "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db"),
		"JWT_SECRET":         "matrix-secret-matrix-secret-matrix-secret",
		"RATE_LIMIT_ENABLED": "false",
		"BCRYPT_COST":        "4",
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.store.Close() })
	return a
}

func TestModelConfIsPolicyModel(t *testing.T) {
	if modelText != policy.Model {
		t.Errorf("model.conf and policy/model.conf differ: keep them identical")
	}
}

// TestDefaultPolicyMatrix checks every (role, route) decision of the default
// policy through the real router: an allowed request is never answered 401
// or 403, a denied one is answered 403.
func TestDefaultPolicyMatrix(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	tokens := map[string]string{}
	for _, role := range []string{"authenticated", "admin"} {
		user, err := cli.CreateAdmin(ctx, a.store, role+"@example.com", role+"-user", "secret123", 4)
		if err != nil {
			t.Fatal(err)
		}
		r, err := a.store.Roles().ByType(ctx, role)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.store.Users().Update(ctx, user.ID, map[string]any{"role_id": r.ID}); err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/auth/local",
			strings.NewReader(`{"identifier":"`+role+`@example.com","password":"secret123"}`))
		req.Header.Set("Content-Type", "application/json")
		a.server.ServeHTTP(rec, req)
		tok, ok := strings.CutPrefix(rec.Body.String(), `{"jwt":"`)
		if !ok {
			t.Fatalf("login as %s: %d %s", role, rec.Code, rec.Body)
		}
		tokens[role], _, _ = strings.Cut(tok, `"`)
	}

	covered := map[string]bool{}
	for _, row := range defaultMatrix {
		covered[row.role+" "+row.method+" "+row.route] = true
	}
	for _, fn := range a.server.Catalog() {
		for _, role := range matrixRoles {
			if !covered[role+" "+fn.Method+" "+fn.Route] {
				t.Errorf("route %s %s (%s) has no row for role %s in defaultMatrix: every route needs a decision", fn.Method, fn.Route, fn.Name, role)
			}
		}
	}

	for _, row := range defaultMatrix {
		allowed, err := a.enforcer.Allow(row.role, row.route, row.method)
		if err != nil {
			t.Fatal(err)
		}
		if allowed != row.allowed {
			t.Errorf("Allow(%s, %s, %s) = %v, want %v", row.role, row.route, row.method, allowed, row.allowed)
		}
		// :id names no row, so the admin's DELETE rows remove nothing the
		// later rows' callers need (user 1 is the authenticated caller).
		path := strings.NewReplacer(":id", "999", ":provider", "github").Replace(row.route)
		req := httptest.NewRequest(row.method, path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		if tok := tokens[row.role]; tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		a.server.ServeHTTP(rec, req)
		denied := rec.Code == http.StatusForbidden || rec.Code == http.StatusUnauthorized
		if denied == row.allowed {
			t.Errorf("%s %s as %s: status = %d, want allowed=%v\n%s", row.method, path, row.role, rec.Code, row.allowed, rec.Body)
		}
	}
}

// TestPeriodicReloadPicksUpSQLEdits: with POLICY_RELOAD_INTERVAL, a row
// inserted by hand takes effect without a restart.
func TestPeriodicReloadPicksUpSQLEdits(t *testing.T) {
	a := newTestApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := a.follow(ctx, 5*time.Millisecond, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if err := a.store.DB.Exec(`INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES ('p', 'public', '/api/users', 'GET', '', '', '')`).Error; err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if ok, _ := a.enforcer.Allow("public", "/api/users", "GET"); ok {
			return
		}
		select {
		case <-deadline:
			t.Fatal("the periodic reload never picked up the SQL edit")
		case <-tick.C:
		}
	}
}

// TestDefaultPolicyWithCheckMatrix checks the same matrix the way any
// embedding app's Go test would: policytest.CheckMatrix over the default CSV,
// no database.
func TestDefaultPolicyWithCheckMatrix(t *testing.T) {
	e, err := policy.NewFromCSV(policy.Model, policy.DefaultCSV)
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]policy.MatrixRow, len(defaultMatrix))
	for i, r := range defaultMatrix {
		rows[i] = policy.MatrixRow{Line: i + 1, Role: r.role, Method: r.method, Path: r.route, Allow: r.allowed}
	}
	policytest.CheckMatrix(t, e, handlers.DefaultCatalog(), rows)
}
