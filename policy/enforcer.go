// Package policy owns Gatehouse's authorization: the Casbin model, the
// enforcer over the casbin_rule table (gorm-adapter), the default policy, CSV
// import and export, decision explanations and diffs, lint, and
// permission-matrix checks any Go test can run.
//
// A decision is Allow(role type, route pattern, method). Decisions are cached
// per (role, route, method) and the whole cache is dropped on every policy
// change, so a change is never served stale.
package policy

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
	stringadapter "github.com/casbin/casbin/v2/persist/string-adapter"
	gormadapter "github.com/casbin/gorm-adapter/v3"
	"github.com/gatehouse/gatehouse/history"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Model is Gatehouse's Casbin model (the same text as the model.conf at the
// repository's top level): RBAC over (role, route pattern, method).
//
//go:embed model.conf
var Model string

// maxCacheEntries bounds the decision cache; keys are role × route × method,
// so a real deployment stays far below it.
const maxCacheEntries = 1 << 16

// ruleTable is gorm-adapter's table.
const ruleTable = "casbin_rule"

type decisionKey struct{ role, route, method string }

// Enforcer decides whether a role may call a route. It is safe for concurrent
// use. Changes go through Update and Replace, which write the database in one
// transaction (together with the caller's own writes) and then the memory.
type Enforcer struct {
	casbin *casbin.SyncedEnforcer
	model  string
	// db is nil for an enforcer built from CSV: changes stay in memory.
	db       *gorm.DB
	triggers bool
	// history records every change (nil without a database).
	history *history.Log
	// retention is how long history entries are kept (0: forever);
	// pruned is when this instance last pruned them (unix nanoseconds).
	retention atomic.Int64
	pruned    atomic.Int64
	// accounted is the revision of this instance's last committed change,
	// every change up to it recorded in the history (0: none yet).
	accounted atomic.Int64

	writeMu  sync.Mutex
	revision atomic.Int64
	onChange atomic.Pointer[func(revision int64)]

	mu        sync.RWMutex
	decisions map[decisionKey]bool
	// grants caches GrantsAnything by role, dropped with the decisions.
	grants map[string]bool
	// inflight holds the uncached decisions under evaluation, so that
	// concurrent misses on one key (every request right after a change)
	// evaluate the policy once: an evaluation scans every row, about 0.1 s
	// at 100,000 rows.
	inflight   map[decisionKey]*evaluation
	generation atomic.Uint64
	// hits and misses count Allow's decisions answered from the cache and
	// those evaluated (or waited for), for the metrics.
	hits, misses atomic.Uint64

	// index answers uncached decisions without a scan of every row; nil
	// when the model is not Gatehouse's (Casbin then decides alone).
	index *ruleIndex
}

// evaluation is an uncached decision other callers may wait for.
type evaluation struct {
	generation uint64
	done       chan struct{}
	allowed    bool
	err        error
}

// New builds an enforcer from the model text over the casbin_rule table of db
// and loads the stored policy.
func New(db *gorm.DB, modelText string) (*Enforcer, error) {
	adapter, err := gormadapter.NewAdapterByDB(db)
	if err != nil {
		return nil, fmt.Errorf("policy: adapter: %w", err)
	}
	triggers, err := installRevision(db)
	if err != nil {
		return nil, err
	}
	rev, err := readRevision(context.Background(), db)
	if err != nil {
		return nil, err
	}
	e, err := newEnforcer(modelText, adapter)
	if err != nil {
		return nil, err
	}
	e.history = history.New(ruleTable, policyRevision.Name)
	if err := e.history.Install(db, rev); err != nil {
		return nil, err
	}
	e.db, e.triggers = db, triggers
	e.revision.Store(rev)
	return e, nil
}

// NewFromCSV builds an enforcer with no database from the model text and a
// policy in Gatehouse's CSV form (comments and blank lines allowed). Changes
// stay in memory. It is meant for tests and embedding apps.
func NewFromCSV(modelText, csv string) (*Enforcer, error) {
	rules, err := ParseCSV(csv)
	if err != nil {
		return nil, err
	}
	return NewFromRules(modelText, rules)
}

// NewFromRules builds an in-memory enforcer holding the rules.
func NewFromRules(modelText string, rules []Rule) (*Enforcer, error) {
	// The string adapter refuses "" (no rule at all); a blank line loads nothing.
	return newEnforcer(modelText, stringadapter.NewAdapter(FormatCSV(rules, false)+"\n"))
}

func newEnforcer(modelText string, adapter persist.Adapter) (*Enforcer, error) {
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, fmt.Errorf("policy: model: %w", err)
	}
	e, err := casbin.NewSyncedEnforcer(m, adapter)
	if err != nil {
		return nil, fmt.Errorf("policy: load: %w", err)
	}
	// Gatehouse writes the table itself, in transactions; the adapter only loads.
	e.EnableAutoSave(false)
	enf := &Enforcer{casbin: e, model: modelText, decisions: make(map[decisionKey]bool), grants: make(map[string]bool), inflight: make(map[decisionKey]*evaluation)}
	if modelIndexable(m) {
		enf.index = newRuleIndex(nil)
		if err := enf.reindex(); err != nil {
			return nil, err
		}
	}
	return enf, nil
}

// Allow reports whether the role may call the route pattern with the method.
func (e *Enforcer) Allow(role, route, method string) (bool, error) {
	key := decisionKey{role, route, method}
	e.mu.RLock()
	allowed, hit := e.decisions[key]
	e.mu.RUnlock()
	if hit {
		e.hits.Add(1)
		return allowed, nil
	}
	e.misses.Add(1)
	e.mu.Lock()
	if allowed, hit := e.decisions[key]; hit {
		e.mu.Unlock()
		return allowed, nil
	}
	gen := e.generation.Load()
	// Wait for an evaluation of this key begun since the last change; one
	// begun before it may answer with the old policy, so it is not joined.
	if ev := e.inflight[key]; ev != nil && ev.generation == gen {
		e.mu.Unlock()
		<-ev.done
		return ev.allowed, ev.err
	}
	ev := &evaluation{generation: gen, done: make(chan struct{})}
	e.inflight[key] = ev
	e.mu.Unlock()
	e.evaluate(key, ev)
	return ev.allowed, ev.err
}

// CacheStats counts Allow's decisions answered from the decision cache, and
// those that were not.
func (e *Enforcer) CacheStats() (hits, misses uint64) {
	return e.hits.Load(), e.misses.Load()
}

// evaluate asks Casbin and caches the answer unless a change landed
// meanwhile (the generation moved: the answer may be stale, so it is
// returned but not cached).
func (e *Enforcer) evaluate(key decisionKey, ev *evaluation) {
	defer close(ev.done)
	defer func() {
		e.mu.Lock()
		if e.inflight[key] == ev {
			delete(e.inflight, key)
		}
		if ev.err == nil && e.generation.Load() == ev.generation {
			if len(e.decisions) >= maxCacheEntries {
				clear(e.decisions)
			}
			e.decisions[key] = ev.allowed
		}
		e.mu.Unlock()
	}()
	ev.err = errors.New("policy: enforce: no answer") // replaced unless Enforce panics
	allowed, err := e.decide(key.role, key.route, key.method)
	ev.allowed, ev.err = allowed, err
	if err != nil {
		ev.allowed, ev.err = false, fmt.Errorf("policy: enforce: %w", err)
	}
}

// invalidate drops every cached decision; called after each change.
func (e *Enforcer) invalidate() {
	e.mu.Lock()
	e.generation.Add(1)
	clear(e.decisions)
	clear(e.grants)
	e.mu.Unlock()
}

// Revision is the policy revision the enforcer has loaded (0 without a database).
func (e *Enforcer) Revision() int64 { return e.revision.Load() }

// OnChange sets the hook called with the new revision after each change made
// through this enforcer — Update (and Add, Remove, RemoveRole), Replace and
// Reload, not ReloadIfChanged — once it is committed and loaded and the
// write lock is released. It runs on the caller's goroutine, so it should be
// quick (cluster.PolicyChanged publishes a notice). A later call replaces
// the hook; nil removes it.
func (e *Enforcer) OnChange(hook func(revision int64)) {
	if hook == nil {
		e.onChange.Store(nil)
		return
	}
	e.onChange.Store(&hook)
}

// changed calls the OnChange hook unless the change failed.
func (e *Enforcer) changed(err *error) {
	if *err != nil {
		return
	}
	if hook := e.onChange.Load(); hook != nil {
		(*hook)(e.revision.Load())
	}
}

// Reload reads the whole policy from the database again (edits made straight
// in the database take effect). Where the database refused the revision
// triggers it moves the revision first, so that the other instances, which
// reload on a revision change, see the hand edit too.
func (e *Enforcer) Reload(ctx context.Context) (err error) {
	defer e.changed(&err)
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if e.db != nil {
		err := e.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if !e.triggers {
				if err := bumpRevision(tx); err != nil {
					return err
				}
			}
			return e.catchLocked(ctx, tx)
		})
		if err != nil {
			return err
		}
	}
	return e.reloadLocked(ctx)
}

func (e *Enforcer) reloadLocked(ctx context.Context) error {
	if e.db == nil {
		return nil
	}
	rev, err := readRevision(ctx, e.db)
	if err != nil {
		return err
	}
	err = e.casbin.LoadPolicy()
	if err == nil {
		err = e.reindex()
	}
	e.invalidate()
	if err != nil {
		return fmt.Errorf("policy: reload: %w", err)
	}
	// The revision moves last: whoever sees it sees the decisions too.
	e.revision.Store(rev)
	return nil
}

// ReloadIfChanged reloads when the stored revision differs from the loaded
// one, and returns the revisions before and after.
func (e *Enforcer) ReloadIfChanged(ctx context.Context) (before, after int64, err error) {
	if e.db == nil {
		return 0, 0, nil
	}
	before = e.revision.Load()
	e.maintain(ctx)
	stored, err := readRevision(ctx, e.db)
	if err != nil || stored == before {
		return before, before, err
	}
	if err := e.CatchUp(ctx); err != nil {
		return before, before, err
	}
	e.writeMu.Lock()
	err = e.reloadLocked(ctx)
	e.writeMu.Unlock()
	if err != nil {
		return before, before, err
	}
	return before, e.revision.Load(), nil
}

// Rules returns every rule, p rows first.
func (e *Enforcer) Rules() ([]Rule, error) {
	var rules []Rule
	p, err := e.casbin.GetPolicy()
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	for _, r := range p {
		rules = append(rules, Rule{Type: "p", Values: r})
	}
	g, err := e.casbin.GetGroupingPolicy()
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	for _, r := range g {
		rules = append(rules, Rule{Type: "g", Values: r})
	}
	return rules, nil
}

// Add stores the rules (those present already are skipped).
func (e *Enforcer) Add(rules []Rule) error {
	return e.Update(context.Background(), rules, nil, nil)
}

// Remove deletes the rules (absent ones are ignored).
func (e *Enforcer) Remove(rules []Rule) error {
	return e.Update(context.Background(), nil, rules, nil)
}

// Update removes and adds rules in one database transaction, which also runs
// also(tx) (the caller's own writes, such as a role row) and records the
// change in the policy history (as made by history.ChangeFrom(ctx)), then
// applies the change to memory. Nothing changes when any step fails.
func (e *Enforcer) Update(ctx context.Context, add, remove []Rule, also func(tx *gorm.DB) error) (err error) {
	defer e.changed(&err)
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if e.db != nil {
		var rev int64
		err := e.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			before, err := e.begin(ctx, tx)
			if err != nil {
				return err
			}
			if also != nil {
				if err := also(tx); err != nil {
					return err
				}
			}
			var removed []Rule
			for _, r := range remove {
				n, err := deleteRule(tx, r)
				if err != nil {
					return err
				}
				if n > 0 {
					removed = append(removed, r)
				}
			}
			added, err := e.newRows(tx, before, add, removed)
			if err != nil {
				return err
			}
			if err := insertRules(tx, add); err != nil {
				return err
			}
			if rev, err = readRevision(ctx, tx); err != nil {
				return err
			}
			return e.recordUpdate(ctx, tx, rev, added, removed)
		})
		if err != nil {
			return err
		}
		e.committed(rev)
		// The revision moves once memory and the decisions follow it.
		defer e.revision.Store(rev)
	} else if also != nil {
		if err := also(nil); err != nil {
			return err
		}
	}
	defer e.invalidate()
	return e.applyToMemory(add, remove)
}

// Replace swaps the whole policy for rules in one transaction.
func (e *Enforcer) Replace(ctx context.Context, rules []Rule) error {
	return e.ReplaceIf(ctx, rules, -1)
}

// ReplaceIf is Replace when the stored revision is expect, and a
// *StaleError naming the stored revision otherwise (expect < 0: any
// revision).
func (e *Enforcer) ReplaceIf(ctx context.Context, rules []Rule, expect int64) error {
	return e.replace(ctx, expect, func(*gorm.DB, int64, [][]string) ([]Rule, error) { return rules, nil })
}

// replace swaps the whole policy for the rules target returns, given the
// transaction, the stored revision and the current rows.
func (e *Enforcer) replace(ctx context.Context, expect int64, target func(tx *gorm.DB, current int64, rows [][]string) ([]Rule, error)) (err error) {
	defer e.changed(&err)
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if e.db == nil {
		rules, err := target(nil, 0, nil)
		if err != nil {
			return err
		}
		defer e.invalidate()
		e.casbin.ClearPolicy()
		if err := e.applyToMemory(rules, nil); err != nil {
			return err
		}
		// ClearPolicy leaves the role manager's links: rebuild them from
		// the new g rows, or a dropped inheritance would still grant.
		if err := e.casbin.BuildRoleLinks(); err != nil {
			return fmt.Errorf("policy: replace: %w", err)
		}
		return e.reindex()
	}
	var rev int64
	err = e.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		before, err := e.begin(ctx, tx)
		if err != nil {
			return err
		}
		if expect >= 0 && before != expect {
			return &StaleError{Expected: expect, Current: before}
		}
		var current [][]string
		if e.history != nil {
			if current, err = e.history.Live(tx); err != nil {
				return err
			}
		}
		rules, err := target(tx, before, current)
		if err != nil {
			return err
		}
		if err := tx.Exec(`DELETE FROM ` + ruleTable).Error; err != nil {
			return fmt.Errorf("policy: replace: %w", err)
		}
		if err := insertRules(tx, rules); err != nil {
			return err
		}
		if rev, err = readRevision(ctx, tx); err != nil {
			return err
		}
		if e.history == nil {
			return nil
		}
		next := Rows(rules)
		added, removed := history.Diff(current, next)
		return e.history.Record(tx, rev, history.ChangeFrom(ctx), e.now(), added, removed)
	})
	if err != nil {
		return err
	}
	e.committed(rev)
	return e.reloadLocked(ctx)
}

func (e *Enforcer) applyToMemory(add, remove []Rule) error {
	pRemove, gRemove := split(remove)
	pAdd, gAdd := split(add)
	var errs []error
	if len(pRemove) > 0 {
		_, err := e.casbin.RemovePolicies(pRemove)
		errs = append(errs, ignoreNotFound(err))
	}
	if len(gRemove) > 0 {
		_, err := e.casbin.RemoveGroupingPolicies(gRemove)
		errs = append(errs, ignoreNotFound(err))
	}
	if len(pAdd) > 0 {
		_, err := e.casbin.AddPoliciesEx(pAdd)
		errs = append(errs, err)
	}
	if len(gAdd) > 0 {
		_, err := e.casbin.AddGroupingPoliciesEx(gAdd)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		// Memory may hold part of the change: index what it holds.
		return errors.Join(fmt.Errorf("policy: apply: %w", err), e.reindex())
	}
	if e.index != nil {
		e.index.apply(pAdd, pRemove)
	}
	return nil
}

// ignoreNotFound: removing a rule that memory lacks is not an error.
func ignoreNotFound(err error) error {
	if err != nil && (err.Error() == "invalid policy size" || errors.Is(err, errNotExist)) {
		return nil
	}
	return err
}

var errNotExist = errors.New("policy does not exist")

func ruleRow(r Rule) gormadapter.CasbinRule {
	row := gormadapter.CasbinRule{Ptype: r.Type}
	fields := []*string{&row.V0, &row.V1, &row.V2, &row.V3, &row.V4, &row.V5}
	for i, v := range r.Values {
		if i < len(fields) {
			*fields[i] = v
		}
	}
	return row
}

// deleteRule deletes the rule's row and returns how many rows went.
func deleteRule(tx *gorm.DB, r Rule) (int64, error) {
	row := ruleRow(r)
	res := tx.Table(ruleTable).Where("ptype = ? AND v0 = ? AND v1 = ? AND v2 = ? AND v3 = ? AND v4 = ? AND v5 = ?",
		row.Ptype, row.V0, row.V1, row.V2, row.V3, row.V4, row.V5).Delete(&gormadapter.CasbinRule{})
	if res.Error != nil {
		return 0, fmt.Errorf("policy: delete %s: %w", r, res.Error)
	}
	return res.RowsAffected, nil
}

// ruleExists reports whether the table holds the rule's row.
func ruleExists(tx *gorm.DB, r Rule) (bool, error) {
	row := ruleRow(r)
	var n int64
	err := tx.Table(ruleTable).Where("ptype = ? AND v0 = ? AND v1 = ? AND v2 = ? AND v3 = ? AND v4 = ? AND v5 = ?",
		row.Ptype, row.V0, row.V1, row.V2, row.V3, row.V4, row.V5).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("policy: find %s: %w", r, err)
	}
	return n > 0, nil
}

// insertRules inserts the rules absent from the table.
func insertRules(tx *gorm.DB, rules []Rule) error {
	if len(rules) == 0 {
		return nil
	}
	rows := make([]gormadapter.CasbinRule, len(rules))
	for i, r := range rules {
		rows[i] = ruleRow(r)
	}
	if err := tx.Table(ruleTable).Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, 500).Error; err != nil {
		return fmt.Errorf("policy: insert: %w", err)
	}
	return nil
}

// RemoveRole deletes every rule naming the role as subject, as inheritor or
// as inherited role, together with the caller's writes in also.
func (e *Enforcer) RemoveRole(ctx context.Context, role string, also func(tx *gorm.DB) error) error {
	rules, err := e.Rules()
	if err != nil {
		return err
	}
	var remove []Rule
	for _, r := range rules {
		if r.Values[0] == role || (r.Type == "g" && r.Values[1] == role) {
			remove = append(remove, r)
		}
	}
	return e.Update(ctx, nil, remove, also)
}

// Empty reports whether no rule is loaded.
func (e *Enforcer) Empty() (bool, error) {
	rules, err := e.Rules()
	return len(rules) == 0, err
}

func split(rules []Rule) (p, g [][]string) {
	for _, r := range rules {
		if r.Type == "g" {
			g = append(g, r.Values)
		} else {
			p = append(p, r.Values)
		}
	}
	return p, g
}
