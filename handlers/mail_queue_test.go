package handlers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/mail/mailtest"
	"github.com/gatehouse/gatehouse/store"
)

// runMailWorker runs the server's RunMailQueue until the returned stop is
// called (or the test ends); stop returns once the worker has returned.
func runMailWorker(t *testing.T, s *Server) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.RunMailQueue(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// smtpTo is a sender to the address, with a short timeout.
func smtpTo(t *testing.T, host string, port int) *mail.SMTP {
	t.Helper()
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: host, Port: port, Security: mail.SecurityNone,
		From: "Gatehouse <" + testSender + ">", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return sender
}

// postJSON posts body to url and returns the status and how long the
// answer took.
func postJSON(t *testing.T, client *http.Client, url, body string) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode, took
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// TestMailAnswerTimingIsIndependentOfTheAccount is issue 11's point 2:
// forgot-password and send-email-confirmation answered 503 for an existing
// account and 200 for an unknown one while SMTP was down, and took about
// 45 ms for an existing account against 1 ms for an unknown one. Over a
// real HTTP server with the mail worker running, 200 requests for existing
// accounts and 200 for unknown addresses, interleaved in random order per
// pair, must all answer 200 with the same body, and their median times
// must differ by less than 2 ms, with SMTP up and with SMTP down.
func TestMailAnswerTimingIsIndependentOfTheAccount(t *testing.T) {
	if testing.Short() {
		t.Skip("timing measurement: skipped with -short")
	}
	const n = 200
	for _, smtpState := range []string{"up", "down"} {
		t.Run("SMTP "+smtpState, func(t *testing.T) {
			smtp := mailtest.NewServer(t)
			if smtpState == "down" {
				smtp.Close() // connections are refused
			}
			e := newTestEnv(t, func(c *Config) {
				c.Mailer = smtpTo(t, smtp.Host(), smtp.Port())
				c.MailQueue = MailQueue{RetryBase: 200 * time.Millisecond, RetryMax: time.Second}
			})
			e.asyncMail = true
			for i := range n {
				e.createUser(fmt.Sprintf("user%03d", i), fmt.Sprintf("user%03d@example.com", i), "authenticated",
					func(u *store.User) { u.Confirmed = false })
			}
			runMailWorker(t, e.server)
			srv := httptest.NewServer(e.server)
			t.Cleanup(srv.Close)
			client := srv.Client()

			for _, path := range []string{"/api/auth/forgot-password", "/api/auth/send-email-confirmation"} {
				// Warm up connections, caches and the statement cache.
				for i := range 10 {
					postJSON(t, client, srv.URL+path, fmt.Sprintf(`{"email":"warmup%d@example.org"}`, i))
				}
				// A leak shows in every round; noise from the other
				// processes of a busy machine does not: up to 3 rounds.
				var diffs []time.Duration
				for round := 1; round <= 3; round++ {
					me, mu := measureMailAnswers(t, client, srv.URL+path, n)
					diff := (me - mu).Abs()
					t.Logf("%s, SMTP %s, round %d: median existing %s, unknown %s, difference %s (%d requests each)",
						path, smtpState, round, me.Round(time.Microsecond), mu.Round(time.Microsecond), diff.Round(time.Microsecond), n)
					diffs = append(diffs, diff)
					if diff < 2*time.Millisecond {
						break
					}
				}
				switch {
				case raceEnabled:
					t.Logf("not asserted under -race: the detector slows each request 20-40 times, and its noise swamps 2ms")
				case slices.Min(diffs) >= 2*time.Millisecond:
					t.Errorf("%s, SMTP %s: medians differ by %v in every round, want less than 2ms", path, smtpState, diffs)
				}
			}
		})
	}
}

// measureMailAnswers posts n requests for existing accounts (userNNN) and
// n for unknown addresses to url, interleaved in pairs whose order is
// random, and returns the median answer time of each kind. Every answer
// must be 200.
func measureMailAnswers(t *testing.T, client *http.Client, url string, n int) (existing, unknown time.Duration) {
	t.Helper()
	var known, nobody []time.Duration
	for i := range n {
		bodies := []string{fmt.Sprintf(`{"email":"user%03d@example.com"}`, i), fmt.Sprintf(`{"email":"nobody%03d@example.com"}`, i)}
		first := rand.IntN(2)
		for k := range 2 {
			j := (first + k) % 2
			status, took := postJSON(t, client, url, bodies[j])
			if status != http.StatusOK {
				t.Fatalf("POST %s %s: status = %d, want 200", url, bodies[j], status)
			}
			if j == 0 {
				known = append(known, took)
			} else {
				nobody = append(nobody, took)
			}
		}
	}
	return median(known), median(nobody)
}

// TestMailAnswerIsTheSameForEveryAccount: with SMTP down, the answers for
// an existing account, an unknown address, a blocked and a confirmed
// account are byte for byte the same (they were 503 against 200).
func TestMailAnswerIsTheSameForEveryAccount(t *testing.T) {
	smtp := mailtest.NewServer(t)
	smtp.Close()
	e := newTestEnv(t, func(c *Config) { c.Mailer = smtpTo(t, smtp.Host(), smtp.Port()) })
	e.createUser("bob", "bob@example.com", "authenticated", func(u *store.User) { u.Blocked = true })
	e.createUser("carol", "carol@example.com", "authenticated", func(u *store.User) { u.Confirmed = false })
	for _, ep := range []struct{ path, answer string }{
		{"/api/auth/forgot-password", `{"ok":true}`},
		{"/api/auth/send-email-confirmation", `{"email":"%s","sent":true}`},
	} {
		for _, email := range []string{"alice@example.com", "carol@example.com", "nobody@example.com", "bob@example.com"} {
			rec := e.call("POST", ep.path, `{"email":"`+email+`"}`, "")
			want := ep.answer
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, email)
			}
			if rec.Code != http.StatusOK || rec.Body.String() != want {
				t.Errorf("POST %s %s with SMTP down: %d %s, want 200 %s", ep.path, email, rec.Code, rec.Body, want)
			}
		}
	}
}

// TestMailQueueOutageAndRestart: mail asked for during a real 30-second
// SMTP outage (the server stopped: connections refused) is retried with
// backoff, survives a restart (the instance that queued it stops; two new
// instances on the same database take over), and once the server is back
// every mail is delivered exactly once; addresses without an account get
// none.
func TestMailQueueOutageAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("30-second SMTP outage: skipped with -short")
	}
	const outage = 30 * time.Second
	const accounts = 20
	down := mailtest.NewServer(t)
	addr, host, port := down.Addr(), down.Host(), down.Port()
	down.Close()
	outageStart := time.Now()

	queueCfg := MailQueue{Poll: 200 * time.Millisecond, RetryBase: 300 * time.Millisecond, RetryMax: 3 * time.Second, MaxAttempts: 1000}
	withSMTP := func(c *Config) { c.Mailer = smtpTo(t, host, port); c.MailQueue = queueCfg }
	e := newTestEnv(t, withSMTP)
	e.asyncMail = true
	for i := range accounts {
		e.createUser(fmt.Sprintf("user%02d", i), fmt.Sprintf("user%02d@example.com", i), "authenticated")
	}
	stopFirst := runMailWorker(t, e.server)
	for i := range accounts {
		mustStatus(t, "forgot-password", e.call("POST", "/api/auth/forgot-password", fmt.Sprintf(`{"email":"user%02d@example.com"}`, i), ""), 200)
		mustStatus(t, "forgot-password (no account)", e.call("POST", "/api/auth/forgot-password", fmt.Sprintf(`{"email":"nobody%02d@example.com"}`, i), ""), 200)
	}

	// Every mail of an account is retried during the outage.
	waitFor(t, 20*time.Second, "every mail to have failed twice", func() bool {
		jobs, err := e.store.MailQueue().List(t.Context(), 1000)
		if err != nil || len(jobs) != accounts {
			return false
		}
		for _, j := range jobs {
			if j.Attempts < 2 || j.LastError == "" || j.Status != store.MailPending {
				return false
			}
		}
		return true
	})

	// Restart: the first instance stops; two new ones share the database.
	stopFirst()
	second, err := New(withConfig(e.cfg, withSMTP))
	if err != nil {
		t.Fatal(err)
	}
	third, err := New(withConfig(e.cfg, withSMTP))
	if err != nil {
		t.Fatal(err)
	}
	runMailWorker(t, second)
	runMailWorker(t, third)

	<-time.After(time.Until(outageStart.Add(outage)))
	up := mailtest.NewServer(t, mailtest.WithAddr(addr))
	t.Logf("SMTP down for %s", time.Since(outageStart).Round(time.Millisecond))
	up.WaitFor(t, accounts, 30*time.Second)
	waitFor(t, 30*time.Second, "the queue to empty", func() bool {
		d, err := e.store.MailQueue().Depth(t.Context())
		return err == nil && d == store.MailQueueDepth{}
	})
	got := map[string]int{}
	for _, m := range up.Messages() {
		got[strings.Join(m.To, ",")]++
	}
	for i := range accounts {
		if to := fmt.Sprintf("user%02d@example.com", i); got[to] != 1 {
			t.Errorf("%s received %d mails, want exactly 1", to, got[to])
		}
	}
	if len(up.Messages()) != accounts {
		t.Errorf("%d mails delivered, want %d (one per account, none to unknown addresses): %v", len(up.Messages()), accounts, got)
	}
}

// withConfig returns cfg changed by opts.
func withConfig(cfg Config, opts ...func(*Config)) Config {
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// waitFor polls cond every 20ms until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}
