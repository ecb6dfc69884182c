package handlers_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse/gatehouse/cluster"
	"github.com/gatehouse/gatehouse/follow"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/setup"
	"github.com/gin-gonic/gin"
)

// newServer is Gatehouse as a library: its auth, users and roles routes
// plus the app's own, every route decided by the policy (fail-closed).
func newServer(ctx context.Context, databaseURL string, secret []byte) (_ *handlers.Server, err error) {
	// A new database starts with Gatehouse's default policy and the app's
	// rows; migrations and that bootstrap run under the start-up lock.
	rules, err := policy.ParseCSV(policy.DefaultCSV + "p, public, /api/posts, GET\np, authenticated, /api/posts, POST\n")
	if err != nil {
		return nil, err
	}
	st, enforcer, err := setup.Open(ctx, databaseURL, setup.Options{Policy: rules})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	srv, err := handlers.New(handlers.Config{Store: st, Enforcer: enforcer, Secret: secret})
	if err != nil {
		return nil, err // e.g. a secret under 16 bytes
	}
	// The app's functions join the catalogue: the admin page, the roles API,
	// lint and explain know them.
	srv.Route(policy.Function{Name: "api::post.post.find", Method: "GET", Route: "/api/posts"}, false,
		func(c *gin.Context) error {
			c.JSON(http.StatusOK, gin.H{"data": []string{}})
			return nil
		})
	srv.Route(policy.Function{Name: "api::post.post.create", Method: "POST", Route: "/api/posts"}, false,
		func(c *gin.Context) error {
			user, _ := handlers.CurrentUser(c) // the signed-in user, typed
			c.JSON(http.StatusCreated, gin.H{"data": gin.H{"author": user.Username}})
			return nil
		})
	// Changes made by other processes (another instance, the CLI, SQL)
	// apply here within 10s.
	if _, err := srv.FollowChanges(ctx, follow.Options{Every: 10 * time.Second}); err != nil {
		return nil, err
	}
	return srv, nil
}

// Gatehouse's server with the app's routes; handlers.New fails, rather
// than serving, on a bad configuration.
func ExampleNew() {
	gin.SetMode(gin.ReleaseMode)
	dir, err := os.MkdirTemp("", "gatehouse-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	if _, err := newServer(ctx, "sqlite://"+filepath.Join(dir, "short.db"), []byte("too short")); err != nil {
		fmt.Println(err)
	}
	srv, err := newServer(ctx, "sqlite://"+filepath.Join(dir, "app.db"), []byte("a-secret-of-32-bytes-or-more-please"))
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range []struct{ method, path string }{{"GET", "/api/posts"}, {"POST", "/api/posts"}, {"GET", "/api/nothing"}} {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(r.method, r.path, nil))
		fmt.Println(r.method, r.path, rec.Code)
	}
	// Output:
	// handlers: the JWT secret must be at least 16 bytes
	// GET /api/posts 200
	// POST /api/posts 403
	// GET /api/nothing 404
}

// With several instances (or a plain Casbin process on the same database),
// Redis carries the changes at once: give the Cluster as the notices.
func ExampleServer_FollowChanges() {
	var srv *handlers.Server // from handlers.New
	ctx := context.Background()
	peers, err := cluster.Connect(ctx, "redis://127.0.0.1:6379/0", cluster.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer peers.Close()
	stop, err := srv.FollowChanges(ctx, follow.Options{Every: 10 * time.Second, Notices: peers})
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
}
