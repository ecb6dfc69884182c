package policy

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/casbin/casbin/v2/model"
)

// ruleIndex holds the p rows by subject, so that an uncached decision reads
// the rows of the role and of the roles it inherits instead of scanning the
// whole policy as Casbin's Enforce does (about 55 ms at 100,000 rows; the
// index answers in microseconds at any size).
//
// It evaluates Gatehouse's own matcher,
//
//	g(r.sub, p.sub) && (r.act == p.act || p.act == "*") &&
//	  (r.obj == p.obj || regexMatch(p.obj, "[*]") && keyMatch2(r.obj, p.obj))
//
// with the inherited roles taken from Casbin's role manager, so it is used
// only when the enforcer's model is Gatehouse's (modelIndexable); any other
// model is evaluated by Casbin alone. TestIndexAgreesWithCasbin checks the
// two give the same answer on random policies.
type ruleIndex struct {
	mu sync.RWMutex
	// exact holds the rows whose route has no *: one lookup per subject
	// (and one more for method *).
	exact map[exactRule]struct{}
	// patterns holds the rows whose route has a *, by subject, each with
	// its keyMatch2 expression compiled once.
	patterns map[string][]patternRule
	// rows counts the rows of each subject.
	rows map[string]int
}

type exactRule struct{ sub, route, method string }

type patternRule struct {
	route, method string
	re            *regexp.Regexp
	// err is why the route does not compile (Casbin would panic on it).
	err error
}

// keyMatch2Param is the parameter syntax Casbin's keyMatch2 replaces (its
// own expression, unexported there).
var keyMatch2Param = regexp.MustCompile(`:[^/]+`)

// compileKeyMatch2 builds the regular expression util.KeyMatch2 builds for
// the pattern on every call.
func compileKeyMatch2(pattern string) (*regexp.Regexp, error) {
	expr := strings.ReplaceAll(pattern, "/*", "/.*")
	expr = keyMatch2Param.ReplaceAllString(expr, "$1[^/]+$2")
	return regexp.Compile("^" + expr + "$")
}

// modelIndexable reports whether the model is Gatehouse's, whose matcher
// the index evaluates.
func modelIndexable(m model.Model) bool {
	shipped, err := model.NewModelFromString(Model)
	if err != nil {
		return false
	}
	return m.ToText() == shipped.ToText()
}

func newRuleIndex(rows [][]string) *ruleIndex {
	ix := &ruleIndex{}
	ix.reset(rows)
	return ix
}

// reset replaces the index's rows.
func (ix *ruleIndex) reset(rows [][]string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.exact = make(map[exactRule]struct{}, len(rows))
	ix.patterns = make(map[string][]patternRule)
	ix.rows = make(map[string]int)
	for _, row := range rows {
		ix.addLocked(row)
	}
}

// apply adds and removes p rows, as Casbin's AddPoliciesEx and
// RemovePolicies do (rows present already and absent rows are skipped).
func (ix *ruleIndex) apply(add, remove [][]string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, row := range remove {
		if len(row) != 3 {
			continue
		}
		sub, route, method := row[0], row[1], row[2]
		if !strings.Contains(route, "*") {
			if _, ok := ix.exact[exactRule{sub, route, method}]; ok {
				delete(ix.exact, exactRule{sub, route, method})
				ix.removedRow(sub)
			}
			continue
		}
		rules := ix.patterns[sub]
		for i, p := range rules {
			if p.route == route && p.method == method {
				rules = append(rules[:i:i], rules[i+1:]...)
				ix.removedRow(sub)
				break
			}
		}
		if len(rules) == 0 {
			delete(ix.patterns, sub)
		} else {
			ix.patterns[sub] = rules
		}
	}
	for _, row := range add {
		ix.addLocked(row)
	}
}

func (ix *ruleIndex) addLocked(row []string) {
	if len(row) != 3 {
		return // Casbin refuses p rows of other sizes, at load and on add
	}
	sub, route, method := row[0], row[1], row[2]
	if !strings.Contains(route, "*") {
		if _, ok := ix.exact[exactRule{sub, route, method}]; !ok {
			ix.exact[exactRule{sub, route, method}] = struct{}{}
			ix.rows[sub]++
		}
		return
	}
	for _, p := range ix.patterns[sub] {
		if p.route == route && p.method == method {
			return
		}
	}
	re, err := compileKeyMatch2(route)
	ix.patterns[sub] = append(ix.patterns[sub], patternRule{route: route, method: method, re: re, err: err})
	ix.rows[sub]++
}

func (ix *ruleIndex) removedRow(sub string) {
	if ix.rows[sub]--; ix.rows[sub] <= 0 {
		delete(ix.rows, sub)
	}
}

// grants reports whether one of the subjects has a row.
func (ix *ruleIndex) grants(subjects []string) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, sub := range subjects {
		if ix.rows[sub] > 0 {
			return true
		}
	}
	return false
}

// allow reports whether a row of one of the subjects (the role and every
// role it inherits) grants the route and method.
func (ix *ruleIndex) allow(subjects []string, route, method string) (bool, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, sub := range subjects {
		if _, ok := ix.exact[exactRule{sub, route, method}]; ok {
			return true, nil
		}
		if _, ok := ix.exact[exactRule{sub, route, "*"}]; ok {
			return true, nil
		}
	}
	for _, sub := range subjects {
		for _, p := range ix.patterns[sub] {
			if p.method != method && p.method != "*" {
				continue
			}
			if p.route == route {
				return true, nil
			}
			if p.err != nil {
				return false, fmt.Errorf("policy: the route %q of a rule of %q is not a valid pattern: %w", p.route, sub, p.err)
			}
			if p.re.MatchString(route) {
				return true, nil
			}
		}
	}
	return false, nil
}

// Indexed reports whether uncached decisions are answered from the rule
// index (the enforcer runs Gatehouse's model) rather than by Casbin scanning
// every row (any other model).
func (e *Enforcer) Indexed() bool { return e.index != nil }

// decide answers an uncached decision: from the index when there is one,
// else by Casbin.
func (e *Enforcer) decide(role, route, method string) (bool, error) {
	if e.index == nil {
		return e.casbin.Enforce(role, route, method)
	}
	inherited, err := e.casbin.GetImplicitRolesForUser(role)
	if err != nil {
		return false, err
	}
	return e.index.allow(append(inherited, role), route, method)
}

// GrantsAnything reports whether the role, or a role it inherits, has at
// least one p rule. Strapi answers an anonymous request 401 rather than 403
// when the Public role has no permission at all. Answers are cached until
// the next change, as decisions are.
func (e *Enforcer) GrantsAnything(role string) (bool, error) {
	e.mu.RLock()
	grants, hit := e.grants[role]
	e.mu.RUnlock()
	if hit {
		return grants, nil
	}
	gen := e.generation.Load()
	grants, err := e.grantsAnything(role)
	if err != nil {
		return false, err
	}
	e.mu.Lock()
	// A change that landed meanwhile may make the answer stale: not cached.
	if e.generation.Load() == gen && len(e.grants) < maxCacheEntries {
		e.grants[role] = grants
	}
	e.mu.Unlock()
	return grants, nil
}

func (e *Enforcer) grantsAnything(role string) (bool, error) {
	if e.index == nil {
		perms, err := e.casbin.GetImplicitPermissionsForUser(role)
		return len(perms) > 0, err
	}
	inherited, err := e.casbin.GetImplicitRolesForUser(role)
	if err != nil {
		return false, err
	}
	return e.index.grants(append(inherited, role)), nil
}

// reindex rebuilds the index from the rules in memory (after a load).
func (e *Enforcer) reindex() error {
	if e.index == nil {
		return nil
	}
	rows, err := e.casbin.GetPolicy()
	if err != nil {
		return fmt.Errorf("policy: index: %w", err)
	}
	e.index.reset(rows)
	return nil
}
