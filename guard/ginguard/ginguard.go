// Package ginguard is Gatehouse's guard as Gin middleware: on an existing
// *gin.Engine or group it authenticates each request (a Gatehouse JWT, or
// none for the public role) and authorizes it on (role, c.FullPath(),
// method), deny unless the policy grants it. Gatehouse's own router uses the
// same middleware.
//
// The current user is guard.User(c) in the handlers behind it.
package ginguard

import (
	"path"
	"strings"

	"github.com/gatehouse/gatehouse/guard"
	"github.com/gin-gonic/gin"
)

// Option changes the middleware.
type Option func(*options)

type options struct {
	onError func(c *gin.Context, err error)
}

// OnError sets how a refusal (a *guard.Refusal) or a failure to decide is
// answered; the handler must abort c. The default is guard.WriteError's
// Strapi envelope.
func OnError(f func(c *gin.Context, err error)) Option {
	return func(o *options) { o.onError = f }
}

func writeError(c *gin.Context, err error) {
	guard.WriteError(c.Writer, err)
	c.Abort()
}

// Middleware authenticates and authorizes every request that matched a
// route, on (role, c.FullPath(), method); install it with engine.Use (or
// group.Use) before the routes it protects. A route opted out with
// g.Public is served without a decision; a request that matched no route
// goes on to Gin's 404 or 405.
func Middleware(g *guard.Guard, opts ...Option) gin.HandlerFunc {
	o := options{onError: writeError}
	for _, opt := range opts {
		opt(&o)
	}
	return func(c *gin.Context) {
		route := c.FullPath()
		if route == "" {
			c.Next()
			return
		}
		method := c.Request.Method
		if g.IsPublic(method, route) {
			c.Next()
			return
		}
		caller, err := g.Authenticate(c.Request.Context(), c.GetHeader("Authorization"))
		if err != nil {
			o.onError(c, err)
			return
		}
		// Known before the decision, so a refusal's log names the caller.
		c.Set(guard.ContextKey, caller)
		if err := g.Authorize(caller, route, method); err != nil {
			o.onError(c, err)
			return
		}
		c.Next()
	}
}

// Public registers a route served to anyone, without a decision (a health
// check, static files): the route is added to r and opted out in g, so the
// opt-out is visible where the route is declared.
func Public(g *guard.Guard, r gin.IRoutes, method, path string, handlers ...gin.HandlerFunc) {
	g.Public(method + " " + joinPath(r, path))
	r.Handle(method, path, handlers...)
}

// joinPath is the full path of a route registered on r, as Gin joins a
// group's base path with a relative path.
func joinPath(r gin.IRoutes, relative string) string {
	grp, ok := r.(*gin.RouterGroup)
	if !ok || relative == "" {
		return relative
	}
	joined := path.Join(grp.BasePath(), relative)
	if strings.HasSuffix(relative, "/") && !strings.HasSuffix(joined, "/") {
		return joined + "/"
	}
	return joined
}
