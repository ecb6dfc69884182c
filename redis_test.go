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
