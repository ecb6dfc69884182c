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
func (u Users) CreateFromProvider(ctx context.Context, user *User, refuseSharedEmail bool) error {
	u.registerMu.Lock()
	defer u.registerMu.Unlock()
	user.Email = strings.ToLower(user.Email)
	return translate(u.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if refuseSharedEmail {
			var n int64
			if err := tx.Model(&User{}).Where("email = ?", user.Email).Count(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				return ErrEmailTaken
			}
		}
		return tx.Create(user).Error
	}))
}
