package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/store"
)

// corsConfig is the HTTP layer's CORS from the settings; it says at start-up
// which origins may call the API from a browser.
func corsConfig(cfg config.Config, log *slog.Logger) handlers.CORS {
	switch {
	case cfg.CORS.Unset && cfg.Production:
		log.Warn("cors: CORS_ORIGINS is not set: browser front ends on other origins cannot call the API; set it to their origins, e.g. CORS_ORIGINS=https://app.example.com")
	case cfg.CORS.Unset:
		log.Info("cors: allowing browser front ends on this machine (development default; set CORS_ORIGINS before going live)",
			"origins", strings.Join(cfg.CORS.Origins, ","))
	default:
		log.Info("cors: allowing browser front ends", "origins", strings.Join(cfg.CORS.Origins, ","), "credentials", cfg.CORS.Credentials)
	}
	return handlers.CORS{Origins: cfg.CORS.Origins, Credentials: cfg.CORS.Credentials}
}

// slowQuery is the duration past which a SQL statement is logged at warn.
const slowQuery = 200 * time.Millisecond

// storeOptions are the database settings, with GORM's log lines going
// through log.
func storeOptions(cfg config.Config, log *slog.Logger) store.Options {
	routeDriverLogs(log)
	return store.Options{Timeout: cfg.DBTimeout, Logger: log.With("component", "sql"), SlowQuery: slowQuery, UserFields: cfg.UserFields}
}

// newMetrics builds the metrics when METRICS_ADDR is set (nil otherwise).
func newMetrics(cfg config.Config) *metrics.Metrics {
	if cfg.MetricsAddr == "" {
		return nil
	}
	return metrics.New()
}

// handlerMetrics is m for handlers.Config: a nil interface when m is nil.
func handlerMetrics(m *metrics.Metrics) handlers.Metrics {
	if m == nil {
		return nil
	}
	return m
}

// measure adds to m what the app's parts count: the cache hit counts, the
// policy revision, the database pool. A part that keeps a number worth
// watching adds it here, one line each.
func (a *app) measure(m *metrics.Metrics) error {
	sqlDB, err := a.store.DB.DB()
	if err != nil {
		return err
	}
	m.Cache("token", a.server.TokenCacheStats)
	m.Cache("user", a.store.UserCacheStats)
	m.Cache("decision", a.enforcer.CacheStats)
	m.Gauge("policy_revision", "The policy revision this instance enforces.", func() float64 { return float64(a.enforcer.Revision()) })
	m.Gauge("settings_revision", "The settings revision this instance last read.", func() float64 { return float64(a.store.Settings().Revision()) })
	m.Gauge("mail_queue_pending", "Reset and confirmation mails waiting for delivery (all instances).", a.mailQueueDepth(func(d store.MailQueueDepth) int64 { return d.Pending }))
	m.Gauge("mail_queue_failed", "Mails given up after their last attempt, kept for inspection (all instances).", a.mailQueueDepth(func(d store.MailQueueDepth) int64 { return d.Failed }))
	if a.cluster != nil {
		m.Counter("notices_dropped_total", "Redis change notices lost (queue full or publish failed); the periodic check covers them.", func() float64 { return float64(a.cluster.Dropped()) })
	}
	m.DB("gatehouse", sqlDB)
	return nil
}

// mailQueueDepth reads one count of the mail queue at scrape time, bounded
// by a second; -1 when the database does not answer.
func (a *app) mailQueueDepth(count func(store.MailQueueDepth) int64) func() float64 {
	return func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		d, err := a.store.MailQueue().Depth(ctx)
		if err != nil {
			return -1
		}
		return float64(count(d))
	}
}

// serveMetrics serves m at /metrics on addr (a listener of its own, never
// the API's) until the returned function stops it.
func serveMetrics(addr string, m *metrics.Metrics, log *slog.Logger) (stop func(context.Context) error, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if host, _, _ := net.SplitHostPort(addr); !isLoopback(host) {
		log.Warn("metrics: METRICS_ADDR is not a loopback address: whoever reaches it reads the metrics (routes, roles, counts); keep it behind a firewall", "addr", addr)
	}
	log.Info("metrics: serving Prometheus metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics: listener stopped", "err", err)
		}
	}()
	return srv.Shutdown, nil
}

// isLoopback reports whether host is localhost or a loopback IP.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
