package gateway

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The identity headers: set by Gatehouse on what it passes on (the proxied
// request in gateway mode, the forward-auth answer), and stripped from
// every client request in gateway mode, so an upstream can trust them.
const (
	HeaderUserID   = "X-Gatehouse-User-Id"
	HeaderRole     = "X-Gatehouse-Role"
	HeaderFunction = "X-Gatehouse-Function"
	// HeaderToken carries, when GATEWAY_TOKEN_SECRET is set, a short-lived
	// JWT of the decision for the upstream to verify.
	HeaderToken = "X-Gatehouse-Token"
	// identityPrefix is what every stripped header starts with.
	identityPrefix = "X-Gatehouse-"
)

// Identity is who a request was decided for.
type Identity struct {
	// UserID is empty for an anonymous caller or a public function.
	UserID string
	// Role is the role type the request was authorized as ("" for a
	// public function, which is not decided).
	Role string
	// Token is the signed decision for the upstream ("" when off).
	Token string
}

// Set writes the identity headers, the function's name and the token to h,
// replacing any of the same name. All four are always present, empty when there is
// no such thing (no user id for an anonymous caller): a proxy that copies
// them then replaces a client's own copy even so (Caddy 2.6's copy_headers
// leaves a client's header, or an unresolved placeholder, when the answer
// lacks it).
func (id Identity) Set(h http.Header, fn *Function) {
	h[HeaderUserID] = []string{id.UserID}
	h[HeaderRole] = []string{id.Role}
	h[HeaderFunction] = []string{fn.Name}
	h[HeaderToken] = []string{id.Token}
}

// StripIdentity removes every X-Gatehouse-* header a client sent.
func StripIdentity(h http.Header) {
	for k := range h {
		if len(k) >= len(identityPrefix) && strings.EqualFold(k[:len(identityPrefix)], identityPrefix) {
			delete(h, k)
		}
	}
}

// ProxyConfig configures Proxy.
type ProxyConfig struct {
	// ResponseTimeout bounds the wait for an upstream's response headers
	// (504 past it); 30s when zero. Bodies stream without a deadline.
	ResponseTimeout time.Duration
	// DialTimeout bounds connecting to an upstream (502 past it); 5s when zero.
	DialTimeout time.Duration
	// Transport replaces the default transport (tests).
	Transport http.RoundTripper
	// OnError answers a request the upstream failed: status is 502 (down,
	// refused, broken) or 504 (too slow). It must write the answer.
	OnError func(w http.ResponseWriter, r *http.Request, status int, err error)
	// ErrorLog receives httputil.ReverseProxy's own messages.
	ErrorLog *log.Logger
}

// Proxy passes requests to their function's upstream
// (httputil.ReverseProxy): bodies stream both ways (streamed answers are
// flushed as they come),
// WebSocket and other upgrades are tunnelled, X-Forwarded-For/Host/Proto
// are set, client X-Gatehouse-* headers are replaced by Gatehouse's.
type Proxy struct {
	rp *httputil.ReverseProxy
}

// Forward is one decided request as Serve passes it on.
type Forward struct {
	// Function is the function the request calls.
	Function *Function
	// Canonical is the request's canonical escaped path (Canonical).
	Canonical string
	// Identity is who it was decided for.
	Identity Identity
	// TrustedPeer says the request comes from a trusted proxy, whose
	// X-Forwarded-For chain is kept (and appended to).
	TrustedPeer bool
	// DropAuthorization removes the Authorization header: it carried a
	// Gatehouse token, which the upstream could otherwise replay against
	// Gatehouse (Function.PassAuthorization opts out).
	DropAuthorization bool
	// DropCookies names the cookies removed from the request: Gatehouse's
	// own (the refresh cookie, the OAuth cookies), which are no business of
	// the upstream's.
	DropCookies []string
	// BodyTimeout bounds how long the client may take to send the request
	// body (0: no bound): past it the upstream request is cancelled and the
	// answer is 408 (ProxyConfig.OnError). Bodiless requests (WebSocket
	// upgrades included) and answers are not bound.
	BodyTimeout time.Duration
}

// ErrBodyTimeout is why a request whose client took longer than
// Forward.BodyTimeout to send its body was cut.
var ErrBodyTimeout = errors.New("gateway: the client took too long to send the request body")

// timedBody stops its timer when the body has been read whole.
type timedBody struct {
	io.ReadCloser
	timer *time.Timer
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.timer.Stop()
	}
	return n, err
}

// Close stops the timer too: the transport closes a body it will not read
// further (the upstream answered first), and the answer is not bound.
func (b *timedBody) Close() error {
	b.timer.Stop()
	return b.ReadCloser.Close()
}

type targetKey struct{}

// NewProxy builds a Proxy.
func NewProxy(cfg ProxyConfig) *Proxy {
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = 30 * time.Second
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	transport := cfg.Transport
	if transport == nil {
		transport = &http.Transport{
			Proxy:                 nil, // never an HTTP_PROXY between Gatehouse and the app
			DialContext:           (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			ResponseHeaderTimeout: cfg.ResponseTimeout,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   128,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   cfg.DialTimeout,
			ExpectContinueTimeout: time.Second,
		}
	}
	onError := cfg.OnError
	if onError == nil {
		onError = func(w http.ResponseWriter, _ *http.Request, status int, _ error) { w.WriteHeader(status) }
	}
	rp := &httputil.ReverseProxy{
		Rewrite:   rewrite,
		Transport: transport,
		// 0: ReverseProxy flushes each write at once (as -1 would) for
		// streamed answers, those without a Content-Length and
		// text/event-stream; an answer of known length is written as its
		// buffer fills, which saves a write system call per answer.
		FlushInterval: 0,
		ErrorLog:      cfg.ErrorLog,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(context.Cause(r.Context()), ErrBodyTimeout) {
				onError(w, r, http.StatusRequestTimeout, ErrBodyTimeout)
				return
			}
			if r.Context().Err() != nil {
				// The client went away: nobody to answer.
				return
			}
			onError(w, r, UpstreamStatus(err), err)
		},
	}
	return &Proxy{rp: rp}
}

// UpstreamStatus is the status of a failed upstream call: 413 when the
// client's body passed its limit (http.MaxBytesReader), 504 when it timed
// out, 502 otherwise.
func UpstreamStatus(err error) int {
	var ne net.Error
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return http.StatusRequestEntityTooLarge
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// Serve passes r to its function's upstream (f says how). The connection's read and write deadlines are
// lifted, so long downloads, uploads and WebSockets are not cut by the
// server's timeouts; ProxyConfig.ResponseTimeout still bounds the wait for
// the upstream's answer.
func (p *Proxy) Serve(w http.ResponseWriter, r *http.Request, f *Forward) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	ctx := context.WithValue(r.Context(), targetKey{}, f)
	if f.BodyTimeout > 0 && r.Body != nil && r.Body != http.NoBody {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		timer := time.AfterFunc(f.BodyTimeout, func() {
			cancel(ErrBodyTimeout)
			// Unblock a read of the client's body that is waiting.
			_ = rc.SetReadDeadline(time.Now())
		})
		defer timer.Stop()
		r.Body = &timedBody{ReadCloser: r.Body, timer: timer}
	}
	p.rp.ServeHTTP(w, r.WithContext(ctx))
}

// rewrite builds the upstream request.
func rewrite(pr *httputil.ProxyRequest) {
	t := pr.In.Context().Value(targetKey{}).(*Forward)
	escaped := t.Function.UpstreamPath(t.Canonical)
	out := pr.Out.URL
	out.Scheme, out.Host = t.Function.Upstream.Scheme, t.Function.Upstream.Host
	out.Path, _ = url.PathUnescape(escaped)
	out.RawPath = escaped
	out.RawQuery = pr.In.URL.RawQuery
	pr.Out.Host = ""
	StripIdentity(pr.Out.Header)
	if t.DropAuthorization {
		pr.Out.Header.Del("Authorization")
	}
	StripCookies(pr.Out.Header, t.DropCookies...)
	if t.TrustedPeer {
		if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			pr.Out.Header["X-Forwarded-For"] = append([]string(nil), prior...)
		}
	}
	pr.SetXForwarded()
	t.Identity.Set(pr.Out.Header, t.Function)
}

// StripCookies removes the named cookies from h's Cookie headers, keeping
// the others; a Cookie header left empty is removed.
func StripCookies(h http.Header, names ...string) {
	lines := h.Values("Cookie")
	if len(lines) == 0 || len(names) == 0 {
		return
	}
	var kept []string
	for _, line := range lines {
		var parts []string
		for part := range strings.SplitSeq(line, ";") {
			part = strings.TrimSpace(part)
			name, _, _ := strings.Cut(part, "=")
			if part == "" || slices.Contains(names, strings.TrimSpace(name)) {
				continue
			}
			parts = append(parts, part)
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	if len(kept) == 0 {
		h.Del("Cookie")
		return
	}
	h["Cookie"] = kept
}
