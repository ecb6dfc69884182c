// Package mailtest runs an in-process SMTP server that records what it
// receives, for end-to-end tests of code that sends email.
//
//	srv := mailtest.NewServer(t)
//	sender, _ := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host(), Port: srv.Port(), Security: "none", From: "app@example.com"})
//	... code under test sends ...
//	got := srv.WaitFor(t, 1, 5*time.Second)
//
// The server accepts any sender, recipient and AUTH PLAIN credentials (it
// never records passwords), offers STARTTLS with a throw-away certificate
// (trust it with ClientTLSConfig; see also WithImplicitTLS and
// WithoutSTARTTLS), and can be told to reject messages (FailNext, SetDown)
// or stop listening (Close) to test failures.
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Received is one message accepted by the Server. Text and HTML are the
// decoded bodies of the first text/plain and text/html parts, with CRLF
// line endings turned into LF; headers are decoded from RFC 2047 words.
type Received struct {
	EnvelopeFrom string   // MAIL FROM
	To           []string // RCPT TO, in order
	Username     string   // AUTH PLAIN username, "" without AUTH
	TLS          bool     // the message came over TLS (implicit or STARTTLS)
	From         string   // From header
	ReplyTo      string   // Reply-To header
	Subject      string   // Subject header
	Text         string
	HTML         string
	Header       mail.Header // all top-level headers, undecoded
	Raw          []byte      // the message as received
}

// Server is an in-process SMTP server listening on 127.0.0.1. Its methods
// are safe for concurrent use.
type Server struct {
	smtp      *smtp.Server
	listener  net.Listener
	addr      *net.TCPAddr
	clientTLS *tls.Config
	served    chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	messages []Received
	arrived  chan struct{} // closed and replaced whenever a message arrives
	failNext error
	down     bool
}

// Option changes how NewServer listens.
type Option func(*options)

type options struct {
	implicitTLS bool
	noSTARTTLS  bool
	addr        string
}

// WithAddr makes the server listen on addr (host:port) instead of a free
// port of 127.0.0.1: for example the address of a server that was closed,
// to bring a mail server back after an outage.
func WithAddr(addr string) Option { return func(o *options) { o.addr = addr } }

// WithImplicitTLS makes the server speak TLS from the first byte, like
// port 465 ("tls" security).
func WithImplicitTLS() Option { return func(o *options) { o.implicitTLS = true } }

// WithoutSTARTTLS makes the server not offer STARTTLS, to test clients that
// require it.
func WithoutSTARTTLS() Option { return func(o *options) { o.noSTARTTLS = true } }

// NewServer starts an SMTP server on 127.0.0.1 and a free port. By default it
// speaks plain SMTP and offers STARTTLS. It is closed by t.Cleanup.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	serverTLS, clientTLS, err := selfSigned()
	if err != nil {
		t.Fatalf("mailtest: certificate: %v", err)
	}
	s := &Server{
		clientTLS: clientTLS,
		served:    make(chan struct{}),
		arrived:   make(chan struct{}),
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{server: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	if !o.noSTARTTLS || o.implicitTLS {
		srv.TLSConfig = serverTLS
	}
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 100
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.smtp = srv

	addr := "127.0.0.1:0"
	if o.addr != "" {
		addr = o.addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s.addr = ln.Addr().(*net.TCPAddr)
	if o.implicitTLS {
		ln = tls.NewListener(ln, serverTLS)
	}
	s.listener = ln
	go func() {
		defer close(s.served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(s.Close)
	return s
}

// Host returns the address the server listens on, "127.0.0.1".
func (s *Server) Host() string { return s.addr.IP.String() }

// Port returns the port the server listens on.
func (s *Server) Port() int { return s.addr.Port }

// Addr returns "host:port".
func (s *Server) Addr() string { return s.addr.String() }

// ClientTLSConfig returns a TLS configuration that trusts the server's
// certificate (valid for 127.0.0.1, ::1 and localhost), for STARTTLS or
// WithImplicitTLS.
func (s *Server) ClientTLSConfig() *tls.Config { return s.clientTLS.Clone() }

// Messages returns a copy of the messages received so far, oldest first.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.messages...)
}

// WaitFor blocks until at least n messages have arrived and returns them
// all, oldest first. After timeout it fails the test with t.Fatalf, so call
// it from the test goroutine.
func (s *Server) WaitFor(t testing.TB, n int, timeout time.Duration) []Received {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if len(s.messages) >= n {
			out := append([]Received(nil), s.messages...)
			s.mu.Unlock()
			return out
		}
		got, arrived := len(s.messages), s.arrived
		s.mu.Unlock()
		select {
		case <-arrived:
		case <-timer.C:
			t.Fatalf("mailtest: %d messages after %s, want %d", got, timeout, n)
			return nil
		}
	}
}

// FailNext makes the server reject the next message at the end of DATA with
// err, which may be an *smtp.SMTPError; any other error becomes a permanent
// 554 reply with its text. FailNext(nil) cancels it.
func (s *Server) FailNext(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = err
}

// SetDown makes the server reject every message at the end of DATA with a
// transient 421 reply while down is true.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Close stops listening and drops open connections, so later connections are
// refused. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		_ = s.smtp.Close()
		_ = s.listener.Close() // in case Serve has not registered it yet
		<-s.served
	})
}

// deliver records one message or returns the rejection set up by FailNext
// or SetDown.
func (s *Server) deliver(r Received) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "mailtest: service not available"}
	}
	if err := s.failNext; err != nil {
		s.failNext = nil
		var smtpErr *smtp.SMTPError
		if errors.As(err, &smtpErr) {
			return smtpErr
		}
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 0, 0}, Message: err.Error()}
	}
	s.messages = append(s.messages, r)
	close(s.arrived)
	s.arrived = make(chan struct{})
	return nil
}

// session is one SMTP connection; go-smtp calls it from one goroutine.
type session struct {
	server   *Server
	conn     *smtp.Conn
	username string
	from     string
	to       []string
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, _ string) error {
		ss.username = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	ss.to = nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	rec, err := parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "mailtest: cannot parse message: " + err.Error()}
	}
	rec.EnvelopeFrom = ss.from
	rec.To = append([]string(nil), ss.to...)
	rec.Username = ss.username
	_, rec.TLS = ss.conn.TLSConnectionState()
	return ss.server.deliver(rec)
}

func (ss *session) Reset() {
	ss.from = ""
	ss.to = nil
}

func (ss *session) Logout() error { return nil }

// parse decodes the headers and bodies of a raw message.
func parse(raw []byte) (Received, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Received{}, err
	}
	dec := new(mime.WordDecoder)
	header := func(name string) string {
		v := msg.Header.Get(name)
		if d, err := dec.DecodeHeader(v); err == nil {
			return d
		}
		return v
	}
	rec := Received{
		From:    header("From"),
		ReplyTo: header("Reply-To"),
		Subject: header("Subject"),
		Header:  msg.Header,
		Raw:     raw,
	}
	if err := walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &rec, 0); err != nil {
		return Received{}, err
	}
	return rec, nil
}

// walk decodes one MIME entity, descending into multipart bodies.
func walk(contentType, encoding string, body io.Reader, rec *Received, depth int) error {
	if depth > 10 {
		return errors.New("multipart nesting too deep")
	}
	mediaType, params := "text/plain", map[string]string{}
	if contentType != "" {
		var err error
		if mediaType, params, err = mime.ParseMediaType(contentType); err != nil {
			return fmt.Errorf("content-type %q: %w", contentType, err)
		}
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", mediaType, err)
			}
			if err := walk(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part, rec, depth+1); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("%s body: %w", mediaType, err)
	}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	switch {
	case mediaType == "text/plain" && rec.Text == "":
		rec.Text = text
	case mediaType == "text/html" && rec.HTML == "":
		rec.HTML = text
	}
	return nil
}

// selfSigned returns a server TLS configuration with a fresh self-signed
// certificate and a client configuration that trusts it.
func selfSigned() (server, client *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "mailtest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}},
		MinVersion:   tls.VersionTLS12,
	}
	client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	return server, client, nil
}
