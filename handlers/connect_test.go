package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
	"github.com/gatehouse/gatehouse/store"
)

// frontend is the application's page the connect flow ends on: it records
// the query of every visit.
type frontend struct {
	URL string

	mu     sync.Mutex
	visits []url.Values
}

func newFrontend(t *testing.T) *frontend {
	f := &frontend{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.visits = append(f.visits, r.URL.Query())
		f.mu.Unlock()
		io.WriteString(w, "front end")
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// last returns the query of the last visit.
func (f *frontend) last(t testing.TB) url.Values {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.visits) == 0 {
		t.Fatal("the front end was never reached")
	}
	return f.visits[len(f.visits)-1]
}

// callback is the front-end callback configured for provider.
func (f *frontend) callback(provider string) string {
	return f.URL + "/connect/" + provider + "/redirect"
}

// oauthEnv runs the real router behind an httptest.Server whose URL is
// PUBLIC_URL, with a front-end page and a browser: a cookie-jar client that
// follows redirects.
type oauthEnv struct {
	*testEnv
	api      *httptest.Server
	front    *frontend
	jar      *cookiejar.Jar
	browser  *http.Client
	visited  []*url.URL // every URL the browser was redirected to
	settings map[string]providers.Settings
}

// newOAuthEnv starts the environment in mode ("query" or "session") with
// reg (nil: the defaults) and the providers' settings, each pointed at the
// front end's callback.
func newOAuthEnv(t *testing.T, mode string, reg *providers.Registry, settings map[string]providers.Settings, opts ...func(*Config)) *oauthEnv {
	t.Helper()
	var h http.Handler
	api := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(api.Close)
	publicURL := "http://" + api.Listener.Addr().String()
	front := newFrontend(t)
	opts = append([]func(*Config){func(c *Config) {
		c.PublicURL = publicURL
		c.OAuthRedirectMode = mode
		c.Providers = reg
		c.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}}, opts...)
	te := newTestEnv(t, opts...)
	h = te.server
	api.Start()
	e := &oauthEnv{testEnv: te, api: api, front: front, settings: map[string]providers.Settings{}}
	for name, s := range settings {
		s.Callback = front.callback(name)
		e.settings[name] = s
	}
	e.saveSettings()
	e.newBrowser()
	return e
}

// saveSettings stores e.settings as the grant store.
func (e *oauthEnv) saveSettings() {
	e.t.Helper()
	if err := e.store.Settings().Put(context.Background(), store.KeyGrant, e.settings); err != nil {
		e.t.Fatal(err)
	}
}

// newBrowser gives the environment a fresh browser (no cookies).
func (e *oauthEnv) newBrowser() {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.jar = jar
	e.visited = nil
	e.browser = &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			e.visited = append(e.visited, req.URL)
			if len(via) >= 10 {
				return http.ErrUseLastResponse
			}
			return nil
		}}
}

// get requests the API path with the browser and returns the final status
// and body.
func (e *oauthEnv) get(path string) (int, string) {
	e.t.Helper()
	resp, err := e.browser.Get(e.api.URL + path)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// connect runs GET /api/connect/<provider><query> to its end and returns
// what the front end received.
func (e *oauthEnv) connect(provider, query string) url.Values {
	e.t.Helper()
	status, body := e.get("/api/connect/" + provider + query)
	if status != http.StatusOK || body != "front end" {
		e.t.Fatalf("GET /api/connect/%s: status = %d, want the front end (200)\n%s", provider, status, body)
	}
	return e.front.last(e.t)
}

// finish is the front end's call: GET /api/auth/<provider>/callback with
// the query it received (none in session mode).
func (e *oauthEnv) finish(provider string, q url.Values) (int, string) {
	e.t.Helper()
	path := "/api/auth/" + provider + "/callback"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return e.get(path)
}

// finishDelivered is finish with q's tokens first recorded as delivered by
// the callback leg, for tests of what the finish leg checks past that.
func (e *oauthEnv) finishDelivered(provider string, q url.Values) (int, string) {
	e.t.Helper()
	if err := e.server.rememberDelivered(context.Background(), provider, q); err != nil {
		e.t.Fatal(err)
	}
	return e.finish(provider, q)
}

// login runs the whole flow and decodes a 200 answer.
func (e *oauthEnv) login(provider string) authAnswer {
	e.t.Helper()
	q := e.connect(provider, "")
	if q.Get("error") != "" {
		e.t.Fatalf("connect %s: front end got error=%s error_description=%s", provider, q.Get("error"), q.Get("error_description"))
	}
	status, body := e.finish(provider, q)
	if status != http.StatusOK {
		e.t.Fatalf("GET /api/auth/%s/callback: status = %d, want 200\n%s", provider, status, body)
	}
	var a authAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil || a.JWT == "" {
		e.t.Fatalf("GET /api/auth/%s/callback: body = %s, want {jwt, user}", provider, body)
	}
	for _, nw := range notWantAlways {
		if strings.Contains(body, nw) {
			e.t.Errorf("GET /api/auth/%s/callback: body contains %q", provider, nw)
		}
	}
	return a
}

// authAnswer is a decoded {jwt, user}.
type authAnswer struct {
	JWT  string `json:"jwt"`
	User struct {
		ID        uint   `json:"id"`
		Username  string `json:"username"`
		Email     string `json:"email"`
		Provider  string `json:"provider"`
		Confirmed bool   `json:"confirmed"`
		Blocked   bool   `json:"blocked"`
	} `json:"user"`
}

// userCount is the number of users in the database.
func (e *oauthEnv) userCount() int64 {
	e.t.Helper()
	var n int64
	if err := e.store.DB.Model(&store.User{}).Count(&n).Error; err != nil {
		e.t.Fatal(err)
	}
	return n
}

// cookie returns the browser's cookie called name for the API, or nil.
func (e *oauthEnv) cookie(name string) *http.Cookie {
	u, _ := url.Parse(e.api.URL + "/api/connect/")
	for _, c := range e.jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// noFollow is a client that shows each redirect instead of following it.
func noFollow(jar http.CookieJar) *http.Client {
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func octocat() providertest.GitHubUser {
	return providertest.GitHubUser{ID: 583231, Login: "octocat", Emails: []providertest.GitHubEmail{
		{Email: "octocat@github.example", Primary: true, Verified: true},
	}}
}

func githubEnv(t *testing.T, mode string, u providertest.GitHubUser, opts ...func(*Config)) (*oauthEnv, *providertest.GitHub) {
	gh := providertest.NewGitHub(t, u)
	return newOAuthEnv(t, mode, nil, map[string]providers.Settings{"github": gh.Settings()}, opts...), gh
}

func TestConnectStartLeg(t *testing.T) {
	e, gh := githubEnv(t, "query", octocat())
	client := noFollow(e.jar)
	resp, err := client.Get(e.api.URL + "/api/connect/github")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET /api/connect/github: status = %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := loc.Scheme+"://"+loc.Host+loc.Path, gh.URL+"/login/oauth/authorize"; got != want {
		t.Errorf("Location = %s, want the provider's authorize URL %s", got, want)
	}
	q := loc.Query()
	for k, want := range map[string]string{
		"client_id":             gh.ClientID,
		"response_type":         "code",
		"redirect_uri":          e.api.URL + "/api/connect/github/callback",
		"scope":                 "user,user:email",
		"code_challenge_method": "S256",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("authorize %s = %q, want %q", k, got, want)
		}
	}
	if len(q.Get("state")) < 40 || q.Get("code_challenge") == "" {
		t.Errorf("authorize state = %q, code_challenge = %q: want a random state and a PKCE challenge", q.Get("state"), q.Get("code_challenge"))
	}
	if q.Has("nonce") {
		t.Errorf("authorize nonce = %q: GitHub returns no id_token, so it is sent none", q.Get("nonce"))
	}
	if strings.Contains(resp.Header.Get("Location"), gh.ClientSecret) {
		t.Error("the authorize URL carries the client secret")
	}

	setCookie := resp.Header.Get("Set-Cookie")
	for _, want := range []string{stateCookie + "=", "Path=/api", "Max-Age=600", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(setCookie, want) {
			t.Errorf("Set-Cookie = %q, want %q in it", setCookie, want)
		}
	}
	if strings.Contains(setCookie, "Secure") {
		t.Errorf("Set-Cookie = %q: Secure on an http PUBLIC_URL would never come back", setCookie)
	}
	for _, leak := range []string{q.Get("state"), gh.ClientSecret, string(e.cfg.Secret)} {
		if strings.Contains(setCookie, leak) {
			t.Errorf("Set-Cookie = %q: the cookie shows %q in clear", setCookie, leak)
		}
	}
}

func TestConnectSecureCookieOnHTTPS(t *testing.T) {
	gh := providertest.NewGitHub(t, octocat())
	e := newTestEnv(t, func(c *Config) { c.PublicURL = "https://auth.example.com" })
	s := gh.Settings()
	s.Callback = "https://app.example.com/connect/github/redirect"
	if err := e.store.Settings().Put(context.Background(), store.KeyGrant, map[string]providers.Settings{"github": s}); err != nil {
		t.Fatal(err)
	}
	rec := e.request("GET", "/api/connect/github", "", nil)
	if rec.Code != http.StatusFound {
		t.Fatalf("GET /api/connect/github: status = %d, want 302\n%s", rec.Code, rec.Body)
	}
	if c := rec.Header().Get("Set-Cookie"); !strings.Contains(c, "Secure") {
		t.Errorf("Set-Cookie = %q, want Secure when PUBLIC_URL is https", c)
	}
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if got, want := loc.Query().Get("redirect_uri"), "https://auth.example.com/api/connect/github/callback"; got != want {
		t.Errorf("redirect_uri = %q, want %q", got, want)
	}
}

func TestConnectRefusals(t *testing.T) {
	gh := providertest.NewGitHub(t, octocat())
	enabled := func(e *testEnv) {
		s := gh.Settings()
		s.Callback = "http://localhost:3000/connect/github/redirect"
		if err := e.store.Settings().Put(context.Background(), store.KeyGrant, map[string]providers.Settings{"github": s}); err != nil {
			t.Fatal(err)
		}
	}
	disabled := errorJSONFor(400, "ApplicationError", "This provider is disabled")
	unknown := errorJSONFor(404, "NotFoundError", "Unknown auth provider")
	invalidCallback := `"name":"ValidationError","message":"Invalid callback URL provided"`
	runScenarios(t, []scenario{
		{name: "disabled provider: start", method: "GET", url: "/api/connect/github", wantStatus: 400, want: []string{disabled}},
		{name: "disabled provider: callback", method: "GET", url: "/api/connect/github/callback?code=x&state=y", wantStatus: 400, want: []string{disabled}},
		{name: "disabled provider: finish", method: "GET", url: "/api/auth/github/callback?access_token=x", wantStatus: 400, want: []string{disabled}},
		{name: "unknown provider: start", method: "GET", url: "/api/connect/nope", wantStatus: 404, want: []string{unknown}},
		{name: "unknown provider: callback", method: "GET", url: "/api/connect/nope/callback", wantStatus: 404, want: []string{unknown}},
		{name: "unknown provider: finish", method: "GET", url: "/api/auth/nope/callback", wantStatus: 404, want: []string{unknown}},
		{name: "local is not an OAuth provider", method: "GET", url: "/api/auth/local/callback?access_token=x", wantStatus: 404, want: []string{unknown}},
		{name: "email is not an OAuth provider", method: "GET", url: "/api/connect/email", wantStatus: 404, want: []string{unknown}},
		{name: "upper-case name is unknown", method: "GET", url: "/api/connect/GitHub", setup: enabled, wantStatus: 404, want: []string{unknown}},
		{name: "local login still routes", method: "POST", url: "/api/auth/local",
			body: `{"identifier":"alice","password":"` + testPassword + `"}`, wantStatus: 200},
		{name: "register still routes", method: "POST", url: "/api/auth/local/register",
			body: `{"username":"zed","email":"zed@example.com","password":"` + testPassword + `"}`, wantStatus: 200},
		{name: "foreign origin callback", method: "GET", setup: enabled,
			url:        "/api/connect/github?callback=" + url.QueryEscape("https://evil.example.com/connect/github/redirect"),
			wantStatus: 400, want: []string{invalidCallback, `"details":{"callback":"https://evil.example.com/connect/github/redirect"}`}},
		{name: "same origin, other path", method: "GET", setup: enabled,
			url:        "/api/connect/github?callback=" + url.QueryEscape("http://localhost:3000/steal"),
			wantStatus: 400, want: []string{invalidCallback}},
		{name: "userinfo trick", method: "GET", setup: enabled,
			url:        "/api/connect/github?callback=" + url.QueryEscape("http://localhost:3000@evil.example.com/connect/github/redirect"),
			wantStatus: 400, want: []string{invalidCallback}},
		{name: "empty callback", method: "GET", setup: enabled, url: "/api/connect/github?callback=",
			wantStatus: 400, want: []string{invalidCallback}},
		{name: "same origin and path, other query", method: "GET", setup: enabled,
			url:        "/api/connect/github?callback=" + url.QueryEscape("http://localhost:3000/connect/github/redirect?lang=fr"),
			wantStatus: 302},
		{name: "no front-end callback configured", method: "GET", url: "/api/connect/github",
			setup: func(e *testEnv) {
				s := gh.Settings()
				s.Callback = ""
				if err := e.store.Settings().Put(context.Background(), store.KeyGrant, map[string]providers.Settings{"github": s}); err != nil {
					t.Fatal(err)
				}
			},
			wantStatus: 400, want: []string{errorJSONFor(400, "ApplicationError", "Provider callback URL is not configured")}},
		{name: "no client key configured", method: "GET", url: "/api/connect/github",
			setup: func(e *testEnv) {
				s := gh.Settings()
				s.Key = ""
				if err := e.store.Settings().Put(context.Background(), store.KeyGrant, map[string]providers.Settings{"github": s}); err != nil {
					t.Fatal(err)
				}
			},
			wantStatus: 400, want: []string{errorJSONFor(400, "ApplicationError", "Provider key is not configured")}},
		{name: "connect needs the public role", method: "GET", url: "/api/connect/github", caller: "authenticated", setup: enabled,
			wantStatus: 403},
	})
}

func TestConnectCustomCallbackKeepsItsQuery(t *testing.T) {
	e, _ := githubEnv(t, "query", octocat())
	cb := e.front.callback("github") + "?lang=fr"
	q := e.connect("github", "?callback="+url.QueryEscape(cb))
	if q.Get("lang") != "fr" || q.Get("access_token") == "" {
		t.Errorf("front end got %v, want lang=fr and an access_token", q)
	}
}

func TestConnectStateMismatch(t *testing.T) {
	e, gh := githubEnv(t, "query", octocat())
	// The attacker starts a flow of their own and stops at the provider's
	// redirect back, keeping the code and state.
	attacker := noFollow(nil)
	resp, err := attacker.Get(e.api.URL + "/api/connect/github")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back := providertest.FollowAuthorize(t, resp.Header.Get("Location"))
	callback := "/api/connect/github/callback?" + back.Encode()

	t.Run("no state cookie (login CSRF)", func(t *testing.T) {
		e.newBrowser()
		status, body := e.get(callback)
		if status != http.StatusOK || body != "front end" {
			t.Fatalf("GET %s: status = %d, want the front end\n%s", callback, status, body)
		}
		q := e.front.last(t)
		if q.Get("error") != "oauth_error" || q.Get("error_description") != "OAuth2 state mismatch" || q.Get("access_token") != "" {
			t.Errorf("front end got %v, want error=oauth_error and OAuth2 state mismatch, no token", q)
		}
	})
	t.Run("the victim's own state differs", func(t *testing.T) {
		e.newBrowser()
		r, err := noFollow(e.jar).Get(e.api.URL + "/api/connect/github")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if e.cookie(stateCookie) == nil {
			t.Fatal("no state cookie after the start leg")
		}
		e.get(callback)
		q := e.front.last(t)
		if q.Get("error") != "oauth_error" || q.Get("error_description") != "OAuth2 state mismatch" {
			t.Errorf("front end got %v, want error=oauth_error and OAuth2 state mismatch", q)
		}
		if e.cookie(stateCookie) != nil {
			t.Error("the state cookie survived a failed callback")
		}
	})
	t.Run("tampered cookie", func(t *testing.T) {
		e.newBrowser()
		u, _ := url.Parse(e.api.URL + "/api")
		e.jar.SetCookies(u, []*http.Cookie{{Name: stateCookie, Value: "AAAA" + strings.Repeat("x", 80), Path: "/api"}})
		e.get(callback)
		if q := e.front.last(t); q.Get("error") != "oauth_error" {
			t.Errorf("front end got %v, want error=oauth_error", q)
		}
	})
	if n := len(gh.TokenRequests()); n != 0 {
		t.Errorf("the provider's token endpoint was called %d times, want 0: a refused state must stop the flow", n)
	}
	if n := e.userCount(); n != 2 {
		t.Errorf("users = %d, want the 2 seeded", n)
	}
}

func TestConnectReplayedState(t *testing.T) {
	e, gh := githubEnv(t, "query", octocat())
	var callbackURL *url.URL
	var cookies []*http.Cookie
	e.browser.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.HasSuffix(req.URL.Path, "/api/connect/github/callback") {
			callbackURL = req.URL
			cookies = e.jar.Cookies(req.URL)
		}
		return nil
	}
	if q := e.connect("github", ""); q.Get("access_token") == "" {
		t.Fatalf("first flow: front end got %v, want an access_token", q)
	}
	if callbackURL == nil || len(cookies) == 0 {
		t.Fatal("did not see the provider's redirect back with the state cookie")
	}
	if e.cookie(stateCookie) != nil {
		t.Error("the state cookie survived its use")
	}
	// The same redirect back, with the same cookie, again.
	e.jar.SetCookies(callbackURL, cookies)
	resp, err := e.browser.Get(callbackURL.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	q := e.front.last(t)
	if q.Get("error") != "oauth_error" || q.Get("error_description") != "OAuth2 state already used" || q.Get("access_token") != "" {
		t.Errorf("replay: front end got %v, want error=oauth_error, OAuth2 state already used", q)
	}
	if n := len(gh.TokenRequests()); n != 1 {
		t.Errorf("token requests = %d, want 1: a replayed state must not reach the provider", n)
	}
}

func TestConnectProviderError(t *testing.T) {
	e, _ := githubEnv(t, "query", octocat())
	r, err := noFollow(e.jar).Get(e.api.URL + "/api/connect/github")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	loc, _ := url.Parse(r.Header.Get("Location"))
	state := loc.Query().Get("state")

	e.get("/api/connect/github/callback?" + url.Values{"error": {"access_denied"},
		"error_description": {"The user has denied your application access."}, "state": {state}}.Encode())
	q := e.front.last(t)
	if q.Get("error") != "access_denied" || q.Get("error_description") != "The user has denied your application access." {
		t.Errorf("front end got %v, want the provider's error", q)
	}

	// Without the state, nobody can put text on the front end.
	e.newBrowser()
	e.get("/api/connect/github/callback?" + url.Values{"error": {"access_denied"}, "error_description": {"Call +1 555 0100 now"}}.Encode())
	if q := e.front.last(t); q.Get("error") != "oauth_error" || strings.Contains(q.Get("error_description"), "555") {
		t.Errorf("front end got %v, want oauth_error and not the forged text", q)
	}
}

func TestConnectTokenEndpointDown(t *testing.T) {
	e, gh := githubEnv(t, "query", octocat())
	gh.SetTokenDown(true)
	before := e.userCount()
	q := e.connect("github", "")
	if q.Get("error") != "oauth_error" || q.Get("error_description") != "Token exchange failed (503)" || q.Get("access_token") != "" {
		t.Errorf("front end got %v, want error=oauth_error, Token exchange failed (503)", q)
	}
	if n := e.userCount(); n != before {
		t.Errorf("users = %d, want %d: a failed exchange writes no user", n, before)
	}
	if strings.Contains(q.Encode(), "html") {
		t.Errorf("front end got the provider's outage page: %v", q)
	}
}

func TestConnectRateLimited(t *testing.T) {
	e, gh := githubEnv(t, "query", octocat(), func(c *Config) {
		c.RateLimit = RateLimit{Enabled: true, Max: 3, Interval: time.Minute}
	})
	client := noFollow(e.jar)
	for i := 1; i <= 4; i++ {
		resp, err := client.Get(e.api.URL + "/api/connect/github")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := http.StatusFound
		if i == 4 {
			want = http.StatusTooManyRequests
		}
		if resp.StatusCode != want {
			t.Fatalf("GET /api/connect/github #%d: status = %d, want %d\n%s", i, resp.StatusCode, want, body)
		}
		if i == 4 && (resp.Header.Get("Location") != "" || !strings.Contains(string(body), `"name":"RateLimitError"`)) {
			t.Errorf("#4: Location = %q, body = %s: want a 429 and no redirect to the provider", resp.Header.Get("Location"), body)
		}
	}
	if n := len(gh.Authorizations()); n != 0 {
		t.Errorf("the provider saw %d authorizations, want 0", n)
	}
}

func TestConnectSessionMode(t *testing.T) {
	e, _ := githubEnv(t, "session", octocat())
	q := e.connect("github", "")
	if len(q) != 0 {
		t.Fatalf("front end got %v, want no query: tokens stay out of URLs in session mode", q)
	}
	for _, u := range e.visited {
		if u.Query().Get("access_token") != "" {
			t.Errorf("the browser visited %s, which carries the access token", u.Redacted())
		}
	}
	c := e.cookie(sessionCookie)
	if c == nil {
		t.Fatal("no session cookie after the connect flow")
	}
	saved := *c

	status, body := e.finish("github", nil)
	if status != http.StatusOK || !strings.Contains(body, `"jwt":"`) || !strings.Contains(body, `"provider":"github"`) {
		t.Fatalf("GET /api/auth/github/callback: status = %d, want 200 {jwt, user}\n%s", status, body)
	}
	noSession := errorJSONFor(400, "ApplicationError", "OAuth authentication requires a completed provider session")
	status, body = e.finish("github", nil)
	if status != http.StatusBadRequest || !strings.Contains(body, noSession) {
		t.Errorf("second call: status = %d, want 400\n%s", status, body)
	}
	u, _ := url.Parse(e.api.URL + "/api")
	saved.Path = "/api"
	e.jar.SetCookies(u, []*http.Cookie{&saved})
	status, body = e.finish("github", nil)
	if status != http.StatusBadRequest || !strings.Contains(body, noSession) {
		t.Errorf("replayed session cookie: status = %d, want 400\n%s", status, body)
	}
	// A token in the query is not a session.
	status, body = e.finish("github", url.Values{"access_token": {"at_whatever"}})
	if status != http.StatusBadRequest || !strings.Contains(body, noSession) {
		t.Errorf("access_token in the query: status = %d, want 400\n%s", status, body)
	}
}

// Strapi's auth-oauth-callback API test (5.53): providers enabled, no
// session, 400.
func TestProviderCallbackNeedsSession(t *testing.T) {
	iss := providertest.NewIssuer(t, providertest.User{Subject: "u1", Email: "u1@example.com", EmailVerified: true})
	google := providers.Settings{Enabled: true, Key: "google-id", Secret: "google-secret"}
	e := newOAuthEnv(t, "session", nil, map[string]providers.Settings{"cognito": iss.CognitoSettings(), "google": google})
	for _, p := range []string{"cognito", "google"} {
		status, body := e.finish(p, nil)
		if status != http.StatusBadRequest || !strings.Contains(body, errorJSONFor(400, "ApplicationError", "OAuth authentication requires a completed provider session")) {
			t.Errorf("GET /api/auth/%s/callback: status = %d, want 400\n%s", p, status, body)
		}
	}
}

func TestWarnsGuessedPublicURL(t *testing.T) {
	const warning = "PUBLIC_URL is not set but OAuth providers are enabled"
	enableGitHub := func(c *Config) {
		err := c.Store.Settings().Put(context.Background(), store.KeyGrant, map[string]providers.Settings{
			"github": {Enabled: true, Key: "k", Callback: "http://localhost:3000/cb"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name      string
		defaulted bool
		enable    bool
		want      bool
	}{
		{"guessed PUBLIC_URL, github enabled", true, true, true},
		{"guessed PUBLIC_URL, nothing enabled", true, false, false},
		{"PUBLIC_URL set, github enabled", false, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs strings.Builder
			opts := []func(*Config){func(c *Config) {
				c.Logger = newDebugLogger(&logs)
				c.PublicURLDefaulted = tt.defaulted
			}}
			if tt.enable {
				opts = append(opts, enableGitHub)
			}
			newTestEnv(t, opts...)
			if got := strings.Contains(logs.String(), warning); got != tt.want {
				t.Errorf("start-up warning logged = %v, want %v\n%s", got, tt.want, logs.String())
			}
		})
	}
	t.Run("enabling one later", func(t *testing.T) {
		var logs strings.Builder
		e := newTestEnv(t, func(c *Config) { c.Logger = newDebugLogger(&logs); c.PublicURLDefaulted = true })
		body := `{"providers":{"discord":{"enabled":true,"key":"k","callback":"http://localhost:3000/cb"}}}`
		if rec := e.request("PUT", "/api/users-permissions/providers", body, authHeader(e, "admin")); rec.Code != 200 {
			t.Fatalf("PUT providers: status = %d\n%s", rec.Code, rec.Body)
		}
		if !strings.Contains(logs.String(), warning) || !strings.Contains(logs.String(), "discord") {
			t.Errorf("no warning when discord was enabled under a guessed PUBLIC_URL\n%s", logs.String())
		}
	})
}

func TestConsumedSet(t *testing.T) {
	now := time.Now()
	cs := newConsumedSet(time.Now)
	cs.max = 2
	use := func(key string, exp, now time.Time) bool {
		t.Helper()
		ok, err := cs.use(key, exp, now)
		if err != nil {
			t.Fatalf("use(%q) error = %v", key, err)
		}
		return ok
	}
	if !use("a", now.Add(time.Minute), now) || use("a", now.Add(time.Minute), now) {
		t.Fatal("a value must be usable once")
	}
	if !use("b", now.Add(time.Minute), now) {
		t.Fatal("b refused")
	}
	if ok, err := cs.use("c", now.Add(time.Minute), now); ok || !errors.Is(err, errConsumedFull) {
		t.Errorf("a full set: use(c) = %v, %v; want false, errConsumedFull (fail closed)", ok, err)
	}
	later := now.Add(2 * time.Minute)
	if !use("c", later.Add(time.Minute), later) {
		t.Error("expired entries were not dropped")
	}
	if use("c", later.Add(time.Minute), later) {
		t.Error("c accepted twice")
	}
}

// flakyConsumed is a Consumed whose memory stops answering after ok calls,
// as a Redis that goes away mid-flight.
type flakyConsumed struct {
	mu    sync.Mutex
	ok    int
	inner Consumed
}

func (f *flakyConsumed) Use(ctx context.Context, key string, exp time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ok == 0 {
		return false, errors.New("memory unreachable")
	}
	f.ok--
	return f.inner.Use(ctx, key, exp)
}

func (f *flakyConsumed) Take(ctx context.Context, key string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ok == 0 {
		return false, errors.New("memory unreachable")
	}
	f.ok--
	return f.inner.Take(ctx, key)
}

// TestOAuthConsumedSharedByInstances: two instances (one secret, as behind
// a load balancer) given one Config.OAuthConsumed: a callback used on A is
// refused on B before B asks the provider.
func TestOAuthConsumedSharedByInstances(t *testing.T) {
	gh := providertest.NewGitHub(t, octocat())
	shared := newConsumedSet(time.Now)
	useShared := func(c *Config) { c.OAuthConsumed = shared }
	settings := map[string]providers.Settings{"github": gh.Settings()}
	a := newOAuthEnv(t, "query", nil, settings, useShared)
	b := newOAuthEnv(t, "query", nil, settings, useShared)

	var callback *url.URL
	var cookies []*http.Cookie
	a.browser.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.HasSuffix(req.URL.Path, "/api/connect/github/callback") {
			callback, cookies = req.URL, a.jar.Cookies(req.URL)
		}
		return nil
	}
	if q := a.connect("github", ""); q.Get("access_token") == "" {
		t.Fatalf("sign-in on A: front end got %v, want an access_token", q)
	}
	if callback == nil || len(cookies) == 0 {
		t.Fatal("did not see the provider's redirect back with the state cookie")
	}
	// The same redirect back, with the same cookie, reaches instance B.
	onB, _ := url.Parse(b.api.URL + callback.RequestURI())
	b.jar.SetCookies(onB, cookies)
	resp, err := b.browser.Get(onB.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The error goes to the callback the start leg validated: A's front end.
	q := a.front.last(t)
	if q.Get("error") != "oauth_error" || q.Get("error_description") != "OAuth2 state already used" || q.Has("access_token") {
		t.Errorf("replay on B: front end got %v, want error=oauth_error, OAuth2 state already used", q)
	}
	if n := len(gh.TokenRequests()); n != 1 {
		t.Errorf("token requests = %d, want 1: a state used on A must not reach the provider from B", n)
	}
}

// TestOAuthConsumedFailsClosed: when the memory of used states cannot
// answer, the sign-in is refused with a message to try again, never let
// through unchecked.
func TestOAuthConsumedFailsClosed(t *testing.T) {
	t.Run("callback", func(t *testing.T) {
		flaky := &flakyConsumed{ok: 0, inner: newConsumedSet(time.Now)}
		e, gh := githubEnv(t, "query", octocat(), func(c *Config) { c.OAuthConsumed = flaky })
		q := e.connect("github", "")
		if q.Get("error") != "oauth_error" || q.Get("error_description") != signInUnavailable || q.Has("access_token") {
			t.Errorf("front end got %v, want error=oauth_error, %q", q, signInUnavailable)
		}
		if n := len(gh.TokenRequests()); n != 0 {
			t.Errorf("token requests = %d, want 0: an unchecked state must not reach the provider", n)
		}
	})
	t.Run("session", func(t *testing.T) {
		// The state is checked; the memory fails before the session is.
		flaky := &flakyConsumed{ok: 1, inner: newConsumedSet(time.Now)}
		e, _ := githubEnv(t, "session", octocat(), func(c *Config) { c.OAuthConsumed = flaky })
		before := e.userCount()
		if q := e.connect("github", ""); len(q) != 0 {
			t.Fatalf("front end got %v, want no query", q)
		}
		status, body := e.finish("github", nil)
		if want := errorJSONFor(503, "ServiceUnavailableError", signInUnavailable); status != http.StatusServiceUnavailable || !strings.Contains(body, want) {
			t.Errorf("GET /api/auth/github/callback: status = %d, want 503 %s\n%s", status, want, body)
		}
		if n := e.userCount(); n != before {
			t.Errorf("users = %d, want %d", n, before)
		}
	})
}

func TestCookieSealer(t *testing.T) {
	a := newCookieSealer([]byte("secret-one-secret-one"))
	b := newCookieSealer([]byte("secret-two-secret-two"))
	v, err := a.seal(stateCookie, oauthState{State: "st", Expires: 1})
	if err != nil {
		t.Fatal(err)
	}
	var got oauthState
	if err := a.open(stateCookie, v, &got); err != nil || got.State != "st" {
		t.Fatalf("open = %+v, %v", got, err)
	}
	if err := b.open(stateCookie, v, &got); err == nil {
		t.Error("a cookie opened under another secret")
	}
	if err := a.open(sessionCookie, v, &got); err == nil {
		t.Error("a state cookie opened as a session cookie")
	}
	flipped := []byte(v)
	flipped[len(flipped)-3] ^= 1
	if err := a.open(stateCookie, string(flipped), &got); err == nil {
		t.Error("a tampered cookie opened")
	}
}

// FuzzCookieOpen: whatever a browser sends as an OAuth cookie, opening it
// never panics, and what opens is only ever what was sealed (the one
// plaintext here: a mutated cookie that opened would be a forgery).
func FuzzCookieOpen(f *testing.F) {
	cs := newCookieSealer([]byte("fuzz-secret-fuzz-secret"))
	sealed, _ := cs.seal(stateCookie, oauthState{State: "s", Expires: 1})
	f.Add(sealed)
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, value string) {
		var st oauthState
		if cs.open(stateCookie, value, &st) == nil && (st.State != "s" || st.Expires != 1) {
			t.Errorf("open(%q) = %+v: a value we never sealed", value, st)
		}
	})
}

// TestOAuthQueryModeTokenReplay is issue 11's point 12: in query mode the
// provider token that reached the front end's URL signed in as often as it
// was sent to /api/auth/:provider/callback, and a provider token Gatehouse
// never delivered was taken too. Now the normal flow signs in once; a
// replay, a token never delivered and a delivered access_token paired with
// a foreign id_token are refused with Strapi's 400 ApplicationError.
func TestOAuthQueryModeTokenReplay(t *testing.T) {
	refused := errorJSONFor(400, "ApplicationError", "Invalid token: start the sign-in again")
	e, gh := githubEnv(t, "query", octocat())
	q := e.connect("github", "")
	if q.Get("access_token") == "" {
		t.Fatalf("connect: front end got %v, want an access_token", q)
	}
	if status, body := e.finish("github", q); status != http.StatusOK || !strings.Contains(body, `"jwt":"`) {
		t.Fatalf("finish: status = %d, want 200 {jwt, user}\n%s", status, body)
	}
	for name, query := range map[string]url.Values{
		"replay":                       q,
		"never delivered":              {"access_token": {gh.AccessToken()}},
		"delivered with a foreign one": {"access_token": {e.connect("github", "").Get("access_token")}, "id_token": {"foreign"}},
	} {
		status, body := e.finish("github", query)
		if status != http.StatusBadRequest || !strings.Contains(body, refused) {
			t.Errorf("%s: status = %d, want 400 %s\n%s", name, status, refused, body)
		}
	}
	// A new sign-in still works.
	if a := e.login("github"); a.User.Username != "octocat" {
		t.Errorf("a new sign-in after the refusals: user = %+v, want octocat", a.User)
	}
}
