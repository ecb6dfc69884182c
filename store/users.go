package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/store/userquery"
	"github.com/gatehouse/gatehouse/userfields"
	"gorm.io/gorm"
)

// ErrTaken means a registration collided with an existing email or username
// (Strapi's cross-field rule: an email may not be someone's username either).
var ErrTaken = errors.New("store: email or username already taken")

// Users queries up_users (and up_user_identifiers, which follows it).
type Users struct {
	db     *gorm.DB
	cache  *userCache
	schema *userquery.Schema
	fields *userfields.Config
}

// Users returns the users accessor.
func (s *Store) Users() Users {
	s.usersOnce.Do(func() { s.userCache = newUserCache() })
	return Users{db: s.DB, cache: s.userCache, schema: s.querySchema(), fields: s.fields}
}

// ByID returns the user with its role.
func (u Users) ByID(ctx context.Context, id uint) (User, error) {
	var user User
	err := u.db.WithContext(ctx).Joins("Role").Where("up_users.id = ?", id).Take(&user).Error
	return u.withCustom(ctx, user, translate(err))
}

// LocalByEmail finds the local user with this email, compared
// case-insensitively (the provider and email index).
func (u Users) LocalByEmail(ctx context.Context, email string) (User, error) {
	var user User
	err := u.db.WithContext(ctx).Where("provider = ? AND email = ?", "local", strings.ToLower(email)).Take(&user).Error
	return u.withCustom(ctx, user, translate(err))
}

// LocalByUsername finds the local user with exactly this username (the
// username index).
func (u Users) LocalByUsername(ctx context.Context, username string) (User, error) {
	var user User
	err := u.db.WithContext(ctx).Where("username = ? AND provider = ?", username, "local").Take(&user).Error
	return u.withCustom(ctx, user, translate(err))
}

// ByEmail returns the users having this (lower-cased) email, any provider.
func (u Users) ByEmail(ctx context.Context, email string) ([]User, error) {
	var users []User
	err := u.db.WithContext(ctx).Joins("Role").Where("up_users.email = ?", strings.ToLower(email)).Order("up_users.id").Find(&users).Error
	if err != nil {
		return users, translate(err)
	}
	return users, u.loadCustom(ctx, users, u.publicFields())
}

// Register inserts a new local user unless its email or username is
// already someone's email or username (Strapi's cross-field rule, here
// case-insensitive): the identifiers' key refuses it within the insert's
// transaction, whichever instance holds the other one. With uniqueEmail the
// email (and the username) may not be the email of another provider's user
// either: an indexed lookup in the same transaction.
func (u Users) Register(ctx context.Context, user *User, uniqueEmail bool) error {
	user.Email = strings.ToLower(user.Email)
	err := u.transaction(ctx, func(tx *gorm.DB) error {
		if uniqueEmail {
			if held, err := emailHeld(tx, user.Email, NormalizeIdentifier(user.Username)); err != nil {
				return err
			} else if held {
				return ErrTaken
			}
		}
		if err := tx.Create(user).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return ErrTaken
			}
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

// Create inserts a user as given (admin creation, OAuth sign-up) with its
// identifiers; one already held by another user is ErrConflict (and
// ErrTaken).
func (u Users) Create(ctx context.Context, user *User) error {
	err := u.transaction(ctx, func(tx *gorm.DB) error {
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

// writeCustom stores user.Custom (custom fields by name), with the default
// of every field it leaves out (whoever creates the user: the API, an OAuth
// sign-up, the CLI), in the row just inserted, within the insert's
// transaction: a value another user holds in a unique field is
// gorm.ErrDuplicatedKey (ErrConflict once translated).
func (u Users) writeCustom(tx *gorm.DB, user *User) error {
	if u.fields != nil {
		for _, f := range u.fields.Fields {
			if _, set := user.Custom[f.Name]; !set && f.Default != nil {
				if user.Custom == nil {
					user.Custom = make(map[string]any)
				}
				user.Custom[f.Name], _ = f.Check(f.Default) // checked when the file was read
			}
		}
	}
	if len(user.Custom) == 0 {
		return nil
	}
	columns, err := u.customColumns(user.Custom)
	if err != nil {
		return err
	}
	return tx.Table("up_users").Where("id = ?", user.ID).Updates(columns).Error
}

// keepPublic leaves in user.Custom the public custom fields only (nil when
// unset), as a read would: a private value written never comes back.
func (u Users) keepPublic(user *User) {
	names := u.publicFields()
	if len(names) == 0 {
		user.Custom = nil
		return
	}
	public := make(map[string]any, len(names))
	for _, n := range names {
		public[n] = user.Custom[n]
	}
	user.Custom = public
}

// Update writes the given columns of the user. A new username or email
// moves the user's identifiers in the same transaction: one already held by
// another user is ErrConflict (and ErrTaken), and nothing is written.
func (u Users) Update(ctx context.Context, id uint, columns map[string]any) error {
	defer u.cache.drop(id)
	_, username := columns["username"]
	_, email := columns["email"]
	return translate(u.transaction(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&User{}).Where("id = ?", id).Updates(columns)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		if username || email {
			return reclaimIdentifiers(tx, id)
		}
		return nil
	}))
}

// Delete removes the user and its identifiers.
func (u Users) Delete(ctx context.Context, id uint) error {
	defer u.cache.drop(id)
	return translate(u.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("user_id = ?", id).Delete(&Identifier{}).Error; err != nil {
			return err
		}
		res := tx.Delete(&User{}, id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	}))
}

// Exists reports whether a user other than exceptID has the column equal to
// value (both columns are indexed; emails are stored lower-cased).
func (u Users) Exists(ctx context.Context, column, value string, exceptID uint) (bool, error) {
	switch column {
	case "email", "username":
	default:
		return false, fmt.Errorf("store: users: Exists on %q", column)
	}
	var ids []uint
	err := u.db.WithContext(ctx).Model(&User{}).Where(column+" = ? AND id <> ?", value, exceptID).Limit(1).Pluck("id", &ids).Error
	return len(ids) > 0, translate(err)
}

// CountByRole returns the number of users of each role id.
func (u Users) CountByRole(ctx context.Context) (map[uint]int64, error) {
	var rows []struct {
		RoleID uint
		N      int64
	}
	err := u.db.WithContext(ctx).Model(&User{}).Select("role_id, count(*) AS n").Where("role_id IS NOT NULL").Group("role_id").Scan(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	counts := make(map[uint]int64, len(rows))
	for _, r := range rows {
		counts[r.RoleID] = r.N
	}
	return counts, nil
}
