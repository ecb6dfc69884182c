package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/policy"
	"github.com/gin-gonic/gin"
)

// policyRow is one casbin_rule row as JSON.
type policyRow struct {
	Ptype string `json:"ptype"`
	V0    string `json:"v0"`
	V1    string `json:"v1"`
	V2    string `json:"v2,omitempty"`
}

// getPolicy is GET /api/users-permissions/policy: the rows as JSON, or CSV
// with Accept: text/csv.
func (s *Server) getPolicy(c *gin.Context) error {
	rules, err := s.enforcer.Rules()
	if err != nil {
		return err
	}
	c.Header("X-Policy-Revision", strconv.FormatInt(s.enforcer.Revision(), 10))
	c.Header("ETag", policyETag(s.enforcer.Revision()))
	if strings.Contains(c.GetHeader("Accept"), "text/csv") {
		c.Data(http.StatusOK, "text/csv; charset=utf-8", []byte(policy.FormatCSV(rules, true)))
		return nil
	}
	rows := make([]policyRow, len(rules))
	for i, r := range rules {
		rows[i] = policyRow{Ptype: r.Type, V0: r.Values[0], V1: r.Values[1]}
		if len(r.Values) > 2 {
			rows[i].V2 = r.Values[2]
		}
	}
	return writeJSON(c, http.StatusOK, gin.H{"revision": s.enforcer.Revision(), "rules": rows})
}

// replacePolicy is PUT /api/users-permissions/policy with a CSV body: the
// whole policy is replaced atomically, or nothing changes. ?dryRun=true only
// returns the decisions that would flip. With If-Match (GET's ETag) the
// change is refused with 412 when the stored policy moved since. Both
// answers carry the new policy's `policy lint` findings ({kind, message}),
// which the admin page shows next to the flips.
func (s *Server) replacePolicy(c *gin.Context) error {
	flags, err := queryFlags(c, "dryRun")
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return asBodyError(err)
	}
	rules, err := policy.ParseCSV(string(raw))
	var lineErr *policy.LineError
	if errors.As(err, &lineErr) {
		return ValidationError(fmt.Sprintf("line %d: %s", lineErr.Line, lineErr.Err), gin.H{"line": lineErr.Line, "text": lineErr.Text})
	}
	if err != nil {
		return ValidationError(err.Error(), nil)
	}
	if len(rules) == 0 {
		return ValidationError("The policy is empty: send at least one rule (an empty policy would deny everything, this endpoint included)", nil)
	}
	expect, err := ifMatch(c)
	if err != nil {
		return err
	}
	flips, err := s.planPolicy(ctx(c), rules)
	if err != nil {
		return err
	}
	findings, err := s.lintPolicy(ctx(c), rules)
	if err != nil {
		return err
	}
	if flags["dryRun"] {
		return writeJSON(c, http.StatusOK, gin.H{"dryRun": true, "changes": flips, "findings": findings})
	}
	if err := s.enforcer.ReplaceIf(s.changeCtx(c, ""), rules, expect); err != nil {
		return err
	}
	s.log.InfoContext(ctx(c), "policy replaced", "rules", len(rules), "flips", len(flips), "revision", s.enforcer.Revision())
	c.Header("ETag", policyETag(s.enforcer.Revision()))
	return writeJSON(c, http.StatusOK, gin.H{"ok": true, "revision": s.enforcer.Revision(), "changes": flips, "findings": findings})
}

// planPolicy checks a proposed policy (roles exist, no inheritance cycle)
// and returns the decisions it would flip.
func (s *Server) planPolicy(ctx context.Context, rules []policy.Rule) ([]policy.Flip, error) {
	roles, err := s.store.Roles().Types(ctx)
	if err != nil {
		return nil, err
	}
	flips, err := s.enforcer.Plan(rules, roles, s.Catalog())
	var lineErr *policy.LineError
	var cycle *policy.CycleError
	switch {
	case errors.As(err, &lineErr):
		return nil, ValidationError(fmt.Sprintf("line %d: %s", lineErr.Line, lineErr.Err), gin.H{"line": lineErr.Line, "text": lineErr.Text})
	case errors.As(err, &cycle):
		return nil, ValidationError("Role inheritance cycle: "+strings.Join(cycle.Roles, " → "), gin.H{"cycle": cycle.Roles})
	}
	return flips, err
}

// lintPolicy returns `policy lint`'s findings on a proposed policy (never
// nil: the admin page lists them).
func (s *Server) lintPolicy(ctx context.Context, rules []policy.Rule) ([]policy.Finding, error) {
	roles, err := s.store.Roles().Types(ctx)
	if err != nil {
		return nil, err
	}
	findings, err := policy.Lint(rules, s.Catalog(), roles)
	if findings == nil {
		findings = []policy.Finding{}
	}
	return findings, err
}

// checkPolicy is POST /api/users-permissions/policy/check {role, method, path}:
// the decision, the rule behind it, the role chain and the route's function.
func (s *Server) checkPolicy(c *gin.Context) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	var v validator
	role := v.requiredStr(b, "role")
	method := strings.ToUpper(v.requiredStr(b, "method"))
	path := v.requiredStr(b, "path")
	if path != "" && !strings.HasPrefix(path, "/") {
		v.add("path", "path must start with /", path)
	}
	if err := v.err(); err != nil {
		return err
	}
	ex, err := s.explain(role, method, path)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, ex)
}

// explain resolves the concrete path to its route and explains the decision.
func (s *Server) explain(role, method, path string) (policy.Explanation, error) {
	fn, ok := s.Catalog().Lookup(method, path)
	if !ok {
		return policy.Explanation{}, ValidationError(fmt.Sprintf("No route matches %s %s", method, path), nil)
	}
	ex, err := s.enforcer.Explain(role, fn.Route, fn.Method)
	if err != nil {
		return ex, err
	}
	ex.Function = fn.Name
	return ex, nil
}

// reloadPolicy is POST /api/users-permissions/policy/reload: edits made
// straight in the database take effect.
func (s *Server) reloadPolicy(c *gin.Context) error {
	if _, err := queryFlags(c); err != nil {
		return err
	}
	before := s.enforcer.Revision()
	if err := s.enforcer.Reload(ctx(c)); err != nil {
		return err
	}
	s.log.InfoContext(ctx(c), "policy reloaded", "revision", s.enforcer.Revision(), "previous", before)
	return writeJSON(c, http.StatusOK, gin.H{"ok": true, "revision": s.enforcer.Revision()})
}

// asBodyError maps a body read error to 413 or 400.
func asBodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errPayloadTooLarge
	}
	return &Error{Status: http.StatusBadRequest, Name: "BadRequestError", Message: "Could not read the request body", Err: err}
}

// queryFlags reads the query of a policy write, which may hold only the
// flags named, each once, as "true" or "false" exactly. Anything else is a
// 400 before any change: a misspelt ?dryrun=true must not apply the policy
// it meant to preview.
func queryFlags(c *gin.Context, known ...string) (map[string]bool, error) {
	query := c.Request.URL.Query()
	flags := make(map[string]bool, len(known))
	var v validator
	for _, name := range slices.Sorted(maps.Keys(query)) {
		values := query[name]
		switch {
		case !contains(known, name):
			v.add(name, fmt.Sprintf("Unknown query parameter %q (this endpoint takes %s)", name, knownFlags(known)), nil)
		case len(values) != 1 || (values[0] != "true" && values[0] != "false"):
			v.add(name, fmt.Sprintf("%s must be true or false, once", name), strings.Join(values, ","))
		default:
			flags[name] = values[0] == "true"
		}
	}
	return flags, v.err()
}

// knownFlags lists flag names for a message ("none" without any).
func knownFlags(known []string) string {
	if len(known) == 0 {
		return "none"
	}
	return "?" + strings.Join(known, "=true|false, ?") + "=true|false"
}
