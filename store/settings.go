package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gatehouse/gatehouse/revision"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Settings keys, as Strapi's plugin store names them where Strapi has one.
const (
	KeyAdvanced  = "advanced"
	KeyEmail     = "email"
	KeyGrant     = "grant"
	KeyJWTSecret = "jwt_secret"
)

// Advanced is the advanced-settings document (spec §4.4), stored as JSON under
// KeyAdvanced. The role is stored by type, as Strapi's admin UI does.
type Advanced struct {
	UniqueEmail                  bool    `json:"unique_email"`
	AllowRegister                bool    `json:"allow_register"`
	EmailConfirmation            bool    `json:"email_confirmation"`
	EmailResetPassword           *string `json:"email_reset_password"`
	EmailConfirmationRedirection *string `json:"email_confirmation_redirection"`
	DefaultRole                  string  `json:"default_role"`
}

// DefaultAdvanced returns Strapi's defaults.
func DefaultAdvanced() Advanced {
	return Advanced{UniqueEmail: true, AllowRegister: true, DefaultRole: "authenticated"}
}

// settingsRevision counts the changes to the settings table: every write
// made through Settings bumps it in its own transaction, and database
// triggers bump it for SQL typed by hand, so an instance whose cache was
// loaded at another revision knows it must read again (ReloadIfChanged).
var settingsRevision = revision.Counter{Name: "gatehouse_settings_revision", Watched: "gatehouse_settings", Function: "gatehouse_bump_settings_revision"}

// Settings reads and writes the JSON documents of the settings table. Reads
// are cached in memory. The cache is dropped on every write made through it
// and, for writes made by another instance or by hand, whenever
// ReloadIfChanged finds that the settings revision moved (main calls it on
// a Redis notice and periodically); Invalidate drops it unconditionally.
type Settings struct {
	db    *gorm.DB
	mu    sync.RWMutex
	cache map[string][]byte // a nil value: no row
	// advanced is the decoded advanced settings (read on every
	// authenticated request); generation counts invalidations, so a decode
	// that raced with a write is not kept.
	advanced   *Advanced
	generation uint64
	// seen is the settings revision last read by ReloadIfChanged (0: none);
	// written under checkMu, read by Revision at any time.
	seen atomic.Int64
	// checkMu serialises ReloadIfChanged.
	checkMu sync.Mutex
	// onChange is the OnChange hook (nil: none).
	onChange atomic.Pointer[func(revision int64)]
}

// Settings returns the settings accessor.
func (s *Store) Settings() *Settings {
	s.settingsOnce.Do(func() { s.settings = &Settings{db: s.DB, cache: map[string][]byte{}} })
	return s.settings
}

// Get decodes the document stored under key into dst; found is false when no
// row exists (dst is then untouched).
func (s *Settings) Get(ctx context.Context, key string, dst any) (found bool, err error) {
	s.mu.RLock()
	raw, ok := s.cache[key]
	gen := s.generation
	s.mu.RUnlock()
	if !ok {
		var row Setting
		err := s.db.WithContext(ctx).Where(&Setting{Key: key}).Take(&row).Error
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return false, fmt.Errorf("store: settings %s: %w", key, err)
		}
		raw = nil
		if err == nil {
			raw = []byte(row.Value)
		}
		s.mu.Lock()
		if s.generation == gen { // no write landed while we read
			s.cache[key] = raw
		}
		s.mu.Unlock()
	}
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return true, fmt.Errorf("store: settings %s: decode: %w", key, err)
	}
	return true, nil
}

// Put stores v as JSON under key, replacing any previous document.
func (s *Settings) Put(ctx context.Context, key string, v any) error {
	return s.put(s.db.WithContext(ctx), key, v, false)
}

// PutIfAbsent stores v under key only when no document exists yet.
func (s *Settings) PutIfAbsent(ctx context.Context, key string, v any) error {
	return s.put(s.db.WithContext(ctx), key, v, true)
}

// put writes the document and bumps the settings revision in one
// transaction, then drops the cache and calls the OnChange hook.
func (s *Settings) put(db *gorm.DB, key string, v any, ifAbsent bool) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: settings %s: encode: %w", key, err)
	}
	onConflict := clause.OnConflict{Columns: []clause.Column{{Name: "name"}}, DoUpdates: clause.AssignmentColumns([]string{"value", "updated_at"})}
	if ifAbsent {
		onConflict = clause.OnConflict{DoNothing: true}
	}
	var rev int64
	err = db.Transaction(func(tx *gorm.DB) error {
		res := tx.Clauses(onConflict).Create(&Setting{Key: key, Value: string(raw)})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error // nothing written: the revision stays
		}
		if err := settingsRevision.Bump(tx); err != nil {
			return err
		}
		rev, err = settingsRevision.Read(tx.Statement.Context, tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: settings %s: %w", key, err)
	}
	if rev == 0 {
		return nil
	}
	s.Invalidate()
	if hook := s.onChange.Load(); hook != nil {
		(*hook)(rev)
	}
	return nil
}

// ReloadIfChanged drops the cache when the stored settings revision differs
// from the one it last saw, and returns both: one small query, so a
// duplicate, late or forged notice costs little. The first call always
// drops the cache.
func (s *Settings) ReloadIfChanged(ctx context.Context) (before, after int64, err error) {
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	rev, err := settingsRevision.Read(ctx, s.db)
	if err != nil {
		return s.seen.Load(), s.seen.Load(), fmt.Errorf("store: settings: %w", err)
	}
	before = s.seen.Load()
	if rev != before {
		s.Invalidate()
		s.seen.Store(rev)
	}
	return before, rev, nil
}

// Revision is the settings revision this instance last read (0 before the
// first check), for monitoring that the instances agree; it never waits for
// the database.
func (s *Settings) Revision() int64 { return s.seen.Load() }

// OnChange sets the hook called with the new settings revision after each
// write made through Settings, once committed, on the writer's goroutine, so
// it should be quick (cluster.SettingsChanged queues a notice). A later call
// replaces the hook; nil removes it.
func (s *Settings) OnChange(hook func(revision int64)) {
	if hook == nil {
		s.onChange.Store(nil)
		return
	}
	s.onChange.Store(&hook)
}

// Invalidate drops every cached document.
func (s *Settings) Invalidate() {
	s.mu.Lock()
	clear(s.cache)
	s.advanced = nil
	s.generation++
	s.mu.Unlock()
}

// Advanced returns the advanced settings, Strapi's defaults where none are stored.
func (s *Settings) Advanced(ctx context.Context) (Advanced, error) {
	s.mu.RLock()
	cached, gen := s.advanced, s.generation
	s.mu.RUnlock()
	if cached != nil {
		return cached.clone(), nil
	}
	adv := DefaultAdvanced()
	if _, err := s.Get(ctx, KeyAdvanced, &adv); err != nil {
		return DefaultAdvanced(), err
	}
	s.mu.Lock()
	if s.generation == gen { // no write landed since we looked
		kept := adv.clone()
		s.advanced = &kept
	}
	s.mu.Unlock()
	return adv, nil
}

// clone copies a, pointers included, so callers never share the cached value.
func (a Advanced) clone() Advanced {
	if a.EmailResetPassword != nil {
		v := *a.EmailResetPassword
		a.EmailResetPassword = &v
	}
	if a.EmailConfirmationRedirection != nil {
		v := *a.EmailConfirmationRedirection
		a.EmailConfirmationRedirection = &v
	}
	return a
}
