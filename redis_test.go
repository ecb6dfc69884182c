package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRedisTwoInstances runs two instances wired by newApp with REDIS_URL
// over one SQLite file: a policy change through one instance's API is in
// force on the other without any reload call, and the login limit is one
// budget for both. The instances use the production channel and prefix
// (they are not configurable), so the test logs in from a random address
// and deletes its counters; a notice from a parallel run only makes an
// instance check the revision.
func TestRedisTwoInstances(t *testing.T) {
	addr := os.Getenv("GATEHOUSE_TEST_REDIS_ADDR")
	if addr == "" {
		t.Skip("set GATEHOUSE_TEST_REDIS_ADDR=127.0.0.1:6379 to run the Redis suite against a real Redis")
	}
	ip, adminIP := randomIP(), randomIP()
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		ctx := context.Background()
		for _, ip := range []string{ip, adminIP} {
			iter := c.Scan(ctx, 0, "gatehouse:ratelimit:*|"+ip, 100).Iterator()
			for iter.Next(ctx) {
				c.Del(ctx, iter.Val())
			}
		}
	})
	databaseURL := "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
	extra := map[string]string{"REDIS_URL": "redis://" + addr + "/0", "RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_MAX": "10"}
	a := startApp(t, databaseURL, extra)
	b := startApp(t, databaseURL, extra)

	admin := loginFrom(t, a, adminIP, "admin@example.com", "admin-password")
	b.expect(http.StatusForbidden, "GET", "/api/users/count", "", "")
	csv := a.expect(http.StatusOK, "GET", "/api/users-permissions/policy", "", admin, "Accept", "text/csv")
	req := httptest.NewRequest("PUT", "/api/users-permissions/policy", strings.NewReader(csv+"p, public, /api/users/count, GET\n"))
	req.Header.Set("Authorization", "Bearer "+admin)
	rec := httptest.NewRecorder()
	start := time.Now()
	a.server.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("PUT policy: %d\n%s", rec.Code, rec.Body)
	}
	// B reloads on the notice, in main's follower: watch its loaded
	// revision, for at most 2s.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(2 * time.Second)
	for b.enforcer.Revision() != a.enforcer.Revision() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("instance B still at revision %d, A at %d, 2s after the change", b.enforcer.Revision(), a.enforcer.Revision())
		}
	}
	t.Logf("policy change through A's API in force on B after %s", time.Since(start))
	b.expect(http.StatusOK, "GET", "/api/users/count", "", "")

	var statuses []int
	for i := range 11 {
		statuses = append(statuses, postLogin([]itApp{a, b}[i%2], ip, "nobody@example.com", "wrong-password").Code)
	}
	if fmt.Sprint(statuses) != "[400 400 400 400 400 400 400 400 400 400 429]" {
		t.Errorf("11 logins from one IP alternating between the instances: statuses = %v, want ten 400s and a 429", statuses)
	}
}

// randomIP returns an address of the benchmarking range 198.18.0.0/15.
func randomIP() string {
	return fmt.Sprintf("198.18.%d.%d", rand.IntN(256), 1+rand.IntN(254))
}

// postLogin posts a local login from ip.
func postLogin(a itApp, ip, identifier, password string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/api/auth/local", strings.NewReader(fmt.Sprintf(`{"identifier":%q,"password":%q}`, identifier, password)))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = ip + ":40000"
	rec := httptest.NewRecorder()
	a.server.ServeHTTP(rec, req)
	return rec
}

// loginFrom logs in from ip and returns the JWT.
func loginFrom(t *testing.T, a itApp, ip, identifier, password string) string {
	t.Helper()
	rec := postLogin(a, ip, identifier, password)
	var resp struct{ JWT string }
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); rec.Code != http.StatusOK || err != nil || resp.JWT == "" {
		t.Fatalf("POST /api/auth/local as %s: status = %d, want 200 with a jwt\n%s", identifier, rec.Code, rec.Body)
	}
	return resp.JWT
}

// TestRedisUnreachableRefusesToStart: with REDIS_URL set to a Redis that
// does not answer, the instance does not start (it would otherwise run with
// limits and policy notices of its own, unnoticed). It needs no Redis.
func TestRedisUnreachableRefusesToStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := testConfig(t, map[string]string{"REDIS_URL": "redis://" + addr + "/0"})
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		a.store.Close()
		t.Fatal("newApp with an unreachable REDIS_URL: err = nil, want a refusal")
	}
	for _, want := range []string{"REDIS_URL", addr, "does not answer", "unset REDIS_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q, want it to mention %q", err, want)
		}
	}
}

// redisTestAddr returns GATEHOUSE_TEST_REDIS_ADDR or skips the test.
func redisTestAddr(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("GATEHOUSE_TEST_REDIS_ADDR")
	if addr == "" {
		t.Skip("set GATEHOUSE_TEST_REDIS_ADDR=127.0.0.1:6379 to run the Redis suite against a real Redis")
	}
	return addr
}

// within polls cond every 100µs until it holds and returns the time since
// start, failing the test when bound passed first.
func within(t *testing.T, start time.Time, bound time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	tick := time.NewTicker(100 * time.Microsecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > bound {
			t.Fatalf("%s: not within %s", what, bound)
		}
		<-tick.C
	}
	return time.Since(start)
}

// TestRedisUserBlockedReachesOtherInstance: two instances wired by newApp
// with REDIS_URL, whose user caches would keep a user for an hour; a user
// blocked through A's API is refused on B within 200ms, although B had
// verified the user's token and cached the user; unblocked, B lets them in
// again as fast.
func TestRedisUserBlockedReachesOtherInstance(t *testing.T) {
	addr := redisTestAddr(t)
	databaseURL := "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
	extra := map[string]string{"REDIS_URL": "redis://" + addr + "/0"}
	a := startApp(t, databaseURL, extra)
	b := startApp(t, databaseURL, extra)
	a.store.SetUserCacheTTL(time.Hour)
	b.store.SetUserCacheTTL(time.Hour)

	admin := a.login("admin@example.com", "admin-password")
	if code, body := a.register("blockme", "blockme@example.com"); code != http.StatusOK {
		t.Fatalf("register: status = %d\n%s", code, body)
	}
	token := b.login("blockme@example.com", "correct-horse")
	var user struct{ ID uint }
	if err := json.Unmarshal([]byte(b.expect(http.StatusOK, "GET", "/api/users/me", "", token)), &user); err != nil || user.ID == 0 {
		t.Fatalf("GET /api/users/me on B: no id (%v)", err)
	}

	const bound = 200 * time.Millisecond
	for _, blocked := range []bool{true, false} {
		start := time.Now()
		a.expect(http.StatusOK, "PUT", fmt.Sprintf("/api/users/%d", user.ID), fmt.Sprintf(`{"blocked":%t}`, blocked), admin)
		want := http.StatusOK
		if blocked {
			want = http.StatusUnauthorized
		}
		var body string
		took := within(t, start, bound, fmt.Sprintf("blocked=%t through A, GET /api/users/me on B answering %d", blocked, want), func() bool {
			var code int
			code, body = b.do("GET", "/api/users/me", "", token)
			return code == want
		})
		if blocked && !strings.Contains(body, `"name":"UnauthorizedError"`) {
			t.Errorf("GET /api/users/me on B for a blocked user: body = %s, want an UnauthorizedError envelope", body)
		}
		t.Logf("blocked=%t through A's API: B answers %d after %s", blocked, want, took)
	}
}

// TestRedisCLIAnnounces: with REDIS_URL the CLI tells the running instances
// what it changed, so a running instance B (with no periodic reload at all
// here, and a user cache keeping users for an hour) applies a role creation,
// a policy import and a user's new role within 2s — against a periodic
// reload of 10s by default.
func TestRedisCLIAnnounces(t *testing.T) {
	addr := redisTestAddr(t)
	db := filepath.Join(t.TempDir(), "gatehouse.db")
	redisURL := "redis://" + addr + "/0"
	b := startApp(t, "sqlite://"+db, map[string]string{"REDIS_URL": redisURL})
	b.store.SetUserCacheTTL(time.Hour)
	// Measured from the command's return, when its change is committed and
	// announced: opening the database under -race on a loaded machine took
	// longer than the bound by itself.
	const bound = 2 * time.Second

	t.Run("role create", func(t *testing.T) {
		before := b.enforcer.Revision()
		if out, err := runCLI(t, db, "role", "create", "Reviewers", "--redis-url", redisURL); err != nil {
			t.Fatalf("role create: %v\n%s", err, out)
		}
		start := time.Now()
		took := within(t, start, bound, "B's enforcer moving past revision "+fmt.Sprint(before), func() bool { return b.enforcer.Revision() > before })
		t.Logf("role create by the CLI in force on B %s after the command returned", took)
	})

	t.Run("policy import", func(t *testing.T) {
		b.expect(http.StatusForbidden, "GET", "/api/users/count", "", "")
		out, err := runCLI(t, db, "policy", "export")
		if err != nil {
			t.Fatal(err)
		}
		granted := writeFile(t, "granted.csv", out+"p, public, /api/users/count, GET\n")
		if out, err := runCLI(t, db, "policy", "import", granted, "--redis-url", redisURL); err != nil {
			t.Fatalf("policy import: %v\n%s", err, out)
		}
		start := time.Now()
		took := within(t, start, bound, "public GET /api/users/count allowed on B", func() bool {
			code, _ := b.do("GET", "/api/users/count", "", "")
			return code == http.StatusOK
		})
		t.Logf("policy import by the CLI in force on B after %s", took)
	})

	t.Run("user set-role", func(t *testing.T) {
		if code, body := b.register("promoted", "promoted@example.com"); code != http.StatusOK {
			t.Fatalf("register: status = %d\n%s", code, body)
		}
		token := b.login("promoted@example.com", "correct-horse")
		b.expect(http.StatusForbidden, "GET", "/api/users?limit=1", "", token) // cached on B as authenticated
		if out, err := runCLI(t, db, "user", "set-role", "promoted@example.com", "admin", "--redis-url", redisURL); err != nil {
			t.Fatalf("user set-role: %v\n%s", err, out)
		}
		start := time.Now()
		took := within(t, start, bound, "the promoted user listing users on B", func() bool {
			code, _ := b.do("GET", "/api/users?limit=1", "", token)
			return code == http.StatusOK
		})
		t.Logf("user set-role by the CLI in force on B after %s", took)
	})
}
