package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"
)

// The benchmarks run with `go test -bench . -benchmem ./bench` (see
// BENCHMARKS.md). Plain `go test ./...` runs none of them; CI runs them
// briefly with -benchtime=100x. Set-ups are built once per policy size and
// shared by every sub-benchmark.

// seededUsers is the number of users in the benchmarks' database.
const seededUsers = 1000

var (
	tmpDir string
	hash10 string // Password hashed at bcrypt cost 10, Gatehouse's default
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	dir, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tmpDir = dir
	code := m.Run()
	for _, e := range envs {
		e.store.Close()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// sizes are the policy sizes (rows) the authorization benchmarks compare.
var sizes = []int{10, 1000, 100_000}

func skipLarge(b *testing.B, rows int) {
	if rows >= 100_000 && Small() {
		b.Skip("GATEHOUSE_BENCH_SMALL is set: skipping the 100,000-row policy")
	}
}

// enforcerKey names a built enforcer: its model and policy size.
type enforcerKey struct {
	model string
	rows  int
}

var (
	enforcersMu sync.Mutex
	enforcers   = map[enforcerKey]*policy.Enforcer{}
)

// enforcer returns the in-memory enforcer over Policy(rows) and
// Gatehouse's model, built once.
func enforcer(b *testing.B, rows int) *policy.Enforcer {
	b.Helper()
	return enforcerOf(b, policy.Model, rows)
}

// enforcerOf returns the in-memory enforcer over Policy(rows) and the
// model, built once.
func enforcerOf(b *testing.B, model string, rows int) *policy.Enforcer {
	b.Helper()
	skipLarge(b, rows)
	enforcersMu.Lock()
	defer enforcersMu.Unlock()
	key := enforcerKey{model, rows}
	if e, ok := enforcers[key]; ok {
		return e
	}
	e, err := policy.NewFromCSV(model, PolicyCSV(Policy(rows)))
	if err != nil {
		b.Fatal(err)
	}
	enforcers[key] = e
	return e
}

func BenchmarkTokenVerify(b *testing.B) {
	tokens := handlers.Tokens{Secret: []byte(Secret), TTL: time.Hour, Now: time.Now}
	token, err := tokens.Issue(4242)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if id, _, err := tokens.Verify(token); err != nil || id != 4242 {
			b.Fatalf("Verify = %d, %v", id, err)
		}
	}
}

func BenchmarkTokenIssue(b *testing.B) {
	tokens := handlers.Tokens{Secret: []byte(Secret), TTL: time.Hour, Now: time.Now}
	for b.Loop() {
		if _, err := tokens.Issue(4242); err != nil {
			b.Fatal(err)
		}
	}
}

// missSeq numbers the routes of the miss benchmarks: a route is never asked
// twice, across runs too (-count), so every call misses the cache.
var missSeq atomic.Uint64

// scanModel is Gatehouse's model with the matcher's conjuncts in another
// order: the same decisions, but not the text the role index recognises, so
// Casbin decides alone by scanning every row (the baseline of the miss
// rows, and what an embedding app with a model of its own gets).
var scanModel = strings.Replace(policy.Model,
	`m = g(r.sub, p.sub) && (r.act == p.act || p.act == "*") && (r.obj == p.obj || regexMatch(p.obj, "[*]") && keyMatch2(r.obj, p.obj))`,
	`m = g(r.sub, p.sub) && (r.obj == p.obj || regexMatch(p.obj, "[*]") && keyMatch2(r.obj, p.obj)) && (r.act == p.act || p.act == "*")`, 1)

// scanEnforcer is enforcer(b, rows) over scanModel.
func scanEnforcer(b *testing.B, rows int) *policy.Enforcer {
	b.Helper()
	e := enforcerOf(b, scanModel, rows)
	if e.Indexed() {
		b.Fatal("the reordered model is indexed: the scan baseline would measure the index")
	}
	return e
}

// BenchmarkAllow measures policy.Enforcer.Allow. hit: the decision is in the
// cache (the steady state). miss: a route never asked before, denied (the
// worst case, paid once per role, route and method after each policy
// change), answered by the role index; miss-scan: the same over scanModel,
// where Casbin scans every row.
func BenchmarkAllow(b *testing.B) {
	for _, rows := range sizes {
		b.Run(fmt.Sprintf("rows=%d/hit", rows), func(b *testing.B) {
			e := enforcer(b, rows)
			if ok, err := e.Allow("authenticated", "/api/users/me", "GET"); !ok || err != nil {
				b.Fatalf("Allow(authenticated, /api/users/me, GET) = %v, %v; want true", ok, err)
			}
			for b.Loop() {
				_, _ = e.Allow("authenticated", "/api/users/me", "GET")
			}
		})
		for _, miss := range []struct {
			name     string
			enforcer func(*testing.B, int) *policy.Enforcer
		}{{"miss", enforcer}, {"miss-scan", scanEnforcer}} {
			b.Run(fmt.Sprintf("rows=%d/%s", rows, miss.name), func(b *testing.B) {
				e := miss.enforcer(b, rows)
				for b.Loop() {
					route := "/api/miss/" + strconv.FormatUint(missSeq.Add(1), 10)
					if ok, err := e.Allow("authenticated", route, "GET"); ok || err != nil {
						b.Fatalf("Allow(miss) = %v, %v; want false", ok, err)
					}
				}
			})
		}
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	e := enforcer(b, 10)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = e.Allow("authenticated", "/api/users/me", "GET")
		}
	})
}

// env is a real server over a seeded SQLite database and a policy of a given
// size, plus the requests the benchmarks send.
type env struct {
	store  *store.Store
	server *handlers.Server
	tokens handlers.Tokens
	user   store.User
}

var envs = map[int]*env{}

// pingBody is the JSON the embedding app's route and the bare-Gin baseline answer.
var pingBody = []byte(`{"data":{"ok":true}}`)

func newEnv(b *testing.B, rows int) *env {
	b.Helper()
	e := enforcer(b, rows) // skips large sizes under GATEHOUSE_BENCH_SMALL
	enforcersMu.Lock()
	defer enforcersMu.Unlock()
	if v, ok := envs[rows]; ok {
		return v
	}
	if hash10 == "" {
		h, err := bcrypt.GenerateFromPassword([]byte(Password), bcrypt.DefaultCost)
		if err != nil {
			b.Fatal(err)
		}
		hash10 = string(h)
	}
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(tmpDir, fmt.Sprintf("rows%d.db", rows)))
	if err != nil {
		b.Fatal(err)
	}
	if err := SeedUsers(ctx, st, 0, seededUsers, "authenticated", hash10); err != nil {
		b.Fatal(err)
	}
	tokens := handlers.Tokens{Secret: []byte(Secret), TTL: time.Hour, Now: time.Now}
	srv, err := handlers.New(handlers.Config{Store: st, Enforcer: e, Secret: []byte(Secret), TokenTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	srv.Route(policy.Function{Name: "api::bench.bench.ping", Method: http.MethodGet, Route: "/api/bench/ping"}, false,
		func(c *gin.Context) error {
			c.Data(http.StatusOK, "application/json; charset=utf-8", pingBody)
			return nil
		})
	user, err := st.Users().ByID(ctx, 1)
	if err != nil {
		b.Fatal(err)
	}
	v := &env{store: st, server: srv, tokens: tokens, user: user}
	envs[rows] = v
	return v
}

// sink is a reusable ResponseWriter that keeps only the status.
type sink struct {
	header http.Header
	status int
}

func (s *sink) Header() http.Header { return s.header }
func (s *sink) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}
func (s *sink) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return len(p), nil
}

// call is one benchmarked request.
type call struct {
	name, method, url, body string
	token                   bool
	want                    int
}

var calls = []call{
	{name: "me", method: "GET", url: "/api/users/me", token: true, want: 200},
	{name: "public", method: "GET", url: "/api/bench/ping", want: 200},
	{name: "public-count", method: "GET", url: "/api/users/count", want: 200},
	{name: "denied", method: "GET", url: "/api/users", token: true, want: 403},
	{name: "denied-anonymous", method: "GET", url: "/api/users/me", want: 403},
}

func (c call) request(b *testing.B, tokens handlers.Tokens, userID uint) *http.Request {
	b.Helper()
	req := httptest.NewRequest(c.method, c.url, nil)
	if c.body != "" {
		req = httptest.NewRequest(c.method, c.url, strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token {
		tok, err := tokens.Issue(userID)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return req
}

// serve runs the request through h once per iteration; the request is
// copied each time (the body middleware wraps Body).
func serve(b *testing.B, h http.Handler, tmpl *http.Request, want int) {
	b.Helper()
	rec := httptest.NewRecorder()
	first := *tmpl
	h.ServeHTTP(rec, &first)
	if rec.Code != want {
		b.Fatalf("%s %s: status = %d, want %d\n%s", tmpl.Method, tmpl.URL, rec.Code, want, rec.Body)
	}
	w := &sink{header: http.Header{}}
	for b.Loop() {
		r := *tmpl
		r.Body = http.NoBody
		clear(w.header)
		w.status = 0
		h.ServeHTTP(w, &r)
		if w.status != want {
			b.Fatalf("%s %s: status = %d, want %d", tmpl.Method, tmpl.URL, w.status, want)
		}
	}
}

// BenchmarkMiddleware runs whole requests through the real router
// (authentication, authorization, the handler) in-process, at each policy
// size: /users/me with a JWT, an anonymous request on a Public route (an
// embedding app's route; public-count is the real GET /api/users/count), a
// request denied with 403 with and without a token.
func BenchmarkMiddleware(b *testing.B) {
	for _, rows := range sizes {
		for _, c := range calls {
			b.Run(fmt.Sprintf("rows=%d/%s", rows, c.name), func(b *testing.B) {
				e := newEnv(b, rows)
				serve(b, e.server, c.request(b, e.tokens, e.user.ID), c.want)
			})
		}
	}
	// me-uncached drops the user and role caches before each request: the
	// database path of /users/me (the user by primary key, then its role).
	b.Run("rows=10/me-uncached", func(b *testing.B) {
		e := newEnv(b, 10)
		tmpl := calls[0].request(b, e.tokens, e.user.ID)
		w := &sink{header: http.Header{}}
		for b.Loop() {
			e.store.InvalidateCache()
			r := *tmpl
			clear(w.header)
			w.status = 0
			e.server.ServeHTTP(w, &r)
			if w.status != 200 {
				b.Fatalf("status = %d", w.status)
			}
		}
	})
}

// BenchmarkMiddlewareParallel is /users/me from GOMAXPROCS goroutines, each
// with its own user: lock contention in the caches shows here.
func BenchmarkMiddlewareParallel(b *testing.B) {
	e := newEnv(b, 10)
	var next sync.Mutex
	id := uint(0)
	b.RunParallel(func(pb *testing.PB) {
		next.Lock()
		id++
		tmpl := calls[0].request(b, e.tokens, id)
		next.Unlock()
		w := &sink{header: http.Header{}}
		for pb.Next() {
			r := *tmpl
			clear(w.header)
			w.status = 0
			e.server.ServeHTTP(w, &r)
			if w.status != 200 {
				b.Errorf("status = %d", w.status)
				return
			}
		}
	})
}

// BenchmarkBareGin is the baseline: gin.New() answering the same bytes with
// no middleware.
func BenchmarkBareGin(b *testing.B) {
	engine := gin.New()
	engine.GET("/api/bench/ping", func(c *gin.Context) {
		c.Data(http.StatusOK, "application/json; charset=utf-8", pingBody)
	})
	serve(b, engine, httptest.NewRequest("GET", "/api/bench/ping", nil), 200)
}

// BenchmarkLogin is POST /api/auth/local end to end (bcrypt cost 10);
// BenchmarkBcrypt is the comparison alone, the floor of a login.
func BenchmarkLogin(b *testing.B) {
	e := newEnv(b, 10)
	body := `{"identifier":"` + Email(500) + `","password":"` + Password + `"}`
	w := &sink{header: http.Header{}}
	for b.Loop() {
		r := httptest.NewRequest("POST", "/api/auth/local", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		clear(w.header)
		w.status = 0
		e.server.ServeHTTP(w, r)
		if w.status != 200 {
			b.Fatalf("status = %d", w.status)
		}
	}
}

func BenchmarkBcrypt(b *testing.B) {
	h, err := bcrypt.GenerateFromPassword([]byte(Password), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := bcrypt.CompareHashAndPassword(h, []byte(Password)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkObserve is GET /api/users/me with a JWT through servers that
// differ only in what they observe: nothing (the baseline), the Prometheus
// metrics, and the metrics with the access log (JSON lines to io.Discard).
// Each server has its own caches, warmed by serve's first request.
func BenchmarkObserve(b *testing.B) {
	e := newEnv(b, 10)
	for _, v := range []struct {
		name string
		cfg  func(*handlers.Config)
	}{
		{"metrics=off", func(*handlers.Config) {}},
		{"metrics=on", func(c *handlers.Config) { c.Metrics = metrics.New() }},
		{"metrics=on,accesslog=on", func(c *handlers.Config) {
			c.Metrics = metrics.New()
			c.AccessLog = true
			c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
		}},
	} {
		b.Run(v.name, func(b *testing.B) {
			cfg := handlers.Config{Store: e.store, Enforcer: enforcer(b, 10), Secret: []byte(Secret), TokenTTL: time.Hour}
			v.cfg(&cfg)
			srv, err := handlers.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			serve(b, srv, calls[0].request(b, e.tokens, e.user.ID), 200)
		})
	}
}

// BenchmarkObservePaired alternates blocks of GET /api/users/me between a
// server without metrics and one with them, and measures the CPU time of
// each block on this goroutine's locked OS thread, so that other processes'
// load (which swings wall-clock figures by several times on a shared
// machine) does not count: it reports the CPU ns per request of each and
// their difference (overhead-cpu-ns/req), what the metrics cost a request.
func BenchmarkObservePaired(b *testing.B) {
	if _, ok := threadCPU(); !ok {
		b.Skip("no per-thread CPU time on this system")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := newEnv(b, 10)
	servers := make([]*handlers.Server, 2)
	for i := range servers {
		cfg := handlers.Config{Store: e.store, Enforcer: enforcer(b, 10), Secret: []byte(Secret), TokenTTL: time.Hour}
		if i == 1 {
			cfg.Metrics = metrics.New()
		}
		srv, err := handlers.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		servers[i] = srv
	}
	tmpl := calls[0].request(b, e.tokens, e.user.ID)
	w := &sink{header: http.Header{}}
	const block = 64
	var spent [2]time.Duration
	run := func(i int) {
		start, _ := threadCPU()
		for range block {
			r := *tmpl
			clear(w.header)
			w.status = 0
			servers[i].ServeHTTP(w, &r)
			if w.status != 200 {
				b.Fatalf("status = %d, want 200", w.status)
			}
		}
		end, _ := threadCPU()
		spent[i] += end - start
	}
	run(0) // warm both servers' caches
	run(1)
	spent = [2]time.Duration{}
	n := 0
	for b.Loop() {
		// Alternate which goes first, so neither always follows the other.
		first := n % 2
		run(first)
		run(1 - first)
		n++
	}
	off, on := float64(spent[0])/float64(n*block), float64(spent[1])/float64(n*block)
	b.ReportMetric(off, "off-cpu-ns/req")
	b.ReportMetric(on, "on-cpu-ns/req")
	b.ReportMetric(on-off, "overhead-cpu-ns/req")
}
