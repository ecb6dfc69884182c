// Command load measures Gatehouse over loopback against a bare-Gin baseline
// in the same run, and prints a Markdown report (BENCHMARKS.md keeps one).
//
//	go run ./bench/load                     # 1,000 users, about 3 minutes
//	go run ./bench/load -million            # also 1,000,000 users (seeded once, cached in -data)
//	go run ./bench/load -duration 300ms -policy-rows 0   # a quick smoke run
//
// It builds the gatehouse binary (or takes -bin), seeds SQLite databases in
// -data, starts Gatehouse as a subprocess on 127.0.0.1 with rate limiting
// off, and a bare-Gin server (this program re-executed with -baseline)
// answering the same bytes with no authentication. Each scenario runs as a
// closed loop (every connection waits for its answer) at 1, 8 and 64
// connections for -duration, after a -warmup. Nothing is sent anywhere but
// 127.0.0.1; every run is bounded in time, and -timeout bounds the whole.
//
// Scenarios: public (anonymous GET /api/users/count, a real route granted to
// the public role in the seeded policy), me (GET /api/users/me with a JWT,
// 1,000 distinct callers), denied (GET /api/users with an authenticated
// user's JWT: 403), login (POST /api/auth/local, bcrypt cost 10). Also:
// bcrypt alone on all cores; RSS idle after start-up, during the
// 64-connection runs and 1, 5, 15 and 30 s after the last of them (the
// target is judged at 15 s); start-up to the first 204 on /_health with an
// existing database; the load of a 100,000-row policy; and with -million the
// latency of me and login with 1,000,000 users against 1,000.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/bench"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/policy"
	"golang.org/x/crypto/bcrypt"
)

type options struct {
	duration, warmup, timeout time.Duration
	conns                     []int
	users, callers            int
	million                   bool
	policyRows                int
	rounds                    int
	startups                  int
	data, bin, out, profile   string
}

func main() {
	var o options
	var conns string
	baseline := flag.String("baseline", "", "internal: serve the bare-Gin baseline with the answers in this file")
	embedded := flag.String("embedded", "", "internal: serve Gatehouse embedded in an app (handlers.New) over this database")
	addr := flag.String("addr", "", "internal: the address of -baseline or -embedded")
	cpuprofile := flag.String("cpuprofile", "", "internal: CPU profile of the -embedded server")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "length of each measured run (login runs twice as long)")
	flag.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "unmeasured run before each measured one")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "bound on the whole program")
	flag.StringVar(&conns, "conns", "1,8,64", "connection counts")
	flag.IntVar(&o.users, "users", 1000, "users in the main database")
	flag.IntVar(&o.callers, "callers", 1000, "distinct users whose tokens and logins are sent")
	flag.BoolVar(&o.million, "million", false, "also measure me and login with 1,000,000 users (the database is seeded once and kept in -data)")
	flag.IntVar(&o.policyRows, "policy-rows", 100_000, "rows of the policy whose load is timed (0: skip)")
	flag.IntVar(&o.startups, "startups", 5, "start-ups timed")
	flag.IntVar(&o.rounds, "rounds", 3, "each measurement alternates this many baseline and Gatehouse runs of duration/rounds")
	flag.StringVar(&o.data, "data", filepath.Join(os.TempDir(), "gatehouse-load"), "directory for the databases, logs and the binary")
	flag.StringVar(&o.bin, "bin", "", "gatehouse binary (default: go build the module into -data)")
	flag.StringVar(&o.out, "out", "", "also write the report to this file")
	flag.StringVar(&o.profile, "profile", "", "also profile the server side of /users/me at 8 conns (Gatehouse embedded, handlers.New) into this file; read it with go tool pprof")
	flag.Parse()
	if *baseline != "" {
		if err := serveBaseline(*addr, *baseline); err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		return
	}
	if *embedded != "" {
		if err := serveEmbedded(*addr, *embedded, *cpuprofile); err != nil {
			fmt.Fprintln(os.Stderr, "embedded:", err)
			os.Exit(1)
		}
		return
	}
	for _, s := range strings.Split(conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "load: bad -conns %q\n", conns)
			os.Exit(2)
		}
		o.conns = append(o.conns, n)
	}
	if err := os.MkdirAll(o.data, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	// The watchdog bounds the whole program, whatever hangs.
	go func() {
		time.Sleep(o.timeout)
		fmt.Fprintf(os.Stderr, "load: -timeout %s reached\n", o.timeout)
		killAll()
		os.Exit(3)
	}()
	r := &report{o: o}
	err := r.run(context.Background())
	killAll()
	r.print(os.Stdout)
	if o.out != "" {
		f, ferr := os.Create(o.out)
		if ferr == nil {
			r.print(f)
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

var (
	procsMu sync.Mutex
	procs   []*proc
)

func track(p *proc) *proc {
	procsMu.Lock()
	procs = append(procs, p)
	procsMu.Unlock()
	return p
}

// killAll stops every subprocess this program started (by pid).
func killAll() {
	procsMu.Lock()
	defer procsMu.Unlock()
	for _, p := range procs {
		select {
		case <-p.done:
		default:
			p.stop()
		}
	}
	procs = nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// afterWaits are the times after the last request of the runs at which the
// idle server's RSS is read; afterJudged is the one the target is judged on
// (gatehouse serve returns memory after 10 s without a request).
var (
	afterWaits  = []time.Duration{time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second}
	afterJudged = 15 * time.Second
)

func afterText() string {
	parts := make([]string, len(afterWaits))
	for i, d := range afterWaits {
		parts[i] = d.String()
	}
	return strings.Join(parts, ", ")
}

// split shows what the RSS is made of.
func (m rss) split() string {
	return fmt.Sprintf("anonymous %.1f MB, file-backed %.1f MB", float64(m.anonKB)/1024, float64(m.fileKB)/1024)
}

// measured is one scenario at one connection count.
type measured struct {
	scenario  string
	conns     int
	base, gh  result
	hasBase   bool
	rssPeakKB int
	bcrypt    float64 // login: bcrypt alone on all cores, alternated with the runs
}

type report struct {
	o        options
	started  time.Time
	machine  []string
	notes    []string
	runs     []measured
	bcrypt1  float64 // comparisons/s on one goroutine
	bcryptN  float64 // comparisons/s on NumCPU goroutines
	startups []time.Duration
	idle     rss   // 500 ms after start-up
	after    []rss // afterWaits after the last request of the runs
	million  []measured
	millIdle int
	millUp   time.Duration
	polLoad  []time.Duration
	polAdd   time.Duration
	polMiss  time.Duration
	polHit   time.Duration
	polUp    time.Duration
	polRows  int
}

func (r *report) run(ctx context.Context) error {
	r.started = time.Now()
	r.machine = machine()
	defer func() { r.machine = append(r.machine, "Load average at the end: "+loadavg()) }()
	bin, err := r.binary()
	if err != nil {
		return err
	}
	logf("seeding %d users", r.o.users)
	mainDB := filepath.Join(r.o.data, fmt.Sprintf("users-%d.db", r.o.users))
	if err := seed(ctx, mainDB, r.o.users, false); err != nil {
		return err
	}

	logf("bcrypt alone")
	r.bcrypt1 = bcryptRate(1, r.o.duration)
	r.bcryptN = bcryptRate(runtime.NumCPU(), r.o.duration)

	logf("start-up x%d", r.o.startups)
	for range r.o.startups {
		p, up, err := startGatehouse(bin, mainDB, r.o.data)
		if err != nil {
			return err
		}
		r.startups = append(r.startups, up)
		p.stop()
	}

	gh, _, err := startGatehouse(bin, mainDB, r.o.data)
	if err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond)
	r.idle = gh.rss()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	app, _, err := start("embedded", filepath.Join(r.o.data, "embedded.log"), func(addr string) *exec.Cmd {
		return exec.Command(self, "-embedded", mainDB, "-addr", addr)
	})
	if err != nil {
		return err
	}
	track(app)
	scenarios, err := buildScenarios(ctx, mainDB, r.o.users, r.o.callers)
	if err != nil {
		return err
	}
	target := func(sc scenario) *proc {
		if sc.embedded {
			return app
		}
		return gh
	}
	var answers []canned
	for _, sc := range scenarios {
		a, err := capture(target(sc).addr, sc)
		if err != nil {
			return err
		}
		answers = append(answers, a)
	}
	answersPath := filepath.Join(r.o.data, "baseline-answers.json")
	raw, _ := json.Marshal(answers)
	if err := os.WriteFile(answersPath, raw, 0o644); err != nil {
		return err
	}
	base, _, err := start("baseline", filepath.Join(r.o.data, "baseline.log"), func(addr string) *exec.Cmd {
		return exec.Command(self, "-baseline", answersPath, "-addr", addr)
	})
	if err != nil {
		return err
	}
	track(base)

	maxConns := slices.Max(r.o.conns)
	for _, sc := range scenarios {
		for _, n := range r.o.conns {
			m := measured{scenario: sc.name, conns: n, hasBase: sc.name != "login"}
			srv := target(sc)
			d := r.o.duration / time.Duration(r.o.rounds)
			if sc.name == "login" {
				d *= 2
			}
			logf("%s x%d: %d rounds of baseline then Gatehouse, %s each", sc.name, n, r.o.rounds, d)
			if m.hasBase {
				if _, err := run(base.addr, sc, n, r.o.warmup, 0); err != nil {
					return err
				}
			}
			if _, err := run(srv.addr, sc, n, r.o.warmup, 0); err != nil {
				return err
			}
			var bcryptN int
			var bcryptTime time.Duration
			for range r.o.rounds {
				if m.hasBase {
					cpu0 := base.cpu()
					res, err := run(base.addr, sc, n, d, 0)
					if err != nil {
						return err
					}
					res.serverCPU = base.cpu() - cpu0
					m.base = m.base.add(res)
				} else {
					t0 := time.Now()
					bcryptN += bcryptCount(runtime.NumCPU(), d)
					bcryptTime += time.Since(t0)
				}
				stop := make(chan struct{})
				var peak <-chan int
				if n == maxConns && srv == gh {
					peak = gh.sampleRSS(stop)
				}
				cpu0 := srv.cpu()
				res, err := run(srv.addr, sc, n, d, 0)
				res.serverCPU = srv.cpu() - cpu0
				close(stop)
				if peak != nil {
					m.rssPeakKB = max(m.rssPeakKB, <-peak)
				}
				if err != nil {
					return err
				}
				m.gh = m.gh.add(res)
			}
			if !m.hasBase {
				m.bcrypt = float64(bcryptN) / bcryptTime.Seconds()
			}
			r.runs = append(r.runs, m)
		}
	}
	logf("runs over; RSS of the idle server at %s after them", afterText())
	last := time.Now()
	for _, at := range afterWaits {
		time.Sleep(time.Until(last.Add(at)))
		r.after = append(r.after, gh.rss())
	}
	gh.stop()
	app.stop()
	base.stop()

	if r.o.profile != "" {
		prof, err := filepath.Abs(r.o.profile)
		if err != nil {
			return err
		}
		p, _, err := start("embedded", filepath.Join(r.o.data, "embedded.log"), func(addr string) *exec.Cmd {
			return exec.Command(self, "-embedded", mainDB, "-addr", addr, "-cpuprofile", prof)
		})
		if err != nil {
			return err
		}
		track(p)
		for _, sc := range scenarios {
			if sc.name == "me" {
				logf("profiling me x8 into %s", prof)
				if _, err := run(p.addr, sc, 8, r.o.warmup+r.o.duration, 0); err != nil {
					return err
				}
			}
		}
		p.stop()
		r.notes = append(r.notes, fmt.Sprintf("CPU profile of /users/me at 8 conns (server side, embedded): %s", prof))
	}
	if r.o.million {
		if err := r.runMillion(ctx, bin, mainDB); err != nil {
			return err
		}
	}
	if r.o.policyRows > 0 {
		if err := r.runPolicy(ctx, bin); err != nil {
			return err
		}
	}
	return nil
}

// runMillion compares me and login with 1,000,000 users to 1,000: both
// servers run at once and the measured runs alternate between them, so the
// machine's drift hits both alike.
func (r *report) runMillion(ctx context.Context, bin, smallDB string) error {
	const users = 1_000_000
	db := filepath.Join(r.o.data, fmt.Sprintf("users-%d.db", users))
	logf("seeding %d users (once; kept in %s)", users, db)
	if err := seed(ctx, db, users, true); err != nil {
		return err
	}
	big, up, err := startGatehouse(bin, db, r.o.data)
	if err != nil {
		return err
	}
	defer big.stop()
	r.millUp = up
	time.Sleep(500 * time.Millisecond)
	r.millIdle = big.rssKB()
	small, _, err := startGatehouse(bin, smallDB, r.o.data)
	if err != nil {
		return err
	}
	defer small.stop()
	bigScenarios, err := buildScenarios(ctx, db, users, r.o.callers)
	if err != nil {
		return err
	}
	smallScenarios, err := buildScenarios(ctx, smallDB, r.o.users, r.o.callers)
	if err != nil {
		return err
	}
	for i, sc := range bigScenarios {
		if sc.name != "me" && sc.name != "login" {
			continue
		}
		ssc := smallScenarios[i]
		for _, n := range r.o.conns {
			if n > 8 {
				continue
			}
			d := r.o.duration / time.Duration(r.o.rounds)
			if sc.name == "login" {
				d *= 2
			}
			logf("1M vs 1k: %s x%d", sc.name, n)
			if _, err := run(small.addr, ssc, n, r.o.warmup, 0); err != nil {
				return err
			}
			if _, err := run(big.addr, sc, n, r.o.warmup, 0); err != nil {
				return err
			}
			m := measured{scenario: sc.name, conns: n}
			for range r.o.rounds {
				res, err := run(small.addr, ssc, n, d, 0)
				if err != nil {
					return err
				}
				m.base = m.base.add(res)
				if res, err = run(big.addr, sc, n, d, 0); err != nil {
					return err
				}
				m.gh = m.gh.add(res)
			}
			r.million = append(r.million, m)
		}
	}
	return nil
}

// runPolicy times the load of a large policy from SQLite, a single change,
// and Gatehouse's start-up with it.
func (r *report) runPolicy(ctx context.Context, bin string) error {
	r.polRows = r.o.policyRows
	db := filepath.Join(r.o.data, fmt.Sprintf("policy-%d.db", r.o.policyRows))
	logf("seeding a %d-row policy (once; kept in %s)", r.o.policyRows, db)
	if err := seedPolicy(ctx, db, r.o.policyRows); err != nil {
		return err
	}
	st, err := bench.Open(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	var e *policy.Enforcer
	for range 3 {
		t0 := time.Now()
		e, err = policy.New(st.DB, policy.Model)
		if err != nil {
			return err
		}
		r.polLoad = append(r.polLoad, time.Since(t0))
	}
	rule := policy.Rule{Type: "p", Values: []string{"authenticated", "/api/bench/added", "GET"}}
	t0 := time.Now()
	if err := e.Add([]policy.Rule{rule}); err != nil {
		return err
	}
	r.polAdd = time.Since(t0)
	t0 = time.Now()
	ok, err := e.Allow("authenticated", "/api/bench/added", "GET")
	r.polMiss = time.Since(t0)
	if err != nil || !ok {
		return fmt.Errorf("policy: the added rule is not in force (%v, %v)", ok, err)
	}
	t0 = time.Now()
	_, _ = e.Allow("authenticated", "/api/bench/added", "GET")
	r.polHit = time.Since(t0)
	if err := e.Remove([]policy.Rule{rule}); err != nil {
		return err
	}
	gh, up, err := startGatehouse(bin, db, r.o.data)
	if err != nil {
		return err
	}
	r.polUp = up
	gh.stop()
	return nil
}

// binary returns the gatehouse binary, building it when -bin is unset.
func (r *report) binary() (string, error) {
	if r.o.bin != "" {
		return r.o.bin, nil
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	bin := filepath.Join(r.o.data, "gatehouse")
	logf("go build -o %s (in %s)", bin, root)
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	return bin, nil
}

// startGatehouse runs the binary over the database, as in production but
// with rate limiting off and warnings-only logs.
func startGatehouse(bin, db, dir string) (*proc, time.Duration, error) {
	p, up, err := start("gatehouse", filepath.Join(dir, "gatehouse.log"), func(addr string) *exec.Cmd {
		host, port, _ := strings.Cut(addr, ":")
		cmd := exec.Command(bin, "serve")
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
			"HOST=" + host, "PORT=" + port, "PUBLIC_URL=http://" + addr,
			"DATABASE_URL=sqlite://" + db, "JWT_SECRET=" + bench.Secret,
			"RATE_LIMIT_ENABLED=false", "LOG_LEVEL=warn",
		}
		return cmd
	})
	if err != nil {
		return nil, 0, err
	}
	return track(p), up, nil
}

// seed creates the database with the default policy plus a public grant
// on GET /api/users/count, and n users. With keep, a database already seeded
// with n users (a marker file says so) is reused.
func seed(ctx context.Context, path string, n int, keep bool) error {
	marker := path + ".seeded"
	if keep {
		if b, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(n) {
			return nil
		}
	}
	for _, suffix := range []string{"", "-wal", "-shm", ".seeded"} {
		_ = os.Remove(path + suffix)
	}
	t0 := time.Now()
	st, err := bench.Open(ctx, path)
	if err != nil {
		return err
	}
	defer st.Close()
	e, err := policy.New(st.DB, policy.Model)
	if err != nil {
		return err
	}
	if _, err := e.SeedIfEmpty(policy.Default()); err != nil {
		return err
	}
	if err := e.Add([]policy.Rule{
		{Type: "p", Values: []string{"public", "/api/users/count", "GET"}},
		{Type: "p", Values: []string{"public", pingPath, "GET"}},
	}); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(bench.Password), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	if err := bench.SeedUsers(ctx, st, 0, n, "authenticated", string(hash)); err != nil {
		return err
	}
	logf("seeded %d users in %s", n, time.Since(t0).Round(time.Millisecond))
	return os.WriteFile(marker, []byte(strconv.Itoa(n)), 0o644)
}

// seedPolicy creates (once) a database with the default roles and a policy
// of rows rows (bench.Policy: filler roles, then the essential rows).
func seedPolicy(ctx context.Context, path string, rows int) error {
	marker := path + ".seeded"
	if b, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(rows) {
		return nil
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(path + suffix)
	}
	st, err := bench.Open(ctx, path)
	if err != nil {
		return err
	}
	defer st.Close()
	e, err := policy.New(st.DB, policy.Model)
	if err != nil {
		return err
	}
	if err := e.Add(bench.Policy(rows)); err != nil {
		return err
	}
	return os.WriteFile(marker, []byte(strconv.Itoa(rows)), 0o644)
}

// buildScenarios prepares the requests: tokens and logins of callers users
// spread evenly over the table.
func buildScenarios(ctx context.Context, db string, users, callers int) ([]scenario, error) {
	st, err := bench.Open(ctx, db)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	callers = min(callers, users)
	tokens := handlers.Tokens{Secret: []byte(bench.Secret), TTL: 24 * time.Hour, Now: time.Now}
	me := scenario{name: "me", method: "GET", path: "/api/users/me", want: 200}
	denied := scenario{name: "denied", method: "GET", path: "/api/users", want: 403}
	login := scenario{name: "login", method: "POST", path: "/api/auth/local", want: 200}
	for k := range callers {
		i := 1 + k*(users/callers)
		var id uint
		if err := st.DB.WithContext(ctx).Raw("SELECT id FROM up_users WHERE username = ?", bench.Username(i)).Scan(&id).Error; err != nil || id == 0 {
			return nil, fmt.Errorf("user %s: %v", bench.Username(i), err)
		}
		tok, err := tokens.Issue(id)
		if err != nil {
			return nil, err
		}
		me.requests = append(me.requests, httpRequest("GET", me.path, tok, ""))
		denied.requests = append(denied.requests, httpRequest("GET", denied.path, tok, ""))
		body, _ := json.Marshal(map[string]string{"identifier": bench.Email(i), "password": bench.Password})
		login.requests = append(login.requests, httpRequest("POST", login.path, "", string(body)))
	}
	public := scenario{name: "public", method: "GET", path: "/api/users/count", want: 200,
		requests: [][]byte{httpRequest("GET", "/api/users/count", "", "")}}
	publicApp := scenario{name: "public-app", method: "GET", path: pingPath, want: 200, embedded: true,
		requests: [][]byte{httpRequest("GET", pingPath, "", "")}}
	return []scenario{public, publicApp, me, denied, login}, nil
}

// capture sends the scenario's first request to Gatehouse and keeps the
// answer, for the baseline to serve the same bytes.
func capture(addr string, sc scenario) (canned, error) {
	c, err := dial(addr)
	if err != nil {
		return canned{}, err
	}
	defer c.close()
	status, body, err := c.do(sc.requests[0], true, 30*time.Second)
	if err != nil {
		return canned{}, err
	}
	if status != sc.want {
		return canned{}, fmt.Errorf("%s %s: status %d, want %d: %s", sc.method, sc.path, status, sc.want, body)
	}
	return canned{Method: sc.method, Path: sc.path, Status: status, Body: body}, nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ") + " (1, 5, 15 min; other work on the machine skews the figures)"
}

// bcryptRate runs bcrypt cost-10 comparisons on workers goroutines for d and
// returns comparisons per second.
func bcryptRate(workers int, d time.Duration) float64 {
	t0 := time.Now()
	n := bcryptCount(workers, d)
	return float64(n) / time.Since(t0).Seconds()
}

// bcryptCount runs bcrypt cost-10 comparisons on workers goroutines for d and
// returns how many completed.
func bcryptCount(workers int, d time.Duration) int {
	hash, _ := bcrypt.GenerateFromPassword([]byte(bench.Password), bcrypt.DefaultCost)
	var n atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	deadline := t0.Add(d)
	for range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				_ = bcrypt.CompareHashAndPassword(hash, []byte(bench.Password))
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return int(n.Load())
}

func machine() []string {
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.TrimSpace(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"))
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return []string{
		fmt.Sprintf("CPU: %s, %d logical CPUs (nproc), GOMAXPROCS %d", cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0)),
		"Memory: " + mem,
		fmt.Sprintf("OS: %s/%s, kernel %s", runtime.GOOS, runtime.GOARCH, strings.TrimSpace(string(kernel))),
		"Go: " + runtime.Version(),
		"Load average at the start: " + loadavg(),
	}
}

// print writes the report in Markdown.
func (r *report) print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
	mb := func(kb int) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	p("### Load run of %s", r.started.UTC().Format("2006-01-02 15:04 MST"))
	p("")
	for _, m := range r.machine {
		p("- %s", m)
	}
	p("- Command: `go run ./bench/load %s`", strings.Join(os.Args[1:], " "))
	p("- Scenarios: public = anonymous GET /api/users/count (granted to public); public-app = anonymous GET %s, an app's own route registered with Server.Route behind Gatehouse (handlers.New in a subprocess); me = GET /api/users/me with a JWT (%d distinct users); denied = GET /api/users with an authenticated user's JWT (403); login = POST /api/auth/local (bcrypt cost 10, rate limiting off). Baseline: gin.New() answering the same bytes, no middleware.", pingPath, r.o.callers)
	p("- Each measurement: closed loop, %s of warm-up, then %d alternations of baseline and Gatehouse for %s in all (login: %s, alternated with bcrypt alone); the load generator shares the machine.", r.o.warmup, r.o.rounds, r.o.duration, 2*r.o.duration)
	p("")
	p("| scenario | conns | baseline req/s | Gatehouse req/s | ratio | Gatehouse p50 | p90 | p99 | baseline p50 | baseline p99 | server CPU/req: baseline → Gatehouse | errors |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	us := func(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1000) }
	for _, m := range r.runs {
		if m.hasBase {
			p("| %s | %d | %.0f | %.0f | %.2f | %s | %s | %s | %s | %s | %s → %s | %d |", m.scenario, m.conns, m.base.rps(), m.gh.rps(), m.gh.rps()/m.base.rps(),
				ms(m.gh.p50), ms(m.gh.p90), ms(m.gh.p99), ms(m.base.p50), ms(m.base.p99), us(m.base.cpuPerRequest()), us(m.gh.cpuPerRequest()), m.gh.errors+m.base.errors)
		} else {
			p("| %s | %d | bcrypt alone: %.1f | %.1f | %.2f | %s | %s | %s | | | %s (Gatehouse) | %d |", m.scenario, m.conns, m.bcrypt, m.gh.rps(), m.gh.rps()/m.bcrypt,
				ms(m.gh.p50), ms(m.gh.p90), ms(m.gh.p99), ms(m.gh.cpuPerRequest()), m.gh.errors)
		}
	}
	p("")
	p("bcrypt cost 10 alone, in this process: %.1f comparisons/s on 1 goroutine, %.1f/s on %d goroutines.", r.bcrypt1, r.bcryptN, runtime.NumCPU())
	p("")
	find := func(name string, conns int) (measured, bool) {
		for _, m := range r.runs {
			if m.scenario == name && m.conns == conns {
				return m, true
			}
		}
		return measured{}, false
	}
	minRatio := func(name string) (float64, int) {
		lo, at := 0.0, 0
		for _, m := range r.runs {
			if m.scenario == name && m.hasBase {
				if q := m.gh.rps() / m.base.rps(); at == 0 || q < lo {
					lo, at = q, m.conns
				}
			}
		}
		return lo, at
	}
	p("| target | measured | verdict |")
	p("|---|---|---|")
	if q, at := minRatio("me"); at > 0 {
		p("| /users/me ≥ 50%% of bare Gin | lowest ratio %.0f%% (at %d conns) | %s |", 100*q, at, verdict(q >= 0.5))
	}
	if m, ok := find("me", 8); ok {
		p("| /users/me p99 < 5 ms at 8 conns | %s | %s |", ms(m.gh.p99), verdict(m.gh.p99 < 5*time.Millisecond))
	}
	if q, at := minRatio("public-app"); at > 0 {
		p("| anonymous request on a Public route ≥ 80%% of bare Gin (public-app: an app's route behind Gatehouse) | lowest ratio %.0f%% (at %d conns) | %s |", 100*q, at, verdict(q >= 0.8))
	}
	if q, at := minRatio("public"); at > 0 {
		p("| the same on GET /api/users/count (public; the handler runs a SQL COUNT the baseline does not) | lowest ratio %.0f%% (at %d conns) | %s |", 100*q, at, verdict(q >= 0.8))
	}
	for _, m := range r.runs {
		if m.scenario == "login" && m.conns > 1 {
			q := m.gh.rps() / m.bcrypt
			p("| login ≥ 90%% of bcrypt alone on all cores, at %d conns | %.1f/s vs %.1f/s = %.0f%% | %s |", m.conns, m.gh.rps(), m.bcrypt, 100*q, verdict(q >= 0.9))
		}
	}
	peak := 0
	for _, m := range r.runs {
		peak = max(peak, m.rssPeakKB)
	}
	after := make([]string, len(r.after))
	var judged rss
	for i, m := range r.after {
		after[i] = fmt.Sprintf("%s at %s", mb(m.totalKB), afterWaits[i])
		if afterWaits[i] == afterJudged {
			judged = m
		}
	}
	p("| RSS idle < 50 MB, after start-up | %s (%s) | %s |", mb(r.idle.totalKB), r.idle.split(), verdict(r.idle.totalKB > 0 && r.idle.totalKB < 50<<10))
	if judged.totalKB > 0 {
		p("| RSS idle < 50 MB, %s after the last request of the runs | %s (%s); all samples: %s | %s |", afterJudged, mb(judged.totalKB),
			judged.split(), strings.Join(after, ", "), verdict(judged.totalKB < 50<<10))
	}
	p("| RSS < 150 MB under %d conns | peak %s | %s |", slices.Max(r.o.conns), mb(peak), verdict(peak > 0 && peak < 150<<10))
	if len(r.startups) > 0 {
		s := slices.Clone(r.startups)
		slices.Sort(s)
		parts := make([]string, len(r.startups))
		for i, d := range r.startups {
			parts[i] = ms(d)
		}
		p("| start-up < 300 ms (to the first 204 on /_health, existing database) | median %s (runs: %s) | %s |", ms(s[len(s)/2]), strings.Join(parts, ", "), verdict(s[len(s)/2] < 300*time.Millisecond))
	}
	if len(r.polLoad) > 0 {
		s := slices.Clone(r.polLoad)
		slices.Sort(s)
		p("| policy load of %d rows < 2 s | median %s (min %s) | %s |", r.polRows, ms(s[len(s)/2]), ms(s[0]), verdict(s[len(s)/2] < 2*time.Second))
		p("| a single change without a full reload | Add of one rule %s; first decision after it (cache miss: the role index, or a full scan for a model other than Gatehouse's) %s; then %s (hit) | — |", ms(r.polAdd), ms(r.polMiss), r.polHit)
		p("| start-up with the %d-row policy (for information) | %s | — |", r.polRows, ms(r.polUp))
	}
	for _, m := range r.million { // m.base: 1k users, m.gh: 1M, alternated
		k := measured{gh: m.base}
		within := func(a, b time.Duration) bool { return float64(a) <= 1.2*float64(b) }
		p("| 1M users: %s at %d conns within 20%% of 1k | p50 %s vs %s, p99 %s vs %s, %.0f vs %.0f req/s | %s |", m.scenario, m.conns,
			ms(m.gh.p50), ms(k.gh.p50), ms(m.gh.p99), ms(k.gh.p99), m.gh.rps(), k.gh.rps(), verdict(within(m.gh.p50, k.gh.p50) && m.gh.rps() >= k.gh.rps()/1.2))
	}
	if r.o.million && r.millUp > 0 {
		p("| 1M users: start-up, idle RSS (for information) | %s, %s | — |", ms(r.millUp), mb(r.millIdle))
	}
	for _, n := range r.notes {
		p("")
		p("%s", n)
	}
}
