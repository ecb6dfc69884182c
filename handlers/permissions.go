package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// getPermissions is GET /api/users-permissions/permissions: Strapi's
// permissions map over every route, enabled for the caller's role (the
// public role for anonymous callers).
func (s *Server) getPermissions(c *gin.Context) error {
	perms, err := s.enforcer.PermissionsOf(CurrentRole(c), s.Catalog())
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, gin.H{"permissions": perms})
}

// routeJSON is one entry of GET …/routes.
type routeJSON struct {
	Method  string `json:"method"`
	Path    string `json:"path"`
	Handler string `json:"handler"`
	Action  string `json:"action"`
}

// getRoutes is GET /api/users-permissions/routes: {routes: {<type>: [route…]}},
// the URL beside each function.
func (s *Server) getRoutes(c *gin.Context) error {
	routes := map[string][]routeJSON{}
	for _, fn := range s.Catalog() {
		routes[fn.Type()] = append(routes[fn.Type()], routeJSON{Method: fn.Method, Path: fn.Route,
			Handler: fn.Controller() + "." + fn.Action(), Action: fn.Name})
	}
	return writeJSON(c, http.StatusOK, gin.H{"routes": routes})
}
