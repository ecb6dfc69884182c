package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"gorm.io/gorm"
)

// ErrTaken means a registration collided with an existing email or username
// (Strapi's cross-field rule: an email may not be someone's username either).
var ErrTaken = errors.New("store: email or username already taken")

// Users queries up_users.
type Users struct {
	db *gorm.DB
	// registerMu serialises the conflict check and the insert of a
	// registration inside this process; the unique indexes (and SQLite's
	// immediate transactions) cover other processes.
	registerMu *sync.Mutex
	cache      *userCache
}

// Users returns the users accessor.
func (s *Store) Users() Users {
	s.usersOnce.Do(func() {
		s.registerMu = &sync.Mutex{}
		s.userCache = newUserCache()
	})
	return Users{db: s.DB, registerMu: s.registerMu, cache: s.userCache}
}

// ByID returns the user with its role.
func (u Users) ByID(ctx context.Context, id uint) (User, error) {
	var user User
	err := u.db.WithContext(ctx).Joins("Role").Where("up_users.id = ?", id).Take(&user).Error
	return user, translate(err)
}

// LocalByIdentifier finds the local user whose email equals the lower-cased
// identifier or whose username equals it exactly (spec §2.1 step 3).
func (u Users) LocalByIdentifier(ctx context.Context, identifier string) (User, error) {
	var user User
	err := u.db.WithContext(ctx).
		Where("provider = ? AND (email = ? OR username = ?)", "local", strings.ToLower(identifier), identifier).
		Order("id").Take(&user).Error
	return user, translate(err)
}

// ByEmail returns the users having this (lower-cased) email, any provider.
func (u Users) ByEmail(ctx context.Context, email string) ([]User, error) {
	var users []User
	err := u.db.WithContext(ctx).Joins("Role").Where("up_users.email = ?", strings.ToLower(email)).Order("up_users.id").Find(&users).Error
	return users, translate(err)
}

// Register inserts a new user unless its email or username collides with an
// existing one: across local users always, across every provider when
// uniqueEmail is set. The check and the insert are atomic.
func (u Users) Register(ctx context.Context, user *User, uniqueEmail bool) error {
	u.registerMu.Lock()
	defer u.registerMu.Unlock()
	return translate(u.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if n, err := countConflicts(tx, user.Email, user.Username, "local"); err != nil {
			return err
		} else if n > 0 {
			return ErrTaken
		}
		if uniqueEmail {
			if n, err := countConflicts(tx, user.Email, user.Username, ""); err != nil {
				return err
			} else if n > 0 {
				return ErrTaken
			}
		}
		if err := tx.Create(user).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return ErrTaken
			}
			return err
		}
		return nil
	}))
}

func countConflicts(tx *gorm.DB, email, username, provider string) (int64, error) {
	lower := strings.ToLower(email)
	q := tx.Model(&User{}).Where("(email = ? OR username = ? OR username = ? OR email = ?)", lower, lower, username, username)
	if provider != "" {
		q = q.Where("provider = ?", provider)
	}
	var n int64
	err := q.Count(&n).Error
	return n, err
}

// Create inserts a user as given (admin creation, OAuth sign-up).
func (u Users) Create(ctx context.Context, user *User) error {
	return translate(u.db.WithContext(ctx).Create(user).Error)
}

// Update writes the given columns of the user.
func (u Users) Update(ctx context.Context, id uint, columns map[string]any) error {
	defer u.cache.drop(id)
	res := u.db.WithContext(ctx).Model(&User{}).Where("id = ?", id).Updates(columns)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// Delete removes the user.
func (u Users) Delete(ctx context.Context, id uint) error {
	defer u.cache.drop(id)
	res := u.db.WithContext(ctx).Delete(&User{}, id)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// Exists reports whether a user other than exceptID has the column equal to value.
func (u Users) Exists(ctx context.Context, column, value string, exceptID uint) (bool, error) {
	switch column {
	case "email", "username":
	default:
		return false, fmt.Errorf("store: users: Exists on %q", column)
	}
	var n int64
	err := u.db.WithContext(ctx).Model(&User{}).Where(column+" = ? AND id <> ?", value, exceptID).Count(&n).Error
	return n > 0, translate(err)
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
