package handlers

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"
)

func init() { gin.SetMode(gin.TestMode) }

// testPassword is every seeded user's password.
const testPassword = "Passw0rd!"

// testEnv is a real server over a fresh temporary SQLite database, with the
// default roles and policy, and one user per role.
type testEnv struct {
	t        testing.TB
	store    *store.Store
	enforcer *policy.Enforcer
	server   *Server
	cfg      Config
	users    map[string]store.User // by caller name
	// asyncMail leaves queued mail to a running RunMailQueue; by default
	// request delivers what is due after each request, as the worker would
	// right then.
	asyncMail bool
}

// newTestEnv builds the environment; opts adjust the Config before New.
func newTestEnv(t testing.TB, opts ...func(*Config)) *testEnv {
	t.Helper()
	// The suite runs under -race on shared machines, where SQLite's write
	// lock may be waited for longer than DB_TIMEOUT's 2s default: tests
	// that are not about timeouts get 30s (TestDatabaseTimeout sets its own).
	st, err := store.OpenWith("sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"), store.Options{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	enforcer, err := policy.New(st.DB, policy.Model)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enforcer.SeedIfEmpty(policy.Default()); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Store: st, Enforcer: enforcer, Secret: []byte("test-secret-test-secret-test-secret"),
		TokenTTL: time.Hour, BcryptCost: bcrypt.MinCost,
		RateLimit: RateLimit{Enabled: false},
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, store: st, enforcer: enforcer, server: srv, cfg: cfg, users: map[string]store.User{}}
	e.users["authenticated"] = e.createUser("alice", "alice@example.com", "authenticated")
	e.users["admin"] = e.createUser("root", "root@example.com", "admin")
	return e
}

// createUser stores a confirmed local user with testPassword and the role.
func (e *testEnv) createUser(username, email, roleType string, mods ...func(*store.User)) store.User {
	e.t.Helper()
	ctx := context.Background()
	role, err := e.store.Roles().ByType(ctx, roleType)
	if err != nil {
		e.t.Fatalf("role %s: %v", roleType, err)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	now := time.Now().UTC().Add(-time.Minute)
	u := store.User{DocumentID: store.NewDocumentID(), Username: username, Email: email, Provider: "local",
		Password: string(hash), Confirmed: true, RoleID: &role.ID, PublishedAt: now, TokensValidAfter: now}
	for _, m := range mods {
		m(&u)
	}
	if err := e.store.Users().Create(ctx, &u); err != nil {
		e.t.Fatalf("create user %s: %v", username, err)
	}
	return u
}

// token mints a valid JWT for the user id.
func (e *testEnv) token(id uint) string {
	e.t.Helper()
	if e.server.refreshMode() {
		// Refresh mode takes only its own access tokens: one of a session
		// that was never opened.
		tok, err := e.server.issueAccessToken(id, "test-session")
		if err != nil {
			e.t.Fatal(err)
		}
		return tok
	}
	tok, err := e.server.tokens.Issue(id)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// setAdvanced changes advanced settings.
func (e *testEnv) setAdvanced(change func(*store.Advanced)) {
	e.t.Helper()
	adv, err := e.store.Settings().Advanced(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	change(&adv)
	if err := e.store.Settings().Put(context.Background(), store.KeyAdvanced, adv); err != nil {
		e.t.Fatal(err)
	}
}

// request sends a request through the real router.
func (e *testEnv) request(method, url, body string, header http.Header) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, url, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	e.server.ServeHTTP(rec, req)
	if !e.asyncMail {
		e.deliverMail()
	}
	return rec
}

// deliverMail makes the attempts due now at the queued mail, as
// RunMailQueue does.
func (e *testEnv) deliverMail() {
	e.t.Helper()
	if _, err := e.server.deliverDueMail(context.Background()); err != nil {
		e.t.Fatalf("deliver queued mail: %v", err)
	}
}

// scenario is one HTTP test case (PocketBase's ApiScenario shape).
type scenario struct {
	name   string
	method string
	url    string
	body   string
	// caller is "" or "public" (no token), "authenticated", "admin", or
	// "bearer:<raw header value>".
	caller     string
	header     http.Header
	setup      func(e *testEnv)
	wantStatus int
	want       []string
	notWant    []string
	check      func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder)
	envOpts    []func(*Config)
	// expand, when set, rewrites the url, the body and the header values
	// after setup (placeholders for what only the environment knows).
	expand func(e *testEnv, s string) string
}

// notWantAlways holds what no response may ever contain: password hashes.
var notWantAlways = []string{"$2a$", "$2b$", `"password":`, `"resetPasswordToken":`, `"confirmationToken":`}

func runScenarios(t *testing.T, scenarios []scenario) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			e := newTestEnv(t, sc.envOpts...)
			if sc.setup != nil {
				sc.setup(e)
			}
			if sc.expand == nil {
				sc.expand = func(_ *testEnv, s string) string { return s }
			}
			sc.url, sc.body = sc.expand(e, sc.url), sc.expand(e, sc.body)
			header := http.Header{}
			for k, v := range sc.header {
				values := make([]string, len(v))
				for i, value := range v {
					values[i] = sc.expand(e, value)
				}
				header[k] = values
			}
			switch {
			case sc.caller == "" || sc.caller == "public":
			case strings.HasPrefix(sc.caller, "bearer:"):
				header.Set("Authorization", strings.TrimPrefix(sc.caller, "bearer:"))
			default:
				u, ok := e.users[sc.caller]
				if !ok {
					t.Fatalf("unknown caller %q", sc.caller)
				}
				header.Set("Authorization", "Bearer "+e.token(u.ID))
			}
			rec := e.request(sc.method, sc.url, sc.body, header)
			body := rec.Body.String()
			if rec.Code != sc.wantStatus {
				t.Fatalf("%s %s: status = %d, want %d\n%s", sc.method, sc.url, rec.Code, sc.wantStatus, body)
			}
			for _, w := range sc.want {
				if !strings.Contains(body, w) {
					t.Errorf("%s %s: body lacks %q\n%s", sc.method, sc.url, w, body)
				}
			}
			for _, nw := range append(sc.notWant, notWantAlways...) {
				if strings.Contains(body, nw) {
					t.Errorf("%s %s: body contains %q\n%s", sc.method, sc.url, nw, body)
				}
			}
			if rec.Code >= 400 && !json.Valid(rec.Body.Bytes()) {
				t.Errorf("%s %s: error body is not JSON: %s", sc.method, sc.url, body)
			}
			if sc.check != nil {
				sc.check(t, e, rec)
			}
		})
	}
}

// errorJSONFor is the exact error envelope for the status, name and message.
func errorJSONFor(status int, name, message string) string {
	b, _ := json.Marshal(guard.Envelope{Error: guard.EnvelopeError{Status: status, Name: name, Message: message, Details: map[string]any{}}})
	return string(b)
}
