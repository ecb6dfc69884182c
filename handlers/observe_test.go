package handlers

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/metrics"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics through the handler, parsed.
func scrape(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status = %d, want 200\n%s", rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	return families
}

// sample is the value of the series of family with exactly these labels
// (a histogram's sample count), or 0 when there is none.
func sample(families map[string]*dto.MetricFamily, family string, labels map[string]string) float64 {
	f, ok := families[family]
	if !ok {
		return 0
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

// TestMetricsMove makes requests and checks that each moves its series by
// exactly what it did, as scraped from /metrics.
func TestMetricsMove(t *testing.T) {
	m := metrics.New()
	e := newTestEnv(t, func(c *Config) {
		c.Metrics = m
		c.RateLimit = RateLimit{Enabled: true, Max: 2, Interval: time.Minute}
	})
	m.Cache("token", e.server.TokenCacheStats)
	m.Cache("user", e.store.UserCacheStats)
	m.Cache("decision", e.enforcer.CacheStats)
	m.Gauge("policy_revision", "The policy revision this instance enforces.", func() float64 { return float64(e.enforcer.Revision()) })

	// series is a family and its labels as "name=value,…".
	type series struct{ family, labels string }
	me := series{"gatehouse_http_requests_total", "route=/api/users/me,method=GET,code=2xx"}
	meDenied := series{"gatehouse_http_requests_total", "route=/api/users/me,method=GET,code=4xx"}
	meLatency := series{"gatehouse_http_request_duration_seconds", "route=/api/users/me,method=GET"}
	unmatched := series{"gatehouse_http_requests_total", "route=unmatched,method=other,code=4xx"}
	allowAuth := series{"gatehouse_authz_decisions_total", "role=authenticated,result=allow"}
	denyPublic := series{"gatehouse_authz_decisions_total", "role=public,result=deny"}
	loginOK := series{"gatehouse_logins_total", "provider=local,result=ok"}
	loginBad := series{"gatehouse_logins_total", "provider=local,result=invalid_credentials"}
	limited := series{"gatehouse_rate_limited_total", "route=/api/auth/local"}
	tokenHit := series{"gatehouse_cache_lookups_total", "cache=token,result=hit"}
	tokenMiss := series{"gatehouse_cache_lookups_total", "cache=token,result=miss"}
	userHit := series{"gatehouse_cache_lookups_total", "cache=user,result=hit"}
	decisionHit := series{"gatehouse_cache_lookups_total", "cache=decision,result=hit"}
	revision := series{"gatehouse_policy_revision", ""}

	const moved = -1
	token := "Bearer " + e.token(e.users["authenticated"].ID)
	login := func(password string) int {
		return e.request("POST", "/api/auth/local", `{"identifier":"alice","password":"`+password+`"}`, nil).Code
	}
	for _, step := range []struct {
		name string
		do   func()
		want map[series]float64 // how much each series moves (moved: up by any amount)
	}{
		{"GET /api/users/me twice with a token", func() {
			for range 2 {
				if got := e.request("GET", "/api/users/me", "", http.Header{"Authorization": {token}}).Code; got != 200 {
					t.Fatalf("GET /api/users/me: status = %d, want 200", got)
				}
			}
		}, map[series]float64{me: 2, meLatency: 2, allowAuth: 2, tokenMiss: 1, tokenHit: 1, userHit: 1, decisionHit: 1, meDenied: 0}},
		{"GET /api/users/me without a token", func() { e.request("GET", "/api/users/me", "", nil) },
			map[series]float64{meDenied: 1, denyPublic: 1, me: 0, allowAuth: 0}},
		{"a method no route has", func() { e.request("FROB", "/nowhere", "", nil) }, map[series]float64{unmatched: 1}},
		{"a login, a failed login, then the limiter", func() {
			if got := login(testPassword); got != 200 {
				t.Fatalf("login: status = %d, want 200", got)
			}
			if got := login("wrong"); got != 400 {
				t.Fatalf("bad login: status = %d, want 400", got)
			}
			if got := login(testPassword); got != 429 {
				t.Fatalf("third login: status = %d, want 429", got)
			}
		}, map[series]float64{loginOK: 1, loginBad: 1, limited: 1}},
		{"a policy change", func() {
			admin := "Bearer " + e.token(e.users["admin"].ID)
			rec := e.request("PUT", "/api/users-permissions/policy", "p, public, /api/users/count, GET\n"+policyCSV(t, e), http.Header{"Authorization": {admin}, "Content-Type": {"text/csv"}})
			if rec.Code != 200 {
				t.Fatalf("PUT policy: status = %d, want 200\n%s", rec.Code, rec.Body)
			}
		}, map[series]float64{revision: moved}},
	} {
		before := scrape(t, m)
		step.do()
		after := scrape(t, m)
		for s, want := range step.want {
			labels := map[string]string{}
			for _, kv := range strings.Split(s.labels, ",") {
				if k, v, ok := strings.Cut(kv, "="); ok {
					labels[k] = v
				}
			}
			if got := sample(after, s.family, labels) - sample(before, s.family, labels); got != want && (want != moved || got <= 0) {
				t.Errorf("%s: %s{%s} moved by %v, want %v", step.name, s.family, s.labels, got, want)
			}
		}
	}
	// The database pool and the runtime are there too.
	families := scrape(t, m)
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := families[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// policyCSV is the stored policy as the policy API exports it.
func policyCSV(t *testing.T, e *testEnv) string {
	t.Helper()
	admin := "Bearer " + e.token(e.users["admin"].ID)
	rec := e.request("GET", "/api/users-permissions/policy", "", http.Header{"Authorization": {admin}, "Accept": {"text/csv"}})
	if rec.Code != 200 {
		t.Fatalf("GET policy: status = %d\n%s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// logLines captures the server's JSON log lines.
type logLines struct{ buf bytes.Buffer }

func (l *logLines) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

func withLog(lines *logLines, level slog.Level, accessLog bool) func(*Config) {
	return func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&lines.buf, &slog.HandlerOptions{Level: level}))
		c.AccessLog = accessLog
	}
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestAccessLog(t *testing.T) {
	var lines logLines
	e := newTestEnv(t, withLog(&lines, slog.LevelInfo, true), func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8"} })
	alice := e.users["authenticated"]
	token := "Bearer " + e.token(alice.ID)
	for _, tt := range []struct {
		name   string
		method string
		url    string
		header http.Header
		remote string
		want   map[string]any // fields; nil means absent
		wantID string         // "" means a generated id
	}{
		{"signed in", "GET", "/api/users/me?secret=x", http.Header{"Authorization": {token}}, "",
			map[string]any{"method": "GET", "route": "/api/users/me", "path": "/api/users/me", "status": 200.0,
				"userId": float64(alice.ID), "role": "authenticated", "deniedBy": nil}, ""},
		{"refused by the policy: the row that would allow it", "GET", "/api/users", http.Header{"Authorization": {token}}, "",
			map[string]any{"route": "/api/users", "status": 403.0, "role": "authenticated", "userId": float64(alice.ID),
				"deniedBy": `no rule allows it; allow with: p, authenticated, /api/users, GET`}, ""},
		{"public", "GET", "/api/users/me", nil, "",
			map[string]any{"status": 403.0, "role": "public", "userId": nil}, ""},
		{"no route", "GET", "/nowhere", nil, "", map[string]any{"route": "", "path": "/nowhere", "status": 404.0, "role": nil}, ""},
		{"a request id from a trusted proxy is kept", "GET", "/_health", http.Header{"X-Request-Id": {"edge-7f3a:1"}}, "10.1.2.3:4000",
			map[string]any{"status": 204.0}, "edge-7f3a:1"},
		{"from anyone else it is replaced", "GET", "/_health", http.Header{"X-Request-Id": {"edge-7f3a:1"}}, "192.0.2.1:4000",
			map[string]any{"status": 204.0}, ""},
		{"a malformed one from a trusted proxy is replaced", "GET", "/_health", http.Header{"X-Request-Id": {"a b\"c"}}, "10.1.2.3:4000",
			map[string]any{"status": 204.0}, ""},
		{"an overlong one too", "GET", "/_health", http.Header{"X-Request-Id": {strings.Repeat("a", 129)}}, "10.1.2.3:4000",
			map[string]any{"status": 204.0}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lines.buf.Reset()
			req := httptest.NewRequest(tt.method, tt.url, nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			if tt.remote != "" {
				req.RemoteAddr = tt.remote
			}
			rec := httptest.NewRecorder()
			e.server.ServeHTTP(rec, req)
			records := lines.records(t, "request")
			if len(records) != 1 {
				t.Fatalf("%d access log lines, want 1:\n%s", len(records), lines.buf.String())
			}
			r := records[0]
			for k, want := range tt.want {
				got, present := r[k]
				if want == nil && present {
					t.Errorf("field %s = %v, want none", k, got)
				} else if want != nil && got != want {
					t.Errorf("field %s = %#v, want %#v", k, got, want)
				}
			}
			if r["level"] != "INFO" {
				t.Errorf("level = %v, want INFO", r["level"])
			}
			if ms, ok := r["durationMs"].(float64); !ok || ms < 0 || ms > 10000 {
				t.Errorf("durationMs = %#v, want a number of milliseconds", r["durationMs"])
			}
			id := rec.Header().Get("X-Request-Id")
			if r["requestId"] != id {
				t.Errorf("requestId = %v, X-Request-Id = %q; want the same", r["requestId"], id)
			}
			if tt.wantID != "" && id != tt.wantID {
				t.Errorf("X-Request-Id = %q, want %q", id, tt.wantID)
			}
			if tt.wantID == "" && !hexID.MatchString(id) {
				t.Errorf("X-Request-Id = %q, want 32 hex digits (generated)", id)
			}
			if strings.Contains(lines.buf.String(), "secret=x") || strings.Contains(lines.buf.String(), strings.TrimPrefix(token, "Bearer ")) {
				t.Errorf("the log holds the query or the token:\n%s", lines.buf.String())
			}
		})
	}
}

func TestAccessLogOff(t *testing.T) {
	var lines logLines
	e := newTestEnv(t, withLog(&lines, slog.LevelDebug, false))
	rec := e.request("GET", "/api/users/me", "", nil)
	if got := lines.records(t, "request"); len(got) != 0 {
		t.Errorf("ACCESS_LOG off: %d access log lines, want none:\n%s", len(got), lines.buf.String())
	}
	if !hexID.MatchString(rec.Header().Get("X-Request-Id")) {
		t.Errorf("ACCESS_LOG off: X-Request-Id = %q, want one still", rec.Header().Get("X-Request-Id"))
	}
}

func TestRequestIDsDiffer(t *testing.T) {
	e := newTestEnv(t)
	seen := map[string]bool{}
	for range 100 {
		id := e.request("GET", "/_health", "", nil).Header().Get("X-Request-Id")
		if seen[id] {
			t.Fatalf("X-Request-Id %q given twice", id)
		}
		seen[id] = true
	}
}
