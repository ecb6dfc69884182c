package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"golang.org/x/crypto/bcrypt"
)

// legacyUser stores a local user straight into up_users, without the
// checks and identifier rows of the store's writes: data an older version
// let in, such as a username equal to another user's email in other
// capitals.
func (e *testEnv) legacyUser(username, email, password string) store.User {
	e.t.Helper()
	role, err := e.store.Roles().ByType(context.Background(), "authenticated")
	if err != nil {
		e.t.Fatal(err)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	now := time.Now().UTC().Add(-time.Minute)
	u := store.User{DocumentID: store.NewDocumentID(), Username: username, Email: email, Provider: "local",
		Password: string(hash), Confirmed: true, RoleID: &role.ID, PublishedAt: now, TokensValidAfter: now}
	if err := e.store.DB.Create(&u).Error; err != nil {
		e.t.Fatalf("legacy user %s: %v", username, err)
	}
	return u
}

// TestLoginIdentifierAmbiguity is issue 11 point 8: an identifier that is a
// valid email matches the email column only, so a username spelling another
// user's email (in other capitals) never wins the lookup.
func TestLoginIdentifierAmbiguity(t *testing.T) {
	const url = "/api/auth/local"
	login := func(identifier, password string) string {
		b, _ := json.Marshal(map[string]string{"identifier": identifier, "password": password})
		return string(b)
	}
	badLogin := errorJSONFor(400, "ValidationError", "Invalid identifier or password")
	squat := func(e *testEnv) {
		// The squatter's row comes first by id, as when it registered first.
		e.legacyUser("Victim@Example.com", "squatter@example.com", "squatter-pass")
		e.legacyUser("victim", "victim@example.com", "victim-pass")
	}
	runScenarios(t, []scenario{
		{name: "the email's owner signs in with its email in any capitals", method: "POST", url: url,
			body: login("Victim@Example.com", "victim-pass"), setup: squat, wantStatus: 200, want: []string{`"username":"victim"`}},
		{name: "the email's owner, lower case", method: "POST", url: url,
			body: login("victim@example.com", "victim-pass"), setup: squat, wantStatus: 200, want: []string{`"username":"victim"`}},
		{name: "an email-shaped username no longer signs in by username", method: "POST", url: url,
			body: login("Victim@Example.com", "squatter-pass"), setup: squat, wantStatus: 400, want: []string{badLogin}},
		{name: "the squatter signs in with its own email", method: "POST", url: url,
			body: login("squatter@example.com", "squatter-pass"), setup: squat, wantStatus: 200, want: []string{`"username":"Victim@Example.com"`}},
		{name: "a plain username still signs in by username", method: "POST", url: url,
			body: login("victim", "victim-pass"), setup: squat, wantStatus: 200, want: []string{`"username":"victim"`}},
		{name: "an email of another provider's user is not a local sign-in", method: "POST", url: url,
			body: login("gh@example.com", testPassword),
			setup: func(e *testEnv) {
				e.createUser("ghuser", "gh@example.com", "authenticated", func(u *store.User) { u.Provider = "github" })
			},
			wantStatus: 400, want: []string{badLogin}},
	})
}

// TestUsernameMayNotBeAnotherUsersEmail: register, POST /api/users and
// PUT /api/users/:id refuse a username that is another user's email, and
// an email that is another user's username, whatever the capitals; and
// usernames are unique whatever the capitals.
func TestUsernameMayNotBeAnotherUsersEmail(t *testing.T) {
	const register = "/api/auth/local/register"
	reg := func(username, email string) string {
		b, _ := json.Marshal(map[string]string{"username": username, "email": email, "password": "secret123"})
		return string(b)
	}
	taken := errorJSONFor(400, "ApplicationError", "Email or Username are already taken")
	// alice (id 1) is users["authenticated"], root (id 2) users["admin"].
	runScenarios(t, []scenario{
		{name: "register: username is another's email in capitals", method: "POST", url: register,
			body: reg("ALICE@Example.com", "fresh@example.com"), wantStatus: 400, want: []string{taken}},
		{name: "register: email is another's username in other capitals", method: "POST", url: register,
			body:       reg("fresh", "weird@example.com"),
			setup:      func(e *testEnv) { e.createUser("Weird@Example.COM", "w@example.com", "authenticated") },
			wantStatus: 400, want: []string{taken}},
		{name: "register: username differing only in case", method: "POST", url: register,
			body: reg("ALICE", "fresh@example.com"), wantStatus: 400, want: []string{taken}},
		{name: "register: own email as own username is fine", method: "POST", url: register,
			body: reg("Me@Example.com", "me@example.com"), wantStatus: 200},
		{name: "create: username is another's email", method: "POST", url: "/api/users", caller: "admin",
			body:       `{"username":"Alice@EXAMPLE.com","email":"fresh@example.com","password":"secret123"}`,
			wantStatus: 400, want: []string{errorJSONFor(400, "ApplicationError", "Username already taken")}},
		{name: "create: email is another's username", method: "POST", url: "/api/users", caller: "admin",
			body:       `{"username":"fresh","email":"Weird@example.com","password":"secret123"}`,
			setup:      func(e *testEnv) { e.createUser("weird@example.com", "w@example.com", "authenticated") },
			wantStatus: 400, want: []string{errorJSONFor(400, "ApplicationError", "Email already taken")}},
		{name: "update: username is another's email", method: "PUT", url: "/api/users/2", caller: "admin",
			body: `{"username":"Alice@Example.COM"}`, wantStatus: 400, want: []string{errorJSONFor(400, "ApplicationError", "Username already taken")}},
		{name: "update: username differing only in case", method: "PUT", url: "/api/users/2", caller: "admin",
			body: `{"username":"Alice"}`, wantStatus: 400, want: []string{errorJSONFor(400, "ApplicationError", "Username already taken")}},
		{name: "update: own username in other capitals", method: "PUT", url: "/api/users/2", caller: "admin",
			body: `{"username":"ROOT"}`, wantStatus: 200, want: []string{`"username":"ROOT"`}},
		{name: "update: email is another's username", method: "PUT", url: "/api/users/2", caller: "admin",
			body:       `{"email":"WEIRD@example.com"}`,
			setup:      func(e *testEnv) { e.createUser("weird@example.com", "w@example.com", "authenticated") },
			wantStatus: 400, want: []string{errorJSONFor(400, "ApplicationError", "Email already taken")}},
		{name: "update: the old username is free again", method: "PUT", url: "/api/users/2", caller: "admin",
			body: `{"username":"root2"}`, wantStatus: 200,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				if rec := e.request("POST", register, reg("Root", "newroot@example.com"), nil); rec.Code != http.StatusOK {
					t.Errorf("register the freed username: status = %d, want 200\n%s", rec.Code, rec.Body)
				}
			}},
		{name: "delete frees the identifiers", method: "DELETE", url: "/api/users/1", caller: "admin", wantStatus: 200,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				if rec := e.request("POST", register, reg("alice", "alice@example.com"), nil); rec.Code != http.StatusOK {
					t.Errorf("register the deleted user's username and email: status = %d, want 200\n%s", rec.Code, rec.Body)
				}
			}},
	})
}

// TestConcurrentCrossFieldRegistrations races, in one process, registrations
// using one string as an email and as a username: at most one succeeds.
func TestConcurrentCrossFieldRegistrations(t *testing.T) {
	e := newTestEnv(t)
	const pairs = 20
	var wg sync.WaitGroup
	codes := make([][2]int, pairs)
	start := make(chan struct{})
	for i := range pairs {
		shared := fmt.Sprintf("shared%d@example.com", i)
		bodies := [2]string{
			fmt.Sprintf(`{"username":"byemail%d","email":%q,"password":"secret123"}`, i, shared),
			fmt.Sprintf(`{"username":%q,"email":"byname%d@example.com","password":"secret123"}`, shared, i),
		}
		for side := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				codes[i][side] = e.request("POST", "/api/auth/local/register", bodies[side], nil).Code
			}()
		}
	}
	close(start)
	wg.Wait()
	for i, c := range codes {
		if c[0] == http.StatusOK && c[1] == http.StatusOK {
			t.Errorf("pair %d: both registrations accepted", i)
		}
		if c[0] != http.StatusOK && c[1] != http.StatusOK {
			t.Errorf("pair %d: statuses %v, want one 200", i, c)
		}
	}
}
