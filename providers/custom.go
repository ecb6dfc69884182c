package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/oauth2"
)

// Custom providers are defined by an admin in the grant store rather than
// in Go: Settings.Type says which kind, and the rest of the entry is the
// definition. They get the same connect flow as the built-ins (state, PKCE,
// nonce, callback validation, verified emails, write-only secrets).
const (
	// TypeOIDC is a generic OpenID Connect provider: Settings.Issuer
	// (discovery, JWKS), id_token checks and nonce as NewOIDC's, and the
	// claims named by Settings.EmailClaim and Settings.UsernameClaim.
	TypeOIDC = "oidc"
	// TypeOAuth2 is a generic OAuth 2.0 provider: Settings.AuthorizeURL,
	// TokenURL and UserinfoURL, PKCE unless Settings.PKCE is false, and the
	// profile read from the userinfo answer at Settings.IDPath, EmailPath,
	// UsernamePath and EmailVerifiedPath.
	TypeOAuth2 = "oauth2"
)

// Custom returns the provider an admin defined under name with settings s
// (s.Type TypeOIDC or TypeOAuth2). The name must be valid (ValidName) and not
// be a registered provider's: a stored definition never replaces a built-in.
// Custom OpenID Connect providers share one discovery cache per Registry,
// by issuer.
func (r *Registry) Custom(name string, s Settings) (Provider, error) {
	if !ValidName(name) {
		return Provider{}, fmt.Errorf("providers: custom %q: invalid name", name)
	}
	if _, err := r.Get(name); err == nil {
		return Provider{}, fmt.Errorf("providers: custom %q: the name of a registered provider", name)
	}
	display := s.DisplayName
	if display == "" {
		display = name
	}
	switch s.Type {
	case TypeOIDC:
		return Provider{
			Name: name, DisplayName: display, Icon: s.Icon,
			Scopes: []string{"openid", "email", "profile"}, ScopeDelimiter: " ",
			PKCE:   true,
			Issuer: s.Issuer,
			oidc:   r.customOIDC,
		}, nil
	case TypeOAuth2:
		return Provider{
			Name: name, DisplayName: display, Icon: s.Icon,
			ScopeDelimiter: " ",
			// RFC 6749 §2.3.1: servers must take client_secret_basic.
			Endpoint: oauth2.Endpoint{AuthURL: s.AuthorizeURL, TokenURL: s.TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
			PKCE:     s.PKCE == nil || *s.PKCE,
			Profile:  userinfoProfile(display),
		}, nil
	}
	return Provider{}, fmt.Errorf("providers: custom %q: type %q: %w", name, s.Type,
		misconfigured("Provider type must be oidc or oauth2"))
}

// IsCustom reports whether s defines a custom provider (see Custom).
func (s Settings) IsCustom() bool { return s.Type != "" }

// userinfoProfile reads a TypeOAuth2 profile: GET Settings.UserinfoURL with
// the access token, then the values at the JSON paths. The id and the email
// are required; the username defaults to the email's local part. The email
// counts as verified only when EmailVerifiedPath is set and its value is
// true (or "true"); a false or missing value there is "Email not verified
// by <display>". Without EmailVerifiedPath the provider makes no claim, as
// Microsoft's, and the email never matches another account's.
func userinfoProfile(display string) ProfileFunc {
	return func(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
		if _, err := resolveURL(s.UserinfoURL, "", ""); err != nil {
			return Profile{}, err
		}
		var raw json.RawMessage
		if err := GetJSON(ctx, c, s.UserinfoURL, tok, nil, &raw); err != nil {
			return Profile{}, err
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber() // ids beyond 2^53 keep their digits
		var doc any
		if err := dec.Decode(&doc); err != nil {
			return Profile{}, &Error{Kind: ErrUpstream, Message: "Invalid response from provider", Err: err}
		}
		id := scalarString(JSONPath(doc, s.IDPath))
		if id == "" {
			return Profile{}, &Error{Kind: ErrUpstream, Message: "Invalid response from provider",
				Err: fmt.Errorf("no id at %q", s.IDPath)}
		}
		email, _ := JSONPath(doc, s.EmailPath).(string)
		if strings.TrimSpace(email) == "" {
			return Profile{}, noEmail()
		}
		verified := false
		if s.EmailVerifiedPath != "" {
			v := JSONPath(doc, s.EmailVerifiedPath)
			if !isTrue(v) && v != "true" {
				return Profile{}, notVerified(display)
			}
			verified = true
		}
		username := ""
		if s.UsernamePath != "" {
			username = scalarString(JSONPath(doc, s.UsernamePath))
		}
		if strings.TrimSpace(username) == "" {
			username = localPart(email)
		}
		return Profile{ID: id, Username: username, Email: email, EmailVerified: verified}, nil
	}
}

// scalarString is a JSON string or number as text; anything else is "".
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}

// JSONPath returns the value at path in a decoded JSON document: keys and
// array indexes separated by dots ("data.id", "emails.0.value"). A path that
// leads nowhere gives nil.
func JSONPath(doc any, path string) any {
	if path == "" {
		return nil
	}
	cur := doc
	for _, seg := range strings.Split(path, ".") {
		switch x := cur.(type) {
		case map[string]any:
			cur = x[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			cur = x[i]
		default:
			return nil
		}
	}
	return cur
}

// maxJSONPath bounds a JSON path or claim name.
const maxJSONPath = 200

// ValidJSONPath reports whether p is a usable JSONPath: up to 200
// characters, dot-separated non-empty segments of printable characters
// without spaces.
func ValidJSONPath(p string) bool {
	if p == "" || len(p) > maxJSONPath {
		return false
	}
	for _, seg := range strings.Split(p, ".") {
		if seg == "" {
			return false
		}
		for _, r := range seg {
			if !unicode.IsPrint(r) || unicode.IsSpace(r) {
				return false
			}
		}
	}
	return true
}

// ValidClaimName reports whether c is a usable claim name: up to 200
// printable characters without spaces (claims such as "cognito:username"
// or a URL-named custom claim included).
func ValidClaimName(c string) bool {
	if c == "" || len(c) > maxJSONPath {
		return false
	}
	for _, r := range c {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}
