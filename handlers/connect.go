package handlers

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gin-gonic/gin"
	"golang.org/x/oauth2"
)

// The OAuth connect flow (spec §2.4), Gatehouse's way:
//
//	GET /api/connect/github[?callback=…]   → 302 to the provider, state cookie set
//	GET /api/connect/github/callback?code= → state checked, code exchanged,
//	                                         302 to the front-end callback
//	GET /api/auth/github/callback          → {jwt, user} (auth_provider.go)
//
// State, the PKCE verifier, the OpenID Connect nonce (providers that read
// the profile from an id_token) and the front-end callback travel in a
// sealed cookie (AES-256-GCM under a key derived from the JWT secret), scoped
// to /api, HttpOnly, SameSite=Lax, ten minutes, single use. In "session" mode
// the provider's tokens travel to /api/auth/:provider/callback the same way
// instead of in the front-end URL.
//
// The nonce is checked in the id_token of the code exchange, at the
// callback, before the token leaves the server: in "query" mode the
// /api/auth leg gets the token back from the front end, where nothing binds
// it to this browser's sign-in any more.

// The redirect modes of Config.OAuthRedirectMode.
const (
	redirectQuery   = "query"
	redirectSession = "session"
)

const (
	stateCookie   = "gatehouse_oauth_state"
	sessionCookie = "gatehouse_oauth_session"
	// oauthCookiePath scopes both cookies to the API: the provider's
	// redirect back and the front end's call to /api/auth/… carry them.
	oauthCookiePath = "/api"
	// oauthCookieTTL bounds a sign-in from the start leg to the callback,
	// and the tokens kept for /api/auth/:provider/callback.
	oauthCookieTTL = 10 * time.Minute
	// maxCookieValue keeps a sealed cookie under what browsers store (4096
	// bytes per cookie, name and attributes included).
	maxCookieValue = 3800
	// maxConsumed bounds the in-process memory of used states; past it, new
	// sign-ins are refused until entries expire (fail closed rather than
	// forget).
	maxConsumed = 1 << 18
)

// errCallbackNotConfigured is the answer when there is no front-end callback
// to send the browser back to.
var errCallbackNotConfigured = ApplicationError("Provider callback URL is not configured")

// oauthState is the content of the state cookie.
type oauthState struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Verifier string `json:"v,omitempty"`
	// Nonce is the OpenID Connect nonce, for providers that UsesIDToken.
	Nonce    string `json:"n,omitempty"`
	Callback string `json:"c"`
	Expires  int64  `json:"e"`
}

// oauthSession is the content of the session cookie ("session" mode): the
// trimmed token response of the provider (providers.GrantResponse).
type oauthSession struct {
	Provider string              `json:"p"`
	ID       string              `json:"i"`
	Response map[string][]string `json:"r"`
	Expires  int64               `json:"e"`
}

// cookieSealer encrypts and authenticates the OAuth cookies with AES-256-GCM.
// The key is derived from the JWT secret with HKDF-SHA256, so neither the
// secret nor anything that verifies tokens is ever in a cookie; the cookie
// name is the associated data, so one cookie cannot pass for the other.
type cookieSealer struct{ aead cipher.AEAD }

func newCookieSealer(secret []byte) cookieSealer {
	key, err := hkdf.Key(sha256.New, secret, nil, "gatehouse oauth cookies v1", 32)
	if err != nil {
		panic(fmt.Sprintf("handlers: derive the OAuth cookie key: %v", err)) // only for lengths > 255*32
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(fmt.Sprintf("handlers: OAuth cookie cipher: %v", err)) // a 32-byte key never fails
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(fmt.Sprintf("handlers: OAuth cookie cipher: %v", err))
	}
	return cookieSealer{aead: aead}
}

func (cs cookieSealer) seal(name string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("handlers: seal %s: %w", name, err)
	}
	nonce := make([]byte, cs.aead.NonceSize(), cs.aead.NonceSize()+len(plain)+cs.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("handlers: seal %s: %w", name, err)
	}
	return base64.RawURLEncoding.EncodeToString(cs.aead.Seal(nonce, nonce, plain, []byte(name))), nil
}

var errBadCookie = errors.New("handlers: OAuth cookie does not open")

func (cs cookieSealer) open(name, value string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < cs.aead.NonceSize() {
		return errBadCookie
	}
	n := cs.aead.NonceSize()
	plain, err := cs.aead.Open(nil, raw[:n], raw[n:], []byte(name))
	if err != nil {
		return errBadCookie
	}
	if err := json.Unmarshal(plain, v); err != nil {
		return errBadCookie
	}
	return nil
}

// Consumed remembers single-use values, the OAuth states and the session
// ids of the connect flow, so that a replayed cookie is refused although its
// seal is valid. Config.OAuthConsumed sets it; the default remembers in this
// process only, which behind a load balancer lets a replay through on
// another instance: give every instance the same shared memory
// (cluster.Cluster.Consumed keeps it in Redis).
//
// Use records key until at least exp and reports whether it was unused:
// true the first time, false for every later call until exp, whichever
// instance makes it. Concurrent calls with one key must get true at most
// once. An error means the answer is unknown: the sign-in is then refused
// (fail closed) with a "try again" message, never let through.
//
// Take removes key and reports whether it was there, unexpired: of any
// number of calls with one key, on any instance, at most one gets true. The
// query-mode finish leg uses it to accept a provider token only once, and
// only when the callback leg delivered it (deliveredTokens).
type Consumed interface {
	Use(ctx context.Context, key string, exp time.Time) (bool, error)
	Take(ctx context.Context, key string) (bool, error)
}

// signInUnavailable is the message when Consumed cannot answer.
const signInUnavailable = "Sign-in is temporarily unavailable, please try again"

// errConsumedFull is consumedSet's answer when it cannot take one more key.
var errConsumedFull = errors.New("handlers: the memory of used OAuth states is full")

// usedKey is the Consumed key of a state or session id: its kind and the
// value's SHA-256, so no cookie content lands in a shared store.
func usedKey(kind, value string) string {
	sum := sha256.Sum256([]byte(value))
	return kind + ":" + hex.EncodeToString(sum[:])
}

// consumedSet is the default Consumed: a map in this process, each key
// kept until it expires.
type consumedSet struct {
	mu      sync.Mutex
	m       map[string]time.Time
	sweepAt time.Time
	max     int
	now     func() time.Time
}

func newConsumedSet(now func() time.Time) *consumedSet {
	return &consumedSet{m: map[string]time.Time{}, max: maxConsumed, now: now}
}

// Use implements Consumed with the set's clock.
func (cs *consumedSet) Use(_ context.Context, key string, exp time.Time) (bool, error) {
	return cs.use(key, exp, cs.now())
}

// Take implements Consumed with the set's clock.
func (cs *consumedSet) Take(_ context.Context, key string) (bool, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	exp, ok := cs.m[key]
	delete(cs.m, key)
	return ok && !cs.now().After(exp), nil
}

// use records key until exp and reports whether it was unused. Expired
// entries are dropped once a minute; when the set is full of unexpired
// ones, it answers errConsumedFull (fail closed).
func (cs *consumedSet) use(key string, exp, now time.Time) (bool, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if _, seen := cs.m[key]; seen {
		return false, nil
	}
	if now.After(cs.sweepAt) || len(cs.m) >= cs.max {
		for k, e := range cs.m {
			if now.After(e) {
				delete(cs.m, k)
			}
		}
		cs.sweepAt = now.Add(time.Minute)
	}
	if len(cs.m) >= cs.max {
		return false, errConsumedFull
	}
	cs.m[key] = exp
	return true, nil
}

// consumed returns Config.OAuthConsumed, or a new memory of this process.
// A route builder calls it once.
func (s *Server) consumed() Consumed {
	if s.cfg.OAuthConsumed != nil {
		return s.cfg.OAuthConsumed
	}
	return newConsumedSet(s.now)
}

// registry returns the configured providers (New fills in Strapi's
// built-ins when none are given).
func (s *Server) registry() *providers.Registry {
	return s.cfg.Providers
}

// redirectMode returns the configured mode, or an error for a value that is
// neither query nor session.
func (s *Server) redirectMode() (string, error) {
	switch s.cfg.OAuthRedirectMode {
	case "", redirectQuery:
		return redirectQuery, nil
	case redirectSession:
		return redirectSession, nil
	}
	return "", errInternal("handlers: OAuthRedirectMode %q: want query or session", s.cfg.OAuthRedirectMode)
}

// redirectURI is the URI given to the provider: PUBLIC_URL/api/connect/<p>/callback.
func (s *Server) redirectURI(name string) string {
	return s.cfg.PublicURL + "/api/connect/" + name + "/callback"
}

// providerContext carries Config.HTTPClient to the providers package.
func (s *Server) providerContext(c *gin.Context) context.Context {
	if s.cfg.HTTPClient != nil {
		return providers.WithHTTPClient(ctx(c), s.cfg.HTTPClient)
	}
	return ctx(c)
}

// enabledProvider resolves :provider, a registered provider or a custom one
// from the settings: "local", "email" and unknown names are 404, a disabled
// provider is Strapi's 400.
func (s *Server) enabledProvider(c *gin.Context) (providers.Provider, providers.Settings, error) {
	name := c.Param("provider")
	unknown := NotFoundError("Unknown auth provider")
	if name == providers.Local || name == providers.Email {
		return providers.Provider{}, providers.Settings{}, unknown
	}
	set, known, err := s.providerSetting(ctx(c), name)
	if err != nil {
		return providers.Provider{}, providers.Settings{}, err
	}
	if !known {
		return providers.Provider{}, providers.Settings{}, unknown
	}
	p, err := s.registry().Get(name)
	if err != nil && set.IsCustom() {
		p, err = s.registry().Custom(name, set)
	}
	if err != nil {
		unknown.Err = err
		return providers.Provider{}, providers.Settings{}, unknown
	}
	if !set.Enabled {
		return providers.Provider{}, providers.Settings{}, ApplicationError("This provider is disabled")
	}
	return p, set, nil
}

// setOAuthCookie writes one of the OAuth cookies; maxAge < 0 deletes it.
func (s *Server) setOAuthCookie(c *gin.Context, name, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: name, Value: value, Path: oauthCookiePath, MaxAge: maxAge,
		HttpOnly: true, Secure: strings.HasPrefix(s.cfg.PublicURL, "https://"), SameSite: http.SameSiteLaxMode,
	})
}

// redirect answers 302 without caching, and without sending the URL that
// carried a code or token as the Referer of the next request.
func redirect(c *gin.Context, location string) error {
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	c.Redirect(http.StatusFound, location)
	return nil
}

// withQuery returns target with the values added to its query.
func withQuery(target string, values url.Values) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("handlers: front-end callback: %w", err)
	}
	q := u.Query()
	for k, vs := range values {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// newConnect builds GET /api/connect/:provider, and reports a guessed
// PUBLIC_URL while a provider is enabled (it runs when the router is built).
func (s *Server) newConnect() func(*gin.Context) error {
	s.warnGuessedPublicURL(context.Background(), nil)
	return s.connect
}

// connect is the start leg: it checks the provider and the front-end
// callback (CVE-2024-34065: same origin and path as the configured one),
// keeps state, PKCE verifier, nonce and callback in the sealed state cookie,
// and sends the browser to the provider.
func (s *Server) connect(c *gin.Context) error {
	p, set, err := s.enabledProvider(c)
	if err != nil {
		return err
	}
	if _, err := s.redirectMode(); err != nil {
		return err
	}
	callback := set.Callback
	if candidate, given := c.GetQuery("callback"); given {
		if err := providers.ValidateCallback(candidate, set.Callback); err != nil {
			e := ValidationError("Invalid callback URL provided", gin.H{"callback": candidate})
			e.Err = err
			return e
		}
		callback = candidate
	}
	if callback == "" {
		return errCallbackNotConfigured
	}
	state, err := providers.NewState()
	if err != nil {
		return errInternal("handlers: connect: %w", err)
	}
	var verifier, nonce string
	if p.PKCE {
		verifier = oauth2.GenerateVerifier()
	}
	if p.UsesIDToken() {
		if nonce, err = providers.NewNonce(); err != nil {
			return errInternal("handlers: connect: %w", err)
		}
	}
	authURL, err := p.AuthCodeURL(s.providerContext(c), set, s.redirectURI(p.Name), state, verifier, nonce)
	if err != nil {
		return providerError(err)
	}
	sealed, err := newCookieSealer(s.cfg.Secret).seal(stateCookie, oauthState{
		Provider: p.Name, State: state, Verifier: verifier, Nonce: nonce, Callback: callback,
		Expires: s.now().Add(oauthCookieTTL).Unix(),
	})
	if err != nil {
		return errInternal("%w", err)
	}
	s.setOAuthCookie(c, stateCookie, sealed, int(oauthCookieTTL/time.Second))
	return redirect(c, authURL)
}

// providerError renders a providers error as Strapi does (ApplicationError
// with the provider's message); the cause is only logged.
func providerError(err error) error {
	var pe *providers.Error
	if errors.As(err, &pe) {
		e := ApplicationError(pe.Message)
		e.Err = err
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		e := ApplicationError("Provider request failed")
		e.Err = err
		return e
	}
	return errInternal("handlers: provider: %w", err)
}

// providerMessage is the client-facing text of a providers error.
func providerMessage(err error) string {
	var pe *providers.Error
	if errors.As(err, &pe) {
		return pe.Message
	}
	return "Provider request failed"
}

// newConnectCallback builds GET /api/connect/:provider/callback, with its
// memory of used states.
func (s *Server) newConnectCallback() func(*gin.Context) error {
	used := s.consumed()
	return func(c *gin.Context) error { return s.connectCallback(c, used) }
}

// connectCallback is the provider's redirect back. Every failure past the
// provider check goes back to the front end as
// ?error=oauth_error&error_description=…; the state cookie is single use.
func (s *Server) connectCallback(c *gin.Context, used Consumed) error {
	p, set, err := s.enabledProvider(c)
	if err != nil {
		return err
	}
	mode, err := s.redirectMode()
	if err != nil {
		return err
	}
	sealer := newCookieSealer(s.cfg.Secret)
	var st *oauthState
	if raw, err := c.Cookie(stateCookie); err == nil {
		s.setOAuthCookie(c, stateCookie, "", -1)
		var v oauthState
		if sealer.open(stateCookie, raw, &v) == nil && v.Provider == p.Name && s.now().Unix() <= v.Expires {
			st = &v
		}
	}
	// Errors go to the callback the start leg validated, else to the
	// configured one; never to anything taken from this request.
	target := set.Callback
	if st != nil {
		target = st.Callback
	}
	fail := func(code, description string, cause error) error {
		if target == "" {
			e := errCallbackNotConfigured
			if cause != nil {
				e = &Error{Status: e.Status, Name: e.Name, Message: e.Message, Err: cause}
			}
			return e
		}
		if cause != nil {
			s.log.InfoContext(ctx(c), "oauth: sign-in failed", "provider", p.Name, "err", cause)
		}
		loc, err := withQuery(target, url.Values{"error": {code}, "error_description": {description}})
		if err != nil {
			return errInternal("%w", err)
		}
		return redirect(c, loc)
	}

	// The state is checked first, the provider's own error included:
	// providers send the state back with errors, and an unchecked
	// error_description would let anyone put text on the front end.
	q := c.Request.URL.Query()
	stored := ""
	if st != nil {
		stored = st.State
	}
	if err := providers.CheckState(stored, q.Get("state")); err != nil {
		return fail("oauth_error", providerMessage(err), err)
	}
	fresh, err := used.Use(ctx(c), usedKey("state", st.State), time.Unix(st.Expires, 0))
	if err != nil {
		// Fail closed: a state that cannot be checked may be a replay.
		s.log.ErrorContext(ctx(c), "oauth: could not check the state against the used ones; sign-in refused",
			"provider", p.Name, "err", err)
		return fail("oauth_error", signInUnavailable, nil)
	}
	if !fresh {
		return fail("oauth_error", "OAuth2 state already used", errors.New("handlers: replayed OAuth state"))
	}
	if perr := q.Get("error"); perr != "" {
		desc := q.Get("error_description")
		if desc == "" {
			desc = perr
		}
		return fail(clipText(perr, 100), clipText(desc, 300), nil)
	}
	code := q.Get("code")
	if code == "" {
		return fail("oauth_error", "No authorization code", nil)
	}
	tok, err := p.Exchange(s.providerContext(c), set, s.redirectURI(p.Name), code, st.Verifier)
	if err != nil {
		return fail("oauth_error", providerMessage(err), err)
	}
	if p.UsesIDToken() {
		// The id_token must be the one issued for this sign-in: verified,
		// and carrying the nonce the start leg sent.
		if err := p.VerifyIDToken(s.providerContext(c), set, tok, st.Nonce); err != nil {
			return fail("oauth_error", providerMessage(err), err)
		}
	}
	resp := p.GrantResponse(tok)
	if len(resp) == 0 {
		return fail("oauth_error", "No access_token.", nil)
	}
	if mode == redirectQuery {
		if err := s.rememberDelivered(ctx(c), p.Name, resp); err != nil {
			return fail("oauth_error", signInUnavailable, err)
		}
		loc, err := withQuery(st.Callback, resp)
		if err != nil {
			return errInternal("%w", err)
		}
		return redirect(c, loc)
	}
	id, err := providers.NewState()
	if err != nil {
		return errInternal("handlers: connect callback: %w", err)
	}
	sealed, err := sealer.seal(sessionCookie, oauthSession{
		Provider: p.Name, ID: id, Response: resp, Expires: s.now().Add(oauthCookieTTL).Unix(),
	})
	if err != nil {
		return errInternal("%w", err)
	}
	if len(sealed) > maxCookieValue {
		return fail("oauth_error", "The provider's token response is too large to keep in a cookie", nil)
	}
	s.setOAuthCookie(c, sessionCookie, sealed, int(oauthCookieTTL/time.Second))
	return redirect(c, st.Callback)
}

// clipText bounds a provider-supplied string put into a URL.
func clipText(s string, max int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "")
	}
	return s
}

// warnGuessedPublicURL logs a warning when PUBLIC_URL was not configured and
// a provider is enabled: providers would be given a redirect URI under a
// guessed address. only limits the check to these names (nil: all).
func (s *Server) warnGuessedPublicURL(parent context.Context, only []string) {
	if !s.cfg.PublicURLDefaulted {
		return
	}
	c, cancel := context.WithTimeout(parent, 5*time.Second)
	defer cancel()
	all, err := s.providerSettings(c)
	if err != nil {
		s.log.Warn("oauth: could not read the provider settings", "err", err)
		return
	}
	var enabled []string
	for name, set := range all {
		if name != providers.Email && set.Enabled && (only == nil || contains(only, name)) {
			enabled = append(enabled, name)
		}
	}
	sort.Strings(enabled)
	if len(enabled) > 0 {
		s.log.Warn("PUBLIC_URL is not set but OAuth providers are enabled: their redirect URI is "+
			s.cfg.PublicURL+"/api/connect/<provider>/callback, which browsers outside this machine cannot reach; set PUBLIC_URL",
			"providers", enabled)
	}
}

// Query mode hands the provider's tokens to the front end in its URL, where
// browser history, logs and Referer headers may keep them; the front end
// sends them back to /api/auth/:provider/callback. So that such a copy is
// worth nothing, the callback leg remembers the SHA-256 of each token it
// delivers (deliveredTokenTTL, in Config.OAuthConsumed: Redis when
// instances share it), and the finish leg takes each token it is given out
// of that memory: a token it never delivered, or one already used, is
// refused. An id_token is then bound to its sign-in's nonce too, checked at
// the callback leg before delivery.

// deliveredTokenTTL is how long a delivered token may be brought back: the
// front end does so as soon as its callback page loads.
const deliveredTokenTTL = 5 * time.Minute

// grantTokenKeys are the grant response's keys that carry a token the
// finish leg reads (providers.ParseGrantResponse).
var grantTokenKeys = []string{"access_token", "id_token", "oauth_token", "code"}

// errTokenNotDelivered answers a finish-leg token the callback leg did not
// deliver, or delivered and saw used already.
var errTokenNotDelivered = ApplicationError("Invalid token: start the sign-in again")

// deliveredKey is the Consumed key of a token delivered for provider.
func deliveredKey(provider, token string) string {
	return usedKey("delivered:"+provider, token)
}

// rememberDelivered records the tokens of a grant response about to be
// sent to the front end.
func (s *Server) rememberDelivered(c context.Context, provider string, resp url.Values) error {
	exp := s.now().Add(deliveredTokenTTL)
	for _, k := range grantTokenKeys {
		for _, v := range resp[k] {
			if v == "" {
				continue
			}
			if _, err := s.delivered.Use(c, deliveredKey(provider, v), exp); err != nil {
				return err
			}
		}
	}
	return nil
}

// takeDelivered accepts the tokens of a finish-leg query only if the
// callback leg delivered each of them and none was used before; it uses
// them up. A memory that does not answer refuses the sign-in (503).
func (s *Server) takeDelivered(c context.Context, provider string, q url.Values) error {
	for _, k := range grantTokenKeys {
		for _, v := range q[k] {
			if v == "" {
				continue
			}
			ok, err := s.delivered.Take(c, deliveredKey(provider, v))
			if err != nil {
				return &Error{Status: http.StatusServiceUnavailable, Name: "ServiceUnavailableError", Message: signInUnavailable, Err: err}
			}
			if !ok {
				return errTokenNotDelivered
			}
		}
	}
	return nil
}
