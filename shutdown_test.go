package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// childServeEnv makes the test binary run `gatehouse serve` instead of the
// tests (TestSIGTERMUnderLoad's child process).
const childServeEnv = "GATEHOUSE_TEST_CHILD_SERVE"

var listeningAddr = regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`)

// TestSIGTERMUnderLoad runs `gatehouse serve` as a child process and sends
// it SIGTERM while keep-alive clients send POSTs (never retried by Go's
// transport) as fast as they can, behind a "balancer" that probes /_ready
// every 100ms and stops sending once it fails, as a load balancer does.
// Every request sent gets its answer — no connection reset, no EOF, none
// refused — including those already sent on kept-alive connections when
// the signal arrives; /_ready answers 503 from the signal on; the process
// exits 0 once drained.
func TestSIGTERMUnderLoad(t *testing.T) {
	if os.Getenv(childServeEnv) == "1" {
		root := rootCommand()
		root.SetArgs([]string{"serve"})
		if err := root.Execute(); err != nil {
			fmt.Fprintln(os.Stderr, "gatehouse:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	const grace = 1500 * time.Millisecond
	cmd := exec.Command(os.Args[0], "-test.run=^TestSIGTERMUnderLoad$")
	cmd.Env = append(os.Environ(), childServeEnv+"=1", "HOST=127.0.0.1", "PORT=0", "BCRYPT_COST=4",
		"DATABASE_URL=sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"), "RATE_LIMIT_ENABLED=false",
		"SHUTDOWN_GRACE="+grace.String(), "SHUTDOWN_TIMEOUT=10s", "POLICY_RELOAD_INTERVAL=0", "REDIS_URL=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var logs syncBuffer
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			logs.Write([]byte(sc.Text() + "\n"))
			if m := listeningAddr.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		exited <- cmd.Wait()
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-exited:
		t.Fatalf("serve exited before listening: %v\n%s%s", err, logs.String(), stderr.String())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("serve did not start within 30s\n%s", logs.String())
	}
	base := "http://" + addr

	const clients = 8
	var (
		served, servedAfterTerm, failures atomic.Int64
		mu                                sync.Mutex
		failed                            []string
		termAt                            atomic.Int64 // UnixNano of the SIGTERM, 0 before
		drained                           atomic.Bool  // the balancer saw /_ready fail
		wg                                sync.WaitGroup
	)
	body := `{"identifier":"nobody@example.com","password":"wrong-password"}`
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !drained.Load(); {
				resp, err := client.Post(base+"/api/auth/local", "application/json", strings.NewReader(body))
				if err != nil {
					failures.Add(1)
					mu.Lock()
					failed = append(failed, err.Error())
					mu.Unlock()
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest {
					failures.Add(1)
					mu.Lock()
					failed = append(failed, fmt.Sprintf("status %d", resp.StatusCode))
					mu.Unlock()
				}
				served.Add(1)
				if termAt.Load() != 0 {
					servedAfterTerm.Add(1)
				}
			}
		}()
	}
	// Let the clients get going on kept-alive connections, then SIGTERM.
	for served.Load() < 50 && failures.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// The balancer probes readiness every 250ms, well within the grace,
	// and stops sending once it fails; the probe runs from before the
	// signal, so clients go on sending for up to 250ms after it.
	readyClient := &http.Client{Timeout: 5 * time.Second}
	var readyStatus int
	var noticed time.Duration
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); <-tick.C {
			resp, err := readyClient.Get(base + "/_ready")
			if err != nil {
				continue
			}
			resp.Body.Close()
			if readyStatus = resp.StatusCode; readyStatus == http.StatusServiceUnavailable {
				noticed = time.Duration(time.Now().UnixNano() - termAt.Load())
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond) // SIGTERM between two probes
	termAt.Store(time.Now().UnixNano())
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-probed
	drained.Store(true)
	wg.Wait()
	var exitErr error
	select {
	case exitErr = <-exited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("serve still running 30s after SIGTERM\n%s", logs.String())
	}
	took := time.Duration(time.Now().UnixNano() - termAt.Load())
	if exitErr != nil {
		t.Errorf("serve after SIGTERM: %v, want exit status 0\n%s%s", exitErr, logs.String(), stderr.String())
	}
	if readyStatus != http.StatusServiceUnavailable {
		t.Errorf("GET /_ready during the grace period: status %d, want 503", readyStatus)
	}
	if n := failures.Load(); n != 0 {
		t.Errorf("%d requests failed around SIGTERM (resets, EOFs, wrong statuses): %v", n, failed)
	}
	if servedAfterTerm.Load() == 0 {
		t.Errorf("no request served after SIGTERM: the grace period did not serve")
	}
	if !strings.Contains(logs.String(), "every request finished") {
		t.Errorf("no drained log line:\n%s", logs.String())
	}
	t.Logf("SIGTERM under load: %d keep-alive clients, %d requests answered (%d after SIGTERM), %d failed; /_ready 503 %s after SIGTERM; exit %v after %s (SHUTDOWN_GRACE %s)",
		clients, served.Load(), servedAfterTerm.Load(), failures.Load(), noticed.Round(time.Millisecond), exitErr, took.Round(time.Millisecond), grace)
}
