package handlers

import (
	"net/http"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/guard/ginguard"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gin-gonic/gin"
)

const up = "plugin::users-permissions."

// route is one row of the route table.
type route struct {
	fn          policy.Function
	rateLimited bool
	handler     func(*gin.Context) error
}

// routes is every content-API route in one place, in Strapi's order
// (/users/count and /users/me before /users/:id), with its function name.
func (s *Server) routes() []route {
	fn := func(name, method, path string) policy.Function {
		return policy.Function{Name: up + name, Method: method, Route: path}
	}
	return []route{
		{fn("auth.callback", http.MethodPost, "/api/auth/local"), true, s.login},
		{fn("auth.register", http.MethodPost, "/api/auth/local/register"), true, s.register},
		// -- email routes (password reset, change, confirmation, templates, advanced settings) --
		{fn("auth.forgotPassword", http.MethodPost, "/api/auth/forgot-password"), true, s.forgotPassword},
		{fn("auth.resetPassword", http.MethodPost, "/api/auth/reset-password"), true, s.resetPassword},
		{fn("auth.changePassword", http.MethodPost, "/api/auth/change-password"), true, s.changePassword},
		{fn("auth.emailConfirmation", http.MethodGet, "/api/auth/email-confirmation"), false, s.emailConfirmation},
		{fn("auth.sendEmailConfirmation", http.MethodPost, "/api/auth/send-email-confirmation"), true, s.sendEmailConfirmation},
		{fn("settings.getEmailTemplate", http.MethodGet, "/api/users-permissions/email-templates"), false, s.getEmailTemplate},
		{fn("settings.updateEmailTemplate", http.MethodPut, "/api/users-permissions/email-templates"), false, s.updateEmailTemplate},
		{fn("settings.getAdvancedSettings", http.MethodGet, "/api/users-permissions/advanced"), false, s.getAdvancedSettings},
		{fn("settings.updateAdvancedSettings", http.MethodPut, "/api/users-permissions/advanced"), false, s.updateAdvancedSettings},
		{fn("settings.getUserFields", http.MethodGet, "/api/users-permissions/user-fields"), false, s.fieldDefinitions},
		// -- end of email routes --
		// -- OAuth routes (connect, provider callback, provider settings) --
		// The connect legs are rate limited (a login loop gets 429 before
		// the provider); the OAuth finish is not, as in Strapi.
		{fn("auth.connect", http.MethodGet, "/api/connect/:provider"), true, s.newConnect()},
		{fn("auth.connect", http.MethodGet, "/api/connect/:provider/callback"), true, s.newConnectCallback()},
		{fn("auth.callback", http.MethodGet, "/api/auth/:provider/callback"), false, s.newProviderCallback()},
		{fn("settings.getProviders", http.MethodGet, "/api/users-permissions/providers"), false, s.getProviders},
		{fn("settings.updateProviders", http.MethodPut, "/api/users-permissions/providers"), false, s.updateProviders},
		// -- end of OAuth routes --
		// -- refresh-token routes (refresh mode; 404 in legacy mode) --
		// Not rate-limited, as in Strapi: a refresh token is 256 random bits
		// (nothing to guess), and a per-IP budget of RATE_LIMIT_MAX a window
		// would sign out the users of a shared address (an office behind one
		// NAT) who refresh on a timer.
		{fn("auth.refresh", http.MethodPost, "/api/auth/refresh"), false, s.refresh},
		{fn("auth.logout", http.MethodPost, "/api/auth/logout"), false, s.logout},
		{fn("auth.getSessions", http.MethodGet, "/api/auth/sessions"), false, s.getSessions},
		{fn("auth.revokeSession", http.MethodDelete, "/api/auth/sessions/:sessionId"), false, s.revokeSession},
		// -- end of refresh-token routes --

		{fn("user.count", http.MethodGet, "/api/users/count"), false, s.countUsers},
		{fn("user.find", http.MethodGet, "/api/users"), false, s.findUsers},
		{fn("user.me", http.MethodGet, "/api/users/me"), false, s.me},
		{fn("user.findOne", http.MethodGet, "/api/users/:id"), false, s.findUser},
		{fn("user.create", http.MethodPost, "/api/users"), false, s.createUser},
		{fn("user.update", http.MethodPut, "/api/users/:id"), false, s.updateUser},
		{fn("user.destroy", http.MethodDelete, "/api/users/:id"), false, s.deleteUser},
		// -- roles, permissions and policy routes --
		{fn("role.find", http.MethodGet, "/api/users-permissions/roles"), false, s.findRoles},
		{fn("role.findOne", http.MethodGet, "/api/users-permissions/roles/:id"), false, s.findRole},
		{fn("role.createRole", http.MethodPost, "/api/users-permissions/roles"), false, s.createRole},
		{fn("role.updateRole", http.MethodPut, "/api/users-permissions/roles/:id"), false, s.updateRole},
		{fn("role.deleteRole", http.MethodDelete, "/api/users-permissions/roles/:id"), false, s.deleteRole},
		{fn("permissions.getPermissions", http.MethodGet, "/api/users-permissions/permissions"), false, s.getPermissions},
		{fn("permissions.getRoutes", http.MethodGet, "/api/users-permissions/routes"), false, s.getRoutes},
		{fn("policy.find", http.MethodGet, "/api/users-permissions/policy"), false, s.getPolicy},
		{fn("policy.replace", http.MethodPut, "/api/users-permissions/policy"), false, s.replacePolicy},
		{fn("policy.check", http.MethodPost, "/api/users-permissions/policy/check"), false, s.checkPolicy},
		{fn("policy.reload", http.MethodPost, "/api/users-permissions/policy/reload"), false, s.reloadPolicy},
		{fn("policy.history", http.MethodGet, "/api/users-permissions/policy/history"), false, s.getPolicyHistory},
		{fn("policy.historyEntry", http.MethodGet, "/api/users-permissions/policy/history/:revision"), false, s.getPolicyHistoryEntry},
		{fn("policy.revert", http.MethodPost, "/api/users-permissions/policy/revert"), false, s.revertPolicy},
		{fn("audit.find", http.MethodGet, "/api/users-permissions/audit"), false, s.getAudit},
		// -- end of roles, permissions and policy routes --
	}
}

// router builds the Gin engine: global middleware, the route table with
// authentication, authorization and (where Strapi has it) rate limiting,
// and the JSON answers for unknown routes and methods.
func (s *Server) router() error {
	engine := gin.New()
	engine.RedirectTrailingSlash = false
	engine.RedirectFixedPath = false
	engine.HandleMethodNotAllowed = true
	engine.ContextWithFallback = true
	if err := engine.SetTrustedProxies(s.cfg.TrustedProxies); err != nil {
		return err
	}
	// observe comes first, so a request that panicked is logged and
	// counted with the 500 the recovery answers. Every route, Gatehouse's
	// and the embedding app's however added, is authenticated and
	// authorized last, on the matched pattern: deny unless the policy
	// grants it (fail-closed). Opt-outs are explicit (ginguard.Public).
	engine.Use(s.observe, gin.CustomRecoveryWithWriter(nil, s.recoverPanics), s.cors, s.limitBody,
		ginguard.Middleware(s.guard, ginguard.OnError(s.refuse)))
	engine.NoRoute(func(c *gin.Context) {
		if s.proxy != nil {
			s.proxyFunction(c)
			return
		}
		s.writeError(c, errNoRoute)
	})
	engine.NoMethod(func(c *gin.Context) { s.writeError(c, errNoMethod) })
	ginguard.Public(s.guard, engine, http.MethodGet, "/_health", s.health)
	ginguard.Public(s.guard, engine, http.MethodGet, "/_ready", s.ready)
	// The admin page: public static files, outside the policy (admin/).
	adminPage := gin.WrapH(admin.Handler())
	for _, p := range []string{admin.Prefix, admin.Prefix + "/*file"} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			ginguard.Public(s.guard, engine, method, p, adminPage)
		}
	}
	// Forward-auth: public itself, it decides about the request it names
	// (gateway.go).
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		ginguard.Public(s.guard, engine, method, VerifyRoute, s.handle(s.verify))
	}
	s.engine = engine
	for _, r := range s.routes() {
		s.Route(r.fn, r.rateLimited, r.handler)
	}
	return nil
}

// Route registers a route (behind the authentication and authorization every
// route of the engine gets, and the auth rate limiter when rateLimited) and
// adds it to the catalogue.
// An embedding app registers its own routes the same way:
//
//	srv.Route(policy.Function{Name: "api::post.post.find", Method: "GET", Route: "/api/posts"}, false, listPosts)
func (s *Server) Route(fn policy.Function, rateLimited bool, handler func(*gin.Context) error) {
	var chain []gin.HandlerFunc
	if rateLimited {
		chain = append(chain, s.rateLimit)
	}
	chain = append(chain, s.handle(handler))
	s.engine.Handle(fn.Method, fn.Route, chain...)
	s.catalog = append(s.catalog, fn)
}

// DefaultCatalog returns the functions of Gatehouse's own routes without
// building a server (for offline policy tools).
func DefaultCatalog() policy.Catalog {
	var s Server
	routes := s.routes()
	catalog := make(policy.Catalog, len(routes))
	for i, r := range routes {
		catalog[i] = r.fn
	}
	return catalog
}

// reservedRoutes are the routes Gatehouse serves outside the catalogue
// (public: probes, the admin page, forward-auth).
var reservedRoutes = policy.Catalog{
	{Name: "gatehouse::health", Method: http.MethodGet, Route: "/_health"},
	{Name: "gatehouse::ready", Method: http.MethodGet, Route: "/_ready"},
	{Name: "gatehouse::admin", Method: http.MethodGet, Route: admin.Prefix},
	{Name: "gatehouse::admin", Method: http.MethodGet, Route: admin.Prefix + "/*file"},
	{Name: "gatehouse::authz.verify", Method: http.MethodGet, Route: VerifyRoute},
}

// OwnRoutes returns every route Gatehouse itself serves, the catalogue's
// and the public ones: what a functions file may not overlap
// (gateway.Table.Check).
func OwnRoutes() policy.Catalog { return append(DefaultCatalog(), reservedRoutes...) }
