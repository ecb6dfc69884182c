package ginguard_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/guard/ginguard"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/setup"
	"github.com/gin-gonic/gin"
)

// The Gin middleware on an app's own engine: every route, groups included,
// is decided on (role, c.FullPath(), method), deny unless a row grants it;
// ginguard.Public declares the one kind of route served without a decision.
func ExampleMiddleware() {
	gin.SetMode(gin.ReleaseMode)
	dir, err := os.MkdirTemp("", "ginguard-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	rules, err := policy.ParseCSV(policy.DefaultCSV + "p, public, /api/posts, GET\n")
	if err != nil {
		log.Fatal(err)
	}
	st, enforcer, err := setup.Open(context.Background(), "sqlite://"+filepath.Join(dir, "gatehouse.db"), setup.Options{Policy: rules})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	g, err := guard.New(guard.Config{Store: st, Enforcer: enforcer, Secret: []byte("the-server's-JWT_SECRET-32-bytes!")})
	if err != nil {
		log.Fatal(err)
	}

	engine := gin.New()
	engine.Use(ginguard.Middleware(g))
	ginguard.Public(g, engine, "GET", "/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	api := engine.Group("/api")
	api.GET("/posts", func(c *gin.Context) { c.String(http.StatusOK, "posts for %s", guard.Role(c)) })
	api.DELETE("/posts/:id", func(c *gin.Context) {
		user, _ := guard.User(c) // the signed-in user, typed
		c.String(http.StatusOK, "deleted by %s", user.Username)
	})

	for _, r := range []struct{ method, path, token string }{
		{"GET", "/api/posts", ""},
		{"DELETE", "/api/posts/1", ""},
		{"GET", "/api/posts", "not-a-token"},
		{"GET", "/healthz", ""},
	} {
		req := httptest.NewRequest(r.method, r.path, nil)
		if r.token != "" {
			req.Header.Set("Authorization", "Bearer "+r.token)
		}
		rec := httptest.NewRecorder()
		engine.ServeHTTP(rec, req)
		fmt.Println(r.method, r.path, rec.Code)
	}
	// Output:
	// GET /api/posts 200
	// DELETE /api/posts/1 403
	// GET /api/posts 401
	// GET /healthz 200
}
