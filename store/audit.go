package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// AuditEntry is one administrative action: who did what to which target,
// with a summary of the change. Summaries hold only what the handler chose
// to reveal (field names, non-secret values); never passwords, tokens or
// provider secrets.
type AuditEntry struct {
	ID        uint      `gorm:"primaryKey" json:"id"`
	CreatedAt time.Time `gorm:"not null;index:idx_gatehouse_audit_time" json:"time"`
	UserID    uint      `gorm:"not null;default:0" json:"userId,omitempty"`
	Actor     string    `gorm:"size:255;not null" json:"actor"`
	Source    string    `gorm:"size:32;not null" json:"source"`
	// Action names what was done: "role.create", "user.block", "settings.providers"…
	Action string `gorm:"size:64;not null" json:"action"`
	// Target names what it was done to: "role:editor", "user:12"…
	Target  string          `gorm:"size:255;not null" json:"target"`
	Summary json.RawMessage `gorm:"type:text" json:"summary,omitempty"`
}

// TableName is gatehouse_audit.
func (AuditEntry) TableName() string { return "gatehouse_audit" }

// Audit stores and lists the audit log.
type Audit struct{ db *Store }

// Audit returns the audit log's queries.
func (s *Store) Audit() Audit { return Audit{db: s} }

// Add stores an entry (its time and id are set here).
func (a Audit) Add(ctx context.Context, e *AuditEntry) error {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now().UTC()
	}
	if err := translate(a.db.DB.WithContext(ctx).Create(e).Error); err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	// Actor and Action match exactly ("" any).
	Actor, Action string
	// Since and Until bound the time (zero: unbounded); Until is exclusive.
	Since, Until time.Time
	// Limit and Offset page the entries, newest first (Limit 0: all).
	Limit, Offset int
}

// List returns a page of entries, newest first, and how many match.
func (a Audit) List(ctx context.Context, f AuditFilter) ([]AuditEntry, int64, error) {
	q := a.db.DB.WithContext(ctx).Model(&AuditEntry{})
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if !f.Since.IsZero() {
		q = q.Where("created_at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("created_at < ?", f.Until.UTC())
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("store: audit: %w", err)
	}
	page := q.Order("id DESC")
	if f.Limit > 0 {
		page = page.Limit(f.Limit).Offset(f.Offset)
	}
	var out []AuditEntry
	if err := page.Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("store: audit: %w", err)
	}
	return out, total, nil
}
