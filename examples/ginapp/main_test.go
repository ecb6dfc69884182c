package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/policy/policytest"
	"github.com/gin-gonic/gin"
)

func init() { gin.SetMode(gin.TestMode) }

// matrix is the app's permission matrix, as a CI job would keep it.
const matrix = `role,method,path,expect
public,        GET,    /api/posts,    allow
public,        GET,    /api/posts/1,  allow
public,        POST,   /api/posts,    deny
authenticated, POST,   /api/posts,    allow
authenticated, DELETE, /api/posts/1,  deny
admin,         DELETE, /api/posts/1,  allow
public,        GET,    /api/users/me, deny
authenticated, GET,    /api/users/me, allow
`

// TestPermissionMatrix checks the app's policy from Go, without a database.
func TestPermissionMatrix(t *testing.T) {
	e, err := policy.NewFromCSV(policy.Model, policy.DefaultCSV+postPolicy)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := newApp(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "app.db"), []byte("ginapp-test-secret-ginapp-test-secret"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := policy.ParseMatrix(matrix)
	if err != nil {
		t.Fatal(err)
	}
	policytest.CheckMatrix(t, e, srv.Catalog(), rows)
}

// TestPostsOverHTTP drives the real app: register, create a post, read it
// anonymously, and be refused a delete.
func TestPostsOverHTTP(t *testing.T) {
	srv, err := newApp(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "app.db"), []byte("ginapp-test-secret-ginapp-test-secret"))
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, url, body, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}
	rec := do("POST", "/api/auth/local/register", `{"username":"writer","email":"writer@example.com","password":"secret123"}`, "")
	token, ok := strings.CutPrefix(rec.Body.String(), `{"jwt":"`)
	if rec.Code != 200 || !ok {
		t.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	token, _, _ = strings.Cut(token, `"`)
	if rec := do("POST", "/api/posts", `{"title":"Hello"}`, ""); rec.Code != http.StatusForbidden {
		t.Errorf("anonymous create: %d, want 403", rec.Code)
	}
	if rec := do("POST", "/api/posts", `{"title":"Hello"}`, token); rec.Code != http.StatusCreated || !strings.Contains(rec.Body.String(), `"author":"writer"`) {
		t.Errorf("create: %d %s", rec.Code, rec.Body)
	}
	if rec := do("GET", "/api/posts/1", "", ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), "Hello") {
		t.Errorf("anonymous read: %d %s", rec.Code, rec.Body)
	}
	if rec := do("DELETE", "/api/posts/1", "", token); rec.Code != http.StatusForbidden {
		t.Errorf("delete as a plain user: %d, want 403", rec.Code)
	}
}
