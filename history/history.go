// Package history keeps the policy's history: one append-only entry per
// change to the policy table (casbin_rule) — who made it (actor and source),
// when, an optional message, and the rows added and removed, stored
// compactly (one database row per entry, however many policy rows changed).
//
// Entries are written in the transaction of the change, keyed by the policy
// revision the change produced, so concurrent writers never lose or
// duplicate one. Changes made straight in SQL (which only move the revision,
// through the triggers) are caught later: a copy of the rows as of the last
// recorded change (the "known" rows) tells what the hand edit changed, and
// the first instance to notice records it once as an "sql" entry.
//
// The package knows GORM and a table of rows (ptype, v0…v5); nothing about
// Casbin. Rows are []string: the ptype, then the values.
package history

import (
	"context"
	"errors"
	"time"
)

// Sources of a change.
const (
	SourceAPI       = "api"
	SourceAdmin     = "admin"
	SourceCLI       = "cli"
	SourceSQL       = "sql"
	SourceBootstrap = "bootstrap"
	// SourceLibrary is a change made through the Go API by code that named
	// no actor (an embedding app).
	SourceLibrary = "library"
)

// Change says who makes a policy change, and why; it travels in the
// context of the write (WithChange).
type Change struct {
	// UserID is the acting user's id (0: none, such as the CLI).
	UserID uint
	// Actor is the username, "cli:<os user>", "sql" or "bootstrap".
	Actor string
	// Source is one of the Source constants.
	Source string
	// Message is an optional note (the CLI's --message).
	Message string
	// Reverts is the revision a revert restored (0: not a revert).
	Reverts int64
}

type changeKey struct{}

// WithChange returns a context whose policy writes are recorded as made by c.
func WithChange(ctx context.Context, c Change) context.Context {
	return context.WithValue(ctx, changeKey{}, c)
}

// ChangeFrom returns the change the context names; without one, an
// anonymous change from the library.
func ChangeFrom(ctx context.Context) Change {
	if c, ok := ctx.Value(changeKey{}).(Change); ok {
		if c.Source == "" {
			c.Source = SourceLibrary
		}
		return c
	}
	return Change{Source: SourceLibrary}
}

// Entry is one recorded change.
type Entry struct {
	Revision int64     `json:"revision"`
	Time     time.Time `json:"time"`
	UserID   uint      `json:"userId,omitempty"`
	Actor    string    `json:"actor"`
	Source   string    `json:"source"`
	Message  string    `json:"message,omitempty"`
	Reverts  int64     `json:"reverts,omitempty"`
	// AddedCount and RemovedCount are the sizes of Added and Removed,
	// known without reading the rows.
	AddedCount   int `json:"addedCount"`
	RemovedCount int `json:"removedCount"`
	// Added and Removed are the rows (ptype first); nil in listings.
	Added   [][]string `json:"added,omitempty"`
	Removed [][]string `json:"removed,omitempty"`
}

// ErrNotFound is returned for a revision with no entry.
var ErrNotFound = errors.New("history: no entry at this revision")

// ErrPruned is returned when the rows as of a revision cannot be rebuilt:
// entries after it were pruned, or it predates the history.
var ErrPruned = errors.New("history: the revision is older than the history kept")
