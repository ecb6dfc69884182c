// Package policy owns Gatehouse's authorization: the Casbin model, the
// enforcer over the casbin_rule table (gorm-adapter), the default policy, CSV
// import and export, and permission-matrix checks any Go test can run.
//
// A decision is Allow(role type, route pattern, method). Decisions are cached
// per (role, route, method) and the whole cache is dropped on every policy
// change made through the Enforcer, so a change is never served stale.
package policy

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
	stringadapter "github.com/casbin/casbin/v2/persist/string-adapter"
	gormadapter "github.com/casbin/gorm-adapter/v3"
	"gorm.io/gorm"
)

// Model is Gatehouse's Casbin model (the same text as the model.conf at the
// repository's top level): RBAC over (role, route pattern, method).
//
//go:embed model.conf
var Model string

// maxCacheEntries bounds the decision cache; keys are role × route × method,
// so a real deployment stays far below it.
const maxCacheEntries = 1 << 16

type decisionKey struct{ role, route, method string }

// Enforcer decides whether a role may call a route. It is safe for concurrent
// use; every mutation goes through it so the decision cache stays exact.
type Enforcer struct {
	casbin *casbin.SyncedEnforcer

	mu         sync.RWMutex
	decisions  map[decisionKey]bool
	generation atomic.Uint64
}

// New builds an enforcer from the model text over the casbin_rule table of db
// and loads the stored policy.
func New(db *gorm.DB, modelText string) (*Enforcer, error) {
	adapter, err := gormadapter.NewAdapterByDB(db)
	if err != nil {
		return nil, fmt.Errorf("policy: adapter: %w", err)
	}
	return newEnforcer(modelText, adapter)
}

// NewFromCSV builds an enforcer with no database from the model text and a
// policy in Gatehouse's CSV form (comments and blank lines allowed). Writes
// change only memory. It is meant for tests and embedding apps.
func NewFromCSV(modelText, csv string) (*Enforcer, error) {
	rules, err := ParseCSV(csv)
	if err != nil {
		return nil, err
	}
	return newEnforcer(modelText, stringadapter.NewAdapter(FormatCSV(rules, false)))
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
	return &Enforcer{casbin: e, decisions: make(map[decisionKey]bool)}, nil
}

// Allow reports whether the role may call the route pattern with the method.
func (e *Enforcer) Allow(role, route, method string) (bool, error) {
	key := decisionKey{role, route, method}
	e.mu.RLock()
	allowed, hit := e.decisions[key]
	e.mu.RUnlock()
	if hit {
		return allowed, nil
	}
	gen := e.generation.Load()
	allowed, err := e.casbin.Enforce(role, route, method)
	if err != nil {
		return false, fmt.Errorf("policy: enforce: %w", err)
	}
	e.mu.Lock()
	// A change that landed while we evaluated bumped the generation: the
	// answer may be stale, so it is returned but not cached.
	if e.generation.Load() == gen {
		if len(e.decisions) >= maxCacheEntries {
			clear(e.decisions)
		}
		e.decisions[key] = allowed
	}
	e.mu.Unlock()
	return allowed, nil
}

// invalidate drops every cached decision; called after each mutation.
func (e *Enforcer) invalidate() {
	e.mu.Lock()
	e.generation.Add(1)
	clear(e.decisions)
	e.mu.Unlock()
}

// Reload reads the whole policy from storage again (edits made straight in
// the database take effect).
func (e *Enforcer) Reload() error {
	defer e.invalidate()
	if err := e.casbin.LoadPolicy(); err != nil {
		return fmt.Errorf("policy: reload: %w", err)
	}
	return nil
}

// Rules returns every rule, p rows first, each as [ptype, v0, v1, …].
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

// Add stores the rules (those already present are skipped).
func (e *Enforcer) Add(rules []Rule) error {
	defer e.invalidate()
	p, g := split(rules)
	if len(p) > 0 {
		if _, err := e.casbin.AddPoliciesEx(p); err != nil {
			return fmt.Errorf("policy: add: %w", err)
		}
	}
	if len(g) > 0 {
		if _, err := e.casbin.AddGroupingPoliciesEx(g); err != nil {
			return fmt.Errorf("policy: add: %w", err)
		}
	}
	return nil
}

// Remove deletes the rules (absent ones are ignored).
func (e *Enforcer) Remove(rules []Rule) error {
	defer e.invalidate()
	for _, r := range rules {
		var err error
		if r.Type == "g" {
			_, err = e.casbin.RemoveGroupingPolicy(toAny(r.Values)...)
		} else {
			_, err = e.casbin.RemovePolicy(toAny(r.Values)...)
		}
		if err != nil {
			return fmt.Errorf("policy: remove: %w", err)
		}
	}
	return nil
}

// RemoveRole deletes every rule naming the role as subject, as inheritor or
// as inherited role.
func (e *Enforcer) RemoveRole(role string) error {
	defer e.invalidate()
	if _, err := e.casbin.RemoveFilteredPolicy(0, role); err != nil {
		return fmt.Errorf("policy: remove role %s: %w", role, err)
	}
	if _, err := e.casbin.RemoveFilteredGroupingPolicy(0, role); err != nil {
		return fmt.Errorf("policy: remove role %s: %w", role, err)
	}
	if _, err := e.casbin.RemoveFilteredGroupingPolicy(1, role); err != nil {
		return fmt.Errorf("policy: remove role %s: %w", role, err)
	}
	return nil
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

func toAny(values []string) []any {
	out := make([]any, len(values))
	for i, v := range values {
		out[i] = v
	}
	return out
}

// roleChain is used by explanations: the role followed by every role it inherits.
func (e *Enforcer) roleChain(role string) []string {
	chain := []string{role}
	inherited, err := e.casbin.GetImplicitRolesForUser(role)
	if err == nil {
		chain = append(chain, inherited...)
	}
	return chain
}

var _ = strings.TrimSpace
