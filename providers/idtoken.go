package providers

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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
// (cognitoVerify) and Strapi 5.53 then requires email_verified === true.
func cognitoProfile(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
	idt, err := cognitoVerify(ctx, idTokenOf(tok), s)
	if err != nil {
		return Profile{}, err
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

// cognitoVerify verifies a Cognito id_token against the JWKS at
// Settings.JWKSURL: RS256 only, key matched by kid, audience = the app client
// id (Settings.Key), expiry, and the issuer when known. The fix for
// CVE-2023-22893, where the token was decoded but not verified.
func cognitoVerify(ctx context.Context, raw string, s Settings) (*oidc.IDToken, error) {
	if raw == "" {
		return nil, &Error{Kind: ErrInvalidToken, Message: "Cognito authentication requires a completed OAuth session"}
	}
	if s.JWKSURL == "" {
		return nil, misconfigured("Cognito JWKS URL is not configured")
	}
	if _, err := resolveURL(s.JWKSURL, "", ""); err != nil {
		return nil, err
	}
	if !hasKeyID(raw) {
		return nil, tokenNotValid()
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
		return nil, tokenVerifyFailed(err)
	}
	return idt, nil
}

// UsesIDToken reports whether p's profile is read from an id_token it
// verifies: cognito, and the OpenID Connect providers (NewOIDC, or a
// literal with an Issuer) without a Profile function. Those are the
// providers an OpenID Connect nonce protects: the connect flow sends them
// one (AuthCodeURL) and checks it in the id_token of the code exchange
// (VerifyIDToken). Providers whose profile comes from an API call with the
// access token (Google's tokeninfo, Keycloak's userinfo…) report false.
func (p Provider) UsesIDToken() bool {
	return p.idToken != nil || (p.Profile == nil && p.isOIDC())
}

// VerifyIDToken verifies the id_token of tok as FetchProfile does
// (signature with an allowed algorithm, issuer, audience, expiry) and that
// its "nonce" claim is nonce, the value given to AuthCodeURL for this
// sign-in, compared in constant time. Call it on the token that Exchange
// returned, before the token leaves the server.
//
// An empty nonce, an id_token without a nonce claim and one with another
// nonce (a token issued for another sign-in, injected or replayed) fail
// like every other id_token failure: an *Error wrapping ErrInvalidToken,
// "There was an error verifying the token". Providers that do not
// UsesIDToken are an ErrMisconfigured error.
func (p Provider) VerifyIDToken(ctx context.Context, s Settings, tok *oauth2.Token, nonce string) error {
	ctx, _, cancel := withClient(ctx)
	defer cancel()
	if err := p.verifyIDToken(ctx, s, tok, nonce); err != nil {
		return fmt.Errorf("providers: %s: verify id_token: %w", p.Name, err)
	}
	return nil
}

func (p Provider) verifyIDToken(ctx context.Context, s Settings, tok *oauth2.Token, nonce string) error {
	raw := ""
	if tok != nil {
		raw = idTokenOf(tok)
	}
	var idt *oidc.IDToken
	var err error
	switch {
	case p.idToken != nil:
		idt, err = p.idToken(ctx, raw, s)
	case p.UsesIDToken():
		idt, _, err = p.resolver().verify(ctx, p, raw, s)
	default:
		return misconfigured("Provider does not use an id_token")
	}
	if err != nil {
		return err
	}
	return checkNonce(nonce, idt.Nonce)
}

// checkNonce compares the nonce sent for the sign-in with the id_token's
// claim, in constant time. The causes name no value.
func checkNonce(sent, claim string) error {
	switch {
	case sent == "":
		return tokenVerifyFailed(errors.New("no nonce was sent for this sign-in"))
	case claim == "":
		return tokenVerifyFailed(errors.New("the id_token has no nonce"))
	case subtle.ConstantTimeCompare([]byte(sent), []byte(claim)) != 1:
		return tokenVerifyFailed(errors.New("the id_token's nonce is not this sign-in's"))
	}
	return nil
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

// maxCachedIssuers bounds an oidcResolver's cache.
const maxCachedIssuers = 64

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
	if len(r.cache) >= maxCachedIssuers {
		// Issuers come from settings an admin may change at will: start
		// over rather than grow without bound.
		clear(r.cache)
	}
	r.cache[issuer] = d
	r.mu.Unlock()
	return d, nil
}

// verify checks an id_token of p against its issuer's keys: asymmetric
// algorithms only, issuer, audience = Settings.Key, expiry.
func (r *oidcResolver) verify(ctx context.Context, p Provider, raw string, s Settings) (*oidc.IDToken, *discovered, error) {
	if raw == "" {
		return nil, nil, &Error{Kind: ErrInvalidToken, Message: "No id_token."}
	}
	d, err := r.discover(ctx, p.issuer(s))
	if err != nil {
		return nil, nil, err
	}
	v := d.provider.Verifier(&oidc.Config{ClientID: s.Key, SupportedSigningAlgs: asymmetricAlgs})
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		return nil, nil, tokenVerifyFailed(err)
	}
	return idt, d, nil
}

func (r *oidcResolver) profile(ctx context.Context, p Provider, tok *oauth2.Token, s Settings) (Profile, error) {
	idt, d, err := r.verify(ctx, p, idTokenOf(tok), s)
	if err != nil {
		return Profile{}, err
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Profile{}, tokenVerifyFailed(err)
	}
	emailClaim := firstNonEmpty(s.EmailClaim, "email")
	if claimString(claims, emailClaim) == "" && tok.AccessToken != "" && d.provider.UserInfoEndpoint() != "" {
		ui, err := d.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return Profile{}, &Error{Kind: ErrUpstream, Message: "Provider request failed", Err: redact(err)}
		}
		if ui.Subject != idt.Subject {
			return Profile{}, tokenVerifyFailed(nil)
		}
		var more map[string]any
		if err := ui.Claims(&more); err != nil {
			return Profile{}, &Error{Kind: ErrUpstream, Message: "Invalid response from provider", Err: err}
		}
		// The id_token's verified claims win over the userinfo answer's.
		for k, v := range claims {
			more[k] = v
		}
		claims = more
	}
	email := claimString(claims, emailClaim)
	if email == "" {
		return Profile{}, noEmail()
	}
	if v := claims["email_verified"]; v != true && v != "true" {
		return Profile{}, notVerified(p.DisplayName)
	}
	username := localPart(email)
	if s.UsernameClaim != "" {
		username = firstNonEmpty(claimString(claims, s.UsernameClaim), username)
	} else {
		username = firstNonEmpty(claimString(claims, "preferred_username"), claimString(claims, "nickname"),
			claimString(claims, "name"), username)
	}
	return Profile{ID: idt.Subject, Username: username, Email: email, EmailVerified: true}, nil
}

// claimString is the claim name of claims as text: a string or a number.
func claimString(claims map[string]any, name string) string {
	return scalarString(claims[name])
}
