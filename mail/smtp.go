package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Security values of SMTPConfig.Security.
const (
	// SecurityNone sends in clear text and never upgrades the connection.
	SecurityNone = "none"
	// SecuritySTARTTLS requires the server to upgrade with STARTTLS.
	SecuritySTARTTLS = "starttls"
	// SecurityTLS connects with implicit TLS (SMTPS, usually port 465).
	SecurityTLS = "tls"
)

// DefaultSMTPTimeout bounds a whole Send when SMTPConfig.Timeout is zero.
const DefaultSMTPTimeout = 10 * time.Second

// SMTPConfig configures an SMTP sender.
type SMTPConfig struct {
	// Host is the server name or IP address, without port. Required.
	Host string
	// Port is the server port; zero means 25 for "none", 587 for "starttls"
	// and 465 for "tls".
	Port int
	// Username and Password enable SMTP AUTH when Username is set
	// (SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN or LOGIN, whichever the
	// server offers first in that order). PLAIN and LOGIN are refused over
	// an unencrypted connection except to localhost.
	Username string
	Password string
	// Security is "none", "starttls" or "tls"; empty means "starttls".
	Security string
	// From is the sender used when a Message has none. ReplyTo likewise.
	From    string
	ReplyTo string
	// Timeout bounds one whole Send: connect, TLS, AUTH and delivery. Zero
	// means DefaultSMTPTimeout.
	Timeout time.Duration
	// TLSConfig, if set, is used for STARTTLS and implicit TLS, e.g. to
	// trust a private CA. Its ServerName defaults to Host and its
	// MinVersion to TLS 1.2.
	TLSConfig *tls.Config
}

// String formats the configuration without the password.
func (c SMTPConfig) String() string {
	return fmt.Sprintf("SMTPConfig{Host:%q Port:%d Username:%q Password:%s Security:%q From:%q ReplyTo:%q Timeout:%s}",
		c.Host, c.Port, c.Username, redacted(c.Password), c.Security, c.From, c.ReplyTo, c.Timeout)
}

// GoString formats the configuration for %#v without the password.
func (c SMTPConfig) GoString() string { return c.String() }

// LogValue implements slog.LogValuer without the password.
func (c SMTPConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("host", c.Host),
		slog.Int("port", c.Port),
		slog.String("username", c.Username),
		slog.String("password", redacted(c.Password)),
		slog.String("security", c.Security),
		slog.String("from", c.From),
		slog.String("reply_to", c.ReplyTo),
		slog.Duration("timeout", c.Timeout),
	)
}

func redacted(secret string) string {
	if secret == "" {
		return `""`
	}
	return "[REDACTED]"
}

// SMTP sends messages through an SMTP server. It opens one connection per
// Send and is safe for concurrent use.
type SMTP struct {
	cfg SMTPConfig
	tls *tls.Config
}

// NewSMTP validates cfg and returns a sender. It does not connect.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	cfg.Host = strings.TrimSpace(cfg.Host)
	cfg.Security = strings.ToLower(strings.TrimSpace(cfg.Security))
	if cfg.Security == "" {
		cfg.Security = SecuritySTARTTLS
	}
	switch {
	case cfg.Host == "":
		return nil, errors.New("mail: smtp: host is required")
	case strings.ContainsAny(cfg.Host, " /\r\n"):
		return nil, fmt.Errorf("mail: smtp: invalid host %q", cfg.Host)
	}
	if _, _, err := net.SplitHostPort(cfg.Host); err == nil {
		return nil, fmt.Errorf("mail: smtp: host %q must not include a port; set Port", cfg.Host)
	}
	switch cfg.Security {
	case SecurityNone, SecuritySTARTTLS, SecurityTLS:
	default:
		return nil, fmt.Errorf("mail: smtp: security %q: want %q, %q or %q", cfg.Security, SecurityNone, SecuritySTARTTLS, SecurityTLS)
	}
	switch {
	case cfg.Port < 0 || cfg.Port > 65535:
		return nil, fmt.Errorf("mail: smtp: port %d out of range", cfg.Port)
	case cfg.Port == 0 && cfg.Security == SecurityNone:
		cfg.Port = gomail.DefaultPort
	case cfg.Port == 0 && cfg.Security == SecuritySTARTTLS:
		cfg.Port = gomail.DefaultPortTLS
	case cfg.Port == 0 && cfg.Security == SecurityTLS:
		cfg.Port = gomail.DefaultPortSSL
	}
	switch {
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("mail: smtp: negative timeout %s", cfg.Timeout)
	case cfg.Timeout == 0:
		cfg.Timeout = DefaultSMTPTimeout
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, errors.New("mail: smtp: password set without username")
	}
	if cfg.From != "" {
		if _, err := mail.ParseAddress(cfg.From); err != nil {
			return nil, fmt.Errorf("mail: smtp: from %q: %w", cfg.From, err)
		}
	}
	if cfg.ReplyTo != "" {
		if _, err := mail.ParseAddress(cfg.ReplyTo); err != nil {
			return nil, fmt.Errorf("mail: smtp: reply-to %q: %w", cfg.ReplyTo, err)
		}
	}
	tlsCfg := &tls.Config{}
	if cfg.TLSConfig != nil {
		tlsCfg = cfg.TLSConfig.Clone()
	}
	if tlsCfg.ServerName == "" {
		tlsCfg.ServerName = cfg.Host
	}
	if tlsCfg.MinVersion == 0 {
		tlsCfg.MinVersion = tls.VersionTLS12
	}
	return &SMTP{cfg: cfg, tls: tlsCfg}, nil
}

// Send delivers m. Empty From and ReplyTo take the configured defaults; a
// message needs a recipient and a sender. With both Text and HTML the body
// is multipart/alternative; with HTML only, the text part is derived from
// the HTML. Control characters in the subject are replaced by spaces.
//
// Send returns when ctx is done or the configured Timeout has passed,
// whichever comes first. Errors are prefixed "mail: send:", wrap the cause
// (context.Canceled or context.DeadlineExceeded included) and never contain
// the password.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg, err := s.build(m)
	if err != nil {
		return fmt.Errorf("mail: send: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()

	// go-mail applies the context to dialing only; closing the connection
	// when ctx is done makes every later step return too.
	var (
		mu    sync.Mutex
		stops []func() bool
	)
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, stop := range stops {
			stop()
		}
	}()
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		if s.cfg.Security == SecurityTLS {
			tc := tls.Client(conn, s.tls)
			if err := tc.HandshakeContext(dctx); err != nil {
				_ = conn.Close()
				return nil, err
			}
			conn = tc // a *tls.Conn, so go-mail knows the link is encrypted
		}
		mu.Lock()
		stops = append(stops, context.AfterFunc(ctx, func() { _ = conn.Close() }))
		mu.Unlock()
		return conn, nil
	}

	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port),
		gomail.WithTimeout(s.cfg.Timeout),
		gomail.WithTLSConfig(s.tls),
		gomail.WithDialContextFunc(dial),
		gomail.WithoutNoop(),
	}
	switch s.cfg.Security {
	case SecurityNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case SecuritySTARTTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case SecurityTLS:
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.cfg.Username != "" {
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(
				gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthCramMD5,
				gomail.SMTPAuthPlain, gomail.SMTPAuthLogin,
			),
			gomail.WithUsername(s.cfg.Username),
			gomail.WithPassword(s.cfg.Password),
		)
	}
	client, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("mail: send: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("mail: send: %w: %w", ctxErr, err)
		}
		return fmt.Errorf("mail: send: %w", err)
	}
	return nil
}

// build turns m into a go-mail message.
func (s *SMTP) build(m Message) (*gomail.Msg, error) {
	from := strings.TrimSpace(m.From)
	if from == "" {
		from = s.cfg.From
	}
	replyTo := strings.TrimSpace(m.ReplyTo)
	if replyTo == "" {
		replyTo = s.cfg.ReplyTo
	}
	if from == "" {
		return nil, errors.New("message has no sender and no default From is configured")
	}
	if strings.TrimSpace(m.To) == "" {
		return nil, errors.New("message has no recipient")
	}

	msg := gomail.NewMsg()
	if err := msg.From(from); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	to, err := mail.ParseAddressList(m.To)
	if err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	msg.ToMailAddress(to...)
	if replyTo != "" {
		if err := msg.ReplyTo(replyTo); err != nil {
			return nil, fmt.Errorf("reply-to: %w", err)
		}
	}
	msg.Subject(strings.TrimSpace(headerSafe(m.Subject)))

	text := m.Text
	if text == "" && m.HTML != "" {
		text = htmlToText(m.HTML)
	}
	msg.SetBodyString(gomail.TypeTextPlain, text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}
