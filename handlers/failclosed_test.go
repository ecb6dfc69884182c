package handlers

import (
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/guard/ginguard"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gin-gonic/gin"
)

// TestEngineFailsClosed: routes an embedding app adds straight on Engine()
// (engine.GET, a group with its own middleware) are authorized like
// Gatehouse's own: denied until the policy grants them, 401 for a bad token,
// and served to anyone only when opted out with ginguard.Public.
func TestEngineFailsClosed(t *testing.T) {
	e := newTestEnv(t)
	engine := e.server.Engine()
	served := func(c *gin.Context) {
		user, _ := guard.User(c)
		name := "anonymous"
		if user != nil {
			name = user.Username
		}
		c.String(http.StatusOK, "served "+name+" as "+guard.Role(c))
	}
	engine.GET("/api/stray", served)
	groupMiddlewareRan := false
	group := engine.Group("/api/app", func(c *gin.Context) {
		if c.FullPath() != "/api/app/open" {
			groupMiddlewareRan = true
		}
		c.Next()
	})
	group.GET("/items/:id", served)
	group.DELETE("/items/:id", served)
	ginguard.Public(e.server.Guard(), group, http.MethodGet, "/open", served)

	user, admin := e.token(e.users["authenticated"].ID), e.token(e.users["admin"].ID)
	check := func(step, method, url, token string, want int, wantBody string) {
		t.Helper()
		header := http.Header{}
		if token != "" {
			header.Set("Authorization", "Bearer "+token)
		}
		rec := e.request(method, url, "", header)
		if rec.Code != want || (wantBody != "" && rec.Body.String() != wantBody) {
			t.Errorf("%s: %s %s: status = %d %s, want %d %s", step, method, url, rec.Code, rec.Body, want, wantBody)
		}
	}
	forbidden := errorJSONFor(403, "ForbiddenError", "Forbidden")
	for _, tt := range []struct {
		method, url, token string
		want               int
		body               string
	}{
		{"GET", "/api/stray", "", 403, forbidden},
		{"GET", "/api/stray", user, 403, forbidden},
		{"GET", "/api/stray", admin, 403, forbidden},
		{"GET", "/api/stray", "not-a-token", 401, errorJSONFor(401, "UnauthorizedError", "Missing or invalid credentials")},
		{"GET", "/api/app/items/1", user, 403, forbidden},
		{"DELETE", "/api/app/items/1", admin, 403, forbidden},
		{"GET", "/api/app/open", "", 200, "served anonymous as "},
		{"GET", "/api/app/open", "not-a-token", 200, ""}, // opted out: no token is read
		{"GET", "/api/app/nothing", user, 404, errorJSONFor(404, "NotFoundError", "Not Found")},
		{"POST", "/api/stray", user, 405, ""},
	} {
		check("before any grant", tt.method, tt.url, tt.token, tt.want, tt.body)
	}
	if groupMiddlewareRan {
		t.Errorf("the group's own middleware ran for a denied request: authorization must come first")
	}

	// The policy grants them: served, with the typed user in the context.
	if err := e.enforcer.Add([]policy.Rule{
		{Type: "p", Values: []string{"authenticated", "/api/stray", "GET"}},
		{Type: "p", Values: []string{"authenticated", "/api/app/items/:id", "GET"}},
	}); err != nil {
		t.Fatal(err)
	}
	check("granted", "GET", "/api/stray", user, 200, "served alice as authenticated")
	check("granted", "GET", "/api/app/items/7", user, 200, "served alice as authenticated")
	check("granted (admin inherits authenticated)", "GET", "/api/app/items/7", admin, 200, "served root as admin")
	check("not granted", "GET", "/api/stray", "", 403, forbidden)
	check("not granted", "DELETE", "/api/app/items/7", user, 403, forbidden)
}
