package handlers

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/gatehouse/gatehouse/history"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
)

// Audit records an administrative action by the author ctx names
// (history.WithChange: the request's caller, the CLI's user): action,
// target, and a summary that holds only what the caller put in it — never a
// password, token or secret. The change is made already: a failure to
// record is logged, not returned. The CLI and embedding apps call it for
// the actions they make outside the API.
func (s *Server) Audit(ctx context.Context, action, target string, summary map[string]any) {
	c := history.ChangeFrom(ctx)
	e := store.AuditEntry{UserID: c.UserID, Actor: c.Actor, Source: c.Source, Action: action, Target: target}
	if len(summary) > 0 {
		raw, err := json.Marshal(summary)
		if err != nil {
			s.log.ErrorContext(ctx, "audit: summary", "action", action, "err", err)
		}
		e.Summary = raw
	}
	e.CreatedAt = s.now().UTC()
	if err := s.store.Audit().Add(context.WithoutCancel(ctx), &e); err != nil {
		s.log.ErrorContext(ctx, "audit: not recorded", "action", action, "target", target, "err", err)
	}
	if s.cfg.AuditSink == nil {
		return
	}
	line, err := json.Marshal(e)
	if err != nil {
		return
	}
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	if _, err := s.cfg.AuditSink.Write(append(line, '\n')); err != nil {
		s.log.ErrorContext(ctx, "audit: sink", "err", err)
	}
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// changedKeys lists the keys of columns a summary may name, sorted, without
// the bookkeeping columns.
func changedKeys(columns map[string]any) []string {
	var out []string
	for _, k := range sortedKeys(columns) {
		if k != "updated_at" && k != "tokens_valid_after" {
			out = append(out, k)
		}
	}
	return out
}

// reveal copies the values of the named keys (those that are not secret)
// from columns.
func reveal(columns map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		if v, ok := columns[k]; ok {
			out[k] = v
		}
	}
	return out
}

// userAudit records a change to a user: the action says the most telling
// part (blocked, role), the summary the fields changed and the values of
// the identifying, non-secret ones.
func (s *Server) userAudit(c *gin.Context, id uint, columns map[string]any) {
	action := "user.update"
	if blocked, ok := columns["blocked"].(bool); ok {
		action = map[bool]string{true: "user.block", false: "user.unblock"}[blocked]
	} else if _, ok := columns["role_id"]; ok {
		action = "user.role"
	}
	summary := reveal(columns, "username", "email", "blocked", "confirmed", "role_id")
	summary["changed"] = changedKeys(columns)
	s.Audit(s.changeCtx(c, ""), action, "user:"+strconv.FormatUint(uint64(id), 10), summary)
}

// getAudit is GET /api/users-permissions/audit: a page of the audit log,
// newest first: {data, meta: {pagination}}; page, pageSize, actor, action,
// since, until.
func (s *Server) getAudit(c *gin.Context) error {
	var f store.AuditFilter
	lp, err := listQuery(c, map[string]*string{"actor": &f.Actor, "action": &f.Action})
	if err != nil {
		return err
	}
	f.Limit, f.Offset, f.Since, f.Until = lp.limit, (lp.page-1)*lp.limit, lp.since, lp.until
	entries, total, err := s.store.Audit().List(ctx(c), f)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []store.AuditEntry{}
	}
	return writeJSON(c, http.StatusOK, gin.H{"data": entries, "meta": lp.meta(total)})
}

// providersSummary names the providers a PUT …/providers changed, the
// fields it sent for each (names only: key and secret values are never
// recorded), whether each is enabled now, and those it removed.
func providersSummary(entries map[string]json.RawMessage, updated map[string]providers.Settings, removed []string) map[string]any {
	fields := map[string][]string{}
	enabled := map[string]bool{}
	for name, raw := range entries {
		var sent map[string]json.RawMessage
		if json.Unmarshal(raw, &sent) == nil {
			fields[name] = sortedKeys(sent)
		}
		if set, ok := updated[name]; ok {
			enabled[name] = set.Enabled
		}
	}
	return map[string]any{"fields": fields, "enabled": enabled, "removed": removed}
}
