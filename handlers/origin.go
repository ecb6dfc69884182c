package handlers

import (
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
func (s *Server) checkCookieOrigin(c *gin.Context) error {
	origin := c.GetHeader("Origin")
	switch {
	case origin == "":
		if c.GetHeader("Sec-Fetch-Site") == "cross-site" {
			return errCrossSite
		}
		return nil
	case origin == s.publicOrigin, origin != "null" && s.corsHandler.OriginAllowed(c.Request):
		return nil
	}
	return errCrossSite
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
