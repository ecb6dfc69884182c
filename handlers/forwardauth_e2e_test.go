package handlers

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/gateway"
)

// The end-to-end forward-auth tests run Debian's nginx and Caddy, on
// loopback, with the very configuration files the README shows
// (deploy/forward-auth/), in front of a test upstream, Gatehouse deciding.
// .ci/run installs both; without them the tests skip.

// forwardAuthConfig reads a deploy/forward-auth file with the addresses
// replaced: Gatehouse's (127.0.0.1:1337), the app's (127.0.0.1:3000) and
// the proxy's own (127.0.0.1:8080).
func forwardAuthConfig(t *testing.T, name, gatehouse, app, listen string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "forward-auth", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer("127.0.0.1:1337", gatehouse, "127.0.0.1:3000", app, "127.0.0.1:8080", listen).Replace(string(raw))
}

// TestREADMEShowsTheForwardAuthConfigs: the README's nginx, Caddy and
// Traefik snippets are the files the tests use, to the byte.
func TestREADMEShowsTheForwardAuthConfigs(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name, lang := range map[string]string{"nginx.conf": "nginx", "Caddyfile": "caddyfile", "traefik.yaml": "yaml"} {
		raw, err := os.ReadFile(filepath.Join("..", "deploy", "forward-auth", name))
		if err != nil {
			t.Fatal(err)
		}
		if block := "```" + lang + "\n" + string(raw) + "```\n"; !strings.Contains(string(readme), block) {
			t.Errorf("README.md does not show deploy/forward-auth/%s as it is (a ```%s block)", name, lang)
		}
	}
}

// freeAddr returns a loopback address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startProxy runs the proxy as a child of the test (not a daemon) and
// waits until it accepts connections on addr.
func startProxy(t *testing.T, dir string, addr string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	logFile, err := os.Create(filepath.Join(dir, filepath.Base(name)+".out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		logFile.Close()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			return
		}
		select {
		case err := <-exited:
			out, _ := os.ReadFile(logFile.Name())
			t.Fatalf("%s exited: %v\n%s", name, err, out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logFile.Name())
			t.Fatalf("%s does not listen on %s after 20s\n%s", name, addr, out)
		}
	}
}

func TestForwardAuthNginx(t *testing.T) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not installed (apt-get install nginx): the nginx forward-auth end-to-end test does not run")
	}
	runForwardAuthE2E(t, func(t *testing.T, gatehouse, app string) string {
		dir, listen := t.TempDir(), freeAddr(t)
		site := filepath.Join(dir, "site.conf")
		if err := os.WriteFile(site, []byte(forwardAuthConfig(t, "nginx.conf", gatehouse, app, listen)), 0o600); err != nil {
			t.Fatal(err)
		}
		// The smallest main configuration around the README's server
		// block: foreground, one process, everything in dir.
		main := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[2]s;
}
`, dir, site)
		conf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(conf, []byte(main), 0o600); err != nil {
			t.Fatal(err)
		}
		startProxy(t, dir, listen, bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf)
		return listen
	})
}

func TestForwardAuthCaddy(t *testing.T) {
	bin, err := exec.LookPath("caddy")
	if err != nil {
		t.Skip("caddy is not installed (apt-get install caddy): the Caddy forward-auth end-to-end test does not run")
	}
	runForwardAuthE2E(t, func(t *testing.T, gatehouse, app string) string {
		dir, listen := t.TempDir(), freeAddr(t)
		// Global options for a test: no admin endpoint (port 2019), no
		// certificates; then the README's site block.
		conf := "{\n\tadmin off\n\tauto_https off\n}\n\n" + forwardAuthConfig(t, "Caddyfile", gatehouse, app, listen)
		path := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		startProxy(t, dir, listen, bin, "run", "--config", path, "--adapter", "caddyfile")
		return listen
	})
}

// runForwardAuthE2E starts Gatehouse (the test functions file and grants)
// and an upstream, then the proxy start returns the address of, and sends
// requests through it.
func runForwardAuthE2E(t *testing.T, start func(t *testing.T, gatehouse, app string) string) {
	up := newTestUpstream(t)
	e := newGatewayEnv(t, up.URL, false, func(c *Config) { c.UpstreamTokenSecret = []byte(testUpstreamSecret) })
	gh := httptest.NewServer(e.server)
	t.Cleanup(gh.Close)
	proxy := "http://" + start(t, strings.TrimPrefix(gh.URL, "http://"), strings.TrimPrefix(up.URL, "http://"))
	alice, root := e.users["authenticated"], e.users["admin"]
	bearer := func(id uint) string { return "Bearer " + e.token(id) }
	cases := []struct {
		name, method, target, auth string
		spoof                      bool
		wantStatus                 int // 0: any refusal (>= 400)
		wantUser, wantRole         string
	}{
		{"anonymous with a public grant", "GET", "/api/posts", "", false, 200, "", "public"},
		{"anonymous, spoofed identity headers", "GET", "/api/posts?page=2", "", true, 200, "", "public"},
		{"signed in, allowed", "GET", "/api/posts/7", bearer(alice.ID), false, 200, strconv.Itoa(int(alice.ID)), "authenticated"},
		{"signed in, spoofed identity headers", "POST", "/api/posts", bearer(alice.ID), true, 200, strconv.Itoa(int(alice.ID)), "authenticated"},
		{"admin, allowed", "GET", "/api/posts/admin/stats", bearer(root.ID), false, 200, strconv.Itoa(int(root.ID)), "admin"},
		{"anonymous, denied", "GET", "/api/posts/7", "", false, 403, "", ""},
		{"signed in, denied", "GET", "/api/posts/admin/stats", bearer(alice.ID), true, 403, "", ""},
		{"forged token", "GET", "/api/posts", "Bearer eyJhbGciOiJub25lIn0.eyJpZCI6MX0.", false, 401, "", ""},
		{"no function", "GET", "/api/secrets", bearer(root.ID), false, 404, "", ""},
		{"encoded dot-dot", "GET", "/api/posts/%2e%2e/posts/admin/stats", bearer(alice.ID), false, 0, "", ""},
		{"encoded slash", "GET", "/api/posts/admin%2Fstats", bearer(alice.ID), false, 0, "", ""},
		{"case", "GET", "/API/POSTS/ADMIN/STATS", bearer(alice.ID), false, 0, "", ""},
		// A client's own X-Forwarded-Uri naming an allowed path: nginx
		// passes it beside its X-Original-URI (Gatehouse refuses pairs
		// that disagree), Caddy replaces it.
		{"forged X-Forwarded-Uri", "GET", "/api/posts/admin/stats", bearer(alice.ID), false, 0, "", ""},
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(up.paths())
			req, err := http.NewRequest(c.method, proxy+c.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			if c.name == "forged X-Forwarded-Uri" {
				req.Header.Set("X-Forwarded-Method", "GET")
				req.Header.Set("X-Forwarded-Uri", "/api/posts/7")
				req.Header.Set("X-Original-Method", "GET")
				req.Header.Set("X-Original-URI", "/api/posts/7")
			}
			if c.spoof {
				req.Header.Set(gateway.HeaderUserID, "1")
				req.Header.Set(gateway.HeaderRole, "admin")
				req.Header.Set(gateway.HeaderFunction, "api::post.post.stats")
				req.Header.Set(gateway.HeaderToken, "forged")
			}
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var seen upstreamSeen
			dec := json.NewDecoder(res.Body)
			decodeErr := dec.Decode(&seen)
			res.Body.Close()
			reached := len(up.paths()) > before
			if c.wantStatus == 0 {
				if res.StatusCode < 400 || reached {
					t.Fatalf("%s %s: status %d, reached the upstream: %v; want a refusal", c.method, c.target, res.StatusCode, reached)
				}
				return
			}
			if res.StatusCode != c.wantStatus {
				t.Fatalf("%s %s: status %d, want %d", c.method, c.target, res.StatusCode, c.wantStatus)
			}
			if c.wantStatus != 200 {
				if c.wantStatus != http.StatusForbidden && c.wantStatus != http.StatusUnauthorized && !strings.Contains(res.Header.Get("Content-Type"), "json") {
					t.Errorf("%s %s: %d answered as %q, want the error format", c.method, c.target, res.StatusCode, res.Header.Get("Content-Type"))
				}
				if reached {
					t.Fatalf("%s %s: refused, yet it reached the upstream", c.method, c.target)
				}
				return
			}
			if decodeErr != nil {
				t.Fatalf("upstream answer: %v", decodeErr)
			}
			if got := seen.Header.Get(gateway.HeaderUserID); got != c.wantUser {
				t.Errorf("the upstream saw %s %q, want %q", gateway.HeaderUserID, got, c.wantUser)
			}
			if got := seen.Header.Get(gateway.HeaderRole); got != c.wantRole {
				t.Errorf("the upstream saw %s %q, want %q", gateway.HeaderRole, got, c.wantRole)
			}
			if got := seen.Header.Get("Authorization"); got != "" {
				t.Errorf("the upstream saw the caller's Authorization %q", got)
			}
			if got := seen.Header.Get(gateway.HeaderFunction); got == "" || got == "api::post.post.stats" && c.wantRole != "admin" {
				t.Errorf("the upstream saw %s %q", gateway.HeaderFunction, got)
			}
			claims := checkUpstreamToken(t, seen.Header.Get(gateway.HeaderToken))
			if sub, _ := claims["sub"].(string); sub != c.wantUser || claims["role"] != c.wantRole {
				t.Errorf("the upstream's X-Gatehouse-Token says sub %q role %v, want %q %q", sub, claims["role"], c.wantUser, c.wantRole)
			}
		})
	}
}
