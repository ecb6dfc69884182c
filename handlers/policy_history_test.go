package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/history"
	"github.com/gatehouse/gatehouse/policy"
)

// adminHeader is an admin's Authorization, plus extra headers.
func (e *testEnv) adminHeader(kv ...string) http.Header {
	h := http.Header{"Authorization": {"Bearer " + e.token(e.users["admin"].ID)}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// allEntries returns every history entry, newest first, with rows.
func (e *testEnv) allEntries() []history.Entry {
	e.t.Helper()
	list, _, err := e.enforcer.History(context.Background(), history.Filter{})
	if err != nil {
		e.t.Fatal(err)
	}
	for i := range list {
		if list[i], err = e.enforcer.HistoryEntry(context.Background(), list[i].Revision); err != nil {
			e.t.Fatal(err)
		}
	}
	return list
}

func rowLines(rows [][]string) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(strings.Join(r, ",") + "\n")
	}
	return b.String()
}

// TestPolicyHistoryChangePaths: each HTTP way of changing the policy — the
// roles API, the admin page, PUT …/policy, a role deletion, a revert —
// records exactly one entry naming the caller, the source and the rows.
func TestPolicyHistoryChangePaths(t *testing.T) {
	e := newTestEnv(t)
	publicID := func() uint {
		r, err := e.store.Roles().ByType(context.Background(), PublicRole)
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}()
	var editorID uint
	steps := []struct {
		name, method, url, body string
		header                  http.Header
		source                  string
		added, removed          string // substrings of the entry's rows
		reverts                 bool
	}{
		{name: "roles API: create a role with a permission", method: "POST", url: "/api/users-permissions/roles",
			body:   `{"name":"Editor","permissions":{"plugin::users-permissions":{"controllers":{"user":{"find":{"enabled":true}}}}}}`,
			source: "api", added: "p,editor,/api/users,GET\n"},
		{name: "admin page: open a route to public", method: "PUT", url: fmt.Sprintf("/api/users-permissions/roles/%d", publicID),
			body:   `{"permissions":{"plugin::users-permissions":{"controllers":{"user":{"destroy":{"enabled":true}}}}}}`,
			header: http.Header{ClientHeader: {"admin"}}, source: "admin", added: "p,public,/api/users/:id,DELETE\n"},
		{name: "role deletion", method: "DELETE", url: "/api/users-permissions/roles/{editor}", source: "api", removed: "p,editor,/api/users,GET\n"},
		{name: "PUT policy", method: "PUT", url: "/api/users-permissions/policy", body: policy.DefaultCSV + "p, public, /api/users/count, GET\n",
			header: http.Header{"Content-Type": {"text/csv"}}, source: "api", added: "p,public,/api/users/count,GET\n"},
		{name: "revert", method: "POST", url: "/api/users-permissions/policy/revert", body: `{"revision":{first}}`, source: "api",
			removed: "p,public,/api/users/count,GET\n", reverts: true},
	}
	first := e.enforcer.Revision()
	for _, step := range steps {
		h := e.adminHeader()
		for k, v := range step.header {
			h[k] = v
		}
		url := strings.ReplaceAll(step.url, "{editor}", fmt.Sprint(editorID))
		body := strings.ReplaceAll(step.body, "{first}", fmt.Sprint(first))
		before := len(e.allEntries())
		rec := e.request(step.method, url, body, h)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %s %s = %d\n%s", step.name, step.method, url, rec.Code, rec.Body)
		}
		if editorID == 0 {
			r, err := e.store.Roles().ByType(context.Background(), "editor")
			if err != nil {
				t.Fatal(err)
			}
			editorID = r.ID
		}
		got := e.allEntries()
		if len(got) != before+1 {
			t.Fatalf("%s: %d entries, want %d", step.name, len(got), before+1)
		}
		last := got[0]
		if last.Actor != "root" || last.UserID != e.users["admin"].ID || last.Source != step.source {
			t.Errorf("%s: entry by %q (user %d, %s), want root (user %d, %s)", step.name, last.Actor, last.UserID, last.Source, e.users["admin"].ID, step.source)
		}
		if !strings.Contains(rowLines(last.Added), step.added) || !strings.Contains(rowLines(last.Removed), step.removed) {
			t.Errorf("%s: entry +%v -%v, want + %q and - %q", step.name, last.Added, last.Removed, step.added, step.removed)
		}
		if step.reverts && last.Reverts != first {
			t.Errorf("%s: reverts %d, want %d", step.name, last.Reverts, first)
		}
	}
	// The revert brought back the exact rows of the first revision.
	rules, err := e.enforcer.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rowLines(sortedRows(rules)), rowLines(sortedRows(policy.Default())); got != want {
		t.Errorf("after the revert:\n%s\nwant the default policy:\n%s", got, want)
	}
}

func sortedRows(rules []policy.Rule) [][]string {
	_, rows := history.Diff(policy.Rows(rules), nil)
	return rows
}

// TestPolicyHistoryAPI reads the history: filters, pages, an entry with
// its flips, revert's dry run and validation, ETag and If-Match.
func TestPolicyHistoryAPI(t *testing.T) {
	openDelete := policy.DefaultCSV + "p, public, /api/users/:id, DELETE\n"
	// change opens DELETE /api/users/:id to public by PUT …/policy.
	change := func(e *testEnv) {
		h := e.adminHeader("Content-Type", "text/csv")
		if rec := e.request("PUT", "/api/users-permissions/policy", openDelete, h); rec.Code != 200 {
			e.t.Fatalf("PUT policy: %d %s", rec.Code, rec.Body)
		}
	}
	scenarios := []scenario{
		{name: "list, newest first", method: "GET", url: "/api/users-permissions/policy/history", caller: "admin", setup: change, wantStatus: 200,
			want:    []string{`"actor":"root"`, `"source":"api"`, `"actor":"bootstrap"`, `"addedCount":1`, `"pagination":{"page":1,"pageCount":1,"pageSize":25,"total":2}`},
			notWant: []string{`"added":[`},
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				var got struct{ Data []history.Entry }
				json.Unmarshal(rec.Body.Bytes(), &got)
				if len(got.Data) != 2 || got.Data[0].Actor != "root" || got.Data[1].Actor != "bootstrap" {
					t.Errorf("entries = %+v", got.Data)
				}
			}},
		{name: "filter by actor", method: "GET", url: "/api/users-permissions/policy/history?actor=bootstrap", caller: "admin", setup: change, wantStatus: 200,
			want: []string{`"total":1`, `"actor":"bootstrap"`}, notWant: []string{`"actor":"root"`}},
		{name: "filter by role", method: "GET", url: "/api/users-permissions/policy/history?role=admin", caller: "admin", setup: change, wantStatus: 200,
			want: []string{`"total":1`, `"actor":"bootstrap"`}},
		{name: "filter by time", method: "GET", url: "/api/users-permissions/policy/history?since=2999-01-01", caller: "admin", setup: change, wantStatus: 200,
			want: []string{`"data":[]`, `"total":0`}},
		{name: "page size", method: "GET", url: "/api/users-permissions/policy/history?pageSize=1&page=2", caller: "admin", setup: change, wantStatus: 200,
			want: []string{`"actor":"bootstrap"`, `"pageCount":2`}, notWant: []string{`"actor":"root"`}},
		{name: "unknown parameter", method: "GET", url: "/api/users-permissions/policy/history?user=root", caller: "admin", wantStatus: 400,
			want: []string{`Unknown query parameter \"user\"`}},
		{name: "bad time", method: "GET", url: "/api/users-permissions/policy/history?since=yesterday", caller: "admin", wantStatus: 400,
			want: []string{`since must be an RFC 3339 time`}},
		{name: "bad page size", method: "GET", url: "/api/users-permissions/policy/history?pageSize=1000", caller: "admin", wantStatus: 400},
		{name: "not for authenticated users", method: "GET", url: "/api/users-permissions/policy/history", caller: "authenticated", wantStatus: 403},
		{name: "not for the public", method: "GET", url: "/api/users-permissions/policy/history/1", wantStatus: 403},
		{name: "an entry with its rows and flips", method: "GET", url: "/api/users-permissions/policy/history/{latest}", caller: "admin", setup: change, wantStatus: 200,
			want: []string{`"added":[["p","public","/api/users/:id","DELETE"]]`, `"removedCount":0`,
				`"changes":[{"role":"public","method":"DELETE","route":"/api/users/:id","function":"plugin::users-permissions.user.destroy","from":"deny","to":"allow"}]`}},
		{name: "no entry", method: "GET", url: "/api/users-permissions/policy/history/999999", caller: "admin", wantStatus: 404,
			want: []string{`No policy history entry at this revision`}},
		{name: "not a revision", method: "GET", url: "/api/users-permissions/policy/history/abc", caller: "admin", wantStatus: 404},
		{name: "revert dry run changes nothing", method: "POST", url: "/api/users-permissions/policy/revert", caller: "admin", setup: change,
			body: `{"revision":{first},"dryRun":true}`, wantStatus: 200,
			want: []string{`"dryRun":true`, `"from":"allow","to":"deny"`},
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				if ok, _ := e.enforcer.Allow("public", "/api/users/:id", "DELETE"); !ok {
					t.Errorf("a dry run reverted the policy")
				}
			}},
		{name: "revert without a revision", method: "POST", url: "/api/users-permissions/policy/revert", caller: "admin", body: `{"dryRun":true}`, wantStatus: 400,
			want: []string{`revision must be a positive integer`}},
		{name: "revert with a string revision", method: "POST", url: "/api/users-permissions/policy/revert", caller: "admin", body: `{"revision":"1"}`, wantStatus: 400},
		{name: "revert with unknown keys", method: "POST", url: "/api/users-permissions/policy/revert", caller: "admin", body: `{"revision":1,"force":true}`, wantStatus: 400,
			want: []string{`unspecified keys: force`}},
		{name: "revert to an unknown revision", method: "POST", url: "/api/users-permissions/policy/revert", caller: "admin", body: `{"revision":999999}`, wantStatus: 404},
		{name: "GET policy has an ETag", method: "GET", url: "/api/users-permissions/policy", caller: "admin", wantStatus: 200,
			check: func(t *testing.T, e *testEnv, rec *httptest.ResponseRecorder) {
				if got, want := rec.Header().Get("ETag"), fmt.Sprintf(`"policy-%d"`, e.enforcer.Revision()); got != want {
					t.Errorf("ETag = %q, want %q", got, want)
				}
			}},
		{name: "If-Match of an older revision: 412, nothing changes", method: "PUT", url: "/api/users-permissions/policy", caller: "admin",
			setup: change, header: http.Header{"Content-Type": {"text/csv"}, "If-Match": {`"policy-{first}"`}}, body: policy.DefaultCSV, wantStatus: 412,
			want: []string{`"name":"PreconditionFailedError"`, `"data":null`},
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				if ok, _ := e.enforcer.Allow("public", "/api/users/:id", "DELETE"); !ok {
					t.Errorf("a refused PUT changed the policy")
				}
			}},
		{name: "If-Match of the current revision applies", method: "PUT", url: "/api/users-permissions/policy", caller: "admin",
			header: http.Header{"Content-Type": {"text/csv"}, "If-Match": {`"policy-{current}"`}}, body: openDelete, wantStatus: 200, want: []string{`"ok":true`}},
		{name: "malformed If-Match: 412", method: "PUT", url: "/api/users-permissions/policy", caller: "admin",
			header: http.Header{"Content-Type": {"text/csv"}, "If-Match": {`W/"policy-1"`}}, body: openDelete, wantStatus: 412},
		{name: "If-Match: * applies", method: "PUT", url: "/api/users-permissions/policy", caller: "admin",
			header: http.Header{"Content-Type": {"text/csv"}, "If-Match": {`*`}}, body: openDelete, wantStatus: 200},
	}
	for i := range scenarios {
		scenarios[i].expand = expandRevisions
	}
	runScenarios(t, scenarios)
}

// expandRevisions fills in {first} (the bootstrap entry's revision) and
// {latest} and {current} (the stored revision).
func expandRevisions(e *testEnv, s string) string {
	list, _, err := e.enforcer.History(context.Background(), history.Filter{})
	if err != nil || len(list) == 0 {
		e.t.Fatalf("history: %v (%d entries)", err, len(list))
	}
	current := fmt.Sprint(e.enforcer.Revision())
	return strings.NewReplacer("{first}", fmt.Sprint(list[len(list)-1].Revision), "{latest}", fmt.Sprint(list[0].Revision), "{current}", current).Replace(s)
}
