package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/history"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gin-gonic/gin"
)

// ClientHeader names the client of a request; the admin page sends
// "admin", so that its changes are recorded with the source "admin".
const ClientHeader = "X-Gatehouse-Client"

// changeCtx is the request's context naming the caller as the author of
// the policy changes it makes (history.WithChange).
func (s *Server) changeCtx(c *gin.Context, message string) context.Context {
	change := history.Change{Source: history.SourceAPI, Message: message}
	if c.GetHeader(ClientHeader) == "admin" {
		change.Source = history.SourceAdmin
	}
	if u, ok := CurrentUser(c); ok {
		change.UserID, change.Actor = u.ID, u.Username
	}
	return history.WithChange(ctx(c), change)
}

const (
	historyPageSize    = 25
	historyMaxPageSize = 100
)

// listPage is the paging and time window of a listing's query.
type listPage struct {
	page, limit  int
	since, until time.Time
}

// listQuery reads a listing's query (the policy history, the audit log):
// page, pageSize, since, until (RFC 3339 times or YYYY-MM-DD dates) and the
// string filters named, each at most once; anything else is a 400.
func listQuery(c *gin.Context, filters map[string]*string) (listPage, error) {
	lp := listPage{page: 1, limit: historyPageSize}
	var v validator
	query := c.Request.URL.Query()
	for _, name := range slices.Sorted(maps.Keys(query)) {
		values := query[name]
		if len(values) != 1 {
			v.add(name, name+" must be given once", strings.Join(values, ","))
			continue
		}
		value := values[0]
		switch name {
		case "page", "pageSize":
			n, err := strconv.Atoi(value)
			max := historyMaxPageSize
			if name == "page" {
				max = 1 << 20
			}
			if err != nil || n < 1 || n > max {
				v.add(name, fmt.Sprintf("%s must be an integer from 1 to %d", name, max), value)
			} else if name == "page" {
				lp.page = n
			} else {
				lp.limit = n
			}
		case "since", "until":
			t, err := parseTime(value)
			if err != nil {
				v.add(name, name+" must be an RFC 3339 time (2026-01-02T15:04:05Z) or a date (2026-01-02)", value)
			} else if name == "since" {
				lp.since = t
			} else {
				lp.until = t
			}
		default:
			if p, ok := filters[name]; ok {
				*p = value
				continue
			}
			known := append(slices.Sorted(maps.Keys(filters)), "page", "pageSize", "since", "until")
			v.add(name, fmt.Sprintf("Unknown query parameter %q (this endpoint takes %s)", name, strings.Join(known, ", ")), nil)
		}
	}
	return lp, v.err()
}

// meta is a listing's meta: its pagination.
func (lp listPage) meta(total int64) gin.H {
	return gin.H{"pagination": gin.H{"page": lp.page, "pageSize": lp.limit, "pageCount": (total + int64(lp.limit) - 1) / int64(lp.limit), "total": total}}
}

// parseTime reads an RFC 3339 time or a YYYY-MM-DD date (midnight UTC).
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, s)
}

// getPolicyHistory is GET /api/users-permissions/policy/history: a page of
// entries, newest first, without their rows: {data, meta: {pagination}}.
func (s *Server) getPolicyHistory(c *gin.Context) error {
	var f history.Filter
	lp, err := listQuery(c, map[string]*string{"actor": &f.Actor, "role": &f.Role})
	if err != nil {
		return err
	}
	f.Limit, f.Offset, f.Since, f.Until = lp.limit, (lp.page-1)*lp.limit, lp.since, lp.until
	entries, total, err := s.enforcer.History(ctx(c), f)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []history.Entry{}
	}
	return writeJSON(c, http.StatusOK, gin.H{"data": entries, "meta": lp.meta(total)})
}

// historyEntry is one entry with its rows and the decisions it flipped.
type historyEntry struct {
	history.Entry
	Changes []policy.Flip `json:"changes"`
}

// getPolicyHistoryEntry is GET /api/users-permissions/policy/history/:revision:
// the entry, its rows and the decisions it flipped.
func (s *Server) getPolicyHistoryEntry(c *gin.Context) error {
	if _, err := queryFlags(c); err != nil {
		return err
	}
	rev, err := strconv.ParseInt(c.Param("revision"), 10, 64)
	if err != nil || rev < 1 {
		return NotFoundError("No policy history entry at this revision")
	}
	entry, err := s.enforcer.HistoryEntry(ctx(c), rev)
	if err != nil {
		return err
	}
	roles, err := s.store.Roles().Types(ctx(c))
	if err != nil {
		return err
	}
	flips, err := s.enforcer.Flips(ctx(c), entry, roles, s.Catalog())
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, gin.H{"data": historyEntry{entry, flips}})
}

// revertBody is POST …/policy/revert's body.
type revertBody struct {
	Revision int64  `json:"revision"`
	DryRun   bool   `json:"dryRun"`
	Message  string `json:"message"`
}

// revertPolicy is POST /api/users-permissions/policy/revert {revision,
// dryRun, message}: the policy as it was at the revision comes back,
// atomically, as a new history entry naming it; a dry run only returns the
// decisions that would flip.
func (s *Server) revertPolicy(c *gin.Context) error {
	if _, err := queryFlags(c); err != nil {
		return err
	}
	b, err := readBody(c)
	if err != nil {
		return err
	}
	var v validator
	var rb revertBody
	if raw, ok := b["revision"]; !ok || json.Unmarshal(raw, &rb.Revision) != nil || rb.Revision < 1 {
		v.add("revision", "revision must be a positive integer", nil)
	}
	if raw, ok := b["dryRun"]; ok && json.Unmarshal(raw, &rb.DryRun) != nil {
		v.add("dryRun", "dryRun must be a boolean", nil)
	}
	if m, ok := v.str(b, "message"); ok {
		if len(m) > 1024 {
			v.add("message", "message must be at most 1024 characters", nil)
		}
		rb.Message = m
	}
	v.noUnknown(b, nil, "revision", "dryRun", "message")
	if err := v.err(); err != nil {
		return err
	}
	rules, err := s.enforcer.RulesAt(ctx(c), rb.Revision)
	if err != nil {
		return err
	}
	flips, err := s.planPolicy(ctx(c), rules)
	if err != nil {
		return err
	}
	if rb.DryRun {
		return writeJSON(c, http.StatusOK, gin.H{"dryRun": true, "revision": rb.Revision, "changes": flips})
	}
	if err := s.enforcer.Revert(s.changeCtx(c, rb.Message), rb.Revision); err != nil {
		return err
	}
	s.log.InfoContext(ctx(c), "policy reverted", "to", rb.Revision, "flips", len(flips), "revision", s.enforcer.Revision())
	return writeJSON(c, http.StatusOK, gin.H{"ok": true, "revision": s.enforcer.Revision(), "reverted": rb.Revision, "changes": flips})
}

// policyETag is the ETag of the policy at a revision.
func policyETag(rev int64) string { return `"policy-` + strconv.FormatInt(rev, 10) + `"` }

// ifMatch reads If-Match on a policy write: the revision it names, or -1
// when absent or "*". Any other value is a 412: it cannot match.
func ifMatch(c *gin.Context) (int64, error) {
	h := strings.TrimSpace(c.GetHeader("If-Match"))
	if h == "" || h == "*" {
		return -1, nil
	}
	tag := strings.TrimSuffix(strings.TrimPrefix(h, `"policy-`), `"`)
	rev, err := strconv.ParseInt(tag, 10, 64)
	if err != nil || rev < 0 || policyETag(rev) != h {
		return 0, PreconditionFailedError(`If-Match must be an ETag of GET /api/users-permissions/policy, such as "policy-42"`, gin.H{"ifMatch": h})
	}
	return rev, nil
}
