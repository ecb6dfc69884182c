// Package providers describes the OAuth 2.0 and OpenID Connect providers of
// Strapi's Users & Permissions plugin as plain values, and turns a provider's
// answer into one normalized Profile.
//
// A Provider is data: endpoints (possibly templated with "[subdomain]"),
// default scopes and their delimiter, whether it takes PKCE, and a function
// that fetches the profile. Settings is one provider's stored admin
// configuration, in the JSON shape of Strapi's grant store. Defaults lists
// the built-in providers; NewOIDC adds any OpenID Connect issuer through
// discovery; an application adds its own with Registry.Add, and an admin
// defines OpenID Connect and OAuth 2.0 providers in the settings
// (Registry.Custom).
//
// Outgoing requests use the *http.Client found in the context under
// oauth2.HTTPClient (see WithHTTPClient), or a client of its own; every
// request runs under a timeout (DefaultTimeout unless the caller's context
// or client sets one).
//
// Email verification follows Strapi 5.53 exactly (see each provider in
// Defaults). Instagram, Reddit and Microsoft make no verification claim:
// their Profile has EmailVerified false and callers decide what that allows.
// Twitter (X) is offered through OAuth 2.0 with PKCE and the v2 users/me
// endpoint, not Strapi's OAuth 1.0a (request-token dance and signed
// requests, which x/oauth2 does not do; the v1.1 verify_credentials endpoint
// Strapi calls now needs a paid API tier).
package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// DefaultTimeout bounds every outgoing request when neither the caller's
// context nor its http.Client sets a limit.
const DefaultTimeout = 10 * time.Second

// maxBody bounds what is read from a provider's answer.
const maxBody = 1 << 20

// Profile is the normalized identity a provider returns.
type Profile struct {
	ID       string // the provider's stable user id ("sub", numeric id…), may be empty
	Username string // as Strapi derives it per provider
	Email    string // lower-cased, never empty when FetchProfile succeeds
	// EmailVerified is true when the provider vouched for Email under Strapi
	// 5.53's rule for it. It is false for providers that make no claim
	// (Microsoft, Instagram, Reddit, Auth0's made-up address).
	EmailVerified bool
}

// Settings is one provider's stored admin configuration, in the JSON shape
// of Strapi's grant store ("plugin_users-permissions_grant"). The last four
// fields are Gatehouse additions.
type Settings struct {
	Enabled bool   `json:"enabled"`
	Icon    string `json:"icon"`
	Key     string `json:"key"`
	Secret  string `json:"secret"`
	// Callback is the front-end URL the browser is sent back to after the
	// connect flow; a ?callback= candidate must match it (ValidateCallback).
	Callback string `json:"callback,omitempty"`
	// CallbackURL is grant's server-side callback that Strapi stores for its
	// first ten providers. Kept for round trips; the flow does not use it.
	CallbackURL string   `json:"callbackUrl,omitempty"`
	Scope       []string `json:"scope,omitempty"`
	Subdomain   string   `json:"subdomain,omitempty"`
	JWKSURL     string   `json:"jwksurl,omitempty"`

	// Issuer is the OpenID Connect issuer of a NewOIDC provider, or the
	// expected "iss" of Cognito id_tokens (derived from JWKSURL when empty).
	Issuer string `json:"issuer,omitempty"`
	// AuthorizeURL, TokenURL and APIURL replace the provider's endpoints
	// (self-hosted GitLab or Keycloak, tests). APIURL is the base the
	// profile paths are appended to, e.g. "https://api.github.com".
	AuthorizeURL string `json:"authorizeUrl,omitempty"`
	TokenURL     string `json:"tokenUrl,omitempty"`
	APIURL       string `json:"apiUrl,omitempty"`

	// The fields below define a custom provider (Registry.Custom); they
	// are empty for the registered ones.

	// Type is TypeOIDC or TypeOAuth2.
	Type string `json:"type,omitempty"`
	// DisplayName names the provider in messages ("Email not verified
	// by <DisplayName>") and on the admin page; the name when empty.
	DisplayName string `json:"displayName,omitempty"`
	// EmailClaim and UsernameClaim name the id_token (or userinfo) claims
	// of a TypeOIDC provider: "email" and preferred_username, nickname or
	// name when empty.
	EmailClaim    string `json:"emailClaim,omitempty"`
	UsernameClaim string `json:"usernameClaim,omitempty"`
	// UserinfoURL is the profile endpoint of a TypeOAuth2 provider.
	UserinfoURL string `json:"userinfoUrl,omitempty"`
	// PKCE turns PKCE off for a TypeOAuth2 provider when false (nil: on).
	PKCE *bool `json:"pkce,omitempty"`
	// IDPath, EmailPath, UsernamePath and EmailVerifiedPath locate the
	// profile in a TypeOAuth2 provider's userinfo answer (JSONPath).
	IDPath            string `json:"idPath,omitempty"`
	EmailPath         string `json:"emailPath,omitempty"`
	UsernamePath      string `json:"usernamePath,omitempty"`
	EmailVerifiedPath string `json:"emailVerifiedPath,omitempty"`
}

// MarshalJSON writes the grant-store shape. An entry with nothing but
// enabled and icon (the "email" toggle) is written as just those two, as
// Strapi stores it.
func (s Settings) MarshalJSON() ([]byte, error) {
	type plain Settings
	if s.toggleOnly() {
		return json.Marshal(struct {
			Enabled bool   `json:"enabled"`
			Icon    string `json:"icon"`
		}{s.Enabled, s.Icon})
	}
	return json.Marshal(plain(s))
}

func (s Settings) toggleOnly() bool {
	return s.Key == "" && s.Secret == "" && s.Callback == "" && s.CallbackURL == "" &&
		len(s.Scope) == 0 && s.Subdomain == "" && s.JWKSURL == "" && s.Issuer == "" &&
		s.AuthorizeURL == "" && s.TokenURL == "" && s.APIURL == "" && !s.IsCustom()
}

// ProfileFunc fetches and maps the profile of the token's owner. s.APIURL is
// already resolved (override, or the provider's APIURL with the subdomain
// substituted). c has a timeout; ctx carries c for x/oauth2 and go-oidc.
type ProfileFunc func(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error)

// Provider describes one OAuth 2.0 provider as data.
type Provider struct {
	Name        string // grant-store key and URL segment, e.g. "github"
	DisplayName string // as in Strapi's messages, e.g. "GitHub"
	Icon        string // admin UI icon name

	Scopes []string // default scopes
	// ScopeDelimiter joins the scopes in the authorize URL. Empty means a
	// space (RFC 6749); Strapi's built-ins that use "," say so.
	ScopeDelimiter string
	// Endpoint holds the authorize and token URLs, which may contain
	// "[subdomain]", and the client authentication style. A zero AuthStyle
	// means client_id and client_secret in the form body, as Strapi sends them.
	Endpoint oauth2.Endpoint
	// APIURL is the base of the profile requests and may contain "[subdomain]".
	APIURL string
	// Subdomain is the placeholder stored by default (Strapi's
	// "my.subdomain.com"); non-empty means the admin UI asks for one.
	Subdomain string
	// PKCE says the provider accepts an S256 code_challenge.
	PKCE bool
	// Profile maps the provider's answer to a Profile.
	Profile ProfileFunc

	// Issuer makes p an OpenID Connect provider (see NewOIDC): endpoints
	// from the discovery of Settings.Issuer, else this issuer, and the
	// profile from the verified id_token when Profile is nil.
	Issuer string

	legacyCallbackURL bool          // Strapi stores callbackUrl, not callback
	oidc              *oidcResolver // set by NewOIDC
	// idToken verifies the raw id_token of a provider whose Profile reads
	// it (cognito); see UsesIDToken.
	idToken func(ctx context.Context, raw string, s Settings) (*oidc.IDToken, error)
}

// WithHTTPClient returns a context whose outgoing provider requests use c.
// It is the key x/oauth2 and go-oidc read (oauth2.HTTPClient).
func WithHTTPClient(ctx context.Context, c *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c)
}

// withClient makes sure the requests made under ctx use a client with a
// timeout and bounded answers (limitedTransport), and that ctx itself has a
// deadline.
func withClient(ctx context.Context) (context.Context, *http.Client, context.CancelFunc) {
	c, _ := ctx.Value(oauth2.HTTPClient).(*http.Client)
	switch {
	case c == nil:
		c = &http.Client{Timeout: DefaultTimeout}
	case c.Timeout == 0:
		cp := *c
		cp.Timeout = DefaultTimeout
		c = &cp
	}
	c = limitBodies(c)
	ctx = WithHTTPClient(ctx, c)
	if _, ok := ctx.Deadline(); ok {
		return ctx, c, func() {}
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	return ctx, c, cancel
}

// DefaultSettings returns the grant-store entry Strapi seeds for p: disabled,
// empty key and secret, default scopes and subdomain placeholder, and the
// callback under baseURL (server URL + API prefix + "/auth"), e.g.
// "http://localhost:1337/api/auth/github/callback". An empty baseURL leaves
// the callback empty.
func (p Provider) DefaultSettings(baseURL string) Settings {
	s := Settings{
		Icon:      p.Icon,
		Scope:     append([]string(nil), p.Scopes...),
		Subdomain: p.Subdomain,
	}
	if p.Issuer != "" {
		s.Issuer = p.Issuer
	}
	if baseURL != "" {
		cb := strings.TrimRight(baseURL, "/") + "/" + p.Name + "/callback"
		if p.legacyCallbackURL {
			s.CallbackURL = cb
		} else {
			s.Callback = cb
		}
	}
	return s
}

// OAuth2Config returns the client configuration for s: key, secret, the
// endpoint with the subdomain substituted and the overrides applied, the
// scopes joined with the provider's delimiter, and redirectURL (Gatehouse's
// /api/connect/<provider>/callback). For NewOIDC providers the endpoints come
// from discovery, which is why it takes a context.
func (p Provider) OAuth2Config(ctx context.Context, s Settings, redirectURL string) (*oauth2.Config, error) {
	ctx, _, cancel := withClient(ctx)
	defer cancel()
	cfg, err := p.config(ctx, s, redirectURL)
	if err != nil {
		return nil, fmt.Errorf("providers: %s: %w", p.Name, err)
	}
	return cfg, nil
}

func (p Provider) config(ctx context.Context, s Settings, redirectURL string) (*oauth2.Config, error) {
	if s.Key == "" {
		return nil, misconfigured("Provider key is not configured")
	}
	ep := p.Endpoint
	if p.isOIDC() {
		d, err := p.resolver().discover(ctx, p.issuer(s))
		if err != nil {
			return nil, err
		}
		ep = d.endpoint
	}
	authURL, err := resolveURL(s.AuthorizeURL, ep.AuthURL, s.Subdomain)
	if err != nil {
		return nil, fmt.Errorf("authorize url: %w", err)
	}
	tokenURL, err := resolveURL(s.TokenURL, ep.TokenURL, s.Subdomain)
	if err != nil {
		return nil, fmt.Errorf("token url: %w", err)
	}
	style := ep.AuthStyle
	if style == oauth2.AuthStyleAutoDetect {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID:     s.Key,
		ClientSecret: s.Secret,
		Endpoint:     oauth2.Endpoint{AuthURL: authURL, TokenURL: tokenURL, AuthStyle: style},
		RedirectURL:  redirectURL,
		Scopes:       p.scopes(s),
	}, nil
}

// scopes returns the stored scopes (the defaults when none are stored) as a
// single element joined with the delimiter, since x/oauth2 joins with spaces.
func (p Provider) scopes(s Settings) []string {
	sc := s.Scope
	if sc == nil {
		sc = p.Scopes
	}
	var parts []string
	for _, v := range sc {
		if v != "" {
			parts = append(parts, v)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	d := p.ScopeDelimiter
	if d == "" {
		d = " "
	}
	return []string{strings.Join(parts, d)}
}

// AuthCodeURL returns the provider URL the browser is redirected to on the
// start leg of the connect flow. state must be non-empty (see NewState). A
// non-empty verifier (oauth2.GenerateVerifier, only when p.PKCE) adds an
// S256 code_challenge; keep it in the session for Exchange. nonce is the
// OpenID Connect nonce (see NewNonce), required when p.UsesIDToken and sent
// as the "nonce" parameter; keep it in the session for VerifyIDToken. Other
// providers are given none (pass "").
func (p Provider) AuthCodeURL(ctx context.Context, s Settings, redirectURL, state, verifier, nonce string) (string, error) {
	if state == "" {
		return "", fmt.Errorf("providers: %s: authorize url: empty state", p.Name)
	}
	if nonce == "" && p.UsesIDToken() {
		return "", fmt.Errorf("providers: %s: authorize url: empty nonce", p.Name)
	}
	cfg, err := p.OAuth2Config(ctx, s, redirectURL)
	if err != nil {
		return "", err
	}
	var opts []oauth2.AuthCodeOption
	if verifier != "" {
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	if nonce != "" {
		opts = append(opts, oidc.Nonce(nonce))
	}
	return cfg.AuthCodeURL(state, opts...), nil
}

// Exchange trades the authorization code for a token at the provider's token
// endpoint (form POST; Basic auth where the provider wants it). verifier is
// the PKCE verifier given to AuthCodeURL, or "". Errors wrap ErrExchange and
// carry Strapi's message: the provider's error_description, else its error
// code, else "Token exchange failed (<status>)".
func (p Provider) Exchange(ctx context.Context, s Settings, redirectURL, code, verifier string) (*oauth2.Token, error) {
	ctx, _, cancel := withClient(ctx)
	defer cancel()
	if code == "" {
		return nil, fmt.Errorf("providers: %s: exchange code: %w", p.Name,
			&Error{Kind: ErrExchange, Message: "No authorization code"})
	}
	cfg, err := p.config(ctx, s, redirectURL)
	if err != nil {
		return nil, fmt.Errorf("providers: %s: exchange code: %w", p.Name, err)
	}
	var opts []oauth2.AuthCodeOption
	if verifier != "" {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	tok, err := cfg.Exchange(ctx, code, opts...)
	if err != nil {
		return nil, fmt.Errorf("providers: %s: exchange code: %w", p.Name, exchangeError(err))
	}
	return tok, nil
}

func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		msg := re.ErrorDescription
		if msg == "" {
			msg = re.ErrorCode
		}
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		if msg == "" {
			msg = fmt.Sprintf("Token exchange failed (%d)", status)
		}
		// The cause keeps the status and error code, never the body.
		return &Error{Kind: ErrExchange, Message: clip(msg),
			Err: fmt.Errorf("status %d, error %q", status, re.ErrorCode)}
	}
	return &Error{Kind: ErrExchange, Message: "Token exchange failed", Err: redact(err)}
}

// FetchProfile asks the provider who owns tok and returns the normalized
// profile: Email trimmed and lower-cased and never empty (ErrNoEmail), and
// every Strapi 5.53 verification applied (ErrEmailNotVerified).
func (p Provider) FetchProfile(ctx context.Context, s Settings, tok *oauth2.Token) (Profile, error) {
	ctx, c, cancel := withClient(ctx)
	defer cancel()
	prof, err := p.fetchProfile(ctx, c, s, tok)
	if err != nil {
		return Profile{}, fmt.Errorf("providers: %s: fetch profile: %w", p.Name, err)
	}
	return prof, nil
}

func (p Provider) fetchProfile(ctx context.Context, c *http.Client, s Settings, tok *oauth2.Token) (Profile, error) {
	if p.Profile == nil && !p.isOIDC() {
		return Profile{}, misconfigured("Provider has no profile function")
	}
	if tok == nil {
		return Profile{}, &Error{Kind: ErrInvalidToken, Message: "No access_token."}
	}
	if p.APIURL != "" || s.APIURL != "" {
		api, err := resolveURL(s.APIURL, p.APIURL, s.Subdomain)
		if err != nil {
			return Profile{}, fmt.Errorf("api url: %w", err)
		}
		s.APIURL = strings.TrimRight(api, "/")
	}
	var prof Profile
	var err error
	if p.Profile != nil {
		prof, err = p.Profile(ctx, c, tok, s)
	} else {
		prof, err = p.resolver().profile(ctx, p, tok, s)
	}
	if err != nil {
		return Profile{}, err
	}
	prof.Username = strings.TrimSpace(prof.Username)
	prof.Email = strings.ToLower(strings.TrimSpace(prof.Email))
	if prof.Email == "" {
		return Profile{}, noEmail()
	}
	return prof, nil
}

// GetJSON performs an authenticated GET for a profile function: Bearer
// access token, Accept: application/json, the extra headers, and decodes the
// JSON answer into v. A non-2xx answer returns an *Error (ErrUpstream) whose
// message is the provider's error_description, error or message, as Strapi
// reports it; URLs in errors lose their query, which may hold a token.
func GetJSON(ctx context.Context, c *http.Client, rawURL string, tok *oauth2.Token, header http.Header, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return &Error{Kind: ErrUpstream, Message: "Invalid provider URL", Err: redact(err)}
	}
	for k, vs := range header {
		for _, hv := range vs {
			req.Header.Add(k, hv)
		}
	}
	req.Header.Set("Accept", "application/json")
	if tok != nil && tok.AccessToken != "" {
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	}
	resp, err := c.Do(req)
	if err != nil {
		return &Error{Kind: ErrUpstream, Message: "Provider request failed", Err: redact(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return &Error{Kind: ErrUpstream, Message: "Provider request failed", Err: redact(err)}
	}
	where := "GET " + stripQuery(rawURL)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &Error{Kind: ErrUpstream, Message: upstreamMessage(resp.StatusCode, body),
			Err: fmt.Errorf("%s: status %d", where, resp.StatusCode)}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &Error{Kind: ErrUpstream, Message: "Invalid response from provider",
			Err: fmt.Errorf("%s: decode: %w", where, err)}
	}
	return nil
}

// upstreamMessage mirrors Strapi's fetchJson: error_description || error ||
// message || "HTTP <status>", only when they are strings.
func upstreamMessage(status int, body []byte) string {
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		for _, k := range []string{"error_description", "error", "message"} {
			if s, ok := m[k].(string); ok && s != "" {
				return clip(s)
			}
		}
	}
	return fmt.Sprintf("HTTP %d", status)
}

// clip bounds a provider-supplied message.
func clip(s string) string {
	const max = 200
	s = strings.ToValidUTF8(s, "")
	if len(s) > max {
		s = s[:max]
		s = strings.ToValidUTF8(s, "")
	}
	return s
}

// redact removes the query string from URLs carried by err (Google's
// tokeninfo takes the access token in the query).
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, stripQuery(ue.URL), ue.Err)
	}
	return err
}

func stripQuery(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		return raw[:i]
	}
	return raw
}

// resolveURL returns override when set, else tmpl with "[subdomain]"
// replaced, and checks that the result is an absolute http(s) URL with a
// host and no user info.
func resolveURL(override, tmpl, subdomain string) (string, error) {
	raw := override
	if raw == "" {
		raw = tmpl
		if strings.Contains(raw, "[subdomain]") {
			if subdomain == "" {
				return "", misconfigured("Provider subdomain is not configured")
			}
			if strings.ContainsAny(subdomain, "?#@\\ \t\r\n") {
				return "", misconfigured("Provider subdomain is not valid")
			}
			raw = strings.ReplaceAll(raw, "[subdomain]", subdomain)
		}
	}
	if raw == "" {
		return "", misconfigured("Provider endpoint is not configured")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", misconfigured("Provider endpoint is not a valid URL")
	}
	return raw, nil
}
