package guard

import (
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/policy"
)

// Route converts a route pattern to the catalogue's syntax, which policies
// are written in: "GET /api/posts/{id}" (net/http, Go 1.22+) gives "GET" and
// "/api/posts/:id"; {rest...} becomes *rest, a trailing {$} is dropped, a
// host is dropped. Gin's syntax (/api/posts/:id, /files/*path) is already
// the catalogue's and comes back as it is. method is "" when the pattern
// names none.
func Route(pattern string) (method, route string) {
	pattern = strings.TrimSpace(pattern)
	if m, rest, ok := strings.Cut(pattern, " "); ok {
		method, pattern = m, strings.TrimLeft(rest, " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 { // "example.com/path": the host is not part of the route
		pattern = pattern[i:]
	}
	if !strings.Contains(pattern, "{") {
		return method, pattern
	}
	var b strings.Builder
	for i, seg := range strings.Split(pattern, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		if len(seg) < 2 || seg[0] != '{' || seg[len(seg)-1] != '}' {
			b.WriteString(seg)
			continue
		}
		name := seg[1 : len(seg)-1]
		switch {
		case name == "$":
		case strings.HasSuffix(name, "..."):
			b.WriteString("*" + strings.TrimSuffix(name, "..."))
		default:
			b.WriteString(":" + name)
		}
	}
	return method, b.String()
}

// Function returns the catalogue entry of a route given in either syntax,
// for an app's table of routes: Function("api::post.post.findOne", "GET
// /api/posts/{id}") is {api::post.post.findOne GET /api/posts/:id}.
func Function(name, pattern string) policy.Function {
	method, route := Route(pattern)
	return policy.Function{Name: name, Method: method, Route: route}
}

// route is Route(pattern) for the request's method, cached: a server has
// few patterns and sees them again and again.
func (g *Guard) route(pattern, requestMethod string) routeKey {
	if v, ok := g.routes.Load(pattern); ok {
		k := v.(routeKey)
		if k.method == "" {
			k.method = requestMethod
		}
		return k
	}
	method, route := Route(pattern)
	k := routeKey{method, route}
	g.routes.Store(pattern, k)
	if k.method == "" {
		k.method = requestMethod
	}
	return k
}

// serve decides a request on its matched pattern and serves it with next, or
// answers the refusal. An empty pattern (no route matched) is passed to next,
// which answers 404 or 405 itself.
func (g *Guard) serve(w http.ResponseWriter, r *http.Request, pattern string, next http.Handler) {
	if pattern == "" {
		next.ServeHTTP(w, r)
		return
	}
	k := g.route(pattern, r.Method)
	if k.method == http.MethodHead && !strings.HasPrefix(pattern, http.MethodHead) {
		// A "GET /x" pattern serves HEAD too: decided as the GET it is.
		k.method = http.MethodGet
	}
	if g.IsPublic(k.method, k.route) {
		next.ServeHTTP(w, r)
		return
	}
	caller, err := g.Check(r.Context(), r.Header.Get("Authorization"), k.route, k.method)
	if err != nil {
		WriteError(w, err)
		return
	}
	next.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), caller)))
}

// Handler protects one handler registered on an http.ServeMux (Go 1.22+): it
// decides on r.Pattern, which the mux sets before calling it. For a whole
// mux, fail-closed, use Mux.
func (g *Guard) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Pattern == "" {
			// Not under a ServeMux: nothing to decide on, so nothing is served.
			WriteError(w, &Refusal{Status: http.StatusForbidden, Name: "ForbiddenError", Message: "Forbidden"})
			return
		}
		g.serve(w, r, r.Pattern, next)
	})
}

// Mux protects every route of mux: each request is authenticated and
// authorized on the pattern the mux matches, before the mux serves it, so a
// route added to the mux without a policy row is denied (fail-closed) unless
// opted out with Public. Requests that match no pattern get the mux's own 404
// or 405.
func (g *Guard) Mux(mux *http.ServeMux) http.Handler {
	return g.Middleware(func(r *http.Request) string {
		_, pattern := mux.Handler(r)
		return pattern
	})(mux)
}

// Middleware protects the handler of any router that can tell the route
// pattern a request matches ("" for none), in either syntax (see Route).
func (g *Guard) Middleware(pattern func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			g.serve(w, r, pattern(r), next)
		})
	}
}
