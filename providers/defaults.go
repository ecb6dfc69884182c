package providers

import "golang.org/x/oauth2"

// Email is the grant-store key of the local (email and password) login
// toggle. It has Settings, enabled by default, but no Provider.
const Email = "email"

// Local is the provider of users who sign in with a password. It is not a
// Provider and no Provider may take its name.
const Local = "local"

func emailSettings() Settings {
	return Settings{Enabled: true, Icon: "envelope"}
}

// DefaultSettings returns Strapi's grant-store defaults for Defaults() plus
// the "email" toggle: only email is enabled; icons, scopes and subdomain
// placeholders as Strapi seeds them; the callback under baseURL
// (server URL + API prefix + "/auth"), stored as "callbackUrl" for the first
// ten of Strapi's providers and "callback" for the others, as Strapi does.
//
// Stored settings are merged over these by decoding the stored JSON into a
// copy of the default value: fields present in the JSON win.
func DefaultSettings(baseURL string) map[string]Settings {
	m := map[string]Settings{Email: emailSettings()}
	for _, p := range Defaults() {
		m[p.Name] = p.DefaultSettings(baseURL)
	}
	return m
}

// Defaults returns Strapi's built-in OAuth providers (5.5x endpoints, 5.53
// profile mapping and email verification) plus GitLab. Each call returns
// fresh values.
//
// Left out: "email" (a local-login toggle, see Email). Twitter is X's OAuth
// 2.0 with PKCE rather than Strapi's OAuth 1.0a (see the package comment);
// it keeps Strapi's name, icon and callbackUrl. Instagram's numeric-key "app_id" variant of
// the retired Basic Display API is not reproduced; client_id is sent.
func Defaults() []Provider {
	return []Provider{
		{
			Name: "discord", DisplayName: "Discord", Icon: "discord",
			Scopes: []string{"identify", "email"}, ScopeDelimiter: " ",
			Endpoint: oauth2.Endpoint{
				AuthURL:  "https://discord.com/api/oauth2/authorize",
				TokenURL: "https://discord.com/api/oauth2/token",
			},
			APIURL:            "https://discord.com/api",
			Profile:           discordProfile,
			legacyCallbackURL: true,
		},
		{
			Name: "facebook", DisplayName: "Facebook", Icon: "facebook-square",
			Scopes: []string{"email"}, ScopeDelimiter: ",",
			Endpoint: oauth2.Endpoint{
				AuthURL:  "https://www.facebook.com/dialog/oauth",
				TokenURL: "https://graph.facebook.com/oauth/access_token",
			},
			APIURL:            "https://graph.facebook.com",
			Profile:           facebookProfile,
			legacyCallbackURL: true,
		},
		{
			Name: "google", DisplayName: "Google", Icon: "google",
			Scopes: []string{"email"}, ScopeDelimiter: " ",
			Endpoint: oauth2.Endpoint{
				AuthURL:  "https://accounts.google.com/o/oauth2/v2/auth",
				TokenURL: "https://oauth2.googleapis.com/token",
			},
			APIURL:            "https://oauth2.googleapis.com",
			PKCE:              true,
			Profile:           googleProfile,
			legacyCallbackURL: true,
		},
		{
			Name: "github", DisplayName: "GitHub", Icon: "github",
			Scopes: []string{"user", "user:email"}, ScopeDelimiter: ",",
			Endpoint: oauth2.Endpoint{
				AuthURL:  "https://github.com/login/oauth/authorize",
				TokenURL: "https://github.com/login/oauth/access_token",
			},
			APIURL:            "https://api.github.com",
			PKCE:              true,
			Profile:           githubProfile,
			legacyCallbackURL: true,
		},
		{
			Name: "microsoft", DisplayName: "Microsoft", Icon: "windows",
			Scopes: []string{"user.read"}, ScopeDelimiter: " ",
			Endpoint: oauth2.Endpoint{
				AuthURL:  "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
				TokenURL: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
			},
			APIURL:            "https://graph.microsoft.com/v1.0",
			PKCE:              true,
			Profile:           microsoftProfile,
			legacyCallbackURL: true,
		},
		{
			Name: "instagram", DisplayName: "Instagram", Icon: "instagram",
			Scopes: []string{"user_profile"}, ScopeDelimiter: " ",
			Endpoint: oauth2.Endpoint{
				AuthURL:  "https://api.instagram.com/oauth/authorize",
				TokenURL: "https://api.instagram.com/oauth/access_token",
			},
			APIURL:            "https://graph.instagram.com",
			Profile:           instagramProfile,
			legacyCallbackURL: true,
		},
		{
			Name: "vk", DisplayName: "VK", Icon: "vk",
			Scopes: []string{"email"}, ScopeDelimiter: ",",
			Endpoint: oauth2.Endpoint{
				AuthURL:  "https://oauth.vk.com/authorize",
				TokenURL: "https://oauth.vk.com/access_token",
			},
			APIURL:            "https://api.vk.com",
			Profile:           vkProfile,
			legacyCallbackURL: true,
		},
		{
			// X's OAuth 2.0: PKCE is required, a confidential client
			// authenticates with HTTP Basic, and users.email gives the
			// confirmed email (users/me?user.fields=confirmed_email).
			Name: "twitter", DisplayName: "Twitter", Icon: "twitter",
			Scopes: []string{"users.read", "tweet.read", "users.email"}, ScopeDelimiter: " ",
			Endpoint: oauth2.Endpoint{
				AuthURL:   "https://x.com/i/oauth2/authorize",
				TokenURL:  "https://api.x.com/2/oauth2/token",
				AuthStyle: oauth2.AuthStyleInHeader,
			},
			APIURL:            "https://api.x.com/2",
			PKCE:              true,
			Profile:           twitterProfile,
			legacyCallbackURL: true,
		},
		{
			Name: "twitch", DisplayName: "Twitch", Icon: "twitch",
			Scopes: []string{"user:read:email"}, ScopeDelimiter: " ",
			Endpoint: oauth2.Endpoint{
				AuthURL:  "https://id.twitch.tv/oauth2/authorize",
				TokenURL: "https://id.twitch.tv/oauth2/token",
			},
			APIURL:            "https://api.twitch.tv",
			Profile:           twitchProfile,
			legacyCallbackURL: true,
		},
		{
			Name: "linkedin", DisplayName: "LinkedIn", Icon: "linkedin",
			Scopes: []string{"r_liteprofile", "r_emailaddress"}, ScopeDelimiter: " ",
			Endpoint: oauth2.Endpoint{
				AuthURL:  "https://www.linkedin.com/oauth/v2/authorization",
				TokenURL: "https://www.linkedin.com/oauth/v2/accessToken",
			},
			APIURL:            "https://api.linkedin.com",
			Profile:           linkedinProfile,
			legacyCallbackURL: true,
		},
		{
			Name: "cognito", DisplayName: "Cognito", Icon: "aws",
			Scopes: []string{"email", "openid", "profile"}, ScopeDelimiter: " ",
			Endpoint: oauth2.Endpoint{
				AuthURL:  "https://[subdomain]/oauth2/authorize",
				TokenURL: "https://[subdomain]/oauth2/token",
			},
			Subdomain: "my.subdomain.com",
			PKCE:      true,
			Profile:   cognitoProfile,
			idToken:   cognitoVerify,
		},
		{
			Name: "reddit", DisplayName: "Reddit", Icon: "reddit",
			Scopes: []string{"identity"}, ScopeDelimiter: ",",
			Endpoint: oauth2.Endpoint{
				AuthURL:   "https://ssl.reddit.com/api/v1/authorize",
				TokenURL:  "https://ssl.reddit.com/api/v1/access_token",
				AuthStyle: oauth2.AuthStyleInHeader,
			},
			APIURL:  "https://oauth.reddit.com",
			Profile: redditProfile,
		},
		{
			Name: "auth0", DisplayName: "Auth0", Icon: "",
			Scopes: []string{"openid", "email", "profile"}, ScopeDelimiter: " ",
			Endpoint: oauth2.Endpoint{
				AuthURL:  "https://[subdomain].auth0.com/authorize",
				TokenURL: "https://[subdomain].auth0.com/oauth/token",
			},
			APIURL:    "https://[subdomain].auth0.com",
			Subdomain: "my-tenant.eu",
			PKCE:      true,
			Profile:   auth0Profile,
		},
		{
			Name: "cas", DisplayName: "CAS", Icon: "book",
			Scopes: []string{"openid email"}, ScopeDelimiter: ",",
			Endpoint: oauth2.Endpoint{
				AuthURL:  "https://[subdomain]/oidc/authorize",
				TokenURL: "https://[subdomain]/oidc/token",
			},
			APIURL:    "https://[subdomain]",
			Subdomain: "my.subdomain.com/cas",
			PKCE:      true,
			Profile:   casProfile,
		},
		{
			Name: "patreon", DisplayName: "Patreon", Icon: "",
			Scopes: []string{"identity", "identity[email]"}, ScopeDelimiter: " ",
			Endpoint: oauth2.Endpoint{
				AuthURL:  "https://www.patreon.com/oauth2/authorize",
				TokenURL: "https://www.patreon.com/api/oauth2/token",
			},
			APIURL:  "https://www.patreon.com",
			Profile: patreonProfile,
		},
		{
			Name: "keycloak", DisplayName: "Keycloak", Icon: "",
			Scopes: []string{"openid", "email", "profile"}, ScopeDelimiter: " ",
			Endpoint: oauth2.Endpoint{
				AuthURL:  "https://[subdomain]/protocol/openid-connect/auth",
				TokenURL: "https://[subdomain]/protocol/openid-connect/token",
			},
			APIURL:    "https://[subdomain]",
			Subdomain: "myKeycloakProvider.com/realms/myrealm",
			PKCE:      true,
			Profile:   keycloakProfile,
		},
		{
			// Not in Strapi. Self-hosted instances set the subdomain
			// (host[/path]) or the endpoint overrides.
			Name: "gitlab", DisplayName: "GitLab", Icon: "gitlab",
			Scopes: []string{"read_user"}, ScopeDelimiter: " ",
			Endpoint: oauth2.Endpoint{
				AuthURL:  "https://[subdomain]/oauth/authorize",
				TokenURL: "https://[subdomain]/oauth/token",
			},
			APIURL:    "https://[subdomain]",
			Subdomain: "gitlab.com",
			PKCE:      true,
			Profile:   gitlabProfile,
		},
	}
}
