package policy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/history"
	"gorm.io/gorm"
)

// StaleError refuses a change made against a revision that is no longer
// the stored one (optimistic concurrency: If-Match, --expect-revision).
type StaleError struct {
	Expected, Current int64
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("policy: revision %d expected, the stored policy is at revision %d", e.Expected, e.Current)
}

// ErrNoHistory is returned by the history methods of an enforcer without
// a database (and so without history).
var ErrNoHistory = errors.New("policy: no history without a database")

func (e *Enforcer) now() time.Time { return time.Now().UTC() }

// begin starts a change in tx: it moves the revision (taking its lock, so
// changes by every instance are serialised), records any change made
// straight in SQL since the last recorded one, and returns the revision
// stored before the change.
func (e *Enforcer) begin(ctx context.Context, tx *gorm.DB) (int64, error) {
	// Fast path, with history: when the stored revision is still the one
	// this instance's last change committed (with its entry), no change came
	// between (every change moves the revision), so there is no hand edit
	// to record and the history's state need not be read. Moving the
	// revision only if it is that one takes its lock and checks in one
	// statement (on SQLite every statement is parsed again on each
	// execution, tens of microseconds each).
	if last := e.accounted.Load(); e.history != nil && last > 0 {
		moved, err := policyRevision.BumpFrom(tx, last)
		if err != nil || moved {
			return last, err
		}
	}
	if err := bumpRevision(tx); err != nil {
		return 0, err
	}
	if e.history != nil {
		return e.history.Begin(tx, e.now())
	}
	rev, err := readRevision(ctx, tx)
	return rev - 1, err
}

// committed notes that the change this instance committed at revision rev
// is recorded (begin's fast path).
func (e *Enforcer) committed(rev int64) {
	if e.history != nil {
		e.accounted.Store(rev)
	}
}

// catchLocked takes the revision's lock in tx and records a hand edit.
func (e *Enforcer) catchLocked(ctx context.Context, tx *gorm.DB) error {
	if e.history == nil {
		return nil
	}
	if _, err := lockRevision(ctx, tx); err != nil {
		return err
	}
	_, err := e.history.Catch(tx, e.now())
	return err
}

// CatchUp records, once across every instance, a change made straight in
// SQL since the last recorded change (the triggers moved the revision; no
// entry says who). ReloadIfChanged calls it; it costs one small read when
// there is nothing to record.
func (e *Enforcer) CatchUp(ctx context.Context) error {
	if e.history == nil {
		return nil
	}
	db := e.db.WithContext(ctx)
	if pending, err := e.history.Pending(db); err != nil || !pending {
		return err
	}
	return db.Transaction(func(tx *gorm.DB) error { return e.catchLocked(ctx, tx) })
}

// newRows returns the rules of add the table lacks (after this change's
// deletes, whose rows are removed). When this instance's memory is the
// stored policy as of before (the triggers guarantee no change went
// unseen), memory tells; otherwise the table does, a query a rule.
func (e *Enforcer) newRows(tx *gorm.DB, before int64, add, removed []Rule) ([]Rule, error) {
	if e.history == nil || len(add) == 0 {
		return nil, nil
	}
	gone := map[string]bool{}
	for _, r := range removed {
		gone[r.String()] = true
	}
	fromMemory := e.triggers && e.revision.Load() == before
	seen := map[string]bool{}
	var out []Rule
	for _, r := range add {
		k := r.String()
		if seen[k] {
			continue
		}
		seen[k] = true
		present := !gone[k] && e.has(r)
		if !fromMemory {
			var err error
			if present, err = ruleExists(tx, r); err != nil {
				return nil, err
			}
		}
		if !present {
			out = append(out, r)
		}
	}
	return out, nil
}

// recordUpdate records an Update: the rows its deletes removed and those
// its inserts added (newRows; MySQL's affected-row counts of an upsert do
// not tell).
func (e *Enforcer) recordUpdate(ctx context.Context, tx *gorm.DB, rev int64, added, removed []Rule) error {
	if e.history == nil {
		return nil
	}
	addedRows, removedRows := history.Diff(Rows(removed), Rows(added))
	return e.history.Record(tx, rev, history.ChangeFrom(ctx), e.now(), addedRows, removedRows)
}

// has reports whether memory holds the rule.
func (e *Enforcer) has(r Rule) bool {
	params := make([]any, len(r.Values))
	for i, v := range r.Values {
		params[i] = v
	}
	var ok bool
	if r.Type == "g" {
		ok, _ = e.casbin.HasGroupingPolicy(params...)
	} else {
		ok, _ = e.casbin.HasPolicy(params...)
	}
	return ok
}

// Rows turns rules into rows as history entries hold them (ptype first).
func Rows(rules []Rule) [][]string {
	out := make([][]string, len(rules))
	for i, r := range rules {
		out[i] = append([]string{r.Type}, r.Values...)
	}
	return out
}

// rulesOf turns history rows back into rules.
func rulesOf(rows [][]string) []Rule {
	out := make([]Rule, 0, len(rows))
	for _, r := range rows {
		if len(r) > 1 {
			out = append(out, Rule{Type: r[0], Values: r[1:]})
		}
	}
	return out
}

// SetHistoryRetention keeps history entries for d (0: forever); older ones
// are pruned by ReloadIfChanged, at most once an hour.
func (e *Enforcer) SetHistoryRetention(d time.Duration) { e.retention.Store(int64(d)) }

// settleAfter is how many entries may pile up after the history's known
// rows before they are brought up to date (what recording a hand edit
// replays).
const settleAfter = 1000

// maintain, at most once an hour per instance (every instance may; doing
// it twice is harmless), brings the history's known rows up to date when
// many entries piled up after them, and prunes the entries older than the
// retention. Failures are tried again an hour later; nothing waits on it.
func (e *Enforcer) maintain(ctx context.Context) {
	now := e.now()
	last := e.pruned.Load()
	if e.history == nil || now.UnixNano()-last < int64(time.Hour) || !e.pruned.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	var known int64
	err := e.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := lockRevision(ctx, tx); err != nil {
			return err
		}
		var err error
		known, err = e.history.Settle(tx, settleAfter, now)
		return err
	})
	if keep := time.Duration(e.retention.Load()); err == nil && keep > 0 {
		_, _ = e.history.Prune(ctx, e.db, now.Add(-keep), known)
	}
}

// History returns a page of history entries, newest first, without rows,
// and how many match.
func (e *Enforcer) History(ctx context.Context, f history.Filter) ([]history.Entry, int64, error) {
	if e.history == nil {
		return nil, 0, ErrNoHistory
	}
	return e.history.List(ctx, e.db, f)
}

// HistoryEntry returns the entry at revision rev with its rows
// (history.ErrNotFound when none).
func (e *Enforcer) HistoryEntry(ctx context.Context, rev int64) (history.Entry, error) {
	if e.history == nil {
		return history.Entry{}, ErrNoHistory
	}
	return e.history.Get(ctx, e.db, rev)
}

// HistoryAfter returns the entries recorded after revision rev, oldest
// first, without rows (what a stale change missed).
func (e *Enforcer) HistoryAfter(ctx context.Context, rev int64) ([]history.Entry, error) {
	if e.history == nil {
		return nil, ErrNoHistory
	}
	return e.history.After(ctx, e.db, rev)
}

// RulesAt returns the policy as it was at revision rev (a recorded entry's
// revision, or the stored one): history.ErrNotFound when rev has no entry,
// history.ErrPruned when it is older than the history kept.
func (e *Enforcer) RulesAt(ctx context.Context, rev int64) ([]Rule, error) {
	if e.history == nil {
		return nil, ErrNoHistory
	}
	var out []Rule
	err := e.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := e.catchLocked(ctx, tx); err != nil {
			return err
		}
		current, err := readRevision(ctx, tx)
		if err != nil {
			return err
		}
		live, err := e.history.Live(tx)
		if err != nil {
			return err
		}
		at, err := e.history.RowsAt(tx, rev, current, live)
		out = rulesOf(at)
		return err
	})
	return out, err
}

// Revert restores the policy as it was at revision rev, atomically, as a
// new history entry (made by history.ChangeFrom(ctx)) naming rev. Errors
// are RulesAt's.
func (e *Enforcer) Revert(ctx context.Context, rev int64) error {
	if e.history == nil {
		return ErrNoHistory
	}
	c := history.ChangeFrom(ctx)
	c.Reverts = rev
	ctx = history.WithChange(ctx, c)
	return e.replace(ctx, -1, func(tx *gorm.DB, current int64, live [][]string) ([]Rule, error) {
		at, err := e.history.RowsAt(tx, rev, current, live)
		return rulesOf(at), err
	})
}

// Flips returns the decisions over the catalogue that the entry (with its
// rows, from HistoryEntry) turned around.
func (e *Enforcer) Flips(ctx context.Context, entry history.Entry, roles []string, catalog Catalog) ([]Flip, error) {
	after, err := e.RulesAt(ctx, entry.Revision)
	if err != nil {
		return nil, err
	}
	before, err := e.WithRules(rulesOf(history.Undo(Rows(after), entry.Added, entry.Removed)))
	if err != nil {
		return nil, err
	}
	now, err := e.WithRules(after)
	if err != nil {
		return nil, err
	}
	flips, err := DecisionDiff(before, now, roles, catalog)
	if flips == nil {
		flips = []Flip{}
	}
	return flips, err
}
