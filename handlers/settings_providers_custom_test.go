package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
	"github.com/gatehouse/gatehouse/store"
)

// putProviders is a PUT /api/users-permissions/providers body.
func putProviders(v map[string]any) string {
	b, _ := json.Marshal(map[string]any{"providers": v})
	return string(b)
}

// corpEntry is a valid custom OpenID Connect entry.
func corpEntry() map[string]any {
	return map[string]any{"type": "oidc", "displayName": "Corp SSO", "issuer": "https://sso.corp.example",
		"key": "corp-id", "secret": storedSecret, "callback": "http://localhost:3000/connect/corp/redirect", "enabled": true,
		"emailClaim": "mail", "usernameClaim": "upn"}
}

// acmeEntry is a valid custom OAuth 2.0 entry.
func acmeEntry() map[string]any {
	return map[string]any{"type": "oauth2", "displayName": "Acme", "key": "acme-id", "secret": storedSecret,
		"callback": "http://localhost:3000/connect/acme/redirect", "enabled": true, "scope": []string{"profile"},
		"authorizeUrl": "https://acme.example/authorize", "tokenUrl": "https://acme.example/token",
		"userinfoUrl": "https://acme.example/userinfo", "pkce": true,
		"idPath": "data.id", "emailPath": "data.email", "usernamePath": "data.login", "emailVerifiedPath": "data.verified"}
}

// with returns entry with the changes (nil deletes a field).
func with(entry map[string]any, changes map[string]any) map[string]any {
	for k, v := range changes {
		if v == nil {
			delete(entry, k)
		} else {
			entry[k] = v
		}
	}
	return entry
}

// withCustom stores corp and acme.
func withCustom(e *testEnv) {
	e.t.Helper()
	rec := e.request("PUT", "/api/users-permissions/providers", putProviders(map[string]any{"corp": corpEntry(), "acme": acmeEntry()}), authHeader(e, "admin"))
	if rec.Code != 200 {
		e.t.Fatalf("PUT providers: status = %d\n%s", rec.Code, rec.Body)
	}
}

func TestCustomProvidersAPI(t *testing.T) {
	const path = "/api/users-permissions/providers"
	ok := `{"ok":true}`
	bad := func(message string) []string { return []string{`"name":"ValidationError"`, message} }
	unchanged := func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
		all, err := e.server.providerSettings(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n := countCustom(all); n != 0 {
			t.Errorf("a refused PUT added %d custom providers", n)
		}
	}
	scenarios := []scenario{
		{name: "add OIDC and OAuth 2.0 providers", method: "PUT", url: path, caller: "admin",
			body: putProviders(map[string]any{"corp": corpEntry(), "acme": acmeEntry()}), wantStatus: 200, want: []string{ok},
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				corp, acme := storedGrant(t, e, "corp"), storedGrant(t, e, "acme")
				if corp.Type != "oidc" || corp.Issuer != "https://sso.corp.example" || corp.EmailClaim != "mail" || corp.UsernameClaim != "upn" || corp.Secret != storedSecret {
					t.Errorf("stored corp = %+v", corp)
				}
				if acme.Type != "oauth2" || acme.PKCE == nil || !*acme.PKCE || acme.EmailVerifiedPath != "data.verified" || acme.UserinfoURL != "https://acme.example/userinfo" {
					t.Errorf("stored acme = %+v", acme)
				}
			}},
		{name: "GET lists them with the redirect URI, secret masked", method: "GET", url: path, caller: "admin", setup: withCustom, wantStatus: 200,
			want: []string{`"corp":{`, `"type":"oidc"`, `"displayName":"Corp SSO"`, `"secret":"` + secretMask + `"`,
				`"redirectUri":"http://localhost:1337/api/connect/corp/callback"`, `"type":"oauth2"`, `"idPath":"data.id"`, `"pkce":true`},
			notWant: []string{storedSecret}},
		{name: "edit keeps the masked secret", method: "PUT", url: path, caller: "admin", setup: withCustom,
			body: putProviders(map[string]any{"corp": map[string]any{"displayName": "Corp", "secret": secretMask, "type": "oidc"}}), wantStatus: 200,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				if s := storedGrant(t, e, "corp"); s.DisplayName != "Corp" || s.Secret != storedSecret || s.Issuer != "https://sso.corp.example" {
					t.Errorf("stored corp = %+v", s)
				}
			}},
		{name: "a new issuer clears the secret", method: "PUT", url: path, caller: "admin", setup: withCustom,
			body: putProviders(map[string]any{"corp": map[string]any{"issuer": "https://evil.example", "secret": secretMask}}), wantStatus: 200,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				if s := storedGrant(t, e, "corp"); s.Secret != "" {
					t.Error("the secret was kept for a new issuer")
				}
			}},
		{name: "a new userinfo URL clears the secret", method: "PUT", url: path, caller: "admin", setup: withCustom,
			body: putProviders(map[string]any{"acme": map[string]any{"userinfoUrl": "https://evil.example/me"}}), wantStatus: 200,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				if s := storedGrant(t, e, "acme"); s.Secret != "" {
					t.Error("the secret was kept for a new userinfo URL")
				}
			}},
		{name: "null removes a custom provider", method: "PUT", url: path, caller: "admin", setup: withCustom,
			body: `{"providers":{"corp":null}}`, wantStatus: 200,
			check: func(t *testing.T, e *testEnv, _ *httptest.ResponseRecorder) {
				all, _ := e.server.providerSettings(context.Background())
				if _, ok := all["corp"]; ok {
					t.Error("corp is still there")
				}
				if _, ok := all["acme"]; !ok {
					t.Error("acme was removed too")
				}
				var raw map[string]json.RawMessage
				if _, err := e.store.Settings().Get(context.Background(), store.KeyGrant, &raw); err != nil || raw["corp"] != nil {
					t.Errorf("the stored grant still holds corp: %s", raw["corp"])
				}
			}},
		{name: "null on a built-in is refused", method: "PUT", url: path, caller: "admin",
			body: `{"providers":{"github":null}}`, wantStatus: 400, want: bad("Only custom providers can be removed")},
		{name: "the type cannot change", method: "PUT", url: path, caller: "admin", setup: withCustom,
			body: putProviders(map[string]any{"corp": map[string]any{"type": "oauth2"}}), wantStatus: 400,
			want: bad("type cannot be changed: remove the provider and add it again")},
		{name: "a built-in's name", method: "PUT", url: path, caller: "admin",
			body: putProviders(map[string]any{"github": corpEntry()}), wantStatus: 400,
			want: bad("A built-in provider is called github: choose another name"), check: unchanged},
		{name: "twitter is a built-in now", method: "PUT", url: path, caller: "admin",
			body: putProviders(map[string]any{"twitter": acmeEntry()}), wantStatus: 400,
			want: bad("A built-in provider is called twitter"), check: unchanged},
		{name: "the email toggle's name", method: "PUT", url: path, caller: "admin",
			body: putProviders(map[string]any{"email": corpEntry()}), wantStatus: 400,
			want: bad("A built-in provider is called email"), check: unchanged},
		{name: "unknown type", method: "PUT", url: path, caller: "admin",
			body: putProviders(map[string]any{"corp": with(corpEntry(), map[string]any{"type": "saml"})}), wantStatus: 400,
			want: bad("type must be one of the following values: oidc, oauth2"), check: unchanged},
		{name: "OIDC without an issuer", method: "PUT", url: path, caller: "admin",
			body: putProviders(map[string]any{"corp": with(corpEntry(), map[string]any{"issuer": nil})}), wantStatus: 400,
			want: bad("issuer is required for an oidc provider"), check: unchanged},
		{name: "OAuth 2.0 without endpoints and paths", method: "PUT", url: path, caller: "admin",
			body: putProviders(map[string]any{"acme": map[string]any{"type": "oauth2"}}), wantStatus: 400,
			want: []string{`"5 errors occurred"`, "authorizeUrl is required for an oauth2 provider", "tokenUrl is required",
				"userinfoUrl is required", "idPath is required", "emailPath is required"}, check: unchanged},
		{name: "OAuth 2.0 fields on an OIDC provider", method: "PUT", url: path, caller: "admin",
			body: putProviders(map[string]any{"corp": with(corpEntry(), map[string]any{"idPath": "id"})}), wantStatus: 400,
			want: bad("this field has unspecified keys: idPath"), check: unchanged},
		{name: "built-in fields on a custom provider", method: "PUT", url: path, caller: "admin",
			body: putProviders(map[string]any{"acme": with(acmeEntry(), map[string]any{"subdomain": "x.example"})}), wantStatus: 400,
			want: bad("this field has unspecified keys: subdomain"), check: unchanged},
		{name: "pkce must be a boolean", method: "PUT", url: path, caller: "admin",
			body: putProviders(map[string]any{"acme": with(acmeEntry(), map[string]any{"pkce": "yes"})}), wantStatus: 400,
			want: bad("pkce must be a `boolean` type"), check: unchanged},
		{name: "a bad JSON path", method: "PUT", url: path, caller: "admin",
			body: putProviders(map[string]any{"acme": with(acmeEntry(), map[string]any{"emailPath": "data..email"})}), wantStatus: 400,
			want: bad("emailPath must be a JSON path"), check: unchanged},
		{name: "a claim name with a space", method: "PUT", url: path, caller: "admin",
			body: putProviders(map[string]any{"corp": with(corpEntry(), map[string]any{"emailClaim": "e mail"})}), wantStatus: 400,
			want: bad("emailClaim must be a claim name"), check: unchanged},
		{name: "an endpoint that is not http(s)", method: "PUT", url: path, caller: "admin",
			body: putProviders(map[string]any{"acme": with(acmeEntry(), map[string]any{"userinfoUrl": "file:///etc/passwd"})}), wantStatus: 400,
			want: bad("userinfoUrl must be an absolute http(s) URL"), check: unchanged},
		{name: "a front-end callback with a script scheme", method: "PUT", url: path, caller: "admin",
			body: putProviders(map[string]any{"acme": with(acmeEntry(), map[string]any{"callback": "javascript:alert(1)"})}), wantStatus: 400,
			want: bad("callback must be an absolute URL"), check: unchanged},
		{name: "enabled without a key", method: "PUT", url: path, caller: "admin",
			body: putProviders(map[string]any{"acme": with(acmeEntry(), map[string]any{"key": nil})}), wantStatus: 400,
			want: bad("key is required when the provider is enabled"), check: unchanged},
		{name: "a long display name", method: "PUT", url: path, caller: "admin",
			body: putProviders(map[string]any{"acme": with(acmeEntry(), map[string]any{"displayName": strings.Repeat("é", 65)})}), wantStatus: 400,
			want: bad("displayName must be at most 64 characters"), check: unchanged},
		{name: "authenticated is refused", method: "PUT", url: path, caller: "authenticated",
			body: putProviders(map[string]any{"corp": corpEntry()}), wantStatus: 403, check: unchanged},
	}
	for _, name := range []string{"Corp", "corp sso", "corp/x", "..", "../x", "corp%2Fx", "c.orp", "é", "local", strings.Repeat("a", 65)} {
		scenarios = append(scenarios, scenario{name: "name " + name, method: "PUT", url: path, caller: "admin",
			body: putProviders(map[string]any{name: corpEntry()}), wantStatus: 400,
			want: bad("A provider name is 1 to 64 lower-case letters"), check: unchanged})
	}
	for _, name := range []string{"sessions", "refresh", "logout", "forgot-password", "reset-password", "change-password", "email-confirmation", "send-email-confirmation"} {
		scenarios = append(scenarios, scenario{name: "route segment " + name, method: "PUT", url: path, caller: "admin",
			body: putProviders(map[string]any{name: corpEntry()}), wantStatus: 400,
			want: bad("is taken by a route"), check: unchanged})
	}
	runScenarios(t, scenarios)
}

func TestCustomProvidersLimit(t *testing.T) {
	e := newTestEnv(t)
	entries := map[string]any{}
	for i := range maxCustomProviders {
		entries[fmt.Sprintf("sso%d", i)] = corpEntry()
	}
	admin := authHeader(e, "admin")
	if rec := e.request("PUT", "/api/users-permissions/providers", putProviders(entries), admin); rec.Code != 200 {
		t.Fatalf("PUT %d providers: status = %d\n%s", maxCustomProviders, rec.Code, rec.Body)
	}
	rec := e.request("PUT", "/api/users-permissions/providers", putProviders(map[string]any{"one-more": corpEntry()}), admin)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "There can be at most 32 custom providers") {
		t.Errorf("PUT the 33rd: status = %d, want 400\n%s", rec.Code, rec.Body)
	}
	// Editing one of them is not adding one.
	if rec := e.request("PUT", "/api/users-permissions/providers", putProviders(map[string]any{"sso0": map[string]any{"enabled": false}}), admin); rec.Code != 200 {
		t.Errorf("PUT an edit at the limit: status = %d\n%s", rec.Code, rec.Body)
	}
}

// TestCustomOIDCSignIn: a custom OpenID Connect provider signs in through
// the whole flow in both redirect modes, with PKCE, state and nonce, the
// claims it names, and refuses an unverified email, a forged id_token and
// an id_token of another sign-in.
func TestCustomOIDCSignIn(t *testing.T) {
	user := providertest.User{Subject: "s-7", EmailVerified: true, Username: "ignored",
		Claims: map[string]any{"mail": "Fay@Corp.example", "upn": "fay.corp"}}
	for _, mode := range []string{"query", "session"} {
		t.Run(mode, func(t *testing.T) {
			iss := providertest.NewIssuer(t, user)
			set := iss.CustomSettings()
			set.EmailClaim, set.UsernameClaim = "mail", "upn"
			e := newOAuthEnv(t, mode, nil, map[string]providers.Settings{"corp": set})
			a := e.login("corp")
			if a.User.Email != "fay@corp.example" || a.User.Username != "fay.corp" || a.User.Provider != "corp" {
				t.Errorf("user = %+v, want fay.corp, fay@corp.example, provider corp", a.User)
			}
			auth := iss.Authorizations()
			if q := auth[len(auth)-1]; q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" {
				t.Errorf("authorization = %v, want PKCE, a nonce and a state", q)
			}
			before := e.userCount()
			for name, attempt := range map[string]func(){
				"another nonce": func() { iss.SetNonceMode(providertest.AlterNonce) },
				"no nonce":      func() { iss.SetNonceMode(providertest.OmitNonce) },
				"forged":        func() { iss.QueueIDToken(iss.Forge(providertest.WrongKey, user)) },
			} {
				e.newBrowser()
				attempt()
				q := e.connect("corp", "")
				iss.SetNonceMode(providertest.EchoNonce)
				if q.Get("error") != "oauth_error" || q.Has("access_token") || q.Has("id_token") {
					t.Errorf("%s: front end got %v, want error=oauth_error and no token", name, q)
				}
			}
			e.newBrowser()
			iss.QueueUser(providertest.User{Subject: "s-8", EmailVerified: false, Claims: map[string]any{"mail": "victim@example.com"}})
			q := e.connect("corp", "")
			status, body := e.finish("corp", q)
			if status != http.StatusBadRequest || !strings.Contains(body, "Email not verified by Corp SSO") {
				t.Errorf("unverified email: status = %d, want 400 Email not verified by Corp SSO\n%s", status, body)
			}
			if n := e.userCount(); n != before {
				t.Errorf("users = %d after refused sign-ins, want %d", n, before)
			}
		})
	}
}

// TestCustomOAuth2SignIn: a custom OAuth 2.0 provider added through the
// admin API signs in with PKCE and the JSON paths; its callback is
// validated, an unverified email is refused, an email without a
// verification never reaches another account, and disabling or removing it
// takes effect.
func TestCustomOAuth2SignIn(t *testing.T) {
	srv := providertest.NewOAuth2(t, map[string]any{"data": map[string]any{"id": 4242, "login": "gus",
		"contact": map[string]any{"email": "Gus@Acme.example", "verified": true}}})
	srv.RequirePKCE(true)
	e := newOAuthEnv(t, "query", nil, nil)
	admin := authHeader(e.testEnv, "admin")
	set := srv.Settings()
	entry := map[string]any{"type": "oauth2", "displayName": set.DisplayName, "enabled": true, "key": set.Key, "secret": set.Secret,
		"callback": e.front.callback("acme"), "scope": set.Scope, "authorizeUrl": set.AuthorizeURL, "tokenUrl": set.TokenURL,
		"userinfoUrl": set.UserinfoURL, "idPath": set.IDPath, "emailPath": set.EmailPath, "usernamePath": set.UsernamePath,
		"emailVerifiedPath": set.EmailVerifiedPath}
	put := func(v map[string]any) {
		t.Helper()
		if rec := e.request("PUT", "/api/users-permissions/providers", putProviders(v), admin); rec.Code != 200 {
			t.Fatalf("PUT providers: status = %d\n%s", rec.Code, rec.Body)
		}
	}
	put(map[string]any{"acme": entry})

	a := e.login("acme")
	if a.User.Email != "gus@acme.example" || a.User.Username != "gus" || a.User.Provider != "acme" || !a.User.Confirmed {
		t.Errorf("user = %+v, want gus, gus@acme.example, provider acme, confirmed", a.User)
	}
	reqs := srv.TokenRequests()
	if tr := reqs[len(reqs)-1]; tr.ClientAuth != "basic" || tr.Form.Get("code_verifier") == "" {
		t.Errorf("token request: client auth %q, verifier %q; want basic and a PKCE verifier", tr.ClientAuth, tr.Form.Get("code_verifier"))
	}

	t.Run("foreign callback", func(t *testing.T) {
		e.newBrowser()
		status, body := e.get("/api/connect/acme?callback=" + url.QueryEscape("https://evil.example/connect/acme/redirect"))
		if status != http.StatusBadRequest || !strings.Contains(body, "Invalid callback URL provided") {
			t.Errorf("status = %d, want 400 Invalid callback URL provided\n%s", status, body)
		}
	})
	t.Run("unverified email", func(t *testing.T) {
		e.newBrowser()
		srv.SetUser(map[string]any{"data": map[string]any{"id": 1, "login": "x", "contact": map[string]any{"email": "victim@example.com", "verified": false}}})
		q := e.connect("acme", "")
		status, body := e.finish("acme", q)
		if status != http.StatusBadRequest || !strings.Contains(body, "Email not verified by Acme") {
			t.Errorf("status = %d, want 400 Email not verified by Acme\n%s", status, body)
		}
	})
	t.Run("no verification claim: never another account's email", func(t *testing.T) {
		e.newBrowser()
		put(map[string]any{"acme": map[string]any{"emailVerifiedPath": ""}})
		// unique_email off: only the missing verification refuses it.
		e.setAdvanced(func(a *store.Advanced) { a.UniqueEmail = false })
		alice := e.users["authenticated"]
		srv.SetUser(map[string]any{"data": map[string]any{"id": 2, "login": "mallory", "contact": map[string]any{"email": alice.Email}}})
		q := e.connect("acme", "")
		status, body := e.finish("acme", q)
		if status != http.StatusBadRequest || !strings.Contains(body, "Email is already taken") {
			t.Errorf("status = %d, want 400 Email is already taken\n%s", status, body)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		e.newBrowser()
		put(map[string]any{"acme": map[string]any{"enabled": false}})
		status, body := e.get("/api/connect/acme")
		if status != http.StatusBadRequest || !strings.Contains(body, "This provider is disabled") {
			t.Errorf("status = %d, want 400 This provider is disabled\n%s", status, body)
		}
	})
	t.Run("removed", func(t *testing.T) {
		e.newBrowser()
		put(map[string]any{"acme": nil})
		for _, p := range []string{"/api/connect/acme", "/api/auth/acme/callback?access_token=x"} {
			if status, body := e.get(p); status != http.StatusNotFound {
				t.Errorf("GET %s: status = %d, want 404\n%s", p, status, body)
			}
		}
	})
}
