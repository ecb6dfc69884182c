package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/cluster"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/store"
	"golang.org/x/crypto/bcrypt"
)

// userBound is how soon a user written on one instance must be seen so on
// the other. The user caches in these tests keep a user for an hour, so
// only a notice can meet it.
const userBound = 200 * time.Millisecond

// TestRedisUserNoticePropagates: two instances over one database whose user
// caches would keep a user for an hour; a user blocked on A is refused on B
// (and allowed again once unblocked) as soon as B drops it on A's notice,
// although B had verified the user's token and cached the user before.
func TestRedisUserNoticePropagates(t *testing.T) {
	addr := redisAddr(t)
	opts := testNames(t, addr)
	open := sharedDatabase(t)
	a, b := open(), open()
	ca, cb := connect(t, addr, opts), connect(t, addr, opts)
	ctx := context.Background()
	for _, p := range []struct {
		in instance
		c  *cluster.Cluster
	}{{a, ca}, {b, cb}} {
		p.in.store.SetUserCacheTTL(time.Hour)
		p.in.store.OnUserChange(p.c.UserChanged)
	}
	if _, err := ca.FollowUsers(ctx, a.store); err != nil {
		t.Fatal(err)
	}
	stopB, err := cb.FollowUsers(ctx, b.store)
	if err != nil {
		t.Fatal(err)
	}
	srvA, srvB := newServer(t, a, ca.Limits), newServer(t, b, cb.Limits)
	id := createUser(t, a.store, "alice")
	token := loginAs(t, srvA, "alice@example.com")
	if code, body := me(srvB, token); code != http.StatusOK {
		t.Fatalf("GET /api/users/me on B: status = %d, want 200\n%s", code, body)
	}

	var took []time.Duration
	for i := range 50 {
		blocked := i%2 == 0
		start := time.Now()
		if err := a.store.Users().Update(ctx, id, map[string]any{"blocked": blocked}); err != nil {
			t.Fatal(err)
		}
		want := http.StatusOK
		if blocked {
			want = http.StatusUnauthorized
		}
		took = append(took, waitStatus(t, srvB, token, want, start))
	}
	slices.Sort(took)
	t.Logf("user blocked/unblocked on A → answered accordingly on B, 50 changes: min %s, median %s, max %s",
		took[0], took[len(took)/2], took[len(took)-1])

	t.Run("without the notice B keeps the cached user", func(t *testing.T) {
		stopB()
		if err := a.store.Users().Update(ctx, id, map[string]any{"blocked": true}); err != nil {
			t.Fatal(err)
		}
		if code, body := me(srvB, token); code != http.StatusOK {
			t.Fatalf("B with no follower: status = %d, want 200 from its cache (the test's premise)\n%s", code, body)
		}
		b.store.InvalidateUser(id) // what the notice does
		if code, body := me(srvB, token); code != http.StatusUnauthorized {
			t.Errorf("B after InvalidateUser: status = %d, want 401\n%s", code, body)
		}
	})
}

// TestRedisUserNoticeWrites: each user write that matters to
// authentication — blocking through the users API, a password change, a
// deletion — made on A is in force on B within userBound.
func TestRedisUserNoticeWrites(t *testing.T) {
	addr := redisAddr(t)
	opts := testNames(t, addr)
	open := sharedDatabase(t)
	a, b := open(), open()
	ca, cb := connect(t, addr, opts), connect(t, addr, opts)
	ctx := context.Background()
	for _, in := range []instance{a, b} {
		in.store.SetUserCacheTTL(time.Hour)
	}
	a.store.OnUserChange(ca.UserChanged)
	if _, err := cb.FollowUsers(ctx, b.store); err != nil {
		t.Fatal(err)
	}
	// A's clock can run ahead: a password change revokes the tokens issued
	// before its second, so the change must fall in a later second than
	// the login.
	var ahead atomic.Int64
	srvA := newServer(t, a, ca.Limits, func(cfg *handlers.Config) {
		cfg.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	})
	srvB := newServer(t, b, cb.Limits)
	createUser(t, a.store, "admin", "admin")
	admin := loginAs(t, srvA, "admin@example.com")

	for _, tc := range []struct {
		name, user string
		write      func(t *testing.T, id uint, token string) *httptest.ResponseRecorder
	}{
		{"PUT /api/users/:id blocked", "blocked", func(t *testing.T, id uint, _ string) *httptest.ResponseRecorder {
			return call(srvA, "PUT", fmt.Sprintf("/api/users/%d", id), `{"blocked":true}`, admin)
		}},
		{"POST /api/auth/change-password", "changed", func(t *testing.T, _ uint, token string) *httptest.ResponseRecorder {
			ahead.Store(int64(time.Second))
			defer ahead.Store(0)
			return call(srvA, "POST", "/api/auth/change-password",
				`{"currentPassword":"correct-horse","password":"battery-staple","passwordConfirmation":"battery-staple"}`, token)
		}},
		{"DELETE /api/users/:id", "deleted", func(t *testing.T, id uint, _ string) *httptest.ResponseRecorder {
			return call(srvA, "DELETE", fmt.Sprintf("/api/users/%d", id), "", admin)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := createUser(t, a.store, tc.user)
			token := loginAs(t, srvA, tc.user+"@example.com")
			if code, body := me(srvB, token); code != http.StatusOK {
				t.Fatalf("GET /api/users/me on B: status = %d, want 200\n%s", code, body)
			}
			start := time.Now()
			if rec := tc.write(t, id, token); rec.Code != http.StatusOK {
				t.Fatalf("%s on A: status = %d, want 200\n%s", tc.name, rec.Code, rec.Body)
			}
			took := waitStatus(t, srvB, token, http.StatusUnauthorized, start)
			t.Logf("refused on B %s after the write started on A", took)
		})
	}
}

// TestRedisUserFollowerResubscribes: when the connection to Redis is lost
// and comes back, the notices sent meanwhile are gone, so the follower drops
// the whole user cache.
func TestRedisUserFollowerResubscribes(t *testing.T) {
	addr := redisAddr(t)
	opts := testNames(t, addr)
	proxy := newProxy(t, addr)
	c, err := cluster.Connect(context.Background(), "redis://"+proxy.addr+"/0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cache := &recordingCache{cleared: make(chan struct{}, 8)}
	if _, err := c.FollowUsers(context.Background(), cache); err != nil {
		t.Fatal(err)
	}
	other := connect(t, addr, opts)
	if err := other.AnnounceUser(context.Background(), 7); err != nil {
		t.Fatal(err)
	}
	if err := other.AnnouncePolicy(context.Background(), 3); err != nil { // not a user notice
		t.Fatal(err)
	}
	if err := other.AnnounceUser(context.Background(), 8); err != nil {
		t.Fatal(err)
	}
	poll := time.NewTicker(100 * time.Microsecond)
	defer poll.Stop()
	deadline := time.Now().Add(2 * time.Second)
	for len(cache.ids()) < 2 && time.Now().Before(deadline) {
		<-poll.C
	}
	if got := cache.ids(); !slices.Equal(got, []uint{7, 8}) {
		t.Fatalf("users dropped = %v, want [7 8]", got)
	}
	if err := c.AnnounceUser(context.Background(), 9); err != nil { // its own: ignored
		t.Fatal(err)
	}

	select {
	case <-cache.cleared:
		t.Fatal("InvalidateCache called before the connection was lost")
	default:
	}
	proxy.stop()
	proxy.start()
	select {
	case <-cache.cleared:
	case <-time.After(5 * time.Second):
		t.Fatal("no InvalidateCache within 5s of the connection coming back")
	}
	if got := cache.ids(); !slices.Equal(got, []uint{7, 8}) {
		t.Errorf("users dropped = %v, want [7 8] (its own notice ignored)", got)
	}
}

// recordingCache is a cluster.UserCache that records the calls.
type recordingCache struct {
	mu      sync.Mutex
	dropped []uint
	cleared chan struct{}
}

func (r *recordingCache) InvalidateUser(id uint) {
	r.mu.Lock()
	r.dropped = append(r.dropped, id)
	r.mu.Unlock()
}

func (r *recordingCache) InvalidateCache() { r.cleared <- struct{}{} }

func (r *recordingCache) ids() []uint {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.dropped)
}

// waitStatus polls GET /api/users/me on srv with token until it answers
// want, failing past userBound after start; it returns the time taken. A
// 401 must be Strapi's UnauthorizedError envelope.
func waitStatus(t *testing.T, srv *handlers.Server, token string, want int, start time.Time) time.Duration {
	t.Helper()
	poll := time.NewTicker(100 * time.Microsecond)
	defer poll.Stop()
	for {
		code, body := me(srv, token)
		if code == want {
			took := time.Since(start)
			if want == http.StatusUnauthorized && !strings.Contains(body, `"name":"UnauthorizedError"`) {
				t.Errorf("401 body = %s, want an UnauthorizedError envelope", body)
			}
			return took
		}
		if time.Since(start) > userBound {
			t.Fatalf("GET /api/users/me on B: status = %d, want %d %s after the write on A\n%s", code, want, userBound, body)
		}
		<-poll.C
	}
}

// createUser stores a confirmed local user NAME@example.com, password
// correct-horse, with the role (authenticated unless given).
func createUser(t *testing.T, st *store.Store, name string, role ...string) uint {
	t.Helper()
	ctx := context.Background()
	roleType := "authenticated"
	if len(role) > 0 {
		roleType = role[0]
	}
	r, err := st.Roles().ByType(ctx, roleType)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("correct-horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Add(-time.Minute)
	u := store.User{DocumentID: store.NewDocumentID(), Username: name, Email: name + "@example.com", Provider: "local",
		Password: string(hash), Confirmed: true, RoleID: &r.ID, PublishedAt: now, TokensValidAfter: now}
	if err := st.Users().Create(ctx, &u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// loginAs logs in with the password createUser gives and returns the JWT.
func loginAs(t *testing.T, srv *handlers.Server, email string) string {
	t.Helper()
	rec := call(srv, "POST", "/api/auth/local", fmt.Sprintf(`{"identifier":%q,"password":"correct-horse"}`, email), "")
	var resp struct{ JWT string }
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); rec.Code != http.StatusOK || err != nil || resp.JWT == "" {
		t.Fatalf("POST /api/auth/local as %s: status = %d, want 200 with a jwt\n%s", email, rec.Code, rec.Body)
	}
	return resp.JWT
}

// me calls GET /api/users/me with token.
func me(srv *handlers.Server, token string) (int, string) {
	rec := call(srv, "GET", "/api/users/me", "", token)
	return rec.Code, rec.Body.String()
}

// call sends a request through srv's router from 192.0.2.10.
func call(srv *handlers.Server, method, target, body, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.RemoteAddr = "192.0.2.10:40000"
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec
}
