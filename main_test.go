package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/store"
	"golang.org/x/crypto/bcrypt"
)

// syncBuffer is a log sink safe for the server goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testConfig(t *testing.T, values map[string]string) config.Config {
	t.Helper()
	all := map[string]string{"DATABASE_URL": "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db"), "PORT": "0", "HOST": "127.0.0.1",
		"BCRYPT_COST": "4", "POLICY_RELOAD_INTERVAL": "0", "SHUTDOWN_GRACE": "0",
		// Slow shared CI machines under -race: tests not about timeouts
		// give the database 30s (the fault tests set their own).
		"DB_TIMEOUT": "30s"}
	for k, v := range values {
		all[k] = v
	}
	cfg, err := config.Parse(all)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var addrPattern = regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`)

// startServe runs serve in the background and returns its address and a
// function that stops it and returns serve's error.
func startServe(t *testing.T, cfg config.Config, logs *syncBuffer) (addr string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, logs) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := addrPattern.FindStringSubmatch(logs.String()); m != nil {
			return m[1], func() error { cancel(); return <-done }
		}
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v\n%s", err, logs)
		case <-time.After(2 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("serve did not start:\n%s", logs)
	return "", nil
}

func TestServeLifecycleAndGracefulShutdown(t *testing.T) {
	var logs syncBuffer
	addr, stop := startServe(t, testConfig(t, nil), &logs)
	resp, err := http.Get("http://" + addr + "/_health")
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("GET /_health = %v, %v", resp, err)
	}
	resp.Body.Close()

	// An in-flight request: headers and half the body sent, then shutdown.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"identifier":"nobody@example.com","password":"whatever"}`
	fmt.Fprintf(conn, "POST /api/auth/local HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:10])
	time.Sleep(50 * time.Millisecond) // let the server start reading the request
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case err := <-stopped:
		t.Fatalf("serve returned before the in-flight request finished: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	io.WriteString(conn, body[10:])
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(status, "400") {
		t.Errorf("in-flight request answered %q, %v; want a 400 (bad credentials)", status, err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("serve: %v", err)
	}
	if !strings.Contains(logs.String(), "draining in-flight requests") {
		t.Errorf("no shutdown log:\n%s", logs.String())
	}
}

func TestJWTSecret(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	cfg := testConfig(t, nil)
	st, err := store.Open(cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(); err != nil {
		t.Fatal(err)
	}
	first, err := jwtSecret(ctx, cfg, st, log)
	if err != nil || len(first) < 32 {
		t.Fatalf("development secret = %q, %v", first, err)
	}
	again, _ := jwtSecret(ctx, cfg, st, log)
	if string(again) != string(first) {
		t.Errorf("the development secret changed across starts")
	}
	prod := testConfig(t, map[string]string{"GATEHOUSE_ENV": "production"})
	if _, err := jwtSecret(ctx, prod, st, log); err == nil || !strings.Contains(err.Error(), "missing JWT_SECRET") {
		t.Errorf("production without JWT_SECRET: %v", err)
	}
	short := testConfig(t, map[string]string{"GATEHOUSE_ENV": "production", "JWT_SECRET": "short-secret-1234"})
	if _, err := jwtSecret(ctx, short, st, log); err == nil {
		t.Errorf("production with a short secret started")
	}
	given := testConfig(t, map[string]string{"JWT_SECRET": strings.Repeat("s", 40)})
	if s, err := jwtSecret(ctx, given, st, log); err != nil || string(s) != strings.Repeat("s", 40) {
		t.Errorf("given secret = %q, %v", s, err)
	}
}

func TestProductionRefusesToStartWithoutSecret(t *testing.T) {
	cfg := testConfig(t, map[string]string{"GATEHOUSE_ENV": "production"})
	err := serve(context.Background(), cfg, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "JWT_SECRET") {
		t.Errorf("serve in production without JWT_SECRET = %v", err)
	}
}

func TestAdminFromEnvironmentAndDefaultBcryptCost(t *testing.T) {
	cfg := testConfig(t, map[string]string{"ADMIN_EMAIL": "Boss@Example.com", "ADMIN_PASSWORD": "secret123", "BCRYPT_COST": "10"})
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.store.Close()
	users, _ := a.store.Users().ByEmail(context.Background(), "boss@example.com")
	if len(users) != 1 || users[0].Role.Type != "admin" || users[0].Username != "admin" || !users[0].Confirmed {
		t.Fatalf("admin = %+v", users)
	}
	if cost, err := bcrypt.Cost([]byte(users[0].Password)); err != nil || cost != 10 {
		t.Errorf("bcrypt cost = %d, %v; want 10", cost, err)
	}
	// A second start does not fail nor duplicate.
	b, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	b.store.Close()
}
