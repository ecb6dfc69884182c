package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// probeTimeout bounds /_health and /_ready, under the balancers' usual
// probe timeouts.
const probeTimeout = time.Second

// health is GET /_health, liveness: 204 while the database answers a ping
// within a second, else 503.
func (s *Server) health(c *gin.Context) {
	ctx, cancel := context.WithTimeout(ctx(c), probeTimeout)
	defer cancel()
	sqlDB, err := s.store.DB.DB()
	if err == nil {
		err = sqlDB.PingContext(ctx)
	}
	if err != nil {
		s.writeError(c, ServiceUnavailableError("Database unavailable", err))
		return
	}
	c.Header("X-Policy-Revision", strconv.FormatInt(s.enforcer.Revision(), 10))
	c.Status(http.StatusNoContent)
}

// ready is GET /_ready, readiness: 204 while this instance can serve
// writes — not shutting down, a transaction writing a row commits (on
// SQLite, into the file the path still names), and every ReadyCheck (Redis)
// answers — all within a second; else 503 naming the failed check in
// details.check. It recovers by itself when the dependency does.
func (s *Server) ready(c *gin.Context) {
	if s.draining.Load() {
		e := ServiceUnavailableError("Shutting down", nil)
		e.Details = gin.H{"check": "shutdown"}
		s.writeError(c, e)
		return
	}
	ctx, cancel := context.WithTimeout(ctx(c), probeTimeout)
	defer cancel()
	checks := append([]ReadyCheck{{Name: "database", Check: s.store.Ready}}, s.cfg.ReadyChecks...)
	for _, check := range checks {
		if err := check.Check(ctx); err != nil {
			e := ServiceUnavailableError(check.Name+" unavailable", fmt.Errorf("handlers: ready: %s: %w", check.Name, err))
			e.Details = gin.H{"check": check.Name}
			s.writeError(c, e)
			return
		}
	}
	c.Header("X-Policy-Revision", strconv.FormatInt(s.enforcer.Revision(), 10))
	c.Status(http.StatusNoContent)
}

// Drain makes GET /_ready fail from now on, so load balancers stop sending
// requests before the server shuts down, and ends keep-alive: every answer
// from now on says Connection: close. Everything else keeps serving.
func (s *Server) Drain() { s.draining.Store(true) }
