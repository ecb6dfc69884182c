package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrReplaced means the SQLite file was deleted or replaced since Open: the
// open connections still write into the old file, which nobody will read
// again, so every write is refused until Gatehouse is restarted.
var ErrReplaced = errors.New("store: the SQLite database file was deleted or replaced while open; writes are refused until a restart")

// readyRow is the one row of gatehouse_ready, written by Ready to prove
// that the database takes writes.
type readyRow struct {
	ID        uint `gorm:"primaryKey;autoIncrement:false"`
	CheckedAt time.Time
}

// TableName names the readiness table.
func (readyRow) TableName() string { return "gatehouse_ready" }

// watchFile remembers which file the SQLite path names now, and refuses
// every write (create, update, delete, raw statement) once it names another
// file or none.
func (s *Store) watchFile() error {
	if s.path == "" {
		return nil
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	s.file = fi
	refuse := func(db *gorm.DB) {
		if err := s.checkFile(); err != nil {
			db.AddError(err)
		}
	}
	cb := s.DB.Callback()
	for _, err := range []error{
		cb.Create().Before("gorm:create").Register("gatehouse:file", refuse),
		cb.Update().Before("gorm:update").Register("gatehouse:file", refuse),
		cb.Delete().Before("gorm:delete").Register("gatehouse:file", refuse),
		cb.Raw().Before("gorm:raw").Register("gatehouse:file", refuse),
	} {
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	return nil
}

// checkFile returns ErrReplaced when the SQLite path no longer names the
// file opened (deleted, or replaced by another: a restore, a mistaken rm).
func (s *Store) checkFile() error {
	if s.file == nil {
		return nil
	}
	fi, err := os.Stat(s.path)
	if err != nil || !os.SameFile(fi, s.file) {
		return ErrReplaced
	}
	return nil
}

// Ready checks the write path: the SQLite file is still the one opened, and
// a transaction writing one row commits. It fails while writes would fail
// (database down or unreachable, disk full or read-only, file replaced) and
// succeeds again, with no restart, once they would not (but for a replaced
// file).
func (s *Store) Ready(ctx context.Context) error {
	if err := s.checkFile(); err != nil {
		return err
	}
	return s.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		row := readyRow{ID: 1, CheckedAt: s.Now().Truncate(time.Millisecond)}
		return tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&row).Error
	})
}
