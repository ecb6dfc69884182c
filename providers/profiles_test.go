package providers_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
	"golang.org/x/oauth2"
)

func ptr[T any](v T) *T { return &v }

// checkProfile compares a FetchProfile result with the expected profile or
// expected error (sentinel and client message).
func checkProfile(t *testing.T, got providers.Profile, err error, want providers.Profile, wantErr error, wantMsg string) {
	t.Helper()
	if wantErr != nil {
		if !errors.Is(err, wantErr) {
			t.Fatalf("FetchProfile() = %+v, %v; want error %v", got, err, wantErr)
		}
		if wantMsg != "" {
			if m := message(t, err); m != wantMsg {
				t.Errorf("message = %q, want %q", m, wantMsg)
			}
		}
		return
	}
	if err != nil {
		t.Fatalf("FetchProfile() error = %v", err)
	}
	if got != want {
		t.Errorf("FetchProfile() = %+v, want %+v", got, want)
	}
}

func TestGitHubProfile(t *testing.T) {
	private := ptr("private")
	tests := []struct {
		name    string
		user    providertest.GitHubUser
		want    providers.Profile
		wantErr error
	}{
		{
			name: "public email, verified",
			user: providertest.GitHubUser{ID: 583231, Login: "octocat", Email: "Octo@GitHub.com",
				Emails: []providertest.GitHubEmail{{Email: "Octo@GitHub.com", Primary: true, Verified: true}}},
			want: providers.Profile{ID: "583231", Username: "octocat", Email: "octo@github.com", EmailVerified: true},
		},
		{
			name: "private email: primary from /user/emails",
			user: providertest.GitHubUser{ID: 2, Login: "shy", Emails: []providertest.GitHubEmail{
				{Email: "old@example.com", Verified: true},
				{Email: "shy@example.com", Primary: true, Verified: true, Visibility: private},
			}},
			want: providers.Profile{ID: "2", Username: "shy", Email: "shy@example.com", EmailVerified: true},
		},
		{
			name: "public email not verified",
			user: providertest.GitHubUser{ID: 3, Login: "attacker", Email: "victim@example.com",
				Emails: []providertest.GitHubEmail{{Email: "victim@example.com", Primary: true, Verified: false}}},
			wantErr: providers.ErrEmailNotVerified,
		},
		{
			name: "public email absent from /user/emails",
			user: providertest.GitHubUser{ID: 4, Login: "attacker", Email: "victim@example.com",
				Emails: []providertest.GitHubEmail{{Email: "me@example.com", Primary: true, Verified: true}}},
			wantErr: providers.ErrEmailNotVerified,
		},
		{
			name: "private email, primary not verified",
			user: providertest.GitHubUser{ID: 5, Login: "attacker", Emails: []providertest.GitHubEmail{
				{Email: "victim@example.com", Primary: true, Verified: false},
				{Email: "mine@example.com", Verified: true},
			}},
			wantErr: providers.ErrEmailNotVerified,
		},
		{
			name: "no primary email",
			user: providertest.GitHubUser{ID: 6, Login: "attacker", Emails: []providertest.GitHubEmail{
				{Email: "secondary@example.com", Verified: true},
			}},
			wantErr: providers.ErrEmailNotVerified,
		},
		{
			name:    "no emails at all",
			user:    providertest.GitHubUser{ID: 7, Login: "nobody"},
			wantErr: providers.ErrEmailNotVerified,
		},
	}
	gh := providertest.NewGitHub(t, providertest.GitHubUser{})
	p := provider(t, "github")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gh.SetUser(tt.user)
			tok, err := connect(t, p, gh.Settings())
			if err != nil {
				t.Fatalf("connect() error = %v", err)
			}
			got, err := p.FetchProfile(context.Background(), gh.Settings(), tok)
			wantMsg := ""
			if tt.wantErr != nil {
				wantMsg = "Email not verified by GitHub"
			}
			checkProfile(t, got, err, tt.want, tt.wantErr, wantMsg)
		})
	}

	t.Run("user agent and bearer", func(t *testing.T) {
		for _, r := range gh.Requests() {
			if got := r.Header.Get("User-Agent"); got != "gatehouse" {
				t.Errorf("%s %s User-Agent = %q, want %q", r.Method, r.Path, got, "gatehouse")
			}
			if got := r.Header.Get("Authorization"); !strings.HasPrefix(got, "Bearer at_") {
				t.Errorf("%s %s Authorization = %q, want a Bearer token", r.Method, r.Path, got)
			}
		}
	})
	t.Run("bad access token", func(t *testing.T) {
		_, err := p.FetchProfile(context.Background(), gh.Settings(), &oauth2.Token{AccessToken: "stolen-or-made-up"})
		checkProfile(t, providers.Profile{}, err, providers.Profile{}, providers.ErrUpstream, "Bad credentials")
		if strings.Contains(err.Error(), "stolen-or-made-up") {
			t.Errorf("error leaks the access token: %v", err)
		}
	})
}

func TestDiscordProfile(t *testing.T) {
	tests := []struct {
		name    string
		user    providertest.DiscordUser
		want    providers.Profile
		wantErr error
		wantMsg string
	}{
		{
			name: "legacy discriminator",
			user: providertest.DiscordUser{ID: "80351110224678912", Username: "Nelly", Discriminator: "1337", Email: "nelly@discord.com", Verified: ptr(true)},
			want: providers.Profile{ID: "80351110224678912", Username: "Nelly#1337", Email: "nelly@discord.com", EmailVerified: true},
		},
		{
			name: "migrated username (discriminator 0)",
			user: providertest.DiscordUser{ID: "1", Username: "nelly", Discriminator: "0", Email: "nelly@discord.com", Verified: ptr(true)},
			want: providers.Profile{ID: "1", Username: "nelly", Email: "nelly@discord.com", EmailVerified: true},
		},
		{
			name:    "not verified",
			user:    providertest.DiscordUser{ID: "2", Username: "attacker", Email: "victim@example.com", Verified: ptr(false)},
			wantErr: providers.ErrEmailNotVerified, wantMsg: "Email not verified by Discord",
		},
		{
			name:    "verified absent",
			user:    providertest.DiscordUser{ID: "3", Username: "attacker", Email: "victim@example.com"},
			wantErr: providers.ErrEmailNotVerified, wantMsg: "Email not verified by Discord",
		},
		{
			name:    "verified but no email",
			user:    providertest.DiscordUser{ID: "4", Username: "phone-only", Verified: ptr(true)},
			wantErr: providers.ErrNoEmail, wantMsg: "Email was not available.",
		},
	}
	d := providertest.NewDiscord(t, providertest.DiscordUser{})
	p := provider(t, "discord")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d.SetUser(tt.user)
			tok, err := connect(t, p, d.Settings())
			if err != nil {
				t.Fatalf("connect() error = %v", err)
			}
			got, err := p.FetchProfile(context.Background(), d.Settings(), tok)
			checkProfile(t, got, err, tt.want, tt.wantErr, tt.wantMsg)
		})
	}
	auths := d.Authorizations()
	if got, want := auths[0].Get("scope"), "identify email"; got != want {
		t.Errorf("discord authorize scope = %q, want %q", got, want)
	}
}

// The providers whose profile is one or two GET requests, against canned
// answers.
func TestAPIProfiles(t *testing.T) {
	const tok = "the-access-token"
	type row struct {
		name     string
		provider string
		routes   map[string]any
		extra    map[string]any // token response fields
		want     providers.Profile
		wantErr  error
		wantMsg  string
	}
	tests := []row{
		// google
		{name: "google verified_email bool", provider: "google",
			routes: map[string]any{"/tokeninfo": map[string]any{"sub": "g1", "email": "Ann@Gmail.com", "verified_email": true, "aud": "client-id"}},
			want:   providers.Profile{ID: "g1", Username: "Ann", Email: "ann@gmail.com", EmailVerified: true}},
		{name: "google email_verified string", provider: "google",
			routes: map[string]any{"/tokeninfo": map[string]any{"sub": "g2", "email": "bob@gmail.com", "email_verified": "true", "azp": "client-id"}},
			want:   providers.Profile{ID: "g2", Username: "bob", Email: "bob@gmail.com", EmailVerified: true}},
		{name: "google not verified", provider: "google",
			routes:  map[string]any{"/tokeninfo": map[string]any{"sub": "g3", "email": "victim@gmail.com", "email_verified": "false"}},
			wantErr: providers.ErrEmailNotVerified, wantMsg: "Email not verified by Google"},
		{name: "google verified_email wins over email_verified", provider: "google",
			routes:  map[string]any{"/tokeninfo": map[string]any{"email": "victim@gmail.com", "verified_email": false, "email_verified": true}},
			wantErr: providers.ErrEmailNotVerified},
		{name: "google no claim", provider: "google",
			routes:  map[string]any{"/tokeninfo": map[string]any{"email": "victim@gmail.com"}},
			wantErr: providers.ErrEmailNotVerified},
		{name: "google token of another client", provider: "google",
			routes:  map[string]any{"/tokeninfo": map[string]any{"email": "victim@gmail.com", "email_verified": "true", "aud": "attacker-app"}},
			wantErr: providers.ErrInvalidToken, wantMsg: "The provided token is not valid"},

		// facebook
		{name: "facebook", provider: "facebook",
			routes: map[string]any{"/me": map[string]any{"id": "10", "name": "Ann Lee", "email": "ann@fb.com"}},
			want:   providers.Profile{ID: "10", Username: "Ann Lee", Email: "ann@fb.com", EmailVerified: true}},
		{name: "facebook no email", provider: "facebook",
			routes:  map[string]any{"/me": map[string]any{"id": "11", "name": "Phone Only"}},
			wantErr: providers.ErrEmailNotVerified, wantMsg: "Email not verified by Facebook"},

		// microsoft
		{name: "microsoft", provider: "microsoft",
			routes: map[string]any{"/me": map[string]any{"id": "m1", "userPrincipalName": "Ann@Contoso.com"}},
			want:   providers.Profile{ID: "m1", Username: "Ann@Contoso.com", Email: "ann@contoso.com"}},

		// instagram
		{name: "instagram dummy email", provider: "instagram",
			routes: map[string]any{"/me": map[string]any{"id": "17841", "username": "ann.photos"}},
			want:   providers.Profile{ID: "17841", Username: "ann.photos", Email: "ann.photos@strapi.io"}},

		// vk
		{name: "vk", provider: "vk", extra: map[string]any{"email": "ann@vk.com", "user_id": float64(210700286)},
			routes: map[string]any{"/method/users.get": map[string]any{"response": []any{map[string]any{"id": 210700286, "first_name": "Ann", "last_name": "Lee"}}}},
			want:   providers.Profile{ID: "210700286", Username: "Lee Ann", Email: "ann@vk.com", EmailVerified: true}},
		{name: "vk without raw email", provider: "vk", extra: map[string]any{"user_id": "1"},
			routes:  map[string]any{"/method/users.get": map[string]any{"response": []any{}}},
			wantErr: providers.ErrInvalidToken, wantMsg: "VK authentication requires a completed OAuth session"},
		{name: "vk token of another user", provider: "vk", extra: map[string]any{"email": "victim@vk.com", "user_id": "1"},
			routes:  map[string]any{"/method/users.get": map[string]any{"response": []any{map[string]any{"id": 2, "first_name": "A", "last_name": "B"}}}},
			wantErr: providers.ErrInvalidToken, wantMsg: "Invalid VK access token"},

		// twitter (X API v2)
		{name: "twitter", provider: "twitter",
			routes: map[string]any{"/users/me": map[string]any{"data": map[string]any{"id": "2244994945", "name": "X Dev", "username": "XDevelopers", "confirmed_email": "Dev@X.example"}}},
			want:   providers.Profile{ID: "2244994945", Username: "XDevelopers", Email: "dev@x.example", EmailVerified: true}},
		{name: "twitter without a confirmed email", provider: "twitter",
			routes:  map[string]any{"/users/me": map[string]any{"data": map[string]any{"id": "1", "username": "x"}}},
			wantErr: providers.ErrEmailNotVerified, wantMsg: "Email not verified by Twitter"},

		// twitch
		{name: "twitch", provider: "twitch",
			routes: map[string]any{"/helix/users": map[string]any{"data": []any{map[string]any{"id": "141981764", "login": "twitchdev", "email": "dev@twitch.tv"}}}},
			want:   providers.Profile{ID: "141981764", Username: "twitchdev", Email: "dev@twitch.tv", EmailVerified: true}},
		{name: "twitch no email", provider: "twitch",
			routes:  map[string]any{"/helix/users": map[string]any{"data": []any{map[string]any{"id": "1", "login": "x"}}}},
			wantErr: providers.ErrEmailNotVerified, wantMsg: "Email not verified by Twitch"},

		// linkedin
		{name: "linkedin", provider: "linkedin",
			routes: map[string]any{
				"/v2/me":           map[string]any{"id": "li1", "localizedFirstName": "Ann"},
				"/v2/emailAddress": map[string]any{"elements": []any{map[string]any{"handle~": map[string]any{"emailAddress": "ann@li.com"}}}},
			},
			want: providers.Profile{ID: "li1", Username: "Ann", Email: "ann@li.com", EmailVerified: true}},
		{name: "linkedin no email", provider: "linkedin",
			routes: map[string]any{
				"/v2/me":           map[string]any{"id": "li2", "localizedFirstName": "Ann"},
				"/v2/emailAddress": map[string]any{"elements": []any{}},
			},
			wantErr: providers.ErrEmailNotVerified, wantMsg: "Email not verified by LinkedIn"},

		// reddit
		{name: "reddit dummy email", provider: "reddit",
			routes: map[string]any{"/api/v1/me": map[string]any{"id": "t2_1", "name": "spez"}},
			want:   providers.Profile{ID: "t2_1", Username: "spez", Email: "spez@strapi.io"}},

		// auth0
		{name: "auth0 verified", provider: "auth0",
			routes: map[string]any{"/userinfo": map[string]any{"sub": "auth0|1", "nickname": "ann", "name": "Ann Lee", "email": "ann@example.com", "email_verified": true}},
			want:   providers.Profile{ID: "auth0|1", Username: "ann", Email: "ann@example.com", EmailVerified: true}},
		{name: "auth0 not verified", provider: "auth0",
			routes:  map[string]any{"/userinfo": map[string]any{"sub": "auth0|2", "email": "victim@example.com", "email_verified": false}},
			wantErr: providers.ErrEmailNotVerified, wantMsg: "Email not verified by Auth0"},
		{name: "auth0 no email: dummy from name", provider: "auth0",
			routes: map[string]any{"/userinfo": map[string]any{"sub": "twitter|3", "name": "Ann  Lee"}},
			want:   providers.Profile{ID: "twitter|3", Username: "Ann  Lee", Email: "ann.lee@strapi.io"}},
		{name: "auth0 username from email", provider: "auth0",
			routes: map[string]any{"/userinfo": map[string]any{"sub": "auth0|4", "email": "zed@example.com", "email_verified": true}},
			want:   providers.Profile{ID: "auth0|4", Username: "zed", Email: "zed@example.com", EmailVerified: true}},

		// cas
		{name: "cas attributes", provider: "cas",
			routes: map[string]any{"/oidc/profile": map[string]any{"id": "casuser", "email_verified": true,
				"attributes": map[string]any{"strapiusername": "ann", "email": "ann@cas.example"}}},
			want: providers.Profile{ID: "casuser", Username: "ann", Email: "ann@cas.example", EmailVerified: true}},
		{name: "cas flat, verified in attributes", provider: "cas",
			routes: map[string]any{"/oidc/profile": map[string]any{"sub": "s1", "strapiemail": "bob@cas.example",
				"attributes": map[string]any{"email_verified": true, "strapiemail": "bob@cas.example"}}},
			want: providers.Profile{ID: "s1", Username: "s1", Email: "bob@cas.example", EmailVerified: true}},
		{name: "cas not verified", provider: "cas",
			routes:  map[string]any{"/oidc/profile": map[string]any{"id": "x", "email": "victim@example.com"}},
			wantErr: providers.ErrEmailNotVerified, wantMsg: "Email not verified by CAS"},
		{name: "cas no email", provider: "cas",
			routes:  map[string]any{"/oidc/profile": map[string]any{"id": "x"}},
			wantErr: providers.ErrNoEmail, wantMsg: "Email was not available."},

		// patreon
		{name: "patreon", provider: "patreon",
			routes: map[string]any{"/api/oauth2/v2/identity": map[string]any{"data": map[string]any{"id": "p1",
				"attributes": map[string]any{"full_name": "Ann Lee", "email": "ann@patreon.example", "is_email_verified": true}}}},
			want: providers.Profile{ID: "p1", Username: "Ann Lee", Email: "ann@patreon.example", EmailVerified: true}},
		{name: "patreon not verified", provider: "patreon",
			routes: map[string]any{"/api/oauth2/v2/identity": map[string]any{"data": map[string]any{"id": "p2",
				"attributes": map[string]any{"full_name": "X", "email": "victim@example.com", "is_email_verified": false}}}},
			wantErr: providers.ErrEmailNotVerified, wantMsg: "Email not verified by Patreon"},

		// keycloak
		{name: "keycloak", provider: "keycloak",
			routes: map[string]any{"/protocol/openid-connect/userinfo": map[string]any{"sub": "kc1", "preferred_username": "ann", "email": "ann@kc.example", "email_verified": true}},
			want:   providers.Profile{ID: "kc1", Username: "ann", Email: "ann@kc.example", EmailVerified: true}},
		{name: "keycloak not verified", provider: "keycloak",
			routes:  map[string]any{"/protocol/openid-connect/userinfo": map[string]any{"sub": "kc2", "email": "victim@example.com", "email_verified": false}},
			wantErr: providers.ErrEmailNotVerified, wantMsg: "Email not verified by Keycloak"},
		{name: "keycloak string true is not true", provider: "keycloak",
			routes:  map[string]any{"/protocol/openid-connect/userinfo": map[string]any{"sub": "kc3", "email": "victim@example.com", "email_verified": "true"}},
			wantErr: providers.ErrEmailNotVerified},

		// gitlab
		{name: "gitlab", provider: "gitlab",
			routes: map[string]any{"/api/v4/user": map[string]any{"id": 1, "username": "ann", "email": "ann@gitlab.example", "confirmed_at": "2012-05-23T09:05:22Z"}},
			want:   providers.Profile{ID: "1", Username: "ann", Email: "ann@gitlab.example", EmailVerified: true}},
		{name: "gitlab unconfirmed", provider: "gitlab",
			routes:  map[string]any{"/api/v4/user": map[string]any{"id": 2, "username": "x", "email": "victim@example.com", "confirmed_at": nil}},
			wantErr: providers.ErrEmailNotVerified, wantMsg: "Email not verified by GitLab"},

		// provider errors come back with Strapi's message
		{name: "upstream error_description", provider: "keycloak",
			routes:  map[string]any{"/protocol/openid-connect/userinfo": providertest.Response{Status: 400, Body: map[string]any{"error": "invalid_request", "error_description": "Token verification failed"}}},
			wantErr: providers.ErrUpstream, wantMsg: "Token verification failed"},
		{name: "upstream without message", provider: "facebook",
			routes:  map[string]any{"/me": providertest.Response{Status: 500, Body: []int{1}}},
			wantErr: providers.ErrUpstream, wantMsg: "HTTP 500"},
		{name: "upstream not JSON", provider: "microsoft",
			routes:  map[string]any{"/me": "just a string"},
			wantErr: providers.ErrUpstream, wantMsg: "Invalid response from provider"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen[tt.provider] = true
			api := providertest.NewAPI(t, tok, tt.routes)
			p := provider(t, tt.provider)
			s := providers.DefaultSettings("")[tt.provider]
			s.Key, s.Secret, s.APIURL = "client-id", "client-secret", api.URL
			token := (&oauth2.Token{AccessToken: tok}).WithExtra(tt.extra)
			got, err := p.FetchProfile(context.Background(), s, token)
			checkProfile(t, got, err, tt.want, tt.wantErr, tt.wantMsg)
			if err != nil && strings.Contains(err.Error(), tok) {
				t.Errorf("error leaks the access token: %v", err)
			}
			for _, r := range api.Requests() {
				switch tt.provider {
				case "twitch":
					if got := r.Header.Get("Client-Id"); got != "client-id" {
						t.Errorf("twitch Client-Id = %q, want %q", got, "client-id")
					}
				case "reddit":
					if got := r.Header.Get("User-Agent"); got != "gatehouse" {
						t.Errorf("reddit User-Agent = %q, want %q", got, "gatehouse")
					}
				case "patreon":
					if got, want := r.Query.Get("fields[user]"), "full_name,email,is_email_verified"; got != want {
						t.Errorf("patreon fields[user] = %q, want %q", got, want)
					}
				case "twitter":
					if got, want := r.Query.Get("user.fields"), "confirmed_email"; got != want {
						t.Errorf("twitter user.fields = %q, want %q", got, want)
					}
				case "vk":
					if got, want := r.Query.Get("v"), "5.122"; got != want {
						t.Errorf("vk v = %q, want %q", got, want)
					}
				}
			}
		})
	}
	for _, p := range providers.Defaults() {
		switch p.Name {
		case "github", "discord", "cognito": // their own tests
		default:
			if !seen[p.Name] {
				t.Errorf("provider %q has no profile row", p.Name)
			}
		}
	}
}

// The API override is a base the profile path is appended to; without it
// the templated API URL needs the subdomain.
func TestProfileAPIURL(t *testing.T) {
	api := providertest.NewAPI(t, "tok", map[string]any{
		"/realms/staff/protocol/openid-connect/userinfo": map[string]any{"sub": "1", "preferred_username": "ann", "email": "ann@example.com", "email_verified": true},
	})
	p := provider(t, "keycloak")
	s := providers.Settings{Key: "k", APIURL: api.URL + "/realms/staff"}
	if _, err := p.FetchProfile(context.Background(), s, &oauth2.Token{AccessToken: "tok"}); err != nil {
		t.Fatalf("FetchProfile() error = %v", err)
	}
	s = providers.Settings{Key: "k"}
	_, err := p.FetchProfile(context.Background(), s, &oauth2.Token{AccessToken: "tok"})
	if !errors.Is(err, providers.ErrMisconfigured) {
		t.Errorf("FetchProfile() without subdomain = %v, want ErrMisconfigured", err)
	}
}
