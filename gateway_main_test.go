package main

import (
	"context"
	"os"
	"path/filepath"
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
