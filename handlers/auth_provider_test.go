package handlers

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
	"github.com/gatehouse/gatehouse/store"
)

func TestOAuthNewUserAndSecondLogin(t *testing.T) {
	for _, mode := range []string{"query", "session"} {
		t.Run(mode, func(t *testing.T) {
			e, gh := githubEnv(t, mode, octocat())
			before := e.userCount()
			first := e.login("github")
			u := first.User
			if u.Username != "octocat" || u.Email != "octocat@github.example" || u.Provider != "github" || !u.Confirmed || u.Blocked {
				t.Errorf("new user = %+v, want octocat, octocat@github.example, provider github, confirmed", u)
			}
			if n := e.userCount(); n != before+1 {
				t.Errorf("users = %d, want %d", n, before+1)
			}
			stored, err := e.store.Users().ByID(context.Background(), u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Role == nil || stored.Role.Type != "authenticated" || stored.Password != "" {
				t.Errorf("stored user: role %v, password set %v; want the default role and no password", stored.Role, stored.Password != "")
			}
			// The JWT is Gatehouse's own.
			rec := e.request("GET", "/api/users/me", "", http.Header{"Authorization": {"Bearer " + first.JWT}})
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"username":"octocat"`) {
				t.Errorf("GET /api/users/me with the OAuth jwt: status = %d\n%s", rec.Code, rec.Body)
			}
			// The provider got the redirect URI under PUBLIC_URL, and the
			// same one at the token endpoint, with the PKCE verifier.
			auths, toks := gh.Authorizations(), gh.TokenRequests()
			if len(auths) != 1 || len(toks) != 1 {
				t.Fatalf("authorizations = %d, token requests = %d, want 1 and 1", len(auths), len(toks))
			}
			if got, want := toks[0].Form.Get("redirect_uri"), e.api.URL+"/api/connect/github/callback"; got != want {
				t.Errorf("token redirect_uri = %q, want %q", got, want)
			}
			if toks[0].Form.Get("code_verifier") == "" {
				t.Error("no PKCE code_verifier at the token endpoint")
			}

			e.newBrowser()
			second := e.login("github")
			if second.User.ID != u.ID {
				t.Errorf("second login: user id = %d, want %d", second.User.ID, u.ID)
			}
			if n := e.userCount(); n != before+1 {
				t.Errorf("after the second login users = %d, want %d", n, before+1)
			}
		})
	}
}

func TestOAuthExistingLocalUser(t *testing.T) {
	alice := providertest.GitHubUser{ID: 7, Login: "alice-gh", Emails: []providertest.GitHubEmail{
		{Email: "Alice@Example.com", Primary: true, Verified: true},
	}}
	t.Run("unique_email on", func(t *testing.T) {
		e, _ := githubEnv(t, "query", alice)
		before := e.userCount()
		q := e.connect("github", "")
		status, body := e.finish("github", q)
		if status != http.StatusBadRequest || !strings.Contains(body, errorJSONFor(400, "ApplicationError", "Email is already taken.")) {
			t.Errorf("status = %d, want 400 Email is already taken.\n%s", status, body)
		}
		if n := e.userCount(); n != before {
			t.Errorf("users = %d, want %d", n, before)
		}
	})
	t.Run("unique_email off", func(t *testing.T) {
		e, _ := githubEnv(t, "query", alice)
		e.setAdvanced(func(a *store.Advanced) { a.UniqueEmail = false })
		a := e.login("github")
		if a.User.ID == e.users["authenticated"].ID || a.User.Provider != "github" || a.User.Email != "alice@example.com" {
			t.Errorf("user = %+v, want a new github user with alice's email, not the local alice", a.User)
		}
		// The local account is untouched and still signs in with its password.
		rec := e.request("POST", "/api/auth/local", `{"identifier":"alice@example.com","password":"`+testPassword+`"}`, nil)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"provider":"local"`) {
			t.Errorf("local login: status = %d\n%s", rec.Code, rec.Body)
		}
	})
}

func TestOAuthUnverifiedEmailNeverSharesAnAccount(t *testing.T) {
	// Microsoft makes no verification claim (EmailVerified false).
	api := providertest.NewAPI(t, "ms-token", map[string]any{
		"/me": map[string]any{"id": "ms-1", "userPrincipalName": "alice@example.com"},
	})
	ms := providers.Settings{Enabled: true, Key: "ms-id", Secret: "ms-secret", APIURL: api.URL}
	e := newOAuthEnv(t, "query", nil, map[string]providers.Settings{"microsoft": ms})
	e.setAdvanced(func(a *store.Advanced) { a.UniqueEmail = false })
	status, body := e.finishDelivered("microsoft", url.Values{"access_token": {"ms-token"}})
	if status != http.StatusBadRequest || !strings.Contains(body, errorJSONFor(400, "ApplicationError", "Email is already taken.")) {
		t.Errorf("unverified email of a local user: status = %d, want 400 Email is already taken.\n%s", status, body)
	}
	api.Set("/me", map[string]any{"id": "ms-2", "userPrincipalName": "newcomer@example.com"})
	status, body = e.finishDelivered("microsoft", url.Values{"access_token": {"ms-token"}})
	if status != http.StatusOK || !strings.Contains(body, `"username":"newcomer@example.com"`) {
		t.Errorf("unverified email nobody has: status = %d, want 200\n%s", status, body)
	}
}

func TestOAuthRegistrationDisabled(t *testing.T) {
	e, gh := githubEnv(t, "query", octocat())
	first := e.login("github")
	e.setAdvanced(func(a *store.Advanced) { a.AllowRegister = false })

	e.newBrowser()
	if again := e.login("github"); again.User.ID != first.User.ID {
		t.Errorf("an existing user signs in with registration off: id = %d, want %d", again.User.ID, first.User.ID)
	}
	gh.SetUser(providertest.GitHubUser{ID: 9, Login: "newbie", Emails: []providertest.GitHubEmail{
		{Email: "newbie@example.com", Primary: true, Verified: true},
	}})
	before := e.userCount()
	e.newBrowser()
	q := e.connect("github", "")
	status, body := e.finish("github", q)
	if status != http.StatusBadRequest || !strings.Contains(body, errorJSONFor(400, "ApplicationError", "Register action is actually not available.")) {
		t.Errorf("new user with registration off: status = %d\n%s", status, body)
	}
	if n := e.userCount(); n != before {
		t.Errorf("users = %d, want %d", n, before)
	}
}

func TestOAuthBlockedUser(t *testing.T) {
	e, _ := githubEnv(t, "query", octocat())
	a := e.login("github")
	if err := e.store.Users().Update(context.Background(), a.User.ID, map[string]any{"blocked": true}); err != nil {
		t.Fatal(err)
	}
	e.newBrowser()
	q := e.connect("github", "")
	status, body := e.finish("github", q)
	if status != http.StatusBadRequest || !strings.Contains(body, errorJSONFor(400, "ApplicationError", "Your account has been blocked by an administrator")) {
		t.Errorf("blocked user: status = %d\n%s", status, body)
	}
	if strings.Contains(body, `"jwt"`) {
		t.Error("a blocked user got a jwt")
	}
}

func TestOAuthUsernameTaken(t *testing.T) {
	gh := octocat()
	gh.Login = "alice" // the seeded local user's username
	e, _ := githubEnv(t, "query", gh)
	a := e.login("github")
	if !regexp.MustCompile(`^alice[1-9][0-9]{3}$`).MatchString(a.User.Username) {
		t.Errorf("username = %q, want alice with a 4-digit suffix", a.User.Username)
	}
}

func TestFindValidUsername(t *testing.T) {
	e := newTestEnv(t)
	c := context.Background()
	for _, tt := range []struct{ base, want string }{
		{"newname", `^newname$`},
		{"alice", `^alice[1-9][0-9]{3}$`},
		{"ab", `^ab[1-9][0-9]{3}$`},
		{"", `^[1-9][0-9]{3}$`},
		{"  bob  ", `^bob$`},
	} {
		got, err := e.server.findValidUsername(c, tt.base)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(tt.want).MatchString(got) {
			t.Errorf("findValidUsername(%q) = %q, want %s", tt.base, got, tt.want)
		}
	}
}

func TestOAuthUnverifiedEmail(t *testing.T) {
	t.Run("github", func(t *testing.T) {
		u := octocat()
		u.Emails[0].Verified = false
		e, _ := githubEnv(t, "query", u)
		before := e.userCount()
		q := e.connect("github", "")
		status, body := e.finish("github", q)
		if status != http.StatusBadRequest || !strings.Contains(body, errorJSONFor(400, "ApplicationError", "Email not verified by GitHub")) {
			t.Errorf("status = %d, want 400 Email not verified by GitHub\n%s", status, body)
		}
		if n := e.userCount(); n != before {
			t.Errorf("users = %d, want %d", n, before)
		}
	})
	t.Run("discord", func(t *testing.T) {
		no := false
		d := providertest.NewDiscord(t, providertest.DiscordUser{ID: "80351110224678912", Username: "nelly", Discriminator: "0", Email: "alice@example.com", Verified: &no})
		e := newOAuthEnv(t, "session", nil, map[string]providers.Settings{"discord": d.Settings()})
		e.connect("discord", "")
		status, body := e.finish("discord", nil)
		if status != http.StatusBadRequest || !strings.Contains(body, errorJSONFor(400, "ApplicationError", "Email not verified by Discord")) {
			t.Errorf("status = %d, want 400 Email not verified by Discord\n%s", status, body)
		}
	})
	t.Run("oidc", func(t *testing.T) {
		iss := providertest.NewIssuer(t, providertest.User{Subject: "s1", Email: "alice@example.com", EmailVerified: false})
		corp := providers.NewOIDC("corp", iss.URL)
		corp.DisplayName = "Corp SSO"
		e := newOAuthEnv(t, "session", providers.NewRegistry(corp), map[string]providers.Settings{"corp": iss.Settings()})
		e.connect("corp", "")
		status, body := e.finish("corp", nil)
		if status != http.StatusBadRequest || !strings.Contains(body, errorJSONFor(400, "ApplicationError", "Email not verified by Corp SSO")) {
			t.Errorf("status = %d, want 400 Email not verified by Corp SSO\n%s", status, body)
		}
	})
}

func TestOAuthOIDC(t *testing.T) {
	user := providertest.User{Subject: "s-42", Email: "Dana@Corp.example", EmailVerified: true, Username: "dana"}
	forgeries := map[string]providertest.Forgery{
		"alg none":                 providertest.AlgNone,
		"HS256 with client secret": providertest.HS256ClientSecret,
		"HS256 with public key":    providertest.HS256PublicKey,
		"wrong key":                providertest.WrongKey,
		"expired":                  providertest.Expired,
		"wrong audience":           providertest.WrongAudience,
		"wrong issuer":             providertest.WrongIssuer,
	}
	verifyFailed := errorJSONFor(400, "ApplicationError", "There was an error verifying the token")

	for _, mode := range []string{"query", "session"} {
		t.Run(mode, func(t *testing.T) {
			iss := providertest.NewIssuer(t, user)
			corp := providers.NewOIDC("corp", iss.URL)
			e := newOAuthEnv(t, mode, providers.NewRegistry(corp), map[string]providers.Settings{"corp": iss.Settings()})
			a := e.login("corp")
			if a.User.Email != "dana@corp.example" || a.User.Username != "dana" || a.User.Provider != "corp" {
				t.Errorf("user = %+v, want dana, dana@corp.example, provider corp", a.User)
			}
			before := e.userCount()
			for name, f := range forgeries {
				// Through the whole flow: the token endpoint answers a forged
				// id_token. The callback verifies it (with the nonce) before
				// it leaves the server, so the front end gets an error and
				// nothing to finish with.
				e.newBrowser()
				iss.QueueIDToken(iss.Forge(f, providertest.User{Subject: "victim", Email: "root@example.com", EmailVerified: true}))
				q := e.connect("corp", "")
				if q.Get("error") != "oauth_error" || q.Get("error_description") != "There was an error verifying the token" ||
					q.Has("id_token") || q.Has("access_token") {
					t.Errorf("%s through the flow: front end got %v, want error=oauth_error, There was an error verifying the token, no token", name, q)
				}
				if e.cookie(sessionCookie) != nil {
					t.Errorf("%s through the flow: a session cookie was set", name)
				}
				status, body := e.finish("corp", q)
				if status != http.StatusBadRequest || strings.Contains(body, `"jwt"`) {
					t.Errorf("%s through the flow, then /api/auth: status = %d, want 400\n%s", name, status, body)
				}
			}
			if n := e.userCount(); n != before {
				t.Errorf("users = %d after forgeries, want %d", n, before)
			}
		})
	}

	t.Run("query mode, forged token sent directly", func(t *testing.T) {
		iss := providertest.NewIssuer(t, user)
		corp := providers.NewOIDC("corp", iss.URL)
		e := newOAuthEnv(t, "query", providers.NewRegistry(corp), map[string]providers.Settings{"corp": iss.Settings()})
		victim := providertest.User{Subject: "victim", Email: "root@example.com", EmailVerified: true, Username: "root"}
		for name, f := range forgeries {
			status, body := e.finishDelivered("corp", url.Values{"id_token": {iss.Forge(f, victim)}, "access_token": {"x"}})
			if status != http.StatusBadRequest || !strings.Contains(body, verifyFailed) {
				t.Errorf("%s: status = %d, want 400\n%s", name, status, body)
			}
		}
	})
}

func TestOAuthCognito(t *testing.T) {
	user := providertest.User{Subject: "c-1", Email: "erin@example.com", EmailVerified: true, Username: "erin"}
	iss := providertest.NewIssuer(t, user)
	e := newOAuthEnv(t, "session", nil, map[string]providers.Settings{"cognito": iss.CognitoSettings()})
	if a := e.login("cognito"); a.User.Username != "erin" || a.User.Provider != "cognito" {
		t.Errorf("user = %+v, want erin via cognito", a.User)
	}

	// CVE-2023-22893: an unsigned id_token impersonating the admin.
	q := noSessionQuery(iss.Forge(providertest.AlgNone, providertest.User{Subject: "x", Email: "root@example.com", EmailVerified: true}))
	e2 := newOAuthEnv(t, "query", nil, map[string]providers.Settings{"cognito": iss.CognitoSettings()})
	status, body := e2.finish("cognito", q)
	if status != http.StatusBadRequest || strings.Contains(body, `"jwt"`) {
		t.Errorf("alg none cognito token: status = %d, want 400\n%s", status, body)
	}
}

func noSessionQuery(idToken string) url.Values { return url.Values{"id_token": {idToken}} }

func TestOAuthQueryModeDoesNotTrustRawValues(t *testing.T) {
	e := newOAuthEnv(t, "query", nil, map[string]providers.Settings{"vk": {Enabled: true, Key: "vk-id", Secret: "vk-secret"}})
	status, body := e.finishDelivered("vk", url.Values{"access_token": {"attacker-token"}, "raw[email]": {"root@example.com"}, "raw[user_id]": {"1"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "VK authentication requires a completed OAuth session") {
		t.Errorf("vk with raw[email] from the browser: status = %d, want 400\n%s", status, body)
	}
}

func TestOAuthQueryModeNoToken(t *testing.T) {
	e, _ := githubEnv(t, "query", octocat())
	status, body := e.finish("github", nil)
	if status != http.StatusBadRequest || !strings.Contains(body, errorJSONFor(400, "ApplicationError", "No access_token.")) {
		t.Errorf("status = %d, want 400 No access_token.\n%s", status, body)
	}
	status, body = e.finish("github", url.Values{"access_token": {"not-a-real-token"}})
	if status != http.StatusBadRequest || !strings.Contains(body, `"name":"ApplicationError"`) {
		t.Errorf("a token the provider refuses: status = %d, want 400\n%s", status, body)
	}
}

func TestUserForProfileFindsTheSameUser(t *testing.T) {
	e := newTestEnv(t)
	c := context.Background()
	u1, err := e.server.userForProfile(c, "github", providers.Profile{Username: "frank", Email: "frank@example.com", EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	u2, err := e.server.userForProfile(c, "github", providers.Profile{Username: "frank", Email: "FRANK@example.com", EmailVerified: true})
	if err != nil || u2.ID != u1.ID {
		t.Errorf("second sign-in: id = %d, %v; want %d", u2.ID, err, u1.ID)
	}
	if _, err := e.server.userForProfile(c, "github", providers.Profile{Email: " "}); err == nil {
		t.Error("a profile without an email was accepted")
	}
}

// TestOAuthIDTokenNonce: providers whose profile is an id_token get a fresh
// nonce per sign-in, kept in the sealed state cookie; the callback refuses
// an id_token without it, with another one, or issued for an earlier
// sign-in, as it refuses any id_token that fails verification.
func TestOAuthIDTokenNonce(t *testing.T) {
	user := providertest.User{Subject: "s-7", Email: "gil@example.com", EmailVerified: true, Username: "gil"}
	const verifyFailed = "There was an error verifying the token"
	tests := []struct {
		name string
		// attempt runs one sign-in and returns what the front end got.
		attempt func(t *testing.T, e *oauthEnv, iss *providertest.Issuer, provider string) url.Values
		wantErr string // the front end's error_description; "" = the sign-in succeeds
	}{
		{name: "nonce echoed", attempt: func(t *testing.T, e *oauthEnv, _ *providertest.Issuer, provider string) url.Values {
			return e.connect(provider, "")
		}},
		{name: "no nonce in the id_token", wantErr: verifyFailed,
			attempt: func(t *testing.T, e *oauthEnv, iss *providertest.Issuer, provider string) url.Values {
				iss.SetNonceMode(providertest.OmitNonce)
				defer iss.SetNonceMode(providertest.EchoNonce)
				return e.connect(provider, "")
			}},
		{name: "another nonce in the id_token", wantErr: verifyFailed,
			attempt: func(t *testing.T, e *oauthEnv, iss *providertest.Issuer, provider string) url.Values {
				iss.SetNonceMode(providertest.AlterNonce)
				defer iss.SetNonceMode(providertest.EchoNonce)
				return e.connect(provider, "")
			}},
		{name: "id_token of an earlier sign-in", wantErr: verifyFailed,
			attempt: func(t *testing.T, e *oauthEnv, iss *providertest.Issuer, provider string) url.Values {
				e.connect(provider, "")
				auths := iss.Authorizations()
				earlier := user
				earlier.Claims = map[string]any{"nonce": auths[len(auths)-1].Get("nonce")}
				e.newBrowser()
				iss.QueueIDToken(iss.IDToken(earlier))
				return e.connect(provider, "")
			}},
		{name: "replayed callback", wantErr: "OAuth2 state already used",
			attempt: func(t *testing.T, e *oauthEnv, iss *providertest.Issuer, provider string) url.Values {
				var callback *url.URL
				var cookies []*http.Cookie
				e.browser.CheckRedirect = func(req *http.Request, via []*http.Request) error {
					if strings.HasSuffix(req.URL.Path, "/api/connect/"+provider+"/callback") {
						callback, cookies = req.URL, e.jar.Cookies(req.URL)
					}
					return nil
				}
				if q := e.connect(provider, ""); q.Get("error") != "" {
					t.Fatalf("first sign-in: front end got %v", q)
				}
				if callback == nil || len(cookies) == 0 {
					t.Fatal("did not see the provider's redirect back with the state cookie")
				}
				before := len(iss.TokenRequests())
				e.jar.SetCookies(callback, cookies)
				resp, err := e.browser.Get(callback.String())
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if n := len(iss.TokenRequests()); n != before {
					t.Errorf("token requests = %d, want %d: a replayed state must not reach the provider", n, before)
				}
				return e.front.last(t)
			}},
	}
	iss := providertest.NewIssuer(t, user) // one key pair: RSA key generation is the slow part
	for _, mode := range []string{"query", "session"} {
		for _, provider := range []string{"corp", "cognito"} {
			for _, tt := range tests {
				t.Run(mode+"/"+provider+"/"+tt.name, func(t *testing.T) {
					settings := map[string]providers.Settings{"corp": iss.Settings(), "cognito": iss.CognitoSettings()}
					reg := providers.NewRegistry(append(providers.Defaults(), providers.NewOIDC("corp", iss.URL))...)
					e := newOAuthEnv(t, mode, reg, map[string]providers.Settings{provider: settings[provider]})
					before := e.userCount()

					q := tt.attempt(t, e, iss, provider)
					auths := iss.Authorizations()
					if n := auths[len(auths)-1].Get("nonce"); len(n) != 64 {
						t.Errorf("authorize nonce = %q, want 32 random bytes in hex", n)
					}
					if tt.wantErr == "" {
						if q.Get("error") != "" {
							t.Fatalf("front end got error=%s error_description=%s", q.Get("error"), q.Get("error_description"))
						}
						status, body := e.finish(provider, q)
						if status != http.StatusOK || !strings.Contains(body, `"jwt":"`) {
							t.Errorf("GET /api/auth/%s/callback: status = %d, want 200 {jwt, user}\n%s", provider, status, body)
						}
						return
					}
					if q.Get("error") != "oauth_error" || q.Get("error_description") != tt.wantErr || q.Has("id_token") || q.Has("access_token") {
						t.Errorf("front end got %v, want error=oauth_error, %s and no token", q, tt.wantErr)
					}
					if tt.wantErr == verifyFailed {
						status, body := e.finish(provider, q)
						if status != http.StatusBadRequest || strings.Contains(body, `"jwt"`) {
							t.Errorf("GET /api/auth/%s/callback after the refusal: status = %d, want 400\n%s", provider, status, body)
						}
						if n := e.userCount(); n != before {
							t.Errorf("users = %d, want %d", n, before)
						}
					}
				})
			}
		}
	}
}
