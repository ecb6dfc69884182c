package store

import (
	"context"
	"errors"
	"strings"

	"gorm.io/gorm"
)

// ErrEmailTaken means a user signing up through an OAuth provider has an
// email another user already has (Strapi: "Email is already taken.").
var ErrEmailTaken = errors.New("store: email already taken")

// CreateFromProvider inserts a user signing in through an OAuth provider for
// the first time. With refuseSharedEmail (unique_email, or an email the
// provider did not verify) it fails with ErrEmailTaken when any user, of any
// provider, has the email; the check and the insert are atomic. A username or
// provider+email collision fails with ErrConflict: the caller looks again.
// The username is claimed among the identifiers (identifiers.go); the email
// check is an indexed lookup in the insert's transaction, so it holds
// against other sign-ups of this instance and, on SQLite, of every
// instance (one writer at a time), while on PostgreSQL and MySQL two
// instances creating users of two different providers with one email at
// the same moment could both pass it.
func (u Users) CreateFromProvider(ctx context.Context, user *User, refuseSharedEmail bool) error {
	user.Email = strings.ToLower(user.Email)
	err := u.transaction(ctx, func(tx *gorm.DB) error {
		if refuseSharedEmail {
			if held, err := emailHeld(tx, user.Email); err != nil {
				return err
			} else if held {
				return ErrEmailTaken
			}
		}
		if err := tx.Create(user).Error; err != nil {
			return err
		}
		if err := u.writeCustom(tx, user); err != nil {
			return err
		}
		return claimIdentifiers(tx, user)
	})
	if err != nil {
		user.ID = 0
	}
	u.keepPublic(user)
	return translate(err)
}
