package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// A user's single-use tokens: the password-reset code and the
// email-confirmation token. Unlike Strapi, which stores them as they are and
// never expires the reset code, Gatehouse stores only their SHA-256 hash (so
// a database leak gives no working code), gives each an expiry, and keeps one
// per kind: a new token replaces the old one.
//
// Issuing records the expiry only, not the issue time; the issue time is
// derived as expiry − TTL where the resend limit needs it (IssueToken).

// TokenKind names one of the user's single-use tokens.
type TokenKind int

// The token kinds.
const (
	// ResetToken is the password-reset code (reset_password_token).
	ResetToken TokenKind = iota + 1
	// ConfirmationToken is the email-confirmation token (confirmation_token).
	ConfirmationToken
)

// String names the kind for logs and errors.
func (k TokenKind) String() string {
	switch k {
	case ResetToken:
		return "reset"
	case ConfirmationToken:
		return "confirmation"
	}
	return fmt.Sprintf("TokenKind(%d)", int(k))
}

// columns returns the hash and expiry columns of the kind.
func (k TokenKind) columns() (hash, expires string, err error) {
	switch k {
	case ResetToken:
		return "reset_password_token", "reset_token_expires_at", nil
	case ConfirmationToken:
		return "confirmation_token", "confirmation_expires", nil
	}
	return "", "", fmt.Errorf("store: unknown token kind %d", int(k))
}

// fields returns the user's stored hash and expiry of the kind.
func (k TokenKind) fields(u User) (hash *string, expires *time.Time) {
	if k == ResetToken {
		return u.ResetPasswordToken, u.ResetTokenExpiresAt
	}
	return u.ConfirmationToken, u.ConfirmationExpires
}

// tokenBytes is the entropy of a token: 256 bits.
const tokenBytes = 32

var (
	// ErrInvalidToken means no user holds an unexpired token of that kind
	// with that hash: unknown, already used, replaced by a newer one, or
	// expired.
	ErrInvalidToken = errors.New("store: invalid or expired token")
	// ErrTooSoon means the user's current token of that kind was issued
	// less than the minimum interval ago; nothing was changed.
	ErrTooSoon = errors.New("store: a token was issued too recently")
)

// NewToken returns a new token, 32 bytes from crypto/rand as 64 lower-case
// hex characters (safe in any URL and email client), and the hash to store
// for it.
func NewToken() (token, hash string, err error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("store: new token: %w", err)
	}
	token = hex.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken returns the stored form of a token: the hex SHA-256 of its
// bytes (64 characters, the size of the hash columns). Any string hashes;
// a token that was never issued simply matches no user.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// IssueToken stores hash as the user's token of the kind, valid until
// now+ttl, replacing any earlier one, and returns that expiry.
//
// With minInterval > 0 it refuses (ErrTooSoon, nothing changed) when the
// current token was issued less than minInterval ago, its issue time being
// taken as its expiry − ttl. This is the per-address resend limit. Should the
// TTL have changed since, a derived issue time in the future counts as old,
// so a configuration change can allow one early resend but never blocks one.
//
// The write is a compare-and-swap on the previous hash, so two concurrent
// issues for one user (even from two instances) cannot both pass the limit.
func (u Users) IssueToken(ctx context.Context, kind TokenKind, userID uint, hash string, now time.Time, ttl, minInterval time.Duration) (time.Time, error) {
	hashCol, expCol, err := kind.columns()
	if err != nil {
		return time.Time{}, err
	}
	defer u.cache.drop(userID)
	for attempt := 0; attempt < 3; attempt++ {
		var user User
		err := u.db.WithContext(ctx).Select("id", hashCol, expCol).Where("id = ?", userID).Take(&user).Error
		if err != nil {
			return time.Time{}, translate(err)
		}
		oldHash, oldExpires := kind.fields(user)
		if minInterval > 0 && oldHash != nil && oldExpires != nil {
			issued := oldExpires.Add(-ttl)
			if !issued.After(now) && now.Sub(issued) < minInterval {
				return time.Time{}, ErrTooSoon
			}
		}
		expires := now.UTC().Add(ttl)
		q := u.db.WithContext(ctx).Model(&User{}).Where("id = ?", userID)
		if oldHash == nil {
			q = q.Where(hashCol + " IS NULL")
		} else {
			q = q.Where(hashCol+" = ?", *oldHash)
		}
		res := q.Updates(map[string]any{hashCol: hash, expCol: expires})
		if res.Error != nil {
			return time.Time{}, translate(res.Error)
		}
		if res.RowsAffected == 1 {
			return expires, nil
		}
		// Another request changed the token between the read and the
		// write: read again, so the limit sees the newer token.
	}
	if minInterval > 0 {
		return time.Time{}, ErrTooSoon
	}
	return time.Time{}, fmt.Errorf("store: issue %s token for user %d: concurrent updates", kind, userID)
}

// SetTokenExpiry moves the expiry of the user's token of the kind to
// expires, if the token is still hash (ErrInvalidToken otherwise). After a
// failed delivery the handlers move it back by the resend interval, so the
// resend limit does not hold back a retry of a mail that never arrived.
func (u Users) SetTokenExpiry(ctx context.Context, kind TokenKind, userID uint, hash string, expires time.Time) error {
	hashCol, expCol, err := kind.columns()
	if err != nil {
		return err
	}
	defer u.cache.drop(userID)
	res := u.db.WithContext(ctx).Model(&User{}).Where("id = ? AND "+hashCol+" = ?", userID, hash).
		UpdateColumn(expCol, expires.UTC())
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrInvalidToken
	}
	return nil
}

// ByToken returns the user (with its role) holding an unexpired token of
// the kind whose hash is hash, or ErrInvalidToken. The row is found through
// the hash column's index; the stored hash is then compared in constant
// time. (Looking a hash up is safe where looking a token up is not: an
// attacker controls the token, not its hash, so a timing difference tells
// nothing about the stored value.)
func (u Users) ByToken(ctx context.Context, kind TokenKind, hash string, now time.Time) (User, error) {
	hashCol, _, err := kind.columns()
	if err != nil {
		return User{}, err
	}
	if len(hash) != 2*sha256.Size {
		return User{}, ErrInvalidToken
	}
	var user User
	err = translate(u.db.WithContext(ctx).Joins("Role").Where("up_users."+hashCol+" = ?", hash).Order("up_users.id").Take(&user).Error)
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrInvalidToken
	}
	if err != nil {
		return User{}, err
	}
	stored, expires := kind.fields(user)
	if stored == nil || subtle.ConstantTimeCompare([]byte(*stored), []byte(hash)) != 1 {
		return User{}, ErrInvalidToken
	}
	if expires == nil || !expires.After(now) {
		return User{}, ErrInvalidToken
	}
	return u.withCustom(ctx, user, nil)
}

// ConsumeToken uses the token: it finds its user as ByToken does, then in
// one conditional update clears the token and writes columns (the new
// password, confirmed, …). Only one of several concurrent callers with the
// same token succeeds; the others get ErrInvalidToken. It returns the user
// as updated, with its role.
func (u Users) ConsumeToken(ctx context.Context, kind TokenKind, hash string, now time.Time, columns map[string]any) (User, error) {
	hashCol, expCol, err := kind.columns()
	if err != nil {
		return User{}, err
	}
	user, err := u.ByToken(ctx, kind, hash, now)
	if err != nil {
		return User{}, err
	}
	defer u.cache.drop(user.ID)
	update := make(map[string]any, len(columns)+2)
	for k, v := range columns {
		update[k] = v
	}
	update[hashCol] = nil
	update[expCol] = nil
	res := u.db.WithContext(ctx).Model(&User{}).Where("id = ? AND "+hashCol+" = ?", user.ID, hash).Updates(update)
	if res.Error != nil {
		return User{}, translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return User{}, ErrInvalidToken
	}
	return u.ByID(ctx, user.ID)
}
