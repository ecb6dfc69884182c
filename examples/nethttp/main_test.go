package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/store"
)

const testSecret = "nethttp-test-secret-nethttp-test"

// TestNotesOverHTTP drives the app over a real database, with users and
// tokens as a Gatehouse server sharing the database and secret would make
// them, then changes the policy in SQL and sees the app apply it.
func TestNotesOverHTTP(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	databaseURL := "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
	h, closeDB, err := newApp(ctx, Config{DatabaseURL: databaseURL, Secret: []byte(testSecret), Every: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); closeDB() })

	// The Gatehouse server's side: its users and their tokens.
	st, err := store.Open(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tokens := map[string]string{"": "", "bad": "not-a-token"}
	for _, u := range []struct{ name, role string }{{"writer", "authenticated"}, {"boss", "admin"}} {
		role, err := st.Roles().ByType(ctx, u.role)
		if err != nil {
			t.Fatal(err)
		}
		past := time.Now().UTC().Add(-time.Minute)
		user := store.User{DocumentID: store.NewDocumentID(), Username: u.name, Email: u.name + "@example.com", Provider: "local",
			Confirmed: true, RoleID: &role.ID, PublishedAt: past, TokensValidAfter: past}
		if err := st.Users().Create(ctx, &user); err != nil {
			t.Fatal(err)
		}
		if tokens[u.name], err = (guard.Tokens{Secret: []byte(testSecret), TTL: time.Hour, Now: time.Now}).Issue(user.ID); err != nil {
			t.Fatal(err)
		}
	}
	do := func(caller, method, target, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		if tokens[caller] != "" {
			req.Header.Set("Authorization", "Bearer "+tokens[caller])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, sc := range []struct {
		name, caller, method, target, body string
		want                               int
		wantBody                           string
	}{
		{"anonymous list (public grant)", "", "GET", "/api/notes", "", 200, `{"data":[]}`},
		{"anonymous create: denied", "", "POST", "/api/notes", `{"text":"hi"}`, 403, `"name":"ForbiddenError"`},
		{"signed-in create", "writer", "POST", "/api/notes", `{"text":"hi"}`, 201, `"author":"writer"`},
		{"signed-in read", "writer", "GET", "/api/notes/1", "", 200, `"text":"hi"`},
		{"anonymous read: denied", "", "GET", "/api/notes/1", "", 403, `"ForbiddenError"`},
		{"signed-in delete: denied", "writer", "DELETE", "/api/notes/1", "", 403, `"ForbiddenError"`},
		{"bad token: 401, never public", "bad", "GET", "/api/notes", "", 401, `"message":"Missing or invalid credentials"`},
		{"health check opted out", "bad", "GET", "/healthz", "", 200, "ok"},
		{"unknown route", "boss", "GET", "/api/nothing", "", 404, ""},
		{"admin delete", "boss", "DELETE", "/api/notes/1", "", 204, ""},
	} {
		if rec := do(sc.caller, sc.method, sc.target, sc.body); rec.Code != sc.want || !strings.Contains(rec.Body.String(), sc.wantBody) {
			t.Errorf("%s: %s %s as %q: status = %d %s, want %d %s", sc.name, sc.method, sc.target, sc.caller, rec.Code, rec.Body, sc.want, sc.wantBody)
		}
	}

	// A row added by hand (or by Gatehouse's admin page) applies within
	// the periodic check.
	if err := st.DB.Exec(`INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES ('p', 'public', '/api/notes/:id', 'GET', '', '', '')`).Error; err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for do("", "GET", "/api/notes/1", "").Code != http.StatusNotFound { // allowed now; the note is gone
		if time.Since(start) > 5*time.Second {
			t.Fatal("the policy change made in SQL never applied")
		}
		<-tick.C
	}
}
