package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/mail/mailtest"
)

const testPassword = "hunter2-VERY-SECRET"

func TestNewSMTPValidation(t *testing.T) {
	tests := []struct {
		name    string
		cfg     SMTPConfig
		wantErr string // substring; "" means valid
	}{
		{"minimal", SMTPConfig{Host: "smtp.example.com"}, ""},
		{"all set", SMTPConfig{Host: "smtp.example.com", Port: 2525, Username: "u", Password: testPassword, Security: "tls", From: "App <app@example.com>", ReplyTo: "help@example.com", Timeout: time.Second}, ""},
		{"security upper case", SMTPConfig{Host: "smtp.example.com", Security: "STARTTLS"}, ""},
		{"ipv6 host", SMTPConfig{Host: "::1", Security: "none"}, ""},
		{"missing host", SMTPConfig{Username: "u", Password: testPassword}, "host is required"},
		{"blank host", SMTPConfig{Host: "  "}, "host is required"},
		{"host with port", SMTPConfig{Host: "smtp.example.com:587"}, "must not include a port"},
		{"host with newline", SMTPConfig{Host: "smtp.example.com\r\n"}, ""}, // trimmed
		{"host with space", SMTPConfig{Host: "smtp example.com"}, "invalid host"},
		{"bad security", SMTPConfig{Host: "smtp.example.com", Security: "ssl", Username: "u", Password: testPassword}, `security "ssl"`},
		{"negative port", SMTPConfig{Host: "smtp.example.com", Port: -1}, "out of range"},
		{"port too large", SMTPConfig{Host: "smtp.example.com", Port: 70000}, "out of range"},
		{"negative timeout", SMTPConfig{Host: "smtp.example.com", Timeout: -time.Second}, "negative timeout"},
		{"password without username", SMTPConfig{Host: "smtp.example.com", Password: testPassword}, "password set without username"},
		{"bad from", SMTPConfig{Host: "smtp.example.com", From: "not an address", Password: testPassword, Username: "u"}, "from"},
		{"bad reply-to", SMTPConfig{Host: "smtp.example.com", ReplyTo: "a@b.c\r\nBcc: x@y.z"}, "reply-to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSMTP(tt.cfg)
			if tt.wantErr == "" {
				if err != nil || s == nil {
					t.Fatalf("NewSMTP(%v) = %v, %v, want a sender", tt.cfg, s, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewSMTP(%v) = nil error, want one containing %q", tt.cfg, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "mail: smtp: ") {
				t.Errorf("NewSMTP(%v) = %q, want %q prefixed by %q", tt.cfg, err, tt.wantErr, "mail: smtp: ")
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("NewSMTP(%v) = %q, want no password in the error", tt.cfg, err)
			}
		})
	}
}

func TestNewSMTPDefaults(t *testing.T) {
	tests := []struct {
		security string
		wantPort int
	}{
		{"", 587},
		{"none", 25},
		{"starttls", 587},
		{"tls", 465},
	}
	for _, tt := range tests {
		s, err := NewSMTP(SMTPConfig{Host: "smtp.example.com", Security: tt.security})
		if err != nil {
			t.Fatalf("NewSMTP(security %q) = %v", tt.security, err)
		}
		if s.cfg.Port != tt.wantPort {
			t.Errorf("NewSMTP(security %q): port = %d, want %d", tt.security, s.cfg.Port, tt.wantPort)
		}
		if s.cfg.Timeout != DefaultSMTPTimeout {
			t.Errorf("NewSMTP(security %q): timeout = %s, want %s", tt.security, s.cfg.Timeout, DefaultSMTPTimeout)
		}
	}
}

func TestSMTPConfigNeverPrintsPassword(t *testing.T) {
	cfg := SMTPConfig{Host: "smtp.example.com", Username: "u", Password: testPassword}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "smtp", cfg)
	for _, got := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), buf.String()} {
		if strings.Contains(got, testPassword) {
			t.Errorf("formatted config = %s, want no password", got)
		}
		if !strings.Contains(got, "smtp.example.com") {
			t.Errorf("formatted config = %s, want the host", got)
		}
	}
}

// newSender returns a sender for srv; mutate adjusts the configuration.
func newSender(t *testing.T, srv *mailtest.Server, security string, mutate func(*SMTPConfig)) *SMTP {
	t.Helper()
	cfg := SMTPConfig{
		Host:      srv.Host(),
		Port:      srv.Port(),
		Security:  security,
		From:      "Gatehouse <no-reply@gatehouse.test>",
		ReplyTo:   "support@gatehouse.test",
		Timeout:   5 * time.Second,
		TLSConfig: srv.ClientTLSConfig(),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := NewSMTP(cfg)
	if err != nil {
		t.Fatalf("NewSMTP(%v) = %v", cfg, err)
	}
	return s
}

func TestSMTPSend(t *testing.T) {
	msg := Message{
		To:      "alice@example.com",
		From:    `"Administration Panel" <no-reply@strapi.io>`,
		ReplyTo: "help@example.com",
		Subject: "Reset password \u2013 don\u2019t worry",
		Text:    "Hello alice,\nhttps://app.test/reset?code=t0ken",
		HTML:    "<p>Hello alice,</p><p>https://app.test/reset?code=t0ken</p>",
	}
	tests := []struct {
		name         string
		implicitTLS  bool
		security     string
		username     string
		wantTLS      bool
		wantUsername string
	}{
		{name: "none", security: "none"},
		{name: "starttls", security: "starttls", wantTLS: true},
		{name: "implicit tls", implicitTLS: true, security: "tls", wantTLS: true},
		{name: "auth over localhost", security: "none", username: "mailer", wantUsername: "mailer"},
		{name: "auth over starttls", security: "starttls", username: "mailer", wantTLS: true, wantUsername: "mailer"},
		{name: "auth over implicit tls", implicitTLS: true, security: "tls", username: "mailer", wantTLS: true, wantUsername: "mailer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mailtest.NewServer(t)
			if tt.implicitTLS {
				srv = mailtest.NewServer(t, mailtest.WithImplicitTLS())
			}
			s := newSender(t, srv, tt.security, func(c *SMTPConfig) {
				c.Username = tt.username
				if tt.username != "" {
					c.Password = testPassword
				}
			})
			if err := s.Send(context.Background(), msg); err != nil {
				t.Fatalf("Send() = %v, want nil", err)
			}
			got := srv.WaitFor(t, 1, 5*time.Second)[0]

			checks := []struct{ field, got, want string }{
				{"Subject", got.Subject, msg.Subject},
				{"From", got.From, msg.From},
				{"ReplyTo", got.ReplyTo, "<help@example.com>"},
				{"EnvelopeFrom", got.EnvelopeFrom, "no-reply@strapi.io"},
				{"To", strings.Join(got.To, ","), "alice@example.com"},
				{"Text", got.Text, msg.Text},
				{"HTML", got.HTML, msg.HTML},
				{"Username", got.Username, tt.wantUsername},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("received %s = %q, want %q", c.field, c.got, c.want)
				}
			}
			if ct := got.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative") {
				t.Errorf("received Content-Type = %q, want multipart/alternative", ct)
			}
			if got.TLS != tt.wantTLS {
				t.Errorf("received over TLS = %v, want %v", got.TLS, tt.wantTLS)
			}
			if bytes.Contains(got.Raw, []byte(testPassword)) {
				t.Errorf("received message contains the SMTP password")
			}
		})
	}
}

func TestSMTPSendDefaultsAndHeaders(t *testing.T) {
	srv := mailtest.NewServer(t)
	s := newSender(t, srv, "none", nil)
	m := Message{
		To:      "alice@example.com",
		Subject: "Hi\r\nBcc: victim@example.com",
		HTML:    "<p>Only <b>HTML</b></p>",
	}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send() = %v, want nil", err)
	}
	got := srv.WaitFor(t, 1, 5*time.Second)[0]
	if got.From != `"Gatehouse" <no-reply@gatehouse.test>` {
		t.Errorf("received From = %q, want the configured default", got.From)
	}
	if got.ReplyTo != "<support@gatehouse.test>" {
		t.Errorf("received Reply-To = %q, want the configured default", got.ReplyTo)
	}
	if bcc := got.Header.Get("Bcc"); bcc != "" || len(got.To) != 1 {
		t.Errorf("received Bcc header = %q, recipients %v; want no Bcc and one recipient", bcc, got.To)
	}
	if got.Subject != "Hi  Bcc: victim@example.com" {
		t.Errorf("received Subject = %q, want %q", got.Subject, "Hi  Bcc: victim@example.com")
	}
	if got.Text != "Only HTML" {
		t.Errorf("received Text = %q, want %q derived from the HTML", got.Text, "Only HTML")
	}
}

func TestSMTPSendMessageErrors(t *testing.T) {
	srv := mailtest.NewServer(t)
	noFrom := newSender(t, srv, "none", func(c *SMTPConfig) { c.From = "" })
	withFrom := newSender(t, srv, "none", nil)
	tests := []struct {
		name string
		s    *SMTP
		m    Message
	}{
		{"no sender", noFrom, Message{To: "a@x.test", Text: "x"}},
		{"no recipient", withFrom, Message{Text: "x"}},
		{"bad recipient", withFrom, Message{To: "a@x.test\r\nBcc: b@x.test", Text: "x"}},
		{"bad from", withFrom, Message{To: "a@x.test", From: "nope", Text: "x"}},
		{"bad reply-to", withFrom, Message{To: "a@x.test", ReplyTo: "nope", Text: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Send(context.Background(), tt.m)
			if err == nil || !strings.HasPrefix(err.Error(), "mail: send: ") {
				t.Errorf("Send(%+v) = %v, want a %q error", tt.m, err, "mail: send: ")
			}
		})
	}
	if got := len(srv.Messages()); got != 0 {
		t.Errorf("messages delivered = %d, want 0", got)
	}
}

// blackhole accepts TCP connections and never answers, like a server that
// hangs. Accepted connections are reported on the returned channel.
func blackhole(t *testing.T) (host string, port int, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 16)
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	addr := ln.Addr().(*net.TCPAddr)
	return addr.IP.String(), addr.Port, ch
}

func isTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)
}

func TestSMTPDown(t *testing.T) {
	const timeout = 500 * time.Millisecond
	msg := Message{To: "a@x.test", Subject: "s", Text: "t"}

	t.Run("connection refused", func(t *testing.T) {
		srv := mailtest.NewServer(t)
		s := newSender(t, srv, "none", func(c *SMTPConfig) {
			c.Timeout = timeout
			c.Username, c.Password = "u", testPassword
		})
		srv.Close()
		start := time.Now()
		err := s.Send(context.Background(), msg)
		elapsed := time.Since(start)
		if err == nil {
			t.Fatalf("Send() to a closed server = nil, want error")
		}
		if elapsed > timeout {
			t.Errorf("Send() to a closed server took %s, want at most %s", elapsed, timeout)
		}
		if strings.Contains(err.Error(), testPassword) {
			t.Errorf("Send() = %q, want no password in the error", err)
		}
		t.Logf("refused after %s: %v", elapsed, err)
	})

	t.Run("server hangs", func(t *testing.T) {
		host, port, _ := blackhole(t)
		s, err := NewSMTP(SMTPConfig{Host: host, Port: port, Security: "none", From: "a@x.test", Username: "u", Password: testPassword, Timeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = s.Send(context.Background(), msg)
		elapsed := time.Since(start)
		if !isTimeout(err) {
			t.Errorf("Send() to a hanging server = %v, want a deadline error", err)
		}
		if elapsed < timeout || elapsed > timeout+time.Second {
			t.Errorf("Send() to a hanging server took %s, want about the %s timeout", elapsed, timeout)
		}
		if err != nil && strings.Contains(err.Error(), testPassword) {
			t.Errorf("Send() = %q, want no password in the error", err)
		}
		t.Logf("timed out after %s: %v", elapsed, err)
	})

	t.Run("server rejects while down", func(t *testing.T) {
		srv := mailtest.NewServer(t)
		s := newSender(t, srv, "none", func(c *SMTPConfig) { c.Timeout = timeout })
		srv.SetDown(true)
		start := time.Now()
		err := s.Send(context.Background(), msg)
		if elapsed := time.Since(start); elapsed > timeout {
			t.Errorf("Send() to a down server took %s, want at most %s", elapsed, timeout)
		}
		if err == nil || !strings.Contains(err.Error(), "421") {
			t.Errorf("Send() to a down server = %v, want a 421 error", err)
		}
		srv.SetDown(false)
		if err := s.Send(context.Background(), msg); err != nil {
			t.Errorf("Send() after the server is back = %v, want nil", err)
		}
		if got := len(srv.Messages()); got != 1 {
			t.Errorf("messages received = %d, want 1", got)
		}
	})

	t.Run("server rejects once", func(t *testing.T) {
		srv := mailtest.NewServer(t)
		s := newSender(t, srv, "none", nil)
		srv.FailNext(errors.New("mailbox full"))
		if err := s.Send(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "mailbox full") {
			t.Errorf("Send() after FailNext = %v, want the rejection", err)
		}
		if err := s.Send(context.Background(), msg); err != nil {
			t.Errorf("second Send() = %v, want nil", err)
		}
	})

	t.Run("starttls required but not offered", func(t *testing.T) {
		srv := mailtest.NewServer(t, mailtest.WithoutSTARTTLS())
		s := newSender(t, srv, "starttls", func(c *SMTPConfig) {
			c.Timeout = timeout
			c.Username, c.Password = "u", testPassword
		})
		err := s.Send(context.Background(), msg)
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Errorf("Send() with starttls to a server without it = %v, want a STARTTLS error", err)
		}
		if got := len(srv.Messages()); got != 0 {
			t.Errorf("messages received in clear text = %d, want 0", got)
		}
	})

	t.Run("plain client to an implicit-TLS server", func(t *testing.T) {
		srv := mailtest.NewServer(t, mailtest.WithImplicitTLS()) // the client never gets a greeting
		s := newSender(t, srv, "starttls", func(c *SMTPConfig) { c.Timeout = timeout })
		start := time.Now()
		if err := s.Send(context.Background(), msg); !isTimeout(err) {
			t.Errorf("Send() = %v, want a deadline error", err)
		}
		if elapsed := time.Since(start); elapsed > timeout+time.Second {
			t.Errorf("Send() took %s, want about the %s timeout", elapsed, timeout)
		}
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		srv := mailtest.NewServer(t)
		s := newSender(t, srv, "starttls", func(c *SMTPConfig) { c.TLSConfig = nil })
		if err := s.Send(context.Background(), msg); err == nil {
			t.Errorf("Send() over STARTTLS with an untrusted certificate = nil, want error")
		}
		if got := len(srv.Messages()); got != 0 {
			t.Errorf("messages received = %d, want 0", got)
		}
	})
}

func TestSMTPContext(t *testing.T) {
	msg := Message{To: "a@x.test", Subject: "s", Text: "t"}

	t.Run("cancelled while the server hangs", func(t *testing.T) {
		host, port, accepted := blackhole(t)
		s, err := NewSMTP(SMTPConfig{Host: host, Port: port, Security: "none", From: "a@x.test", Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			<-accepted
			cancel()
		}()
		start := time.Now()
		err = s.Send(ctx, msg)
		elapsed := time.Since(start)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Send(ctx cancelled mid-conversation) = %v, want context.Canceled", err)
		}
		if elapsed > 2*time.Second {
			t.Errorf("Send(ctx cancelled mid-conversation) took %s, want it to return promptly", elapsed)
		}
	})

	t.Run("deadline shorter than timeout", func(t *testing.T) {
		host, port, _ := blackhole(t)
		s, err := NewSMTP(SMTPConfig{Host: host, Port: port, Security: "none", From: "a@x.test", Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err = s.Send(ctx, msg)
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("Send(ctx with 200ms deadline) took %s", elapsed)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Send(ctx with 200ms deadline) = %v, want context.DeadlineExceeded", err)
		}
	})

	t.Run("already cancelled", func(t *testing.T) {
		srv := mailtest.NewServer(t)
		s := newSender(t, srv, "none", nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Send(ctx, msg); !errors.Is(err, context.Canceled) {
			t.Errorf("Send(cancelled ctx) = %v, want context.Canceled", err)
		}
		if got := len(srv.Messages()); got != 0 {
			t.Errorf("messages received = %d, want 0", got)
		}
	})
}

func TestSMTPConcurrentSends(t *testing.T) {
	srv := mailtest.NewServer(t)
	s := newSender(t, srv, "starttls", func(c *SMTPConfig) { c.Username, c.Password = "u", testPassword })
	const n = 10
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- s.Send(context.Background(), Message{To: fmt.Sprintf("u%d@x.test", i), Subject: "s", Text: "t", HTML: "<p>t</p>"})
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Send() = %v, want nil", err)
		}
	}
	if got := len(srv.WaitFor(t, n, 5*time.Second)); got != n {
		t.Errorf("messages received = %d, want %d", got, n)
	}
}

func TestSMTPComposeEndToEnd(t *testing.T) {
	srv := mailtest.NewServer(t)
	s := newSender(t, srv, "none", nil)
	v := testVars()
	v.User["username"] = hostileUsername
	tmpl := DefaultTemplates()[KeyEmailConfirmation]
	tmpl.Options.Object = "Welcome <%= USER.username %>"
	tmpl.Options.Message += "<p>Hi <%= USER.username %></p>"
	if err := s.Send(context.Background(), Compose(tmpl, "alice@example.com", v)); err != nil {
		t.Fatalf("Send(Compose()) = %v", err)
	}
	got := srv.WaitFor(t, 1, 5*time.Second)[0]
	if strings.Contains(got.HTML, hostileUsername) {
		t.Errorf("received HTML = %q, want the username escaped", got.HTML)
	}
	if !strings.Contains(got.Text, "Hi "+hostileUsername) {
		t.Errorf("received Text = %q, want the raw username", got.Text)
	}
	if !strings.Contains(got.Text, "https://app.example.com/reset?confirmation=c0de") {
		t.Errorf("received Text = %q, want the confirmation link", got.Text)
	}
	if got.From != `"Gatehouse" <no-reply@gatehouse.test>` {
		t.Errorf("received From = %q, want the sender's default (the default template has none)", got.From)
	}
	if got.Subject != "Welcome "+hostileUsername {
		t.Errorf("received Subject = %q, want %q", got.Subject, "Welcome "+hostileUsername)
	}
}
