package providers

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// stateBytes is the entropy of a state value (Strapi: 20 bytes), and of a
// nonce.
const stateBytes = 32

// NewState returns a fresh OAuth2 state: 32 random bytes, hex encoded.
func NewState() (string, error) {
	s, err := randomValue()
	if err != nil {
		return "", fmt.Errorf("providers: new state: %w", err)
	}
	return s, nil
}

// NewNonce returns a fresh OpenID Connect nonce for one sign-in: 32 random
// bytes, hex encoded. It goes to AuthCodeURL and, kept with the state, to
// VerifyIDToken.
func NewNonce() (string, error) {
	s, err := randomValue()
	if err != nil {
		return "", fmt.Errorf("providers: new nonce: %w", err)
	}
	return s, nil
}

func randomValue() (string, error) {
	b := make([]byte, stateBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// CheckState compares the state kept in the session with the one the
// provider sent back, in constant time. A missing session state fails too
// (the fail-open bug caught in Strapi PR #26820). Errors wrap
// ErrStateMismatch with Strapi's message "OAuth2 state mismatch".
func CheckState(sessionState, queryState string) error {
	if sessionState == "" || queryState == "" ||
		subtle.ConstantTimeCompare([]byte(sessionState), []byte(queryState)) != 1 {
		return &Error{Kind: ErrStateMismatch, Message: "OAuth2 state mismatch"}
	}
	return nil
}

// ValidateCallback checks a front-end callback candidate (?callback=) against
// the provider's configured callback, as Strapi 4.24.2+ does after
// CVE-2024-34065: both must be absolute URLs with the same origin (scheme,
// host, port; default ports normalized) and the same path (dot segments
// resolved); the query and fragment are not compared.
//
// Stricter than Strapi: user info, backslashes, spaces and control
// characters are refused (parser differentials with browsers), and schemes
// without an origin (myapp:…) compare by scheme and host instead of all
// being "null". Errors wrap ErrInvalidCallback and carry Strapi's messages.
// Redirect to the candidate only after it passes, and never to anything the
// browser would parse differently.
func ValidateCallback(candidate, configured string) error {
	cu, err := parseCallback(candidate)
	if err != nil {
		return err
	}
	ku, err := parseCallback(configured)
	if err != nil {
		return err
	}
	if origin(cu) != origin(ku) {
		return &Error{Kind: ErrInvalidCallback,
			Message: "Forbidden callback provided: origins don't match. Please verify your config."}
	}
	if pathname(cu) != pathname(ku) {
		return &Error{Kind: ErrInvalidCallback,
			Message: "Forbidden callback provided: pathname don't match. Please verify your config."}
	}
	return nil
}

func parseCallback(raw string) (*url.URL, error) {
	bad := &Error{Kind: ErrInvalidCallback, Message: "The callback is not a valid URL"}
	if raw == "" || strings.ContainsFunc(raw, func(r rune) bool {
		return r <= ' ' || r == '\\' || r == 0x7f
	}) {
		return nil, bad
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return nil, bad
	}
	if u.Hostname() == "" {
		return nil, bad
	}
	return u, nil
}

func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	switch {
	case scheme == "http" && port == "80", scheme == "https" && port == "443":
		port = ""
	}
	return scheme + "://" + host + ":" + port
}

func pathname(u *url.URL) string {
	p := u.ResolveReference(&url.URL{Path: u.Path, RawPath: u.RawPath}).EscapedPath()
	if p == "" {
		p = "/"
	}
	return p
}

// GrantResponse returns what the callback leg keeps of a token response, as
// Strapi 5.53 trims it for the session (and the legacy front-end redirect
// query): cognito only id_token; vk access_token and raw[email], raw[user_id];
// the others access_token and id_token. Refresh tokens are not kept.
func (p Provider) GrantResponse(tok *oauth2.Token) url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	if tok == nil {
		return v
	}
	switch p.Name {
	case "cognito":
		set("id_token", idTokenOf(tok))
	case "vk":
		set("access_token", tok.AccessToken)
		email, uid := extraString(tok, "email"), extraString(tok, "user_id")
		if email != "" && uid != "" {
			set("raw[email]", email)
			set("raw[user_id]", uid)
		}
	default:
		set("access_token", tok.AccessToken)
		set("id_token", idTokenOf(tok))
	}
	return v
}

// ParseGrantResponse rebuilds a token from GrantResponse's values, or from the
// legacy (v4…v5.52) front-end query: the access token is access_token, else
// code, else oauth_token; id_token and raw[<k>] become Token.Extra. Neither
// an access token nor an id_token → Strapi's "No access_token.".
//
// Values that came from the browser are the client's word: use the session
// form (5.53) for providers whose profile reads them (vk's raw[email]).
func ParseGrantResponse(v url.Values) (*oauth2.Token, error) {
	at := firstNonEmpty(v.Get("access_token"), v.Get("code"), v.Get("oauth_token"))
	extra := map[string]any{}
	for k, vs := range v {
		if name, ok := strings.CutPrefix(k, "raw["); ok && strings.HasSuffix(name, "]") && len(vs) > 0 {
			extra[strings.TrimSuffix(name, "]")] = vs[0]
		}
	}
	if id := v.Get("id_token"); id != "" {
		extra["id_token"] = id
	}
	if at == "" && extra["id_token"] == nil {
		return nil, &Error{Kind: ErrInvalidToken, Message: "No access_token."}
	}
	return (&oauth2.Token{AccessToken: at, TokenType: "Bearer"}).WithExtra(extra), nil
}
