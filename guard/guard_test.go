package guard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/guard/ginguard"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
)

func init() { gin.SetMode(gin.TestMode) }

const testSecret = "guard-test-secret-guard-test-secret"

// appPolicy is an app's own rows over Gatehouse's default policy.
const appPolicy = `
p, public, /api/posts, GET
p, authenticated, /api/posts/:id, GET
p, admin, /api/posts/:id, DELETE
`

// env is a real database with the default roles, the default policy plus
// appPolicy, a user per role and a blocked user, and a Guard over it.
type env struct {
	guard  *guard.Guard
	tokens map[string]string // by caller: "", user, admin, blocked, bad
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open("sqlite://" + filepath.Join(t.TempDir(), "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	enforcer, err := policy.New(st.DB, policy.Model)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := policy.ParseCSV(policy.DefaultCSV + appPolicy)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enforcer.SeedIfEmpty(rules); err != nil {
		t.Fatal(err)
	}
	g, err := guard.New(guard.Config{Store: st, Enforcer: enforcer, Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	g.Public("GET /healthz")
	tokens := guard.Tokens{Secret: []byte(testSecret), TTL: time.Hour, Now: time.Now}
	e := &env{guard: g, tokens: map[string]string{"": "", "bad": "not-a-token"}}
	for _, u := range []struct {
		name, role string
		blocked    bool
	}{{"user", "authenticated", false}, {"admin", "admin", false}, {"blocked", "authenticated", true}} {
		role, err := st.Roles().ByType(ctx, u.role)
		if err != nil {
			t.Fatal(err)
		}
		past := time.Now().UTC().Add(-time.Minute)
		user := store.User{DocumentID: store.NewDocumentID(), Username: u.name, Email: u.name + "@example.com", Provider: "local",
			Confirmed: true, Blocked: u.blocked, RoleID: &role.ID, PublishedAt: past, TokensValidAfter: past}
		if err := st.Users().Create(ctx, &user); err != nil {
			t.Fatal(err)
		}
		if e.tokens[u.name], err = tokens.Issue(user.ID); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// whoami answers with the guard's view of the caller.
func whoami(ctx context.Context) string {
	name := "anonymous"
	if u, ok := guard.User(ctx); ok {
		name = u.Username
	}
	return fmt.Sprintf("%s as %s", name, guard.Role(ctx))
}

// scenarios hold for any router: the app's routes are GET /api/posts, GET and
// DELETE /api/posts/{id}, GET /api/secret (no policy row) and GET /healthz
// (opted out with Public).
var scenarios = []struct {
	name, caller, method, path string
	want                       int
	wantBody                   string
}{
	{"public grant, anonymous", "", "GET", "/api/posts", 200, "anonymous as public"},
	{"public grant is the public role's only", "user", "GET", "/api/posts", 403, `"ForbiddenError"`},
	{"anonymous denied", "", "GET", "/api/posts/1", 403, `"name":"ForbiddenError"`},
	{"user allowed", "user", "GET", "/api/posts/1", 200, "user as authenticated"},
	{"inherited", "admin", "GET", "/api/posts/1", 200, "admin as admin"},
	{"user denied", "user", "DELETE", "/api/posts/1", 403, `{"data":null,"error":{"status":403,"name":"ForbiddenError","message":"Forbidden","details":{}}}`},
	{"admin allowed", "admin", "DELETE", "/api/posts/1", 200, "admin as admin"},
	{"bad token", "bad", "GET", "/api/posts", 401, `{"data":null,"error":{"status":401,"name":"UnauthorizedError","message":"Missing or invalid credentials","details":{}}}`},
	{"blocked user", "blocked", "GET", "/api/posts", 401, `"message":"Invalid credentials"`},
	{"no policy row: fail-closed", "admin", "GET", "/api/secret", 403, `"ForbiddenError"`},
	{"opted out with Public", "bad", "GET", "/healthz", 200, "ok"},
	{"unknown route", "admin", "GET", "/api/nothing", 404, ""},
}

func runScenarios(t *testing.T, e *env, h http.Handler) {
	t.Helper()
	for _, sc := range scenarios {
		req := httptest.NewRequest(sc.method, sc.path, nil)
		if tok := e.tokens[sc.caller]; tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != sc.want || !strings.Contains(rec.Body.String(), sc.wantBody) {
			t.Errorf("%s: %s %s as %q: status = %d %s, want %d %s", sc.name, sc.method, sc.path, sc.caller, rec.Code, rec.Body, sc.want, sc.wantBody)
		}
	}
}

// TestMux: the net/http middleware over a real http.ServeMux, deciding on the
// matched pattern (GET /api/posts/{id} is the policy's /api/posts/:id).
func TestMux(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	serve := func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, whoami(r.Context())) }
	mux.HandleFunc("GET /api/posts", serve)
	mux.HandleFunc("GET /api/posts/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "1" { // the mux's path values survive the guard
			http.Error(w, "id = "+r.PathValue("id"), http.StatusInternalServerError)
			return
		}
		serve(w, r)
	})
	mux.HandleFunc("DELETE /api/posts/{id}", serve)
	mux.HandleFunc("GET /api/secret", serve)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	runScenarios(t, e, e.guard.Mux(mux))
}

// TestHandler: the per-handler form, deciding on r.Pattern.
func TestHandler(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	serve := e.guard.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, whoami(r.Context())) }))
	for _, p := range []string{"GET /api/posts", "GET /api/posts/{id}", "DELETE /api/posts/{id}", "GET /api/secret"} {
		mux.Handle(p, serve)
	}
	mux.Handle("GET /healthz", e.guard.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })))
	runScenarios(t, e, mux)
}

// TestGin: the Gin middleware on an existing engine (not Gatehouse's), one
// route of it in a group.
func TestGin(t *testing.T) {
	e := newEnv(t)
	engine := gin.New()
	engine.Use(ginguard.Middleware(e.guard))
	serve := func(c *gin.Context) { c.String(http.StatusOK, whoami(c)) }
	engine.GET("/api/posts", serve)
	posts := engine.Group("/api/posts")
	posts.GET("/:id", serve)
	posts.DELETE("/:id", serve)
	engine.GET("/api/secret", serve)
	engine.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	runScenarios(t, e, engine)
}

func TestRoute(t *testing.T) {
	for _, tt := range []struct{ pattern, method, route string }{
		{"GET /api/posts/{id}", "GET", "/api/posts/:id"},
		{"/api/posts/{id}/comments/{cid}", "", "/api/posts/:id/comments/:cid"},
		{"GET /files/{path...}", "GET", "/files/*path"},
		{"GET /posts/{$}", "GET", "/posts/"},
		{"POST example.com/api/x", "POST", "/api/x"},
		{"GET /api/posts/:id", "GET", "/api/posts/:id"},
		{"GET  /files/*path", "GET", "/files/*path"},
		{"/", "", "/"},
	} {
		if m, r := guard.Route(tt.pattern); m != tt.method || r != tt.route {
			t.Errorf("Route(%q) = %q, %q; want %q, %q", tt.pattern, m, r, tt.method, tt.route)
		}
	}
}
