package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/gatehouse/gatehouse/cluster"
	"github.com/gatehouse/gatehouse/follow"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
)

func init() { gin.SetMode(gin.TestMode) }

const testSecret = "casbin-only-test-secret-casbin-only"

// TestModelIsGatehouses: model.conf is a copy of Gatehouse's model.
func TestModelIsGatehouses(t *testing.T) {
	if modelText != policy.Model {
		t.Error("model.conf differs from Gatehouse's policy/model.conf: copy it again")
	}
}

// gatehouse is a Gatehouse server over a SQLite file, following changes
// through Redis, with an admin token.
type gatehouse struct {
	url, admin string
	enforcer   *policy.Enforcer
}

func startGatehouse(t *testing.T, databaseURL, redisAddr string, opts cluster.Options) gatehouse {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(databaseURL)
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
	if _, err := enforcer.SeedIfEmpty(policy.Default()); err != nil {
		t.Fatal(err)
	}
	peers, err := cluster.Connect(ctx, "redis://"+redisAddr+"/0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peers.Close() })
	srv, err := handlers.New(handlers.Config{Store: st, Enforcer: enforcer, Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	stop, err := srv.FollowChanges(ctx, follow.Options{Notices: peers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)

	role, err := st.Roles().ByType(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().UTC().Add(-time.Minute)
	admin := store.User{DocumentID: store.NewDocumentID(), Username: "admin", Email: "admin@example.com", Provider: "local",
		Confirmed: true, RoleID: &role.ID, PublishedAt: past, TokensValidAfter: past}
	if err := st.Users().Create(ctx, &admin); err != nil {
		t.Fatal(err)
	}
	token, err := guard.Tokens{Secret: []byte(testSecret), TTL: time.Hour, Now: time.Now}.Issue(admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	return gatehouse{url: hs.URL, admin: token, enforcer: enforcer}
}

// do sends a request to Gatehouse as the admin.
func (g gatehouse) do(t *testing.T, method, path, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, g.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+g.admin)
	req.Header.Set("Accept", "text/csv")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls until ok, and returns how long it took (fails after 5s).
func waitFor(t *testing.T, what string, start time.Time, ok func() bool) time.Duration {
	t.Helper()
	tick := time.NewTicker(200 * time.Microsecond)
	defer tick.Stop()
	for !ok() {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%s: not within 5s", what)
		}
		<-tick.C
	}
	return time.Since(start)
}

// sameDecisions checks that the plain enforcer decides as Gatehouse does on
// every route of Gatehouse's catalogue, for each default role.
func sameDecisions(t *testing.T, plain *casbin.SyncedEnforcer, g *policy.Enforcer) {
	t.Helper()
	n := 0
	for _, fn := range handlers.DefaultCatalog() {
		for _, role := range []string{"public", "authenticated", "admin"} {
			want, err := g.Allow(role, fn.Route, fn.Method)
			if err != nil {
				t.Fatal(err)
			}
			got, err := plain.Enforce(role, fn.Route, fn.Method)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s %s as %s: plain Casbin says %v, Gatehouse %v", fn.Method, fn.Route, role, got, want)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no decisions compared")
	}
}

// TestWatcherInterop: a Gatehouse server and a plain Casbin enforcer
// (casbin/v2 + gorm-adapter + redis-watcher/v2, nothing of Gatehouse) on one
// database and one Redis. They decide the same on every route; a change
// made through Gatehouse's HTTP API reaches the plain enforcer within 100ms
// (median of 10, measured from sending the request to the plain enforcer's
// new decision); a change made with the plain enforcer's AddPolicy reaches
// Gatehouse through the watcher's message at once.
func TestWatcherInterop(t *testing.T) {
	redisAddr := os.Getenv("GATEHOUSE_TEST_REDIS_ADDR")
	if redisAddr == "" {
		t.Skip("set GATEHOUSE_TEST_REDIS_ADDR=127.0.0.1:6379 to run the watcher interop test against a real Redis")
	}
	b := make([]byte, 6)
	rand.Read(b)
	base := "gatehouse:test:" + hex.EncodeToString(b)
	opts := cluster.Options{LimitPrefix: base + ":ratelimit", PolicyChannel: base + ":policy", WatcherChannel: base + ":casbin"}
	databaseURL := "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
	g := startGatehouse(t, databaseURL, redisAddr, opts)

	db, err := openDB(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	plain, w, err := newEnforcer(db, redisAddr, opts.WatcherChannel)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	sameDecisions(t, plain, g.enforcer)

	t.Run("Gatehouse's API to plain Casbin", func(t *testing.T) {
		code, original := g.do(t, "GET", "/api/users-permissions/policy", "", "")
		if code != http.StatusOK {
			t.Fatalf("GET policy: %d %s", code, original)
		}
		var took []time.Duration
		for i := range 10 {
			body, want := original, false
			if i%2 == 0 {
				body, want = original+"p, public, /api/users, GET\n", true
			}
			start := time.Now()
			if code, resp := g.do(t, "PUT", "/api/users-permissions/policy", "text/csv", body); code != http.StatusOK {
				t.Fatalf("PUT policy: %d %s", code, resp)
			}
			took = append(took, waitFor(t, fmt.Sprintf("change %d reaching plain Casbin", i+1), start, func() bool {
				ok, _ := plain.Enforce("public", "/api/users", "GET")
				return ok == want
			}))
		}
		slices.Sort(took)
		median := took[len(took)/2]
		t.Logf("Gatehouse PUT policy → plain Casbin's new decision, 10 changes: min %s, median %s, max %s", took[0], median, took[len(took)-1])
		if median > 100*time.Millisecond {
			t.Errorf("median %s, want within 100ms", median)
		}
		sameDecisions(t, plain, g.enforcer)
	})

	t.Run("plain Casbin's AddPolicy to Gatehouse", func(t *testing.T) {
		start := time.Now()
		if ok, err := plain.AddPolicy("public", "/api/users/:id", "GET"); err != nil || !ok {
			t.Fatalf("AddPolicy = %v, %v", ok, err)
		}
		took := waitFor(t, "plain Casbin's change reaching Gatehouse", start, func() bool {
			ok, _ := g.enforcer.Allow("public", "/api/users/:id", "GET")
			return ok
		})
		t.Logf("plain Casbin AddPolicy → Gatehouse's new decision: %s", took)
		if code, body := g.do(t, "GET", "/api/users-permissions/policy", "", ""); code != http.StatusOK || !strings.Contains(body, "p, public, /api/users/:id, GET") {
			t.Errorf("Gatehouse's policy after the plain change: %d\n%s", code, body)
		}
		sameDecisions(t, plain, g.enforcer)
	})
}
