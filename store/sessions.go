package store

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Refresh-token sessions (Strapi v5's jwtManagement: 'refresh').
//
// A session is one row of up_sessions: its current refresh token's SHA-256
// hash, and the hash of the token that current one replaced. A refresh
// rotates the row in place (the current hash becomes the previous one), in
// one conditional update that only one of several concurrent refreshes of a
// token can win, so a session's storage never grows with its refreshes.
//
// Presenting the previous token again, while it would otherwise still be
// valid, means two parties hold tokens of the session (one of them a thief):
// the session is revoked (ErrRefreshTokenReused). Older tokens are merely
// unknown (ErrInvalidRefreshToken): the theft that matters is of the token
// a client holds now, and its replay is the previous token's as soon as
// either party refreshes.

var (
	// ErrInvalidRefreshToken means no unexpired session holds the token:
	// unknown, expired, revoked, or its session is gone.
	ErrInvalidRefreshToken = errors.New("store: invalid refresh token")
	// ErrRefreshTokenReused means the token had already been rotated: its
	// whole session has been revoked.
	ErrRefreshTokenReused = errors.New("store: refresh token reused; session revoked")
)

// Session is a row of up_sessions: one refresh-token session.
type Session struct {
	ID uint `gorm:"primaryKey"`
	// SessionID is the public id of the session, stable across refreshes.
	SessionID string `gorm:"size:64;not null;index"`
	UserID    uint   `gorm:"not null;index"`
	User      *User  `gorm:"foreignKey:UserID;constraint:OnDelete:CASCADE"`
	// TokenHash is the hex SHA-256 of the current refresh token (HashToken).
	TokenHash string `gorm:"size:64;not null;uniqueIndex"`
	// PreviousHash is the hash of the token the last refresh replaced, kept
	// to recognise its reuse until PreviousExpiresAt, its own idle expiry.
	PreviousHash      *string `gorm:"size:64;index"`
	PreviousExpiresAt *time.Time
	DeviceID          string `gorm:"size:255;not null"`
	DeviceName        string `gorm:"size:255;not null;default:''"`
	// LoginAt is when the session began (the sign-in).
	LoginAt time.Time `gorm:"not null"`
	// IssuedAt is when the current token was issued: the sign-in or the
	// last refresh, the session's last activity.
	IssuedAt time.Time `gorm:"not null"`
	// ExpiresAt is the current token's idle expiry, never past
	// AbsoluteExpiresAt.
	ExpiresAt time.Time `gorm:"not null;index"`
	// AbsoluteExpiresAt ends the session, however active.
	AbsoluteExpiresAt time.Time `gorm:"not null"`
	// RotatedAt is set only on rows written before rotation in place, when
	// each refresh inserted a row and marked its predecessor rotated: such a
	// row's token counts as a previous token until it expires.
	RotatedAt *time.Time
}

// TableName names the sessions table.
func (Session) TableName() string { return "up_sessions" }

// Sessions queries up_sessions.
type Sessions struct {
	db *gorm.DB
}

// Sessions returns the sessions accessor.
func (s *Store) Sessions() Sessions { return Sessions{db: s.DB} }

// NewSessionID returns a random public session id: 16 bytes from
// crypto/rand as 32 hex characters.
func NewSessionID() string { return randomHex(16) }

// Create stores a new session whose first token's hash is sess.TokenHash;
// SessionID is generated when empty, and ExpiresAt is capped at
// AbsoluteExpiresAt. It first prunes the expired rows of every user (an
// indexed delete), so the table holds only live sessions and the rotated
// tokens still worth recognising.
func (s Sessions) Create(ctx context.Context, sess *Session) error {
	if len(sess.TokenHash) != 2*sha256.Size || sess.UserID == 0 {
		return errors.New("store: sessions: a session needs a user and a token hash")
	}
	if sess.SessionID == "" {
		sess.SessionID = NewSessionID()
	}
	sess.LoginAt, sess.IssuedAt = sess.LoginAt.UTC(), sess.IssuedAt.UTC()
	sess.ExpiresAt, sess.AbsoluteExpiresAt = sess.ExpiresAt.UTC(), sess.AbsoluteExpiresAt.UTC()
	if sess.ExpiresAt.After(sess.AbsoluteExpiresAt) {
		sess.ExpiresAt = sess.AbsoluteExpiresAt
	}
	if _, err := s.Prune(ctx, sess.IssuedAt); err != nil {
		return err
	}
	return translate(s.db.WithContext(ctx).Create(sess).Error)
}

// Prune deletes the rows expired at now: sessions idle or past their end,
// and rotated tokens that would have expired anyway.
func (s Sessions) Prune(ctx context.Context, now time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("expires_at <= ?", now.UTC()).Delete(&Session{})
	return res.RowsAffected, translate(res.Error)
}

// byHash finds the row of a token hash, comparing the stored hash in
// constant time (see Users.ByToken on why looking a hash up is safe).
func (s Sessions) byHash(ctx context.Context, hash string) (Session, error) {
	if len(hash) != 2*sha256.Size {
		return Session{}, ErrInvalidRefreshToken
	}
	var row Session
	err := translate(s.db.WithContext(ctx).Where("token_hash = ?", hash).Take(&row).Error)
	if errors.Is(err, ErrNotFound) {
		return Session{}, ErrInvalidRefreshToken
	}
	if err != nil {
		return Session{}, err
	}
	if subtle.ConstantTimeCompare([]byte(row.TokenHash), []byte(hash)) != 1 {
		return Session{}, ErrInvalidRefreshToken
	}
	return row, nil
}

// live reports whether the row's token is usable at now.
func (r Session) live(now time.Time) bool {
	return r.RotatedAt == nil && now.Before(r.ExpiresAt) && now.Before(r.AbsoluteExpiresAt)
}

// Active returns the session row of a token that is neither rotated nor
// expired, or ErrInvalidRefreshToken. It changes nothing.
func (s Sessions) Active(ctx context.Context, hash string, now time.Time) (Session, error) {
	row, err := s.byHash(ctx, hash)
	if err != nil {
		return Session{}, err
	}
	if !row.live(now) {
		return Session{}, ErrInvalidRefreshToken
	}
	return row, nil
}

// Rotate replaces the token whose hash is hash by the one whose hash is
// newHash, in place, and returns the session as updated. The new token's
// idle expiry is now+idle, capped by the session's end.
//
//   - An unknown or expired token: ErrInvalidRefreshToken.
//   - The session's previous token (rotated before this call, or by a
//     concurrent call that won) while it would otherwise still be valid:
//     the session is revoked and the error is ErrRefreshTokenReused. Of
//     several concurrent refreshes of one token, exactly one succeeds.
//   - allow, when not nil, sees the current row before anything changes; an
//     error from it is returned as is and nothing changes.
func (s Sessions) Rotate(ctx context.Context, hash, newHash string, now time.Time, idle time.Duration, allow func(Session) error) (Session, error) {
	if len(newHash) != 2*sha256.Size {
		return Session{}, errors.New("store: sessions: rotate needs the new token's hash")
	}
	now = now.UTC()
	old, err := s.byHash(ctx, hash)
	if errors.Is(err, ErrInvalidRefreshToken) {
		return Session{}, s.previous(ctx, hash, now)
	}
	if err != nil {
		return Session{}, err
	}
	if !now.Before(old.ExpiresAt) || !now.Before(old.AbsoluteExpiresAt) {
		return Session{}, ErrInvalidRefreshToken
	}
	if old.RotatedAt != nil {
		return Session{}, s.reused(ctx, old)
	}
	if allow != nil {
		if err := allow(old); err != nil {
			return Session{}, err
		}
	}
	next := old
	prevHash, prevExpires := old.TokenHash, old.ExpiresAt
	next.TokenHash, next.PreviousHash, next.PreviousExpiresAt = newHash, &prevHash, &prevExpires
	next.IssuedAt, next.ExpiresAt = now, now.Add(idle)
	if next.ExpiresAt.After(next.AbsoluteExpiresAt) {
		next.ExpiresAt = next.AbsoluteExpiresAt
	}
	res := s.db.WithContext(ctx).Model(&Session{}).Where("id = ? AND token_hash = ?", old.ID, old.TokenHash).Updates(map[string]any{
		"token_hash": newHash, "previous_hash": prevHash, "previous_expires_at": prevExpires,
		"issued_at": now, "expires_at": next.ExpiresAt,
	})
	if res.Error != nil {
		return Session{}, translate(res.Error)
	}
	if res.RowsAffected == 0 {
		// Another refresh of this token committed first (or the session
		// was revoked meanwhile): this one presented a rotated token.
		return Session{}, s.reused(ctx, old)
	}
	return next, nil
}

// previous handles a token hash that is no session's current one: the
// previous token of a session, still within its own expiry, revokes that
// session (ErrRefreshTokenReused); anything else is ErrInvalidRefreshToken.
func (s Sessions) previous(ctx context.Context, hash string, now time.Time) error {
	var row Session
	err := translate(s.db.WithContext(ctx).Where("previous_hash = ?", hash).Take(&row).Error)
	switch {
	case errors.Is(err, ErrNotFound):
		return ErrInvalidRefreshToken
	case err != nil:
		return err
	case row.PreviousHash == nil || subtle.ConstantTimeCompare([]byte(*row.PreviousHash), []byte(hash)) != 1:
		return ErrInvalidRefreshToken
	case row.PreviousExpiresAt == nil || !now.Before(*row.PreviousExpiresAt) || !now.Before(row.AbsoluteExpiresAt):
		return ErrInvalidRefreshToken
	}
	return s.reused(ctx, row)
}

// reused revokes the session of a reused token and returns
// ErrRefreshTokenReused (or the revocation's failure).
func (s Sessions) reused(ctx context.Context, row Session) error {
	if err := s.deleteSession(ctx, row.UserID, row.SessionID); err != nil {
		return fmt.Errorf("store: sessions: revoke after reuse: %w", err)
	}
	return ErrRefreshTokenReused
}

func (s Sessions) deleteSession(ctx context.Context, userID uint, sessionID string) error {
	return translate(s.db.WithContext(ctx).Where("user_id = ? AND session_id = ?", userID, sessionID).Delete(&Session{}).Error)
}

// List returns the user's live sessions (their active rows), the most
// recently active first.
func (s Sessions) List(ctx context.Context, userID uint, now time.Time) ([]Session, error) {
	var rows []Session
	now = now.UTC()
	err := s.db.WithContext(ctx).
		Where("user_id = ? AND rotated_at IS NULL AND expires_at > ? AND absolute_expires_at > ?", userID, now, now).
		Order("issued_at DESC, id DESC").Find(&rows).Error
	return rows, translate(err)
}

// Revoke ends the user's session sessionID, reporting whether it was live.
// Another user's session is neither touched nor reported.
func (s Sessions) Revoke(ctx context.Context, userID uint, sessionID string, now time.Time) (bool, error) {
	now = now.UTC()
	var live int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&Session{}).
			Where("user_id = ? AND session_id = ? AND rotated_at IS NULL AND expires_at > ? AND absolute_expires_at > ?", userID, sessionID, now, now).
			Count(&live).Error; err != nil {
			return err
		}
		return tx.Where("user_id = ? AND session_id = ?", userID, sessionID).Delete(&Session{}).Error
	})
	return live > 0, translate(err)
}

// RevokeDevice ends the user's sessions of the device and returns how many
// rows went.
func (s Sessions) RevokeDevice(ctx context.Context, userID uint, deviceID string) (int64, error) {
	res := s.db.WithContext(ctx).Where("user_id = ? AND device_id = ?", userID, deviceID).Delete(&Session{})
	return res.RowsAffected, translate(res.Error)
}

// Cap keeps the user's max most recently active sessions and revokes the
// others, the least recently active first; it returns how many went. A
// max below 1 keeps every session.
func (s Sessions) Cap(ctx context.Context, userID uint, max int) (int64, error) {
	if max < 1 {
		return 0, nil
	}
	var ids []uint
	err := s.db.WithContext(ctx).Model(&Session{}).Where("user_id = ?", userID).
		Order("issued_at DESC, id DESC").Offset(max).Limit(1000).Pluck("id", &ids).Error
	if err != nil || len(ids) == 0 {
		return 0, translate(err)
	}
	res := s.db.WithContext(ctx).Where("user_id = ? AND id IN ?", userID, ids).Delete(&Session{})
	return res.RowsAffected, translate(res.Error)
}

// RevokeAll ends every session of the user and returns how many rows went.
func (s Sessions) RevokeAll(ctx context.Context, userID uint) (int64, error) {
	res := s.db.WithContext(ctx).Where("user_id = ?", userID).Delete(&Session{})
	return res.RowsAffected, translate(res.Error)
}
