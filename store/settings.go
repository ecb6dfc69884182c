package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

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

// Settings reads and writes the JSON documents of the settings table. Reads
// are cached in memory and the cache is dropped on every write made through
// it; Invalidate drops it for writes made elsewhere.
type Settings struct {
	db    *gorm.DB
	mu    sync.RWMutex
	cache map[string][]byte // a nil value: no row
	// advanced is the decoded advanced settings (read on every
	// authenticated request); generation counts invalidations, so a decode
	// that raced with a write is not kept.
	advanced   *Advanced
	generation uint64
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

func (s *Settings) put(db *gorm.DB, key string, v any, ifAbsent bool) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: settings %s: encode: %w", key, err)
	}
	onConflict := clause.OnConflict{Columns: []clause.Column{{Name: "name"}}, DoUpdates: clause.AssignmentColumns([]string{"value", "updated_at"})}
	if ifAbsent {
		onConflict = clause.OnConflict{DoNothing: true}
	}
	if err := db.Clauses(onConflict).Create(&Setting{Key: key, Value: string(raw)}).Error; err != nil {
		return fmt.Errorf("store: settings %s: %w", key, err)
	}
	s.Invalidate()
	return nil
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
