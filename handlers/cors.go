package handlers

import (
	"errors"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"
	"github.com/rs/cors"
)

// CORS configures cross-origin access, as Strapi's strapi::cors middleware:
// the allowed methods and headers and the preflight max-age are Strapi's
// defaults (spec §0.x); the origins are configured.
type CORS struct {
	// Origins are the allowed origins: exact ("https://app.example.com"),
	// with one "*" wildcard ("http://localhost:*"), or "*" for any origin
	// (refused with Credentials). Empty: no origin is allowed; preflights
	// are still answered 204, without the headers a browser needs.
	Origins []string
	// Credentials sends Access-Control-Allow-Credentials: true, so a page
	// on an allowed origin may send cookies (refresh mode's cookie).
	Credentials bool
}

// Strapi's strapi::cors defaults, plus refresh mode's
// x-strapi-refresh-cookie, which a front end on another origin sends to ask
// for the refresh token in an HttpOnly cookie.
var (
	corsMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions}
	corsHeaders = []string{"Content-Type", "Authorization", "Origin", "Accept", refreshCookieHeader}
)

// corsMaxAge is Strapi's preflight max-age (a year; browsers cap it).
const corsMaxAge = 31536000

// newCORS builds the CORS handler (github.com/rs/cors) for the settings.
func newCORS(cfg CORS) (*cors.Cors, error) {
	if slices.Contains(cfg.Origins, "*") && cfg.Credentials {
		return nil, errors.New("handlers: CORS: any origin (*) with credentials would let every site act as the signed-in user; list the origins or turn credentials off")
	}
	opts := cors.Options{
		AllowedOrigins:   cfg.Origins,
		AllowedMethods:   corsMethods,
		AllowedHeaders:   corsHeaders,
		AllowCredentials: cfg.Credentials,
		MaxAge:           corsMaxAge,
	}
	if len(cfg.Origins) == 0 {
		// rs/cors reads an empty list as "*".
		opts.AllowOriginFunc = func(string) bool { return false }
	}
	return cors.New(opts), nil
}

// cors answers preflights (OPTIONS with Access-Control-Request-Method) with
// 204 before authentication, authorization and rate limiting, on any path,
// and adds the CORS headers to every other answer for an allowed origin,
// errors included.
func (s *Server) cors(c *gin.Context) {
	s.corsHandler.HandlerFunc(c.Writer, c.Request)
	if c.Request.Method == http.MethodOptions && c.Request.Header.Get("Access-Control-Request-Method") != "" {
		c.Abort() // HandlerFunc has set the 204
	}
}
