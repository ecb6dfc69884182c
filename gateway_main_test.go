package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/gateway"
	"github.com/gatehouse/gatehouse/handlers"
)

// TestSIGHUPReloadsTheFunctionsFile: each SIGHUP reloads ROUTES_FILE; a bad
// file keeps the previous table.
func TestSIGHUPReloadsTheFunctionsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "functions.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte("upstream: http://127.0.0.1:3000\nfunctions:\n"+s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("  - name: api::a.a.a\n    method: GET\n    path: /a\n")
	routes, err := gateway.NewRoutes(path, handlers.OwnRoutes(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hup := make(chan os.Signal)
	done := make(chan struct{})
	go func() { defer close(done); reloadOnHangup(ctx, hup, routes) }()
	first := routes.Table()
	write("  - name: api::a.a.a\n    method: GET\n    path: /api/users/me\n") // overlaps Gatehouse's own route
	hup <- syscall.SIGHUP
	hup <- syscall.SIGHUP // the first has been handled once this one is taken
	if routes.Table() != first {
		t.Fatal("a bad file replaced the functions")
	}
	write("  - name: api::b.b.b\n    method: GET\n    path: /b\n")
	hup <- syscall.SIGHUP
	hup <- syscall.SIGHUP
	if fns := routes.Table().Functions; len(fns) != 1 || fns[0].Name != "api::b.b.b" {
		t.Fatalf("after SIGHUP: %+v", fns)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("reloadOnHangup did not stop with its context")
	}
}

// TestServeWithRoutesFile: serve refuses a functions file with errors, and
// with a good one in gateway mode serves forward-auth and proxies, through
// the real http.Server.
func TestServeWithRoutesFile(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app:"+r.URL.Path) }))
	defer app.Close()
	path := filepath.Join(t.TempDir(), "functions.yaml")
	bad := "upstream: " + app.URL + "\nfunctions:\n  - name: api::a.a.a\n    method: GET\n    path: /api/users/:id\n"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	err := serve(context.Background(), testConfig(t, map[string]string{"ROUTES_FILE": path, "GATEWAY": "true"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "ROUTES_FILE") || !strings.Contains(err.Error(), path+":3") {
		t.Fatalf("serve with a functions file overlapping Gatehouse's routes: %v", err)
	}
	good := "upstream: " + app.URL + "\nfunctions:\n  - name: api::status.status.get\n    method: GET\n    path: /api/status\n    public: true\n" +
		"  - name: api::post.post.find\n    method: GET\n    path: /api/posts\n"
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	addr, stop := startServe(t, testConfig(t, map[string]string{"ROUTES_FILE": path, "GATEWAY": "true"}), &logs)
	defer stop()
	get := func(target string, header http.Header) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+target, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if status, body := get("/api/status", nil); status != 200 || body != "app:/api/status" {
		t.Errorf("GET /api/status through the gateway: %d %q", status, body)
	}
	if status, _ := get("/api/posts", nil); status != http.StatusForbidden {
		t.Errorf("GET /api/posts, not granted to public: %d, want 403", status)
	}
	if status, _ := get("/api/authz/verify", http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/api/status"}}); status != 200 {
		t.Errorf("forward-auth of a public function: %d, want 200", status)
	}
}
