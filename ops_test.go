package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/loglimit"
)

var (
	metricsURLPattern = regexp.MustCompile(`msg="metrics: serving Prometheus metrics" url=(http://127\.0\.0\.1:\d+/metrics)`)
	healthLogPattern  = regexp.MustCompile(`level=INFO msg=request requestId=[0-9a-f]{32} method=GET route=/_health path=/_health status=204 durationMs=[0-9.]+ ip=127\.0\.0\.1\n`)
)

// TestServeMetricsAndAccessLog runs the server with METRICS_ADDR: /metrics
// answers on its own listener (not on the API's), counts the API's
// requests, and the access log has a line per request.
func TestServeMetricsAndAccessLog(t *testing.T) {
	var logs syncBuffer
	addr, stop := startServe(t, testConfig(t, map[string]string{"METRICS_ADDR": "127.0.0.1:0"}), &logs)
	defer stop()
	m := metricsURLPattern.FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no metrics URL in the log:\n%s", logs.String())
	}
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if status, _ := get("http://" + addr + "/_health"); status != http.StatusNoContent {
		t.Fatalf("GET /_health: status = %d, want 204", status)
	}
	if status, _ := get("http://" + addr + "/metrics"); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the API's port: status = %d, want 404", status)
	}
	status, body := get(m[1])
	if status != http.StatusOK {
		t.Fatalf("GET %s: status = %d, want 200", m[1], status)
	}
	for _, want := range []string{
		`gatehouse_http_requests_total{code="2xx",method="GET",route="/_health"} 1`,
		`gatehouse_policy_revision `,
		`gatehouse_settings_revision `,
		`gatehouse_mail_queue_pending `,
		`gatehouse_mail_queue_failed 0`,
		`gatehouse_cache_lookups_total{cache="decision",result="hit"}`,
		`go_sql_open_connections{db_name="gatehouse"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !healthLogPattern.MatchString(logs.String()) {
		t.Errorf("no access log line at INFO with a request id for GET /_health:\n%s", logs.String())
	}
}

func TestRedisLogGoesThroughSlog(t *testing.T) {
	var logs syncBuffer
	driverLog{log: slog.New(slog.NewJSONHandler(&logs, nil)), limit: loglimit.New(driverLogInterval, nil)}.Printf(context.Background(), "redis: discarding bad PubSub connection: %v", io.EOF)
	if got := logs.String(); !strings.Contains(got, `"level":"WARN","msg":"discarding bad PubSub connection: EOF"`) {
		t.Errorf("log = %s, want the line at WARN without the redis: prefix", got)
	}
}

func TestCORSStartupLine(t *testing.T) {
	for _, tt := range []struct {
		values map[string]string
		want   string
	}{
		{map[string]string{"GATEHOUSE_ENV": "production", "JWT_SECRET": strings.Repeat("s", 32)}, `level=WARN msg="cors: CORS_ORIGINS is not set`},
		{nil, `level=INFO msg="cors: allowing browser front ends on this machine (development default; set CORS_ORIGINS before going live)" origins=http://localhost:*,http://127.0.0.1:*`},
		{map[string]string{"CORS_ORIGINS": "https://app.example.com"}, `level=INFO msg="cors: allowing browser front ends" origins=https://app.example.com credentials=true`},
	} {
		var logs syncBuffer
		cors := corsConfig(testConfig(t, tt.values), slog.New(slog.NewTextHandler(&logs, nil)))
		if !strings.Contains(logs.String(), tt.want) {
			t.Errorf("config %v: start-up log = %s, want %s", tt.values, logs.String(), tt.want)
		}
		if tt.values["GATEHOUSE_ENV"] == "production" && len(cors.Origins) != 0 {
			t.Errorf("production without CORS_ORIGINS: origins = %q, want none", cors.Origins)
		}
	}
}
