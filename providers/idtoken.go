package providers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// asymmetricAlgs are the id_token algorithms accepted from discovered
// issuers: never "none", never HS* (whose key would be the client secret).
var asymmetricAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512,
	oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.EdDSA,
}

func idTokenOf(tok *oauth2.Token) string {
	s, _ := tok.Extra("id_token").(string)
	return s
}

// hasKeyID reports whether raw looks like a compact JWS whose header names a
// key (Strapi's first check: "The provided token is not valid").
func hasKeyID(raw string) bool {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || parts[1] == "" {
		return false
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return false
	}
	var h struct {
		Kid string `json:"kid"`
	}
	return json.Unmarshal(hb, &h) == nil && h.Kid != ""
}

func tokenNotValid() error {
	return &Error{Kind: ErrInvalidToken, Message: "The provided token is not valid"}
}

func tokenVerifyFailed(cause error) error {
	return &Error{Kind: ErrInvalidToken, Message: "There was an error verifying the token", Err: cause}
}

// cognitoIssuer is Settings.Issuer, else the JWKS URL without
// "/.well-known/jwks.json" (Cognito's layout), else "" (no issuer check; the
// key set is the pool's own).
func cognitoIssuer(s Settings) string {
	if s.Issuer != "" {
		return s.Issuer
	}
	if iss, ok := strings.CutSuffix(s.JWKSURL, "/.well-known/jwks.json"); ok {
		return iss
	}
	return ""
}

// cognito: no API call. The id_token (Token.Extra("id_token")) is verified
// against the JWKS at Settings.JWKSURL: RS256 only, key matched by kid,
// audience = the app client id (Settings.Key), expiry, and the issuer when
// known. Strapi 5.53 then requires email_verified === true. The fix for
// CVE-2023-22893, where the token was decoded but not verified.
func cognitoProfile(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
	raw := idTokenOf(tok)
	if raw == "" {
		return Profile{}, &Error{Kind: ErrInvalidToken, Message: "Cognito authentication requires a completed OAuth session"}
	}
	if s.JWKSURL == "" {
		return Profile{}, misconfigured("Cognito JWKS URL is not configured")
	}
	if _, err := resolveURL(s.JWKSURL, "", ""); err != nil {
		return Profile{}, err
	}
	if !hasKeyID(raw) {
		return Profile{}, tokenNotValid()
	}
	iss := cognitoIssuer(s)
	keys := oidc.NewRemoteKeySet(ctx, s.JWKSURL)
	v := oidc.NewVerifier(iss, keys, &oidc.Config{
		ClientID:             s.Key,
		SupportedSigningAlgs: []string{oidc.RS256},
		SkipIssuerCheck:      iss == "",
	})
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		return Profile{}, tokenVerifyFailed(err)
	}
	var cl struct {
		Username      string `json:"cognito:username"`
		Email         string `json:"email"`
		EmailVerified any    `json:"email_verified"`
	}
	if err := idt.Claims(&cl); err != nil {
		return Profile{}, tokenVerifyFailed(err)
	}
	if !isTrue(cl.EmailVerified) {
		return Profile{}, notVerified("Cognito")
	}
	return Profile{ID: idt.Subject, Username: cl.Username, Email: cl.Email, EmailVerified: true}, nil
}

// NewOIDC returns a generic OpenID Connect provider for issuer (overridden by
// Settings.Issuer). Its endpoints come from the issuer's discovery document
// (cached per issuer by this value and its copies) and its profile from the
// id_token, verified against the issuer's JWKS: asymmetric algorithms only,
// issuer, audience = Settings.Key, expiry. email_verified must be true or
// "true" ("Email not verified by <DisplayName>"). When the id_token has no
// email, the userinfo endpoint is asked, and its "sub" must match.
//
// Scopes default to openid, email and profile; DisplayName to name (set it
// for the message). The client authenticates with HTTP Basic unless
// discovery lists only client_secret_post. Profile is nil: FetchProfile
// verifies the id_token itself unless Profile is set.
func NewOIDC(name, issuer string) Provider {
	return Provider{
		Name:           name,
		DisplayName:    name,
		Scopes:         []string{"openid", "email", "profile"},
		ScopeDelimiter: " ",
		PKCE:           true,
		Issuer:         issuer,
		oidc:           &oidcResolver{cache: map[string]*discovered{}},
	}
}

// isOIDC reports whether p's endpoints and profile come from discovery: made
// by NewOIDC, or a literal with an Issuer.
func (p Provider) isOIDC() bool { return p.oidc != nil || p.Issuer != "" }

// resolver returns p's discovery cache, or a throwaway one for a literal.
func (p Provider) resolver() *oidcResolver {
	if p.oidc != nil {
		return p.oidc
	}
	return &oidcResolver{cache: map[string]*discovered{}}
}

func (p Provider) issuer(s Settings) string {
	if s.Issuer != "" {
		return s.Issuer
	}
	return p.Issuer
}

type discovered struct {
	provider *oidc.Provider
	endpoint oauth2.Endpoint
}

// oidcResolver caches discovery documents by issuer. Failures are not cached.
type oidcResolver struct {
	mu    sync.Mutex
	cache map[string]*discovered
}

func (r *oidcResolver) discover(ctx context.Context, issuer string) (*discovered, error) {
	if issuer == "" {
		return nil, misconfigured("OpenID Connect issuer is not configured")
	}
	if _, err := resolveURL(issuer, "", ""); err != nil {
		return nil, err
	}
	r.mu.Lock()
	d, ok := r.cache[issuer]
	r.mu.Unlock()
	if ok {
		return d, nil
	}
	op, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		return nil, &Error{Kind: ErrUpstream, Message: "OpenID Connect discovery failed", Err: redact(err)}
	}
	var meta struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	_ = op.Claims(&meta)
	ep := op.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	if len(meta.AuthMethods) > 0 && !slices.Contains(meta.AuthMethods, "client_secret_basic") &&
		slices.Contains(meta.AuthMethods, "client_secret_post") {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	d = &discovered{provider: op, endpoint: ep}
	r.mu.Lock()
	r.cache[issuer] = d
	r.mu.Unlock()
	return d, nil
}

func (r *oidcResolver) profile(ctx context.Context, p Provider, tok *oauth2.Token, s Settings) (Profile, error) {
	raw := idTokenOf(tok)
	if raw == "" {
		return Profile{}, &Error{Kind: ErrInvalidToken, Message: "No id_token."}
	}
	d, err := r.discover(ctx, p.issuer(s))
	if err != nil {
		return Profile{}, err
	}
	v := d.provider.Verifier(&oidc.Config{ClientID: s.Key, SupportedSigningAlgs: asymmetricAlgs})
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		return Profile{}, tokenVerifyFailed(err)
	}
	var cl struct {
		Email             string `json:"email"`
		EmailVerified     any    `json:"email_verified"`
		PreferredUsername string `json:"preferred_username"`
		Nickname          string `json:"nickname"`
		Name              string `json:"name"`
	}
	if err := idt.Claims(&cl); err != nil {
		return Profile{}, tokenVerifyFailed(err)
	}
	if cl.Email == "" && tok.AccessToken != "" && d.provider.UserInfoEndpoint() != "" {
		ui, err := d.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return Profile{}, &Error{Kind: ErrUpstream, Message: "Provider request failed", Err: redact(err)}
		}
		if ui.Subject != idt.Subject {
			return Profile{}, tokenVerifyFailed(nil)
		}
		if err := ui.Claims(&cl); err != nil {
			return Profile{}, &Error{Kind: ErrUpstream, Message: "Invalid response from provider", Err: err}
		}
	}
	if cl.Email == "" {
		return Profile{}, noEmail()
	}
	if cl.EmailVerified != true && cl.EmailVerified != "true" {
		return Profile{}, notVerified(p.DisplayName)
	}
	username := firstNonEmpty(cl.PreferredUsername, cl.Nickname, cl.Name, localPart(cl.Email))
	return Profile{ID: idt.Subject, Username: username, Email: cl.Email, EmailVerified: true}, nil
}
