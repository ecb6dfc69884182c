package guard

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// verifiedTokensMax bounds the cache of verified tokens; past it the cache
// starts over (about 100 bytes an entry).
const verifiedTokensMax = 1 << 14

// verifiedTokens remembers the access tokens that verified, so a client that
// sends the same token again skips the signature check and the decoding of
// its claims (about half the CPU of an authenticated request). An entry is
// keyed by the SHA-256 of the token, so the cache holds no bearer token, and
// is honoured only until the token's own exp. The signing secret never
// changes during a Guard's life, so a token that verified once verifies
// again until it expires; revocation (TokensValidAfter), blocking and
// confirmation are still checked on every request against the user.
type verifiedTokens struct {
	mu     sync.RWMutex
	tokens map[[sha256.Size]byte]verifiedToken
	// hits and misses count the lookups, for the metrics.
	hits, misses atomic.Uint64
}

type verifiedToken struct {
	userID   uint
	issuedAt time.Time
	expires  time.Time
}

func newVerifiedTokens() *verifiedTokens {
	return &verifiedTokens{tokens: make(map[[sha256.Size]byte]verifiedToken)}
}

func (v *verifiedTokens) get(key [sha256.Size]byte, now time.Time) (verifiedToken, bool) {
	v.mu.RLock()
	t, ok := v.tokens[key]
	v.mu.RUnlock()
	if !ok || !now.Before(t.expires) { // jwt's own rule: valid while now < exp
		v.misses.Add(1)
		return verifiedToken{}, false
	}
	v.hits.Add(1)
	return t, true
}

func (v *verifiedTokens) put(key [sha256.Size]byte, t verifiedToken) {
	v.mu.Lock()
	if len(v.tokens) >= verifiedTokensMax {
		clear(v.tokens)
	}
	v.tokens[key] = t
	v.mu.Unlock()
}

// TokenCacheStats counts the lookups of the cache of verified access tokens
// that found the token, and those that did not (it was then verified).
func (g *Guard) TokenCacheStats() (hits, misses uint64) {
	return g.verified.hits.Load(), g.verified.misses.Load()
}

// verify is Tokens.Verify behind the cache of verified tokens.
func (g *Guard) verify(token string) (userID uint, issuedAt time.Time, err error) {
	key := sha256.Sum256([]byte(token))
	if t, ok := g.verified.get(key, g.tokens.Now()); ok {
		return t.userID, t.issuedAt, nil
	}
	userID, issuedAt, err = g.tokens.Verify(token)
	if err != nil {
		return 0, time.Time{}, err
	}
	if exp, ok := tokenExpiry(token); ok {
		g.verified.put(key, verifiedToken{userID: userID, issuedAt: issuedAt, expires: exp})
	}
	return userID, issuedAt, nil
}

// tokenExpiry reads the exp claim of a token that has verified, with jwt's
// own NumericDate decoding; ok is false when it cannot (the token is then
// simply not cached).
func tokenExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *jwt.NumericDate `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	return claims.Exp.Time, true
}
