package mailtest_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/gatehouse/gatehouse/mail/mailtest"
)

// send delivers raw with go-smtp's client, upgrading with STARTTLS when
// tlsCfg is set and authenticating when username is set.
func send(srv *mailtest.Server, tlsCfg *tls.Config, username string, from string, to []string, raw string) error {
	var (
		c   *smtp.Client
		err error
	)
	if tlsCfg != nil {
		c, err = smtp.DialStartTLS(srv.Addr(), tlsCfg)
	} else {
		c, err = smtp.Dial(srv.Addr())
	}
	if err != nil {
		return err
	}
	defer c.Close()
	if username != "" {
		if err := c.Auth(sasl.NewPlainClient("", username, "pw-not-recorded")); err != nil {
			return err
		}
	}
	if err := c.SendMail(from, to, strings.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}

const multipartRaw = "From: =?utf-8?q?Zo=C3=AB?= <zoe@example.com>\r\n" +
	"To: alice@example.com\r\n" +
	"Reply-To: <help@example.com>\r\n" +
	"Subject: =?utf-8?q?Caf=C3=A9_ready?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=outer\r\n" +
	"\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/alternative; boundary=inner\r\n" +
	"\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Caf=C3=A9 is =\r\nready\r\nline two\r\n" +
	"--inner\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+Q2Fmw6kg\r\naXMgcmVhZHk8L3A+\r\n" +
	"--inner--\r\n" +
	"--outer\r\n" +
	"Content-Type: application/octet-stream\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"AAEC\r\n" +
	"--outer--\r\n"

func TestServerParsesMIME(t *testing.T) {
	srv := mailtest.NewServer(t)
	if err := send(srv, nil, "", "bounce@example.com", []string{"alice@example.com", "bob@example.com"}, multipartRaw); err != nil {
		t.Fatalf("send() = %v", err)
	}
	got := srv.WaitFor(t, 1, 5*time.Second)[0]
	checks := []struct{ field, got, want string }{
		{"EnvelopeFrom", got.EnvelopeFrom, "bounce@example.com"},
		{"To", strings.Join(got.To, ","), "alice@example.com,bob@example.com"},
		{"From", got.From, "Zoë <zoe@example.com>"},
		{"ReplyTo", got.ReplyTo, "<help@example.com>"},
		{"Subject", got.Subject, "Café ready"},
		{"Text", got.Text, "Café is ready\nline two"}, // the CRLF before a boundary belongs to it
		{"HTML", got.HTML, "<p>Café is ready</p>"},
		{"Username", got.Username, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("received %s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if got.TLS {
		t.Errorf("received TLS = true, want false for a plain connection")
	}
	if string(got.Raw) != multipartRaw {
		t.Errorf("received Raw = %q, want %q", got.Raw, multipartRaw)
	}
}

func TestServerSinglePart(t *testing.T) {
	srv := mailtest.NewServer(t)
	raw := "From: a@example.com\r\nTo: b@example.com\r\nSubject: plain\r\n\r\nhello\r\n"
	if err := send(srv, nil, "", "a@example.com", []string{"b@example.com"}, raw); err != nil {
		t.Fatalf("send() = %v", err)
	}
	got := srv.WaitFor(t, 1, 5*time.Second)[0]
	if got.Text != "hello\n" || got.HTML != "" {
		t.Errorf("received Text, HTML = %q, %q, want %q, %q", got.Text, got.HTML, "hello\n", "")
	}
}

func TestServerSTARTTLSAndAuth(t *testing.T) {
	srv := mailtest.NewServer(t)
	raw := "From: a@example.com\r\nTo: b@example.com\r\nSubject: tls\r\n\r\nhi\r\n"
	if err := send(srv, srv.ClientTLSConfig(), "mailer", "a@example.com", []string{"b@example.com"}, raw); err != nil {
		t.Fatalf("send() over STARTTLS = %v", err)
	}
	got := srv.WaitFor(t, 1, 5*time.Second)[0]
	if !got.TLS || got.Username != "mailer" {
		t.Errorf("received TLS, Username = %v, %q, want true, %q", got.TLS, got.Username, "mailer")
	}
	if strings.Contains(fmt.Sprintf("%+v", got), "pw-not-recorded") {
		t.Errorf("received %+v, want the AUTH password not recorded", got)
	}
}

func TestServerImplicitTLS(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithImplicitTLS())
	c, err := smtp.DialTLS(srv.Addr(), srv.ClientTLSConfig())
	if err != nil {
		t.Fatalf("DialTLS() = %v", err)
	}
	defer c.Close()
	if err := c.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader("Subject: x\r\n\r\ny\r\n")); err != nil {
		t.Fatalf("SendMail() = %v", err)
	}
	if got := srv.WaitFor(t, 1, 5*time.Second)[0]; !got.TLS {
		t.Errorf("received TLS = false, want true")
	}
}

func TestServerWithoutSTARTTLS(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithoutSTARTTLS())
	c, err := smtp.Dial(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Errorf("Extension(STARTTLS) = true, want false")
	}
}

func TestServerFailures(t *testing.T) {
	raw := "Subject: x\r\n\r\ny\r\n"
	srv := mailtest.NewServer(t)

	srv.FailNext(&smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"})
	err := send(srv, nil, "", "a@example.com", []string{"b@example.com"}, raw)
	var smtpErr *smtp.SMTPError
	if !errors.As(err, &smtpErr) || smtpErr.Code != 452 {
		t.Errorf("send() after FailNext(452) = %v, want a 452 reply", err)
	}

	srv.FailNext(errors.New("no thanks"))
	err = send(srv, nil, "", "a@example.com", []string{"b@example.com"}, raw)
	if !errors.As(err, &smtpErr) || smtpErr.Code != 554 || !strings.Contains(smtpErr.Message, "no thanks") {
		t.Errorf("send() after FailNext(plain error) = %v, want a 554 reply with its text", err)
	}

	if err := send(srv, nil, "", "a@example.com", []string{"b@example.com"}, raw); err != nil {
		t.Errorf("send() after a one-shot failure = %v, want nil", err)
	}

	srv.SetDown(true)
	for i := range 2 {
		err := send(srv, nil, "", "a@example.com", []string{"b@example.com"}, raw)
		if !errors.As(err, &smtpErr) || smtpErr.Code != 421 {
			t.Errorf("send(#%d) while down = %v, want a 421 reply", i, err)
		}
	}
	srv.SetDown(false)
	if got := len(srv.Messages()); got != 1 {
		t.Errorf("len(Messages()) = %d, want 1 (rejected messages are not kept)", got)
	}

	srv.Close()
	srv.Close() // idempotent
	if c, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		c.Close()
		t.Errorf("dial after Close() succeeded, want connection refused")
	}
}

func TestServerWaitForBlocks(t *testing.T) {
	srv := mailtest.NewServer(t)
	const n = 5
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- send(srv, nil, "", "a@example.com", []string{fmt.Sprintf("u%d@example.com", i)}, "Subject: x\r\n\r\ny\r\n")
		})
	}
	got := srv.WaitFor(t, n, 10*time.Second)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("send() = %v", err)
		}
	}
	if len(got) != n {
		t.Errorf("WaitFor(%d) returned %d messages", n, len(got))
	}
}

// fatalRecorder is a testing.TB whose Fatalf records instead of stopping.
type fatalRecorder struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msg = fmt.Sprintf(format, args...)
}

func TestServerWaitForTimeout(t *testing.T) {
	srv := mailtest.NewServer(t)
	rec := &fatalRecorder{TB: t}
	start := time.Now()
	got := srv.WaitFor(rec, 1, 100*time.Millisecond)
	if elapsed := time.Since(start); elapsed < 100*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("WaitFor(timeout 100ms) returned after %s", elapsed)
	}
	if got != nil || !strings.Contains(rec.msg, "0 messages") {
		t.Errorf("WaitFor() = %v, Fatalf(%q); want nil and a failure naming 0 messages", got, rec.msg)
	}
}
