package handlers

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// loadResult is one bounded load run: every request's latency.
type loadResult struct {
	latencies []time.Duration
	errors    int
	elapsed   time.Duration
}

func (r loadResult) pct(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(len(r.latencies)-1, int(float64(len(r.latencies))*p/100))]
}

func (r loadResult) rps() float64 { return float64(len(r.latencies)) / r.elapsed.Seconds() }

// runLoad sends requests made by newRequest on conns keep-alive
// connections, each one request at a time, for d.
func runLoad(t *testing.T, conns int, d time.Duration, newRequest func() *http.Request) loadResult {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var mu sync.Mutex
	var res loadResult
	stop := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			var mine []time.Duration
			errs := 0
			for time.Now().Before(stop) {
				t0 := time.Now()
				resp, err := client.Do(newRequest())
				if err != nil {
					errs++
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			res.latencies = append(res.latencies, mine...)
			res.errors += errs
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.latencies)
	if res.errors > 0 {
		t.Errorf("%d requests failed", res.errors)
	}
	return res
}

// TestGatewayLoad measures, on loopback, the latency gateway mode adds over
// calling the upstream directly (median and p99 at 8 and 64 connections),
// and the requests per second of GET /api/authz/verify against a bare Gin
// handler in the same run. It is a measurement, not a check: it runs only
// with GATEHOUSE_BENCH_GATEWAY=1 (seconds per step in
// GATEHOUSE_BENCH_SECONDS, 3 by default):
//
//	GATEHOUSE_BENCH_GATEWAY=1 go test -run TestGatewayLoad -count=1 -v ./handlers
func TestGatewayLoad(t *testing.T) {
	if os.Getenv("GATEHOUSE_BENCH_GATEWAY") == "" {
		t.Skip("a load measurement: set GATEHOUSE_BENCH_GATEWAY=1 to run it")
	}
	d := 3 * time.Second
	if s := os.Getenv("GATEHOUSE_BENCH_SECONDS"); s != "" {
		var n int
		fmt.Sscan(s, &n)
		d = time.Duration(n) * time.Second
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":[{"id":7,"title":"hello"}]}`)
	}))
	defer up.Close()
	e := newGatewayEnv(t, up.URL, true)
	gw := httptest.NewServer(e.server)
	defer gw.Close()
	token := "Bearer " + e.token(e.users["authenticated"].ID)
	get := func(url string, header http.Header) func() *http.Request {
		return func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, url, nil)
			for k, v := range header {
				r.Header[k] = v
			}
			return r
		}
	}
	auth := http.Header{"Authorization": {token}}
	t.Logf("%-28s %5s %9s %9s %9s", "target", "conns", "req/s", "p50", "p99")
	for _, conns := range []int{8, 64} {
		direct := runLoad(t, conns, d, get(up.URL+"/api/posts/7", nil))
		gateway := runLoad(t, conns, d, get(gw.URL+"/api/posts/7", auth))
		t.Logf("%-28s %5d %9.0f %9s %9s", "upstream directly", conns, direct.rps(), direct.pct(50), direct.pct(99))
		t.Logf("%-28s %5d %9.0f %9s %9s", "through gateway (bearer)", conns, gateway.rps(), gateway.pct(50), gateway.pct(99))
		t.Logf("%-28s %5d %9s %9s %9s", "added by the gateway", conns, "", gateway.pct(50)-direct.pct(50), gateway.pct(99)-direct.pct(99))
	}
	bare := gin.New()
	bare.GET("/ok", func(c *gin.Context) { c.Status(http.StatusOK) })
	bareSrv := httptest.NewServer(bare)
	defer bareSrv.Close()
	verifyHeader := http.Header{"Authorization": {token}, "X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/api/posts/7"}}
	const conns = 8
	bareRes := runLoad(t, conns, d, get(bareSrv.URL+"/ok", nil))
	verify := runLoad(t, conns, d, get(gw.URL+VerifyRoute, verifyHeader))
	t.Logf("%-28s %5d %9.0f %9s %9s", "bare Gin handler", conns, bareRes.rps(), bareRes.pct(50), bareRes.pct(99))
	t.Logf("%-28s %5d %9.0f %9s %9s", "GET /api/authz/verify", conns, verify.rps(), verify.pct(50), verify.pct(99))
	t.Logf("forward-auth / bare Gin: %.2f", verify.rps()/bareRes.rps())
}
