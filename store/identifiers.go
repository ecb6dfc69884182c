package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// The identifier namespace. A user signs in with an email or a username,
// and Strapi's rule is that a new user's email may not be anyone's username
// and the other way round. Two unique indexes on two columns cannot say
// that, and a check followed by an insert races between instances; so
// every user's identifiers are also rows of one table whose primary key is
// the identifier, normalized (lower-cased): every username, and the email
// of every local user (other providers' users may share an email with a
// local user when unique_email is off, as in Strapi). A user's rows are
// written in the same transaction as the user, so the database itself
// refuses a second holder of an identifier on every engine, under any
// isolation level, from any instance, without a lock.
//
// A consequence: usernames are unique case-insensitively (on MariaDB and
// MySQL the username column's collation already made them so).

// Identifier is a row of up_user_identifiers: one normalized identifier
// and the user holding it.
type Identifier struct {
	Normalized identifierText `gorm:"primaryKey"`
	UserID     uint           `gorm:"not null;index"`
	User       *User          `gorm:"foreignKey:UserID;constraint:OnDelete:CASCADE"`
}

// TableName names the identifiers table.
func (Identifier) TableName() string { return "up_user_identifiers" }

// identifierText is the identifier column's type: compared byte for byte
// on every engine. On MySQL/MariaDB that is VARBINARY (a _bin collation
// still pads trailing spaces, a _ci one folds accents); elsewhere text
// already compares by bytes. 1536 bytes hold 255 characters of any case.
type identifierText string

// GormDBDataType gives the column type of each dialect.
func (identifierText) GormDBDataType(db *gorm.DB, _ *schema.Field) string {
	if db.Dialector.Name() == "mysql" {
		return "VARBINARY(1536)"
	}
	return "VARCHAR(1536)"
}

// NormalizeIdentifier is the form under which an email or username is
// unique: lower-cased, as emails are stored.
func NormalizeIdentifier(s string) string { return strings.ToLower(s) }

// identifiersOf lists the normalized identifiers the user holds, sorted
// (concurrent writers insert in one order: no deadlock between them).
func identifiersOf(u *User) []Identifier {
	values := []string{NormalizeIdentifier(u.Username)}
	if u.Provider == "local" {
		if email := NormalizeIdentifier(u.Email); email != values[0] {
			values = append(values, email)
		}
	}
	slices.Sort(values)
	rows := make([]Identifier, len(values))
	for i, v := range values {
		rows[i] = Identifier{Normalized: identifierText(v), UserID: u.ID}
	}
	return rows
}

// errIdentifierTaken is what a write refused by the identifiers' key
// returns: both ErrTaken and ErrConflict.
var errIdentifierTaken = fmt.Errorf("%w (%w)", ErrTaken, ErrConflict)

// claimIdentifiers inserts the user's identifier rows; a row already held
// by another user is errIdentifierTaken.
func claimIdentifiers(tx *gorm.DB, u *User) error {
	err := tx.Create(identifiersOf(u)).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return errIdentifierTaken
	}
	return err
}

// reclaimIdentifiers replaces the user's identifier rows by those of its
// current username and email.
func reclaimIdentifiers(tx *gorm.DB, id uint) error {
	var u User
	if err := tx.Select("id", "username", "email", "provider").Where("id = ?", id).Take(&u).Error; err != nil {
		return err
	}
	if err := tx.Where("user_id = ?", id).Delete(&Identifier{}).Error; err != nil {
		return err
	}
	return claimIdentifiers(tx, &u)
}

// IdentifierOwner returns the id of the user holding the identifier (a
// username, or a local user's email), compared case-insensitively.
func (u Users) IdentifierOwner(ctx context.Context, identifier string) (id uint, found bool, err error) {
	var row Identifier
	err = u.db.WithContext(ctx).Select("user_id").Where("normalized = ?", NormalizeIdentifier(identifier)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, translate(err)
	}
	return row.UserID, true, nil
}

// emailHeld reports whether a user of any provider has one of the
// (normalized) emails.
func emailHeld(tx *gorm.DB, emails ...string) (bool, error) {
	var ids []uint
	err := tx.Model(&User{}).Where("email IN ?", emails).Limit(1).Pluck("id", &ids).Error
	return len(ids) > 0, err
}

// transaction runs fn in a transaction, again (up to five times in all,
// after a short random pause) when the database chose it as a deadlock
// victim: on MySQL/MariaDB, when the first of several concurrent inserts
// of one key rolls back, the waiting ones deadlock; the retry then meets
// the row of whichever went through.
func (u Users) transaction(ctx context.Context, fn func(tx *gorm.DB) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = u.db.WithContext(ctx).Transaction(fn)
		if attempt == 5 || !deadlocked(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(1+rand.IntN(4*attempt)) * time.Millisecond):
		}
	}
}

// deadlocked reports whether err is a deadlock (or, on PostgreSQL, a
// serialization failure) that a retry may get past.
func deadlocked(err error) bool {
	var my *mysql.MySQLError
	var pg *pgconn.PgError
	switch {
	case errors.As(err, &my):
		return my.Number == 1213 // ER_LOCK_DEADLOCK
	case errors.As(err, &pg):
		return pg.Code == "40P01" || pg.Code == "40001"
	}
	return false
}

// identifiersBackfilled marks, in the settings table, a database whose
// existing users have their identifier rows.
const identifiersBackfilled = "identifiers_backfilled"

// backfillIdentifiers gives the users of a database created before the
// identifiers table their rows, once, 1,000 users per statement. Where
// existing users already collide (usernames differing only in case, or one
// user's username equal to another's email) the first by id keeps the
// identifier and the next ones get no row for it: nobody new can take it,
// and they can still sign in. It returns how many identifiers were left out.
func (s *Store) backfillIdentifiers(ctx context.Context) (skipped int64, err error) {
	db := s.DB.WithContext(ctx)
	var n int64
	if err := db.Model(&Setting{}).Where("name = ?", identifiersBackfilled).Count(&n).Error; err != nil || n > 0 {
		return 0, err
	}
	var last uint
	for {
		var users []User
		err := db.Select("id", "username", "email", "provider").Where("id > ?", last).Order("id").Limit(1000).Find(&users).Error
		if err != nil {
			return skipped, err
		}
		if len(users) == 0 {
			break
		}
		rows := make([]Identifier, 0, 2*len(users))
		seen := make(map[identifierText]bool, 2*len(users))
		for i := range users {
			for _, r := range identifiersOf(&users[i]) {
				if seen[r.Normalized] {
					skipped++
					continue
				}
				seen[r.Normalized] = true
				rows = append(rows, r)
			}
		}
		res := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows)
		if res.Error != nil {
			return skipped, fmt.Errorf("store: backfill identifiers: %w", res.Error)
		}
		skipped += int64(len(rows)) - res.RowsAffected
		last = users[len(users)-1].ID
	}
	mark := Setting{Key: identifiersBackfilled, Value: `"` + time.Now().UTC().Format(time.RFC3339) + `"`}
	return skipped, db.Clauses(clause.OnConflict{DoNothing: true}).Create(&mark).Error
}
