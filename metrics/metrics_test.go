package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkPerRequest is what the metrics add to an authorized request such
// as GET /api/users/me: its count and latency, and the decision.
func BenchmarkPerRequest(b *testing.B) {
	m := New()
	for b.Loop() {
		m.Request("/api/users/me", http.MethodGet, http.StatusOK, 180*time.Microsecond)
		m.Decision("authenticated", true)
	}
}

// BenchmarkPerRequestParallel is the same from GOMAXPROCS goroutines.
func BenchmarkPerRequestParallel(b *testing.B) {
	m := New()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Request("/api/users/me", http.MethodGet, http.StatusOK, 180*time.Microsecond)
			m.Decision("authenticated", true)
		}
	})
}

func TestLabelsAreBounded(t *testing.T) {
	m := New()
	m.Request("", "FROB", 404, time.Millisecond)
	m.Request("/api/users", "GET", 999, time.Millisecond)
	m.RateLimited("")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`gatehouse_http_requests_total{code="4xx",method="other",route="unmatched"} 1`,
		`gatehouse_http_requests_total{code="other",method="GET",route="/api/users"} 1`,
		`gatehouse_rate_limited_total{route="unmatched"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestSeams(t *testing.T) {
	m := New()
	depth := 3.0
	m.Gauge("mail_outbox_depth", "Messages waiting.", func() float64 { return depth })
	m.Counter("notices_dropped_total", "Notices dropped.", func() float64 { return 7 })
	m.Cache("token", func() (uint64, uint64) { return 5, 2 })
	depth = 4
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		"gatehouse_mail_outbox_depth 4",
		"gatehouse_notices_dropped_total 7",
		`gatehouse_cache_lookups_total{cache="token",result="hit"} 5`,
		`gatehouse_cache_lookups_total{cache="token",result="miss"} 2`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s\n%s", want, rec.Body)
		}
	}
}
