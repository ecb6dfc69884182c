package browsertest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

const (
	adminPageEmail    = "admin@example.com"
	adminPagePassword = "admin-page-secret"
)

// gatehouse is a running Gatehouse binary, as the browser sees it: its URL,
// and the test's own connection to its SQLite database.
type gatehouse struct {
	URL   string
	store *store.Store
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// TestMain removes the binary built for the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary builds Gatehouse once per run, in its own module (the parent
// directory), exactly as `go build` there does.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "gatehouse-browsertest-"); buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-C", "..", "-o", filepath.Join(buildDir, "gatehouse"), ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build -C .. .: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "gatehouse")
}

// startGatehouse runs the real binary over a fresh temporary SQLite
// database, with an admin user, on a free local port, until the test ends;
// env adds or overrides settings (NAME=value).
func startGatehouse(t *testing.T, env ...string) *gatehouse {
	t.Helper()
	bin := binary(t)
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
	cmd := exec.Command(bin, "serve")
	// Only these settings: nothing of the caller's environment reaches
	// the server (no REDIS_URL, no DATABASE_URL).
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"DATABASE_URL=" + dbURL,
		"JWT_SECRET=admin-page-secret-admin-page-secret-0123",
		"RATE_LIMIT_ENABLED=false",
		"BCRYPT_COST=4",
		"POLICY_RELOAD_INTERVAL=0",
		"HOST=127.0.0.1",
		"PORT=0",
		"LOG_FORMAT=json",
		"ADMIN_EMAIL=" + adminPageEmail,
		"ADMIN_PASSWORD=" + adminPagePassword,
	}
	cmd.Env = append(cmd.Env, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var logMu sync.Mutex
	var logs strings.Builder
	addr := make(chan string, 1)
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			logMu.Lock()
			logs.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "Gatehouse is listening" {
				addr <- line.Addr
			}
		}
		cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			logMu.Lock()
			defer logMu.Unlock()
			t.Logf("gatehouse output:\n%s%s", logs.String(), stderr.String())
		}
	})
	var g gatehouse
	select {
	case a := <-addr:
		g.URL = "http://" + a
	case <-exited:
		t.Fatalf("gatehouse exited before listening:\n%s%s", logs.String(), stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("gatehouse did not listen within 60s")
	}
	if g.store, err = store.Open(dbURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.store.Close() })
	return &g
}

// policyRevision is the revision the server's enforcer holds, from the
// policy API.
func (g *gatehouse) policyRevision(t *testing.T, token string) int64 {
	t.Helper()
	status, body := apiRequest(t, http.MethodGet, g.URL+"/api/users-permissions/policy", token, nil)
	var out struct {
		Revision int64 `json:"revision"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil {
		t.Fatalf("GET /api/users-permissions/policy: status = %d, want 200\n%s", status, body)
	}
	return out.Revision
}

// allowed is the server's decision for role on method path, from the
// policy check API.
func (g *gatehouse) allowed(t *testing.T, token, role, method, path string) bool {
	t.Helper()
	status, body := apiRequest(t, http.MethodPost, g.URL+"/api/users-permissions/policy/check", token,
		map[string]string{"role": role, "method": method, "path": path})
	var out struct {
		Allowed bool `json:"allowed"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil {
		t.Fatalf("POST /api/users-permissions/policy/check: status = %d, want 200\n%s", status, body)
	}
	return out.Allowed
}

// anonymousStatus is the status of a request without a token.
func anonymousStatus(t *testing.T, method, url string) int {
	t.Helper()
	status, _ := apiRequest(t, method, url, "", nil)
	return status
}
