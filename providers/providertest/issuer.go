package providertest

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/providers"
)

// User is the account an Issuer signs in.
type User struct {
	Subject       string
	Email         string
	EmailVerified any            // true, false or "true"; nil leaves the claim out
	Username      string         // preferred_username and cognito:username
	Claims        map[string]any // further claims; they win over the fields
}

// Forgery names a bad id_token an attacker could present.
type Forgery int

// The forgeries Issuer.Forge makes.
const (
	WrongKey          Forgery = iota + 1 // RS256 with the issuer's kid, signed by another key
	AlgNone                              // "alg":"none", empty signature (CVE-2023-22893)
	HS256ClientSecret                    // HS256 keyed with the client secret
	HS256PublicKey                       // HS256 keyed with the issuer's public key PEM (key confusion)
	Expired                              // valid signature, exp an hour ago
	WrongAudience                        // valid signature, aud another client
	WrongIssuer                          // valid signature, iss another issuer
	NoKeyID                              // valid signature, no kid in the header
)

// NonceMode is what an Issuer puts in the "nonce" claim of the id_tokens
// its token endpoint answers.
type NonceMode int

// The nonce modes of Issuer.SetNonceMode.
const (
	EchoNonce  NonceMode = iota // the authorization's nonce, as a provider must (the default)
	OmitNonce                   // no nonce claim at all
	AlterNonce                  // the authorization's nonce with its last character changed
)

// Issuer is a fake OpenID Connect provider: discovery
// (/.well-known/openid-configuration), JWKS (/.well-known/jwks.json, where
// Cognito keeps it, so the issuer is the JWKS URL minus that suffix),
// /authorize, /token (JSON with an RS256 id_token for the user), /userinfo
// (also at Keycloak's /protocol/openid-connect/userinfo). The id_token of a
// code exchange carries the nonce of its authorization request, unless
// SetNonceMode says otherwise.
//
// Shared with the other fakes: SetTokenDown, AccessToken, Authorizations,
// TokenRequests and Requests.
type Issuer struct {
	*server
	URL          string
	ClientID     string
	ClientSecret string

	key, other *rsa.PrivateKey
	kid        string

	mu      sync.Mutex
	account User
	queue   []User
	raw     []string
	nonce   NonceMode
}

// NewIssuer starts an Issuer whose default user is u.
func NewIssuer(t testing.TB, u User) *Issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("providertest: rsa key: %v", err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("providertest: rsa key: %v", err)
	}
	i := &Issuer{
		server:  newServer("oidc-client-id", "oidc-client-secret"),
		key:     key,
		other:   other,
		kid:     "key-" + randomHex(4),
		account: u,
	}
	i.ClientID, i.ClientSecret = i.clientID, i.clientSecret
	i.pick = i.next
	i.extra = func(g grant) map[string]any {
		i.mu.Lock()
		if len(i.raw) > 0 {
			raw := i.raw[0]
			i.raw = i.raw[1:]
			i.mu.Unlock()
			return map[string]any{"id_token": raw}
		}
		mode := i.nonce
		i.mu.Unlock()
		c := i.claims(g.subject.(User))
		if n, ok := nonceClaim(mode, g.nonce); ok {
			c["nonce"] = n
		}
		return map[string]any{"id_token": i.sign(map[string]any{"alg": "RS256", "typ": "JWT", "kid": i.kid}, c, i.key)}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", i.discovery)
	mux.HandleFunc("GET /.well-known/jwks.json", i.jwks)
	mux.HandleFunc("GET /authorize", i.authorize)
	mux.HandleFunc("/token", i.token)
	mux.HandleFunc("/userinfo", i.userinfo)
	mux.HandleFunc("/protocol/openid-connect/userinfo", i.userinfo)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	i.URL = srv.URL
	return i
}

func (i *Issuer) next() any {
	i.mu.Lock()
	defer i.mu.Unlock()
	if len(i.queue) > 0 {
		u := i.queue[0]
		i.queue = i.queue[1:]
		return u
	}
	return i.account
}

// QueueUser makes the next authorization (or AccessToken) sign in u instead
// of the default user.
func (i *Issuer) QueueUser(u User) {
	i.mu.Lock()
	i.queue = append(i.queue, u)
	i.mu.Unlock()
}

// QueueIDToken makes the next token answer carry raw as its id_token, e.g.
// a Forge result, so a forged token can travel through the code exchange.
func (i *Issuer) QueueIDToken(raw string) {
	i.mu.Lock()
	i.raw = append(i.raw, raw)
	i.mu.Unlock()
}

// SetNonceMode sets what the id_tokens of later code exchanges carry as
// their nonce: the authorization's (EchoNonce), none, or another one.
func (i *Issuer) SetNonceMode(m NonceMode) {
	i.mu.Lock()
	i.nonce = m
	i.mu.Unlock()
}

// nonceClaim is the nonce claim for an authorization that sent nonce, and
// whether to put one at all.
func nonceClaim(m NonceMode, nonce string) (string, bool) {
	switch m {
	case OmitNonce:
		return "", false
	case AlterNonce:
		if nonce == "" {
			return "forged-nonce", true
		}
		last := nonce[len(nonce)-1]
		alt := byte('0')
		if last == '0' {
			alt = '1'
		}
		return nonce[:len(nonce)-1] + string(alt), true
	}
	return nonce, nonce != ""
}

// JWKSURL is where the issuer publishes its keys.
func (i *Issuer) JWKSURL() string { return i.URL + "/.well-known/jwks.json" }

// Settings returns enabled settings for a providers.NewOIDC provider.
func (i *Issuer) Settings() providers.Settings {
	return providers.Settings{
		Enabled:  true,
		Key:      i.ClientID,
		Secret:   i.ClientSecret,
		Callback: "http://localhost:3000/connect/oidc/redirect",
		Scope:    []string{"openid", "email", "profile"},
		Issuer:   i.URL,
	}
}

// CognitoSettings returns enabled cognito settings pointing at the issuer.
func (i *Issuer) CognitoSettings() providers.Settings {
	return providers.Settings{
		Enabled:      true,
		Icon:         "aws",
		Key:          i.ClientID,
		Secret:       i.ClientSecret,
		Callback:     "http://localhost:3000/connect/cognito/redirect",
		Scope:        []string{"email", "openid", "profile"},
		Subdomain:    strings.TrimPrefix(i.URL, "http://"),
		JWKSURL:      i.JWKSURL(),
		AuthorizeURL: i.URL + "/authorize",
		TokenURL:     i.URL + "/token",
	}
}

// KeycloakSettings returns enabled keycloak settings pointing at the issuer.
func (i *Issuer) KeycloakSettings() providers.Settings {
	return providers.Settings{
		Enabled:      true,
		Key:          i.ClientID,
		Secret:       i.ClientSecret,
		Callback:     "http://localhost:3000/connect/keycloak/redirect",
		Scope:        []string{"openid", "email", "profile"},
		Subdomain:    strings.TrimPrefix(i.URL, "http://"),
		AuthorizeURL: i.URL + "/authorize",
		TokenURL:     i.URL + "/token",
		APIURL:       i.URL,
	}
}

func (i *Issuer) claims(u User) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss":       i.URL,
		"aud":       i.ClientID,
		"sub":       u.Subject,
		"iat":       now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
		"token_use": "id",
	}
	if u.Email != "" {
		c["email"] = u.Email
	}
	if u.EmailVerified != nil {
		c["email_verified"] = u.EmailVerified
	}
	if u.Username != "" {
		c["preferred_username"] = u.Username
		c["cognito:username"] = u.Username
	}
	for k, v := range u.Claims {
		c[k] = v
	}
	return c
}

// IDToken returns a valid RS256 id_token for u, signed by the published key.
func (i *Issuer) IDToken(u User) string {
	return i.sign(map[string]any{"alg": "RS256", "typ": "JWT", "kid": i.kid}, i.claims(u), i.key)
}

// Forge returns an id_token for u that a verifier must refuse.
func (i *Issuer) Forge(f Forgery, u User) string {
	c := i.claims(u)
	h := map[string]any{"alg": "RS256", "typ": "JWT", "kid": i.kid}
	switch f {
	case WrongKey:
		return i.sign(h, c, i.other)
	case AlgNone:
		h["alg"] = "none"
		return seg(h) + "." + seg(c) + "."
	case HS256ClientSecret:
		h["alg"] = "HS256"
		return hs256(h, c, []byte(i.ClientSecret))
	case HS256PublicKey:
		h["alg"] = "HS256"
		der, _ := x509.MarshalPKIXPublicKey(&i.key.PublicKey)
		return hs256(h, c, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	case Expired:
		c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
		c["exp"] = time.Now().Add(-time.Hour).Unix()
	case WrongAudience:
		c["aud"] = "someone-else"
	case WrongIssuer:
		c["iss"] = "https://evil.example.com"
	case NoKeyID:
		delete(h, "kid")
	}
	return i.sign(h, c, i.key)
}

func seg(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (i *Issuer) sign(h, c map[string]any, key *rsa.PrivateKey) string {
	input := seg(h) + "." + seg(c)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func hs256(h, c map[string]any, key []byte) string {
	input := seg(h) + "." + seg(c)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (i *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                i.URL,
		"authorization_endpoint":                i.URL + "/authorize",
		"token_endpoint":                        i.URL + "/token",
		"userinfo_endpoint":                     i.URL + "/userinfo",
		"jwks_uri":                              i.JWKSURL(),
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "email", "profile"},
	})
}

func (i *Issuer) jwks(w http.ResponseWriter, _ *http.Request) {
	pub := i.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": i.kid,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

func (i *Issuer) userinfo(w http.ResponseWriter, r *http.Request) {
	u, ok := i.user(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	c := i.claims(u.(User))
	for _, k := range []string{"iss", "aud", "iat", "exp", "token_use", "cognito:username"} {
		delete(c, k)
	}
	writeJSON(w, http.StatusOK, c)
}
