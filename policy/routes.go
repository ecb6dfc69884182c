package policy

import (
	"sort"
	"strings"

	"github.com/casbin/casbin/v2/util"
)

// Catalog is every route's function: what a policy decides about.
type Catalog []Function

// Lookup finds the route a concrete request path matches, as the router
// would: segments compared one by one, a literal segment winning over a
// :param, a *catch-all last. method "" matches any method.
func (c Catalog) Lookup(method, path string) (Function, bool) {
	segments := splitPath(path)
	best, bestScore, found := Function{}, -1, false
	for _, fn := range c {
		if method != "" && !strings.EqualFold(fn.Method, method) {
			continue
		}
		if score, ok := matchSegments(splitPath(fn.Route), segments); ok && score > bestScore {
			best, bestScore, found = fn, score, true
		}
	}
	return best, found
}

// ByName returns the function with this name.
func (c Catalog) ByName(name string) (Function, bool) {
	for _, fn := range c {
		if fn.Name == name {
			return fn, true
		}
	}
	return Function{}, false
}

// Types returns the function types in order ("plugin::users-permissions", "api::post", …).
func (c Catalog) Types() []string {
	seen := map[string]bool{}
	var types []string
	for _, fn := range c {
		if t := fn.Type(); !seen[t] {
			seen[t] = true
			types = append(types, t)
		}
	}
	sort.Strings(types)
	return types
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// matchSegments matches a route pattern to path segments; the score counts
// literal segments so the most specific route wins.
func matchSegments(pattern, path []string) (score int, ok bool) {
	for i, seg := range pattern {
		if strings.HasPrefix(seg, "*") {
			return score, i < len(path) || i == len(path)
		}
		if i >= len(path) {
			return 0, false
		}
		switch {
		case strings.HasPrefix(seg, ":"):
			if path[i] == "" {
				return 0, false
			}
		case seg == path[i]:
			score++
		default:
			return 0, false
		}
	}
	return score, len(pattern) == len(path)
}

// RouteMatches reports whether a policy row's route covers the route
// pattern, by the model's rule: equal, or a pattern with * matched by
// keyMatch2.
func RouteMatches(route, policyRoute string) bool {
	return route == policyRoute || strings.Contains(policyRoute, "*") && util.KeyMatch2(route, policyRoute)
}
