package handlers

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
)

// checkCookieOrigin refuses a cross-site browser request on what reads or
// sets refresh mode's cookie (a refresh or logout by cookie, a sign-in
// delivering the cookie), so that another site can neither sign a browser
// in to an account of its choosing (login CSRF) nor use the browser's
// session. The cookie's SameSite=Lax already keeps it off cross-site POSTs
// in browsers that honour it; this holds for SameSite=None, older browsers,
// and sibling subdomains, which count as the same site.
//
// A request is allowed when its Origin is PUBLIC_URL's or a CORS origin
// (CORS_ORIGINS: the front ends allowed to call the API), or when it has no
// Origin and Sec-Fetch-Site does not say cross-site (clients other than
// browsers send neither; browsers send Origin on every POST). An opaque
// origin ("null": sandboxed frames, file: pages) is refused.
func (s *Server) checkCookieOrigin(c *gin.Context) error { return s.checkOrigin(c, false) }

// checkOrigin is checkCookieOrigin; strict, for an unsafe request to the
// protected app authenticated by the cookie alone (gateway mode, forward-auth),
// also refuses a request whose origin cannot be told: without Origin its
// Referer's origin is judged instead, and a request with neither is
// refused (an app's write by cookie is a browser's, and a browser names
// where it comes from unless told not to).
func (s *Server) checkOrigin(c *gin.Context, strict bool) error {
	origin := c.GetHeader("Origin")
	switch {
	case origin == "" && strict:
		if origin = originOf(c.GetHeader("Referer")); origin == "" {
			return errCrossSite
		}
		if s.originAllowed(origin, &http.Request{Header: http.Header{"Origin": {origin}}}) {
			return nil
		}
	case origin == "":
		if c.GetHeader("Sec-Fetch-Site") == "cross-site" {
			return errCrossSite
		}
		return nil
	case s.originAllowed(origin, c.Request):
		return nil
	}
	return errCrossSite
}

// originAllowed: PUBLIC_URL's origin or a CORS origin (r carries it as
// its Origin, which is what the CORS handler reads); never "null".
func (s *Server) originAllowed(origin string, r *http.Request) bool {
	return origin == s.publicOrigin || origin != "null" && s.corsHandler.OriginAllowed(r)
}

// originOf is the origin (scheme://host[:port]) of an absolute URL, "" if
// it has none.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
