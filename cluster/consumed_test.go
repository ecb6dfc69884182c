package cluster_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/cluster"
	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
	"github.com/gatehouse/gatehouse/store"
	"github.com/redis/go-redis/v9"
)

// Consumed is what handlers.Config.OAuthConsumed takes.
var _ handlers.Consumed = (*cluster.Consumed)(nil)

// consumedPrefix is a Consumed prefix under the test's names, so testNames
// deletes its keys.
func consumedPrefix(opts cluster.Options) string {
	return strings.TrimSuffix(opts.LimitPrefix, ":ratelimit") + ":used"
}

// TestRedisConsumedAcrossInstances: a key used through one instance's
// Redis link is refused through another's, and kept for a bounded time.
func TestRedisConsumedAcrossInstances(t *testing.T) {
	addr := redisAddr(t)
	opts := testNames(t, addr)
	prefix := consumedPrefix(opts)
	a := connect(t, addr, opts).Consumed(prefix)
	b := connect(t, addr, opts).Consumed(prefix)
	ctx := context.Background()
	exp := time.Now().Add(10 * time.Minute)

	for _, tt := range []struct {
		name string
		on   *cluster.Consumed
		key  string
		want bool
	}{
		{"first use, on A", a, "state:s1", true},
		{"again on B", b, "state:s1", false},
		{"again on A", a, "state:s1", false},
		{"another key, on B", b, "state:s2", true},
		{"same value, other kind", b, "session:s1", true},
	} {
		got, err := tt.on.Use(ctx, tt.key, exp)
		if err != nil {
			t.Fatalf("%s: Use(%q) error = %v", tt.name, tt.key, err)
		}
		if got != tt.want {
			t.Errorf("%s: Use(%q) = %v, want %v", tt.name, tt.key, got, tt.want)
		}
	}

	// Keys expire: with the cookie (plus the clock margin), and never
	// "no expiry" even for a value already past it.
	raw := redis.NewClient(&redis.Options{Addr: addr})
	defer raw.Close()
	if _, err := a.Use(ctx, "state:old", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	for key, max := range map[string]time.Duration{"state:s1": 11 * time.Minute, "state:old": time.Minute} {
		ttl, err := raw.PTTL(ctx, prefix+":"+key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 || ttl > max {
			t.Errorf("PTTL %s = %v, want in (0, %v]", key, ttl, max)
		}
	}
}

// TestRedisConsumedConcurrentUse: of concurrent uses of one key from two
// instances, exactly one wins.
func TestRedisConsumedConcurrentUse(t *testing.T) {
	addr := redisAddr(t)
	opts := testNames(t, addr)
	prefix := consumedPrefix(opts)
	links := []*cluster.Consumed{connect(t, addr, opts).Consumed(prefix), connect(t, addr, opts).Consumed(prefix)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 20 {
		wg.Go(func() {
			ok, err := links[i%2].Use(context.Background(), "state:race", time.Now().Add(time.Minute))
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("20 concurrent uses of one state: %d got true, want 1", wins)
	}
}

// TestRedisOAuthStateReplayedOnAnotherInstance: two instances behind one
// public URL, sharing the database and Redis. The provider's redirect back,
// used on A, is replayed with its cookie on B: B refuses it before asking
// the provider. Without the shared memory B would have tried the code.
func TestRedisOAuthStateReplayedOnAnotherInstance(t *testing.T) {
	addr := redisAddr(t)
	opts := testNames(t, addr)
	gh := providertest.NewGitHub(t, providertest.GitHubUser{ID: 1, Login: "octocat",
		Emails: []providertest.GitHubEmail{{Email: "octocat@github.example", Primary: true, Verified: true}}})
	open := sharedDatabase(t)
	ia, ib := open(), open()
	if err := ia.store.Settings().Put(context.Background(), store.KeyGrant, map[string]providers.Settings{"github": gh.Settings()}); err != nil {
		t.Fatal(err)
	}
	ca, cb := connect(t, addr, opts), connect(t, addr, opts)
	prefix := consumedPrefix(opts)
	a := newServer(t, ia, ca.Limits, oauthOn(ca.Consumed(prefix)))
	b := newServer(t, ib, cb.Limits, oauthOn(cb.Consumed(prefix)))

	cookie, back := startSignIn(t, a)
	if q := callback(t, a, back, cookie); q.Get("access_token") == "" {
		t.Fatalf("callback on A: front end got %v, want an access_token", q)
	}
	q := callback(t, b, back, cookie)
	if q.Get("error") != "oauth_error" || q.Get("error_description") != "OAuth2 state already used" || q.Has("access_token") {
		t.Errorf("replay on B: front end got %v, want error=oauth_error, OAuth2 state already used", q)
	}
	if n := len(gh.TokenRequests()); n != 1 {
		t.Errorf("token requests = %d, want 1: the replay must not reach the provider", n)
	}
}

// TestRedisOAuthFailsClosed: when Redis stops answering, the callback
// refuses the sign-in with a message to try again and does not ask the
// provider; when it answers again, sign-ins work again.
func TestRedisOAuthFailsClosed(t *testing.T) {
	addr := redisAddr(t)
	opts := testNames(t, addr)
	proxy := newProxy(t, addr)
	c, err := cluster.Connect(context.Background(), "redis://"+proxy.addr+"/0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	gh := providertest.NewGitHub(t, providertest.GitHubUser{ID: 1, Login: "octocat",
		Emails: []providertest.GitHubEmail{{Email: "octocat@github.example", Primary: true, Verified: true}}})
	in := sharedDatabase(t)()
	if err := in.store.Settings().Put(context.Background(), store.KeyGrant, map[string]providers.Settings{"github": gh.Settings()}); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, in, c.Limits, oauthOn(c.Consumed(consumedPrefix(opts))))

	cookie, back := startSignIn(t, srv)
	proxy.stop()
	start := time.Now()
	q := callback(t, srv, back, cookie)
	if q.Get("error") != "oauth_error" || q.Get("error_description") != "Sign-in is temporarily unavailable, please try again" || q.Has("access_token") {
		t.Errorf("Redis down: front end got %v, want error=oauth_error and a message to try again", q)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the refusal took %v; Redis calls must be bounded", d)
	}
	if n := len(gh.TokenRequests()); n != 0 {
		t.Errorf("token requests = %d, want 0: an unchecked state must not reach the provider", n)
	}

	proxy.start()
	cookie, back = startSignIn(t, srv)
	if q := callback(t, srv, back, cookie); q.Get("access_token") == "" {
		t.Errorf("Redis back: front end got %v, want an access_token", q)
	}
}

// oauthOn configures a server of newServer for the connect flow, as one
// instance behind a load balancer: the shared public URL and used-state
// memory.
func oauthOn(used handlers.Consumed) func(*handlers.Config) {
	return func(cfg *handlers.Config) {
		cfg.PublicURL = "https://auth.example.com"
		cfg.OAuthConsumed = used
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
}

// startSignIn runs the start leg on srv and the provider's consent, and
// returns the state cookie and the provider's redirect back (code, state).
func startSignIn(t *testing.T, srv *handlers.Server) (*http.Cookie, url.Values) {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/connect/github", nil))
	if rec.Code != http.StatusFound {
		t.Fatalf("GET /api/connect/github: status = %d, want 302\n%s", rec.Code, rec.Body)
	}
	var state *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == "gatehouse_oauth_state" {
			state = c
		}
	}
	if state == nil {
		t.Fatal("GET /api/connect/github set no state cookie")
	}
	return state, providertest.FollowAuthorize(t, rec.Header().Get("Location"))
}

// callback sends the provider's redirect back to srv with the cookie and
// returns the query of the front-end URL it redirects to.
func callback(t *testing.T, srv *handlers.Server, back url.Values, cookie *http.Cookie) url.Values {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/api/connect/github/callback?"+back.Encode(), nil)
	req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusFound {
		t.Fatalf("GET /api/connect/github/callback: status = %d, want 302\n%s", rec.Code, rec.Body)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), "http://localhost:3000/connect/github/redirect") {
		t.Fatalf("callback Location = %q, want the front end", rec.Header().Get("Location"))
	}
	return loc.Query()
}

// finishOn calls /api/auth/github/callback on srv with the front end's query.
func finishOn(srv *handlers.Server, q url.Values) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/api/auth/github/callback?"+q.Encode(), nil))
	return rec
}

// TestRedisQueryModeTokenUsedOnce (issue 11 point 12): the provider token
// the callback leg of instance A delivered to the front end signs in once,
// on instance B; brought back again, to either instance, it is refused.
func TestRedisQueryModeTokenUsedOnce(t *testing.T) {
	addr := redisAddr(t)
	opts := testNames(t, addr)
	gh := providertest.NewGitHub(t, providertest.GitHubUser{ID: 1, Login: "octocat",
		Emails: []providertest.GitHubEmail{{Email: "octocat@github.example", Primary: true, Verified: true}}})
	open := sharedDatabase(t)
	ia, ib := open(), open()
	if err := ia.store.Settings().Put(context.Background(), store.KeyGrant, map[string]providers.Settings{"github": gh.Settings()}); err != nil {
		t.Fatal(err)
	}
	ca, cb := connect(t, addr, opts), connect(t, addr, opts)
	prefix := consumedPrefix(opts)
	a := newServer(t, ia, ca.Limits, oauthOn(ca.Consumed(prefix)))
	b := newServer(t, ib, cb.Limits, oauthOn(cb.Consumed(prefix)))

	cookie, back := startSignIn(t, a)
	q := callback(t, a, back, cookie)
	if q.Get("access_token") == "" {
		t.Fatalf("callback on A: front end got %v, want an access_token", q)
	}
	if rec := finishOn(b, q); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"jwt":"`) {
		t.Fatalf("finish on B: status = %d, want 200 {jwt, user}\n%s", rec.Code, rec.Body)
	}
	for name, srv := range map[string]*handlers.Server{"A": a, "B": b} {
		if rec := finishOn(srv, q); rec.Code != http.StatusBadRequest || strings.Contains(rec.Body.String(), `"jwt"`) {
			t.Errorf("replay on %s: status = %d, want 400\n%s", name, rec.Code, rec.Body)
		}
	}
	never := url.Values{"access_token": {gh.AccessToken()}}
	if rec := finishOn(b, never); rec.Code != http.StatusBadRequest {
		t.Errorf("a provider token never delivered: status = %d, want 400\n%s", rec.Code, rec.Body)
	}
}
