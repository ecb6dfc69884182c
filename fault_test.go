package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/cluster"
	"github.com/gatehouse/gatehouse/internal/faultproxy"
	"github.com/gatehouse/gatehouse/store"
)

// The fault suites put a TCP proxy the test controls (internal/faultproxy)
// between Gatehouse and PostgreSQL, MariaDB/MySQL or Redis, and for each
// fault mode — cut (refuse new connections, reset open ones) and blackhole
// (accept and stay silent: a partition dropping packets) — check what the
// clients see during the outage and after it:
//
//   - every request answers within a bound (DB_TIMEOUT plus slack), never
//     hangs; statuses are 2xx or 503 ServiceUnavailableError, never a 500;
//   - /_ready fails during the outage and recovers by itself after it;
//   - every write acknowledged with a 2xx, before or during the outage, is
//     in the database afterwards.
//
// Each logs one FAULT line with its figures (time to the first 503, the
// slowest answer during the outage, the recovery time, lost writes):
//
//	go test -race -count=1 -run 'TestFaults' -v . | grep FAULT

const (
	faultDBTimeout = 500 * time.Millisecond
	// faultSlack is what a loaded CI machine (two cores, -race) may add to
	// an answer bounded by DB_TIMEOUT.
	faultSlack = 1500 * time.Millisecond
	// faultOutage is how long each fault lasts.
	faultOutage = 2500 * time.Millisecond
	// faultRecovery bounds the time from the restored network to the first
	// acknowledged write and a passing /_ready.
	faultRecovery = 10 * time.Second
)

var faultModes = []faultproxy.Mode{faultproxy.Cut, faultproxy.Blackhole}

func TestFaultsPostgres(t *testing.T) {
	for _, mode := range faultModes {
		t.Run(mode.String(), func(t *testing.T) { runDatabaseFault(t, "postgres", freshPostgres(t), mode) })
	}
}

func TestFaultsMySQL(t *testing.T) {
	for _, mode := range faultModes {
		t.Run(mode.String(), func(t *testing.T) { runDatabaseFault(t, "mysql", freshMySQL(t, ""), mode) })
	}
}

// proxied starts a fault proxy to the host of rawURL and returns the URL
// through it.
func proxied(t *testing.T, rawURL string) (string, *faultproxy.Proxy) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	u.Host = p.Addr()
	return u.String(), p
}

// outcome is one request made during a fault.
type outcome struct {
	what    string
	status  int
	at      time.Duration // from the fault's start to the answer
	latency time.Duration
	body    string
}

// faultRun gathers what the clients saw.
type faultRun struct {
	mu           sync.Mutex
	outcomes     []outcome
	acknowledged []string // usernames whose registration answered 2xx
}

func (r *faultRun) add(o outcome, username string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes = append(r.outcomes, o)
	if username != "" && o.status/100 == 2 {
		r.acknowledged = append(r.acknowledged, username)
	}
}

// timed runs one request through the app and records it.
func (r *faultRun) timed(a itApp, start time.Time, what, method, target, body, token, username string) int {
	began := time.Now()
	status, resp := a.do(method, target, body, token)
	r.add(outcome{what: what, status: status, at: time.Since(start), latency: time.Since(began), body: resp}, username)
	return status
}

// check fails the test for a 500, an unexpected status or an answer slower
// than bound, and returns the time to the first 503 and the slowest answer.
func (r *faultRun) check(t *testing.T, bound time.Duration, allowed ...int) (first503, slowest time.Duration) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	first503 = -1
	counts := map[string]int{}
	slowestWhat := ""
	for _, o := range r.outcomes {
		counts[fmt.Sprintf("%s %d", o.what, o.status)]++
		if o.latency > slowest {
			slowest, slowestWhat = o.latency, fmt.Sprintf("%s %d", o.what, o.status)
		}
		if o.status == http.StatusServiceUnavailable {
			if first503 < 0 || o.at < first503 {
				first503 = o.at
			}
			if !strings.Contains(o.body, `"name":"ServiceUnavailableError"`) {
				t.Errorf("%s: 503 without the error envelope: %s", o.what, o.body)
			}
		}
		if o.latency > bound {
			t.Errorf("%s answered %d after %s, want within %s", o.what, o.status, o.latency, bound)
		}
		ok := false
		for _, s := range allowed {
			ok = ok || o.status == s
		}
		if !ok {
			t.Errorf("%s answered %d during the fault, want one of %v\n%s", o.what, o.status, allowed, o.body)
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var summary []string
	for _, k := range keys {
		summary = append(summary, fmt.Sprintf("%s ×%d", k, counts[k]))
	}
	t.Logf("answers during the fault: %s; slowest: %s in %s", strings.Join(summary, ", "), slowestWhat, slowest)
	return first503, slowest
}

// during runs work on workers goroutines until d has passed (each call
// bounded by the app's own deadlines, checked by faultRun.check).
func during(d time.Duration, workers int, work func(worker, i int)) {
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(end); i++ {
				work(w, i)
			}
		}()
	}
	wg.Wait()
}

// recover polls until cond holds and returns how long it took, failing the
// test past faultRecovery.
func recoverWithin(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > faultRecovery {
			t.Fatalf("%s: not recovered %s after the network was restored", what, faultRecovery)
		}
		<-tick.C
	}
	return time.Since(start)
}

// runDatabaseFault runs one instance over the proxied database through one
// fault and its recovery.
func runDatabaseFault(t *testing.T, service, databaseURL string, mode faultproxy.Mode) {
	through, p := proxied(t, databaseURL)
	a := startApp(t, through, map[string]string{"DB_TIMEOUT": faultDBTimeout.String(), "BCRYPT_COST": "4"})
	run := &faultRun{}
	prefix := randomName("f")
	register := func(start time.Time, what, name string) int {
		return run.timed(a, start, what, "POST", "/api/auth/local/register",
			fmt.Sprintf(`{"username":%q,"email":"%s@example.com","password":"correct-horse"}`, name, name), "", name)
	}
	for i := range 5 {
		if status := register(time.Now(), "register before", fmt.Sprintf("%sb%d", prefix, i)); status != http.StatusOK {
			t.Fatalf("register before the fault: status = %d", status)
		}
	}
	jwt := a.login(prefix+"b0", "correct-horse")
	a.expect(http.StatusNoContent, "GET", "/_ready", "", "")
	before := len(run.acknowledged)
	run.outcomes = nil

	if err := p.Set(mode); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var background []string // failures of the calls made outside requests
	var bgMu sync.Mutex
	during(faultOutage, 5, func(w, i int) {
		switch (w + i) % 5 { // each worker starts with another kind
		case 0:
			register(start, "POST /api/auth/local/register", fmt.Sprintf("%sw%dn%d", prefix, w, i))
		case 1:
			run.timed(a, start, "GET /api/users/me", "GET", "/api/users/me", "", jwt, "")
		case 2:
			run.timed(a, start, "GET /_ready", "GET", "/_ready", "", "", "")
		case 3:
			run.timed(a, start, "GET /_health", "GET", "/_health", "", "", "")
		default:
			// Off the request path, with no deadline of their own: the
			// periodic policy reload (revision, then the Casbin adapter)
			// and a user-cache miss.
			began := time.Now()
			_, _, reloadErr := a.enforcer.ReloadIfChanged(context.Background())
			_, userErr := a.store.Users().ForAuth(context.Background(), 1_000_000+uint(w*1000+i))
			took := time.Since(began)
			bgMu.Lock()
			defer bgMu.Unlock()
			if took > 2*faultDBTimeout+faultSlack {
				background = append(background, fmt.Sprintf("policy reload and user lookup took %s", took))
			}
			for _, err := range []error{reloadErr, userErr} {
				if _, ok := store.Unavailable(err); err != nil && !ok {
					background = append(background, fmt.Sprintf("error not classified as unavailable: %v", err))
				}
			}
		}
	})
	for _, b := range background {
		t.Errorf("during the fault: %s", b)
	}
	// The user cache may answer /users/me from memory; a write never can.
	first503, slowest := run.check(t, faultDBTimeout+faultSlack, http.StatusOK, http.StatusNoContent, http.StatusServiceUnavailable)
	if first503 < 0 {
		t.Fatalf("no 503 during a %s outage of %s", mode, faultOutage)
	}
	if first503 > faultDBTimeout+faultSlack {
		t.Errorf("first 503 after %s, want within DB_TIMEOUT (%s) + %s", first503, faultDBTimeout, faultSlack)
	}

	if err := p.Set(faultproxy.Pass); err != nil {
		t.Fatal(err)
	}
	n := 0
	recovery := recoverWithin(t, "a write and /_ready", func() bool {
		n++
		status, _ := a.do("GET", "/_ready", "", "")
		return status == http.StatusNoContent && register(time.Now(), "register after", fmt.Sprintf("%sa%d", prefix, n)) == http.StatusOK
	})

	// Every acknowledged write is there, read straight from the database.
	direct := openAdmin(t, databaseURL)
	var found []string
	if err := direct.DB.Table("up_users").Where("username IN ?", run.acknowledged).Pluck("username", &found).Error; err != nil {
		t.Fatal(err)
	}
	lost := len(run.acknowledged) - len(found)
	if lost != 0 {
		t.Errorf("%d of %d acknowledged registrations are missing after the fault", lost, len(run.acknowledged))
	}
	t.Logf("FAULT %s %s: first 503 after %s, slowest answer %s (DB_TIMEOUT %s), recovered in %s; acknowledged writes %d (%d during the fault), lost %d",
		service, mode, first503.Round(time.Millisecond), slowest.Round(time.Millisecond), faultDBTimeout,
		recovery.Round(time.Millisecond), len(run.acknowledged), len(run.acknowledged)-before-1, lost)
}

// TestFaultsRedis puts the proxy between an instance (over SQLite) and
// Redis: during the outage logins are still answered and rate-limited
// (the limits fail open to counters in the instance), writes succeed, OAuth
// state consumption fails closed (an error, so the sign-in is refused),
// /_ready fails; after it everything recovers by itself, the limits are
// shared again.
func TestFaultsRedis(t *testing.T) {
	addr := redisTestAddr(t)
	for _, mode := range faultModes {
		t.Run(mode.String(), func(t *testing.T) { runRedisFault(t, addr, mode) })
	}
}

func runRedisFault(t *testing.T, addr string, mode faultproxy.Mode) {
	through, p := proxied(t, "redis://"+addr+"/0")
	a := startApp(t, "sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"), map[string]string{
		"REDIS_URL": through, "RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_MAX": "1000", "BCRYPT_COST": "4", "DB_TIMEOUT": faultDBTimeout.String()})
	limits := a.cluster.Limits.(*cluster.Limits)
	consumed := a.cluster.Consumed(randomName("gatehouse:test:used:"))
	ip := randomIP()
	run := &faultRun{}
	prefix := randomName("r")
	badLogin := func(start time.Time) int {
		began := time.Now()
		rec := postLogin(a, ip, "nobody@example.com", "wrong-password")
		run.add(outcome{what: "POST /api/auth/local (bad password)", status: rec.Code, at: time.Since(start), latency: time.Since(began), body: rec.Body.String()}, "")
		if rec.Code == http.StatusBadRequest && rec.Header().Get("X-RateLimit-Limit") != "1000" {
			t.Errorf("login during the fault: X-RateLimit-Limit = %q, want 1000 (still limited)", rec.Header().Get("X-RateLimit-Limit"))
		}
		return rec.Code
	}
	if status := badLogin(time.Now()); status != http.StatusBadRequest || !limits.Shared() {
		t.Fatalf("bad login before the fault: status = %d, shared limits %v", status, limits.Shared())
	}
	a.expect(http.StatusNoContent, "GET", "/_ready", "", "")
	if fresh, err := consumed.Use(context.Background(), "before", time.Now().Add(time.Minute)); !fresh || err != nil {
		t.Fatalf("Consumed.Use before the fault = %v, %v", fresh, err)
	}
	run.outcomes = nil

	if err := p.Set(mode); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var consumedErrs, consumedCalls int
	var consumedMu sync.Mutex
	during(faultOutage, 4, func(w, i int) {
		switch (w + i) % 4 { // each worker starts with another kind
		case 0:
			badLogin(start)
		case 1:
			name := fmt.Sprintf("%sw%dn%d", prefix, w, i)
			run.timed(a, start, "POST /api/auth/local/register", "POST", "/api/auth/local/register",
				fmt.Sprintf(`{"username":%q,"email":"%s@example.com","password":"correct-horse"}`, name, name), "", name)
		case 2:
			run.timed(a, start, "GET /_ready", "GET", "/_ready", "", "", "")
		default:
			began := time.Now()
			_, err := consumed.Use(context.Background(), fmt.Sprintf("w%dn%d", w, i), time.Now().Add(time.Minute))
			if took := time.Since(began); took > time.Second+faultSlack {
				t.Errorf("Consumed.Use during the fault took %s", took)
			}
			consumedMu.Lock()
			consumedCalls++
			if err != nil {
				consumedErrs++
			}
			consumedMu.Unlock()
		}
	})
	// Redis calls give up after go-redis's 1s read timeout.
	first503, slowest := run.check(t, time.Second+faultSlack, http.StatusOK, http.StatusBadRequest, http.StatusServiceUnavailable)
	if consumedErrs == 0 || consumedErrs != consumedCalls {
		t.Errorf("Consumed.Use during the fault: %d errors of %d calls, want every call refused (fail closed)", consumedErrs, consumedCalls)
	}
	run.mu.Lock()
	for _, o := range run.outcomes {
		if o.status == http.StatusServiceUnavailable && o.what != "GET /_ready" {
			t.Errorf("%s answered 503 during a Redis fault; only readiness may fail", o.what)
		}
	}
	readyFailed := first503 >= 0
	run.mu.Unlock()
	if !readyFailed {
		t.Errorf("GET /_ready never failed during a Redis %s", mode)
	}

	if err := p.Set(faultproxy.Pass); err != nil {
		t.Fatal(err)
	}
	recovery := recoverWithin(t, "/_ready and Consumed.Use", func() bool {
		status, _ := a.do("GET", "/_ready", "", "")
		fresh, err := consumed.Use(context.Background(), randomName("after"), time.Now().Add(time.Minute))
		return status == http.StatusNoContent && fresh && err == nil
	})
	// The limiter asks Redis again RetryAfter (5s) after its last failure.
	shared := recoverWithin(t, "shared rate limits", func() bool { badLogin(time.Now()); return limits.Shared() })

	var count int64
	if err := a.store.DB.Table("up_users").Where("username IN ?", run.acknowledged).Count(&count).Error; err != nil {
		t.Fatal(err)
	}
	lost := len(run.acknowledged) - int(count)
	if lost != 0 {
		t.Errorf("%d of %d acknowledged registrations are missing", lost, len(run.acknowledged))
	}
	t.Logf("FAULT redis %s: readiness failed after %s, slowest answer %s, OAuth state refused %d/%d, recovered in %s (shared limits after %s more); acknowledged writes %d, lost %d",
		mode, first503.Round(time.Millisecond), slowest.Round(time.Millisecond), consumedErrs, consumedCalls,
		recovery.Round(time.Millisecond), shared.Round(time.Millisecond), len(run.acknowledged), lost)
}
