package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/bench"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
)

// proc is a server started as a subprocess, listening on 127.0.0.1.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string
	done chan struct{}
	err  error
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// start runs the command built for a loopback address and waits for its
// first 204 on /_health; it returns the time from exec to that answer.
func start(name, logPath string, build func(addr string) *exec.Cmd) (*proc, time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := build(addr)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, 0, err
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p := &proc{name: name, cmd: cmd, addr: addr, done: make(chan struct{})}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	health := httpRequest("GET", "/_health", "", "")
	for time.Since(t0) < 60*time.Second {
		select {
		case <-p.done:
			return nil, 0, fmt.Errorf("%s exited during start-up (%v); see %s", name, p.err, logPath)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			time.Sleep(time.Millisecond)
			continue
		}
		k := &conn{addr: addr, c: c, r: bufio.NewReader(c)}
		status, _, err := k.do(health, false, 5*time.Second)
		k.close()
		if err == nil && status == http.StatusNoContent {
			return p, time.Since(t0), nil
		}
		time.Sleep(time.Millisecond)
	}
	p.stop()
	return nil, 0, fmt.Errorf("%s: no 204 on /_health within 60s; see %s", name, logPath)
}

// stop sends SIGTERM and waits (SIGKILL after 10 s).
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// rssKB reads VmRSS of the process from /proc (0 when unavailable).
func (p *proc) rssKB() int { return p.rss().totalKB }

// rss is a process's resident memory, in kB, as /proc/<pid>/status splits
// it: anonymous (the Go heap, stacks, the runtime's metadata, the SQLite
// driver's C heap) and file-backed (the binary's pages that were touched,
// shared with the page cache).
type rss struct{ totalKB, anonKB, fileKB int }

// rss reads VmRSS, RssAnon and RssFile of the process (zeros when
// unavailable).
func (p *proc) rss() rss {
	var r rss
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return r
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
		switch name {
		case "VmRSS":
			r.totalKB = n
		case "RssAnon":
			r.anonKB = n
		case "RssFile":
			r.fileKB = n
		}
	}
	return r
}

// cpu returns the CPU time (user + system) the process has used, from
// /proc/<pid>/stat in clock ticks of 10 ms (Linux's USER_HZ).
func (p *proc) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// sampleRSS samples the process's RSS every 50 ms until stop is closed and
// returns the largest value seen.
func (p *proc) sampleRSS(stop <-chan struct{}) <-chan int {
	out := make(chan int, 1)
	go func() {
		peak := p.rssKB()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				out <- max(peak, p.rssKB())
				return
			case <-t.C:
				peak = max(peak, p.rssKB())
			}
		}
	}()
	return out
}

// canned is one answer the baseline serves.
type canned struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Status int    `json:"status"`
	Body   []byte `json:"body"`
}

// pingPath is the embedding app's route of the public-app scenario, and
// pingBody its answer (the baseline answers the same bytes).
const pingPath = "/api/bench/ping"

var pingBody = []byte(`{"data":{"ok":true}}`)

// serveEmbedded serves Gatehouse the way an application embedding it does:
// handlers.New over the database, configured as the binary is for the load
// runs, plus one route of the application's own registered with
// Server.Route (GET /api/bench/ping, granted to the public role in the seeded
// policy) answering pingBody. It runs until SIGTERM.
func serveEmbedded(addr, db, cpuprofile string) error {
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	st, err := store.Open("sqlite://" + db)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(); err != nil {
		return err
	}
	enforcer, err := policy.New(st.DB, policy.Model)
	if err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)
	srv, err := handlers.New(handlers.Config{
		Store: st, Enforcer: enforcer, Secret: []byte(bench.Secret), TokenTTL: 30 * 24 * time.Hour,
		PublicURL: "http://" + addr, RateLimit: handlers.RateLimit{Enabled: false},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	srv.Route(policy.Function{Name: "api::bench.bench.ping", Method: http.MethodGet, Route: pingPath}, false,
		func(c *gin.Context) error {
			c.Data(http.StatusOK, "application/json; charset=utf-8", pingBody)
			return nil
		})
	return listen(addr, srv)
}

// listen serves h on addr behind an http.Server with Gatehouse's timeouts
// until SIGTERM or SIGINT.
func listen(addr string, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serveBaseline is the bare-Gin baseline: gin.New() with no middleware,
// answering each route with the bytes Gatehouse answered, behind an
// http.Server with Gatehouse's timeouts. It runs until SIGTERM.
func serveBaseline(addr, responses string) error {
	raw, err := os.ReadFile(responses)
	if err != nil {
		return err
	}
	var answers []canned
	if err := json.Unmarshal(raw, &answers); err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)
	engine := gin.New()
	engine.GET("/_health", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	for _, a := range answers {
		engine.Handle(a.Method, a.Path, func(c *gin.Context) {
			c.Data(a.Status, "application/json; charset=utf-8", a.Body)
		})
	}
	return listen(addr, engine)
}
