package handlers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/store"
)

const storedSecret = "s3cr3t-client-secret-value"

// withGitHubSecret stores enabled github settings with storedSecret.
func withGitHubSecret(e *testEnv) {
	e.t.Helper()
	err := e.store.Settings().Put(context.Background(), store.KeyGrant, map[string]providers.Settings{
		"github": {Enabled: true, Icon: "github", Key: "gh-id", Secret: storedSecret,
			Callback: "http://localhost:3000/connect/github/redirect", Scope: []string{"user", "user:email"}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// storedGrant reads one provider's stored settings.
func storedGrant(t *testing.T, e *testEnv, name string) providers.Settings {
	t.Helper()
	all, err := e.server.providerSettings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return all[name]
}

func TestGetProviders(t *testing.T) {
	const url = "/api/users-permissions/providers"
	runScenarios(t, []scenario{
		{name: "defaults", method: "GET", url: url, caller: "admin", wantStatus: 200,
			want: []string{`"email":{"enabled":true,"icon":"envelope"}`,
				`"redirectUri":"http://localhost:1337/api/connect/github/callback"`,
				`"callbackUrl":"http://localhost:1337/api/auth/github/callback"`,
				`"scope":["user","user:email"]`, `"subdomain":"my.subdomain.com"`}},
		{name: "the secret is masked", method: "GET", url: url, caller: "admin", setup: withGitHubSecret, wantStatus: 200,
			want:    []string{`"secret":"` + secretMask + `"`, `"key":"gh-id"`, `"enabled":true`},
			notWant: []string{storedSecret}},
		{name: "public", method: "GET", url: url, wantStatus: 403},
		{name: "authenticated", method: "GET", url: url, caller: "authenticated", wantStatus: 403, notWant: []string{storedSecret}},
	})
}

func TestUpdateProviders(t *testing.T) {
	const url = "/api/users-permissions/providers"
	put := func(v any) string {
		b, _ := json.Marshal(map[string]any{"providers": v})
		return string(b)
	}
	ok := `{"ok":true}`
	runScenarios(t, []scenario{
		{name: "a masked secret keeps the stored one", method: "PUT", url: url, caller: "admin", setup: withGitHubSecret,
			body:       put(map[string]any{"github": map[string]any{"enabled": true, "key": "gh-id-2", "secret": secretMask, "callback": "http://localhost:3000/connect/github/redirect"}}),
			wantStatus: 200, want: []string{ok},
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				s := storedGrant(t, e, "github")
				if s.Secret != storedSecret || s.Key != "gh-id-2" {
					t.Errorf("stored github = key %q, secret kept %v; want gh-id-2 and the old secret", s.Key, s.Secret == storedSecret)
				}
			}},
		{name: "the admin UI's round trip keeps everything", method: "PUT", url: url, caller: "admin", setup: withGitHubSecret,
			wantStatus: 200,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				before := storedGrant(t, e, "github")
				got := e.request("GET", url, "", authHeader(e, "admin"))
				var all map[string]any
				if err := json.Unmarshal(got.Body.Bytes(), &all); err != nil {
					t.Fatal(err)
				}
				b, _ := json.Marshal(map[string]any{"providers": all})
				rec := e.request("PUT", url, string(b), authHeader(e, "admin"))
				if rec.Code != 200 {
					t.Fatalf("PUT of what GET returned: status = %d\n%s", rec.Code, rec.Body)
				}
				after := storedGrant(t, e, "github")
				if after.Secret != before.Secret || after.Key != before.Key || after.Callback != before.Callback || !after.Enabled {
					t.Errorf("round trip changed github: %+v → %+v", before, after)
				}
			},
			body: put(map[string]any{})},
		{name: "a new secret replaces it", method: "PUT", url: url, caller: "admin", setup: withGitHubSecret,
			body:       put(map[string]any{"github": map[string]any{"secret": "brand-new"}}),
			wantStatus: 200,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				if s := storedGrant(t, e, "github"); s.Secret != "brand-new" || !s.Enabled {
					t.Errorf("stored github secret replaced = %v, enabled = %v", s.Secret == "brand-new", s.Enabled)
				}
			}},
		{name: "email off turns local login off", method: "PUT", url: url, caller: "admin",
			body: put(map[string]any{"email": map[string]any{"enabled": false, "icon": "envelope"}}), wantStatus: 200,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				rec := e.request("POST", "/api/auth/local", `{"identifier":"alice","password":"`+testPassword+`"}`, nil)
				if rec.Code != 400 || !strings.Contains(rec.Body.String(), errorJSONFor(400, "ApplicationError", "This provider is disabled")) {
					t.Errorf("local login with email off: status = %d\n%s", rec.Code, rec.Body)
				}
			}},
		{name: "enable with subdomain and endpoints", method: "PUT", url: url, caller: "admin",
			body: put(map[string]any{"keycloak": map[string]any{"enabled": true, "key": "kc", "secret": "kcs",
				"callback": "myapp://auth/keycloak", "subdomain": "sso.example.com/realms/main", "scope": []string{"openid", "email"}}}),
			wantStatus: 200,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				s := storedGrant(t, e, "keycloak")
				if !s.Enabled || s.Subdomain != "sso.example.com/realms/main" || s.Callback != "myapp://auth/keycloak" || len(s.Scope) != 2 {
					t.Errorf("stored keycloak = %+v", s)
				}
			}},
		{name: "empty body", method: "PUT", url: url, caller: "admin", wantStatus: 400,
			want: []string{errorJSONFor(400, "ValidationError", "Request body cannot be empty")}},
		{name: "providers not an object", method: "PUT", url: url, caller: "admin", body: `{"providers":[1]}`, wantStatus: 400},
		{name: "unknown top-level key", method: "PUT", url: url, caller: "admin", body: `{"providers":{},"x":1}`, wantStatus: 400},
		{name: "unknown provider", method: "PUT", url: url, caller: "admin",
			body: put(map[string]any{"myspace": map[string]any{"enabled": true}}), wantStatus: 400,
			want: []string{`"message":"Unknown provider: myspace"`}},
		{name: "unknown field", method: "PUT", url: url, caller: "admin",
			body: put(map[string]any{"github": map[string]any{"clientSecret": "x"}}), wantStatus: 400,
			want: []string{"this field has unspecified keys: clientSecret"}},
		{name: "email takes only enabled and icon", method: "PUT", url: url, caller: "admin",
			body: put(map[string]any{"email": map[string]any{"key": "x"}}), wantStatus: 400},
		{name: "wrong type", method: "PUT", url: url, caller: "admin",
			body: put(map[string]any{"github": map[string]any{"enabled": "yes"}}), wantStatus: 400,
			want: []string{"enabled must be a `boolean` type"}},
		{name: "scope must be strings", method: "PUT", url: url, caller: "admin",
			body: put(map[string]any{"github": map[string]any{"scope": "user"}}), wantStatus: 400},
		{name: "a wrongly typed secret is not echoed", method: "PUT", url: url, caller: "admin",
			body: put(map[string]any{"github": map[string]any{"secret": []string{"hunter2-hunter2"}}}), wantStatus: 400,
			notWant: []string{"hunter2"}},
		{name: "callback not a URL", method: "PUT", url: url, caller: "admin",
			body: put(map[string]any{"github": map[string]any{"callback": "not a url"}}), wantStatus: 400},
		{name: "javascript callback", method: "PUT", url: url, caller: "admin",
			body: put(map[string]any{"github": map[string]any{"callback": "javascript://x/%0aalert(1)"}}), wantStatus: 400},
		{name: "endpoint not http(s)", method: "PUT", url: url, caller: "admin",
			body: put(map[string]any{"github": map[string]any{"tokenUrl": "file:///etc/passwd"}}), wantStatus: 400},
		{name: "subdomain with a scheme", method: "PUT", url: url, caller: "admin",
			body: put(map[string]any{"cognito": map[string]any{"subdomain": "https://evil.example.com@x"}}), wantStatus: 400},
		{name: "enabled without a key", method: "PUT", url: url, caller: "admin",
			body: put(map[string]any{"github": map[string]any{"enabled": true, "callback": "http://localhost:3000/cb"}}), wantStatus: 400,
			want: []string{"key is required when the provider is enabled"}},
		{name: "enabled without a front-end callback", method: "PUT", url: url, caller: "admin",
			body: put(map[string]any{"github": map[string]any{"enabled": true, "key": "k"}}), wantStatus: 400,
			want: []string{"callback is required when the provider is enabled"}},
		{name: "public", method: "PUT", url: url, body: put(map[string]any{"email": map[string]any{"enabled": false}}), wantStatus: 403},
		{name: "authenticated", method: "PUT", url: url, caller: "authenticated",
			body: put(map[string]any{"email": map[string]any{"enabled": false}}), wantStatus: 403},
	})
}

// authHeader is the Authorization header of a seeded caller.
func authHeader(e *testEnv, caller string) map[string][]string {
	return map[string][]string{"Authorization": {"Bearer " + e.token(e.users[caller].ID)}}
}

func TestProviderSecretsNeverLogged(t *testing.T) {
	var logs strings.Builder
	e := newTestEnv(t, func(c *Config) { c.Logger = newDebugLogger(&logs) })
	withGitHubSecret(e)
	body := `{"providers":{"github":{"secret":"fresh-secret-value","callback":"not a url"}}}`
	e.request("PUT", "/api/users-permissions/providers", body, authHeader(e, "admin"))
	body = `{"providers":{"github":{"secret":"fresh-secret-value"}}}`
	e.request("PUT", "/api/users-permissions/providers", body, authHeader(e, "admin"))
	e.request("GET", "/api/users-permissions/providers", "", authHeader(e, "admin"))
	for _, s := range []string{storedSecret, "fresh-secret-value"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the logs contain a provider secret:\n%s", logs.String())
		}
	}
}

// newDebugLogger logs everything, as text, to w.
func newDebugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestProviderSecretStaysWithItsEndpoints (issue 11 point 6): sending the
// mask back with another tokenUrl used to keep the stored secret, which the
// next sign-in then sent to the new host. A change of endpoint now clears
// the secret unless a new one comes with it; the new host never sees it.
func TestProviderSecretStaysWithItsEndpoints(t *testing.T) {
	e, gh := githubEnv(t, "query", octocat())
	var mu sync.Mutex
	var seen []string // what the new token endpoint received
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization")+" "+string(body))
		mu.Unlock()
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
	}))
	t.Cleanup(evil.Close)
	admin := http.Header{"Authorization": {"Bearer " + e.token(e.users["admin"].ID)}}
	put := func(entry map[string]any) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"providers": map[string]any{"github": entry}})
		if rec := e.request("PUT", "/api/users-permissions/providers", string(b), admin); rec.Code != 200 {
			t.Fatalf("PUT providers: status = %d\n%s", rec.Code, rec.Body)
		}
	}

	put(map[string]any{"secret": secretMask, "tokenUrl": evil.URL + "/token"})
	if s := storedGrant(t, e.testEnv, "github"); s.Secret != "" {
		t.Errorf("after the mask with a new tokenUrl: stored secret kept = %v, want cleared", s.Secret == gh.ClientSecret)
	}
	e.get("/api/connect/github") // the sign-in that used to send the secret to evil
	mu.Lock()
	for _, got := range seen {
		basic := base64.StdEncoding.EncodeToString([]byte(gh.ClientID + ":" + gh.ClientSecret))
		if strings.Contains(got, gh.ClientSecret) || strings.Contains(got, basic) {
			t.Errorf("the new token endpoint received the stored secret: %s", got)
		}
	}
	if len(seen) == 0 {
		t.Error("the sign-in never reached the new token endpoint (the test proves nothing)")
	}
	mu.Unlock()

	// Each endpoint field clears it; a new secret sent with the change, or
	// a change of anything but an endpoint, keeps a secret.
	for _, tc := range []struct {
		name   string
		entry  map[string]any
		secret string
	}{
		{"authorizeUrl", map[string]any{"authorizeUrl": "https://evil.example/authorize"}, ""},
		{"apiUrl", map[string]any{"apiUrl": "https://evil.example"}, ""},
		{"issuer", map[string]any{"issuer": "https://evil.example"}, ""},
		{"jwksurl", map[string]any{"jwksurl": "https://evil.example/jwks"}, ""},
		{"subdomain", map[string]any{"subdomain": "evil.example"}, ""},
		{"tokenUrl with a new secret", map[string]any{"tokenUrl": "https://new.example/token", "secret": "new-secret-value"}, "new-secret-value"},
		{"same endpoints, other fields", map[string]any{"secret": secretMask, "tokenUrl": gh.URL + "/login/oauth/access_token", "key": "other-id", "scope": []string{"user"}}, gh.ClientSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.saveSettings() // back to the fake's settings and secret
			put(tc.entry)
			if got := storedGrant(t, e.testEnv, "github").Secret; got != tc.secret {
				t.Errorf("stored secret after %v = %q, want %q", tc.entry, got, tc.secret)
			}
		})
	}
}
