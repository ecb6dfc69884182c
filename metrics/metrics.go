// Package metrics is Gatehouse's Prometheus instrumentation: a registry of
// its own (nothing global) holding the HTTP layer's request counts and
// latencies, authorization decisions, sign-ins and rate-limit refusals (it
// implements handlers.Metrics), and gauges and counters read from functions
// at scrape time — cache hit counts, revisions, queue depths, the database
// pool — which main wires one line each.
package metrics

import (
	"database/sql"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every Gatehouse metric.
const Namespace = "gatehouse"

// latencyBuckets spans a cached authorization (tens of µs) to a slow bcrypt
// login or a database outage (seconds).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics holds the registry and the HTTP layer's metrics. It is safe for
// concurrent use.
type Metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	decisions   *prometheus.CounterVec
	logins      *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	cache       *cacheCollector

	// requestSeries (requestKey → *requestSeries) and decisionSeries
	// (decisionKey → prometheus.Counter) keep the series already resolved:
	// WithLabelValues hashes every label on every call, which cost most of
	// the metrics' time on a request (see BenchmarkPerRequest).
	requestSeries  sync.Map
	decisionSeries sync.Map
}

type requestKey struct {
	route, method string
	class         int
}

type requestSeries struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

type decisionKey struct {
	role    string
	allowed bool
}

// New builds the metrics over a new registry, with the Go runtime's and the
// process's collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests answered, by route pattern (\"unmatched\" when none matched), method and status class.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern and method.",
			Buckets: latencyBuckets,
		}, []string{"route", "method"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "authz_decisions_total",
			Help: "Authorization decisions, by role and result (allow or deny).",
		}, []string{"role", "result"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "logins_total",
			Help: "Sign-in attempts, by provider (local for a password) and result (ok, or why it failed).",
		}, []string{"provider", "result"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "rate_limited_total",
			Help: "Requests refused by the rate limiter (429), by route pattern.",
		}, []string{"route"}),
		cache: &cacheCollector{desc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "cache_lookups_total"),
			"Cache lookups, by cache and result (hit or miss).", []string{"cache", "result"}, nil)},
	}
	m.reg.MustRegister(m.requests, m.duration, m.decisions, m.logins, m.rateLimited, m.cache,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the registry, for an embedding app's own metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in Prometheus' text format (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, Timeout: 10 * time.Second})
}

// Gauge adds gatehouse_<name>, read from value at each scrape. It panics
// when the name is invalid or taken, as prometheus.MustRegister does: a
// wiring mistake, made at start-up.
func (m *Metrics) Gauge(name, help string, value func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, value))
}

// Counter adds gatehouse_<name> (which should end in _total), a count that
// only grows, read from value at each scrape. It panics as Gauge does.
func (m *Metrics) Counter(name, help string, value func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, value))
}

// Cache adds a cache's hit and miss counts to gatehouse_cache_lookups_total
// under the name; the hit ratio is hit / (hit + miss).
func (m *Metrics) Cache(name string, stats func() (hits, misses uint64)) {
	m.cache.add(name, stats)
}

// DB adds the database pool's statistics (go_sql_* with db_name, from
// sql.DBStats).
func (m *Metrics) DB(name string, db *sql.DB) {
	m.reg.MustRegister(collectors.NewDBStatsCollector(db, name))
}

// Status classes, by status / 100 ("other" past them).
var classes = [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx", "other"}

// Request counts one answered request (handlers.Metrics).
func (m *Metrics) Request(route, method string, status int, elapsed time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	class := status / 100
	if class < 0 || class >= len(classes) {
		class = len(classes) - 1
	}
	key := requestKey{route, knownMethod(method), class}
	v, ok := m.requestSeries.Load(key)
	if !ok {
		v, _ = m.requestSeries.LoadOrStore(key, &requestSeries{
			count:   m.requests.WithLabelValues(key.route, key.method, classes[class]),
			latency: m.duration.WithLabelValues(key.route, key.method),
		})
	}
	series := v.(*requestSeries)
	series.count.Inc()
	series.latency.Observe(elapsed.Seconds())
}

// Decision counts one authorization decision (handlers.Metrics).
func (m *Metrics) Decision(role string, allowed bool) {
	key := decisionKey{role, allowed}
	v, ok := m.decisionSeries.Load(key)
	if !ok {
		result := "deny"
		if allowed {
			result = "allow"
		}
		v, _ = m.decisionSeries.LoadOrStore(key, m.decisions.WithLabelValues(role, result))
	}
	v.(prometheus.Counter).Inc()
}

// Login counts one sign-in attempt (handlers.Metrics).
func (m *Metrics) Login(provider, result string) {
	m.logins.WithLabelValues(provider, result).Inc()
}

// RateLimited counts one refusal of the rate limiter (handlers.Metrics).
func (m *Metrics) RateLimited(route string) {
	if route == "" {
		route = "unmatched"
	}
	m.rateLimited.WithLabelValues(route).Inc()
}

// knownMethod bounds the method label: a client may send any token as a
// method, and each would be a new series.
func knownMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

// cacheCollector reads the caches' counts at scrape time, so the request
// path only adds to the caches' own atomic counters.
type cacheCollector struct {
	desc   *prometheus.Desc
	mu     sync.Mutex
	caches []namedCache
}

type namedCache struct {
	name  string
	stats func() (hits, misses uint64)
}

func (c *cacheCollector) add(name string, stats func() (hits, misses uint64)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.caches = append(c.caches, namedCache{name, stats})
}

// Describe implements prometheus.Collector.
func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	caches := append([]namedCache(nil), c.caches...)
	c.mu.Unlock()
	for _, cache := range caches {
		hits, misses := cache.stats()
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(hits), cache.name, "hit")
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(misses), cache.name, "miss")
	}
}
