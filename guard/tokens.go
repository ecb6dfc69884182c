package guard

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Tokens issues and verifies Gatehouse's access tokens: HS256, claims exactly
// {id, iat, exp}, as Strapi's legacy mode.
type Tokens struct {
	Secret []byte
	TTL    time.Duration
	Now    func() time.Time
	// SessionsOnly accepts only refresh mode's access tokens (type "access"
	// with a sessionId), as Strapi's session manager does: tokens issued
	// in legacy mode stop working when refresh mode is turned on.
	SessionsOnly bool
}

// errBadToken is any token that does not verify; the cause stays internal.
var errBadToken = errors.New("guard: invalid token")

// Issue signs a token for the user id.
func (t Tokens) Issue(userID uint) (string, error) {
	now := t.Now()
	claims := jwt.MapClaims{"id": userID, "iat": now.Unix(), "exp": now.Add(t.TTL).Unix()}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.Secret)
	if err != nil {
		return "", fmt.Errorf("guard: sign token: %w", err)
	}
	return signed, nil
}

type tokenClaims struct {
	ID        json.Number `json:"id"`
	Type      string      `json:"type"`
	SessionID string      `json:"sessionId"`
	jwt.RegisteredClaims
}

// Verify checks the signature (HS256 only), expiry and the id claim, and
// returns the user id and the issue time.
func (t Tokens) Verify(token string) (userID uint, issuedAt time.Time, err error) {
	var claims tokenClaims
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(t.Now),
		jwt.WithJSONNumber(),
	)
	_, err = parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return t.Secret, nil })
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("%w: %v", errBadToken, err)
	}
	id, err := claims.ID.Int64()
	if err != nil || id <= 0 || id > math.MaxInt32*int64(1<<21) {
		return 0, time.Time{}, fmt.Errorf("%w: id claim %q", errBadToken, claims.ID)
	}
	if claims.IssuedAt == nil {
		return 0, time.Time{}, fmt.Errorf("%w: no iat", errBadToken)
	}
	if t.SessionsOnly && (claims.Type != "access" || claims.SessionID == "") {
		return 0, time.Time{}, fmt.Errorf("%w: not an access token of a session (refresh mode)", errBadToken)
	}
	return uint(id), claims.IssuedAt.Time, nil
}
