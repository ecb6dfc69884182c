package providers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
)

// The profile functions below follow Strapi 5.53's providers-registry: same
// request, same username and email, same verification, same messages. The
// User-Agent Strapi sends to GitHub and Reddit ("strapi") is "gatehouse".

const userAgent = "gatehouse"

func uaHeader() http.Header { return http.Header{"User-Agent": {userAgent}} }

// flexString decodes a JSON string or number (ids are either).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*f = flexString(n.String())
		return nil
	}
	*f = "" // null, bool, object: no usable id
	return nil
}

// isTrue reports whether a decoded JSON value is the boolean true, as
// Strapi's `=== true`.
func isTrue(v any) bool { b, ok := v.(bool); return ok && b }

func localPart(email string) string {
	local, _, _ := strings.Cut(email, "@")
	return local
}

// discord: GET /users/@me; verified must be true; username#discriminator
// unless the discriminator is empty or "0".
func discordProfile(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
	var b struct {
		ID            flexString `json:"id"`
		Username      string     `json:"username"`
		Discriminator string     `json:"discriminator"`
		Email         string     `json:"email"`
		Verified      any        `json:"verified"`
	}
	if err := GetJSON(ctx, c, s.APIURL+"/users/@me", tok, nil, &b); err != nil {
		return Profile{}, err
	}
	if !isTrue(b.Verified) {
		return Profile{}, notVerified("Discord")
	}
	username := b.Username
	if b.Discriminator != "" && b.Discriminator != "0" {
		username += "#" + b.Discriminator
	}
	return Profile{ID: string(b.ID), Username: username, Email: b.Email, EmailVerified: true}, nil
}

// facebook: GET /me?fields=id,name,email; an email must be present.
func facebookProfile(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
	var b struct {
		ID    flexString `json:"id"`
		Name  string     `json:"name"`
		Email string     `json:"email"`
	}
	if err := GetJSON(ctx, c, s.APIURL+"/me?fields=id,name,email", tok, nil, &b); err != nil {
		return Profile{}, err
	}
	if b.Email == "" {
		return Profile{}, notVerified("Facebook")
	}
	return Profile{ID: string(b.ID), Username: b.Name, Email: b.Email, EmailVerified: true}, nil
}

// google: GET /tokeninfo?access_token=…; verified_email (or, when absent,
// email_verified) must be true or "true"; username is the email's local part.
// Gatehouse addition: when tokeninfo names the client the token was issued
// to (aud or azp), it must be this client, so a token obtained by another
// application cannot be replayed here.
func googleProfile(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
	var b struct {
		Sub           string `json:"sub"`
		UserID        string `json:"user_id"`
		Email         string `json:"email"`
		VerifiedEmail any    `json:"verified_email"`
		EmailVerified any    `json:"email_verified"`
		Aud           string `json:"aud"`
		Azp           string `json:"azp"`
	}
	u := s.APIURL + "/tokeninfo?access_token=" + url.QueryEscape(tok.AccessToken)
	if err := GetJSON(ctx, c, u, nil, nil, &b); err != nil {
		return Profile{}, err
	}
	if s.Key != "" && ((b.Aud != "" && b.Aud != s.Key) || (b.Azp != "" && b.Azp != s.Key)) {
		return Profile{}, &Error{Kind: ErrInvalidToken, Message: "The provided token is not valid"}
	}
	v := b.VerifiedEmail
	if v == nil {
		v = b.EmailVerified
	}
	if v != true && v != "true" {
		return Profile{}, notVerified("Google")
	}
	id := b.Sub
	if id == "" {
		id = b.UserID
	}
	return Profile{ID: id, Username: localPart(b.Email), Email: b.Email, EmailVerified: true}, nil
}

// github: GET /user and /user/emails. The public email must appear verified
// in /user/emails; without one, the primary email must be verified.
func githubProfile(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
	var user struct {
		ID    flexString `json:"id"`
		Login string     `json:"login"`
		Email string     `json:"email"`
	}
	if err := GetJSON(ctx, c, s.APIURL+"/user", tok, uaHeader(), &user); err != nil {
		return Profile{}, err
	}
	var raw json.RawMessage
	if err := GetJSON(ctx, c, s.APIURL+"/user/emails", tok, uaHeader(), &raw); err != nil {
		return Profile{}, err
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  any    `json:"primary"`
		Verified any    `json:"verified"`
	}
	_ = json.Unmarshal(raw, &emails) // not an array: no verified email

	prof := Profile{ID: string(user.ID), Username: user.Login, EmailVerified: true}
	if user.Email != "" {
		for _, e := range emails {
			if e.Email == user.Email && isTrue(e.Verified) {
				prof.Email = user.Email
				return prof, nil
			}
		}
		return Profile{}, notVerified("GitHub")
	}
	for _, e := range emails {
		if isTrue(e.Primary) {
			if !isTrue(e.Verified) {
				break
			}
			prof.Email = e.Email
			return prof, nil
		}
	}
	return Profile{}, notVerified("GitHub")
}

// microsoft: GET /me; username and email are userPrincipalName. Strapi makes
// no verification claim (a tenant admin chooses UPNs), so neither do we.
func microsoftProfile(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
	var b struct {
		ID                flexString `json:"id"`
		UserPrincipalName string     `json:"userPrincipalName"`
	}
	if err := GetJSON(ctx, c, s.APIURL+"/me", tok, nil, &b); err != nil {
		return Profile{}, err
	}
	return Profile{ID: string(b.ID), Username: b.UserPrincipalName, Email: b.UserPrincipalName}, nil
}

// instagram: GET /me?fields=id,username; Instagram gives no email, so the
// address is Strapi's made-up "<username>@strapi.io" (kept so accounts made
// by Strapi still match), never verified.
func instagramProfile(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
	var b struct {
		ID       flexString `json:"id"`
		Username string     `json:"username"`
	}
	if err := GetJSON(ctx, c, s.APIURL+"/me?fields=id,username", tok, nil, &b); err != nil {
		return Profile{}, err
	}
	if b.Username == "" {
		return Profile{}, noEmail()
	}
	return Profile{ID: string(b.ID), Username: b.Username, Email: b.Username + "@strapi.io"}, nil
}

// vk: the email and user_id come from the token response (Token.Extra,
// Strapi's raw.email and raw.user_id); GET /method/users.get names the user.
// Gatehouse addition: the user returned must be user_id.
//
// In the legacy query flow the caller builds the token from the front-end
// query (ParseGrantResponse), so raw[email] is whatever the client sent:
// only trust VK profiles from a server-side exchange.
func vkProfile(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
	email, userID := extraString(tok, "email"), extraString(tok, "user_id")
	if email == "" || userID == "" {
		return Profile{}, &Error{Kind: ErrInvalidToken, Message: "VK authentication requires a completed OAuth session"}
	}
	var b struct {
		Response []struct {
			ID        flexString `json:"id"`
			FirstName string     `json:"first_name"`
			LastName  string     `json:"last_name"`
		} `json:"response"`
	}
	u := s.APIURL + "/method/users.get?user_ids=" + url.QueryEscape(userID) + "&v=5.122"
	if err := GetJSON(ctx, c, u, tok, nil, &b); err != nil {
		return Profile{}, err
	}
	if len(b.Response) == 0 || (b.Response[0].ID != "" && string(b.Response[0].ID) != userID) {
		return Profile{}, &Error{Kind: ErrInvalidToken, Message: "Invalid VK access token"}
	}
	r := b.Response[0]
	return Profile{ID: userID, Username: r.LastName + " " + r.FirstName, Email: email, EmailVerified: true}, nil
}

// twitch: GET /helix/users with Client-Id; data[0].email must be present.
func twitchProfile(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
	var b struct {
		Data []struct {
			ID    flexString `json:"id"`
			Login string     `json:"login"`
			Email string     `json:"email"`
		} `json:"data"`
	}
	h := http.Header{"Client-Id": {s.Key}}
	if err := GetJSON(ctx, c, s.APIURL+"/helix/users", tok, h, &b); err != nil {
		return Profile{}, err
	}
	if len(b.Data) == 0 || b.Data[0].Email == "" {
		return Profile{}, notVerified("Twitch")
	}
	d := b.Data[0]
	return Profile{ID: string(d.ID), Username: d.Login, Email: d.Email, EmailVerified: true}, nil
}

// linkedin: GET /v2/me and /v2/emailAddress; the email must be present.
func linkedinProfile(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
	var me struct {
		ID                 flexString `json:"id"`
		LocalizedFirstName string     `json:"localizedFirstName"`
	}
	if err := GetJSON(ctx, c, s.APIURL+"/v2/me", tok, nil, &me); err != nil {
		return Profile{}, err
	}
	var em struct {
		Elements []struct {
			Handle struct {
				EmailAddress string `json:"emailAddress"`
			} `json:"handle~"`
		} `json:"elements"`
	}
	u := s.APIURL + "/v2/emailAddress?q=members&projection=(elements*(handle~))"
	if err := GetJSON(ctx, c, u, tok, nil, &em); err != nil {
		return Profile{}, err
	}
	if len(em.Elements) == 0 || em.Elements[0].Handle.EmailAddress == "" {
		return Profile{}, notVerified("LinkedIn")
	}
	return Profile{ID: string(me.ID), Username: me.LocalizedFirstName,
		Email: em.Elements[0].Handle.EmailAddress, EmailVerified: true}, nil
}

// reddit: GET /api/v1/me; the address is Strapi's made-up
// "<name>@strapi.io", never verified.
func redditProfile(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
	var b struct {
		ID   flexString `json:"id"`
		Name string     `json:"name"`
	}
	if err := GetJSON(ctx, c, s.APIURL+"/api/v1/me", tok, uaHeader(), &b); err != nil {
		return Profile{}, err
	}
	if b.Name == "" {
		return Profile{}, noEmail()
	}
	return Profile{ID: string(b.ID), Username: b.Name, Email: b.Name + "@strapi.io"}, nil
}

var whitespace = regexp.MustCompile(`\s+`)

// auth0: GET /userinfo; a present email must have email_verified true.
// username = username || nickname || name || email local part; without an
// email the address is "<username, spaces as dots>@strapi.io", unverified.
func auth0Profile(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
	var b struct {
		Sub           string `json:"sub"`
		Username      string `json:"username"`
		Nickname      string `json:"nickname"`
		Name          string `json:"name"`
		Email         string `json:"email"`
		EmailVerified any    `json:"email_verified"`
	}
	if err := GetJSON(ctx, c, s.APIURL+"/userinfo", tok, nil, &b); err != nil {
		return Profile{}, err
	}
	if b.Email != "" && !isTrue(b.EmailVerified) {
		return Profile{}, notVerified("Auth0")
	}
	username := firstNonEmpty(b.Username, b.Nickname, b.Name, localPart(b.Email))
	if b.Email != "" {
		return Profile{ID: b.Sub, Username: username, Email: b.Email, EmailVerified: true}, nil
	}
	if username == "" {
		return Profile{}, noEmail()
	}
	return Profile{ID: b.Sub, Username: username, Email: whitespace.ReplaceAllString(username, ".") + "@strapi.io"}, nil
}

// cas: GET /oidc/profile; the fields are flat or under "attributes".
// username = strapiusername || id || sub; email = strapiemail || email; a
// present email must have email_verified true (top level, else attributes).
func casProfile(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
	type fields struct {
		StrapiUsername string `json:"strapiusername"`
		StrapiEmail    string `json:"strapiemail"`
		Email          string `json:"email"`
		EmailVerified  any    `json:"email_verified"`
	}
	var b struct {
		fields
		ID         flexString `json:"id"`
		Sub        flexString `json:"sub"`
		Attributes *fields    `json:"attributes"`
	}
	if err := GetJSON(ctx, c, s.APIURL+"/oidc/profile", tok, nil, &b); err != nil {
		return Profile{}, err
	}
	f := &b.fields
	if b.Attributes != nil {
		f = b.Attributes
	}
	username := firstNonEmpty(f.StrapiUsername, string(b.ID), string(b.Sub))
	email := firstNonEmpty(f.StrapiEmail, f.Email)
	verified := b.EmailVerified
	if verified == nil && b.Attributes != nil {
		verified = b.Attributes.EmailVerified
	}
	if email != "" && !isTrue(verified) {
		return Profile{}, notVerified("CAS")
	}
	return Profile{ID: firstNonEmpty(string(b.ID), string(b.Sub)), Username: username,
		Email: email, EmailVerified: email != ""}, nil
}

// patreon: GET /api/oauth2/v2/identity; is_email_verified must be true.
func patreonProfile(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
	var b struct {
		Data struct {
			ID         flexString `json:"id"`
			Attributes struct {
				FullName        string `json:"full_name"`
				Email           string `json:"email"`
				IsEmailVerified any    `json:"is_email_verified"`
			} `json:"attributes"`
		} `json:"data"`
	}
	u := s.APIURL + "/api/oauth2/v2/identity?fields[user]=full_name,email,is_email_verified"
	if err := GetJSON(ctx, c, u, tok, nil, &b); err != nil {
		return Profile{}, err
	}
	a := b.Data.Attributes
	if !isTrue(a.IsEmailVerified) {
		return Profile{}, notVerified("Patreon")
	}
	return Profile{ID: string(b.Data.ID), Username: a.FullName, Email: a.Email, EmailVerified: true}, nil
}

// keycloak: GET /protocol/openid-connect/userinfo; email_verified must be true.
func keycloakProfile(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
	var b struct {
		Sub               string `json:"sub"`
		PreferredUsername string `json:"preferred_username"`
		Email             string `json:"email"`
		EmailVerified     any    `json:"email_verified"`
	}
	if err := GetJSON(ctx, c, s.APIURL+"/protocol/openid-connect/userinfo", tok, nil, &b); err != nil {
		return Profile{}, err
	}
	if !isTrue(b.EmailVerified) {
		return Profile{}, notVerified("Keycloak")
	}
	return Profile{ID: b.Sub, Username: b.PreferredUsername, Email: b.Email, EmailVerified: true}, nil
}

// gitlab (Gatehouse): GET /api/v4/user; the primary email counts as verified
// only when the account is confirmed (confirmed_at set).
func gitlabProfile(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
	var b struct {
		ID          flexString `json:"id"`
		Username    string     `json:"username"`
		Email       string     `json:"email"`
		ConfirmedAt *string    `json:"confirmed_at"`
	}
	if err := GetJSON(ctx, c, s.APIURL+"/api/v4/user", tok, nil, &b); err != nil {
		return Profile{}, err
	}
	if b.Email == "" {
		return Profile{}, noEmail()
	}
	if b.ConfirmedAt == nil || *b.ConfirmedAt == "" {
		return Profile{}, notVerified("GitLab")
	}
	return Profile{ID: string(b.ID), Username: b.Username, Email: b.Email, EmailVerified: true}, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// extraString reads a token-response field as a string: JSON answers hold
// numbers as float64, form answers and ParseGrantResponse hold strings.
func extraString(tok *oauth2.Token, key string) string {
	switch v := tok.Extra(key).(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case json.Number:
		return v.String()
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}

// twitter: GET /users/me?user.fields=confirmed_email (X API v2, scope
// users.email). username is the handle, as Strapi's screen_name; X returns
// confirmed_email only once the address is confirmed, so its presence is
// the verification (Strapi: "email present"; without one, "Email not
// verified by Twitter", as Facebook's and Twitch's).
func twitterProfile(ctx context.Context, c *http.Client, tok *oauth2.Token, s Settings) (Profile, error) {
	var b struct {
		Data struct {
			ID             flexString `json:"id"`
			Username       string     `json:"username"`
			ConfirmedEmail string     `json:"confirmed_email"`
		} `json:"data"`
	}
	if err := GetJSON(ctx, c, s.APIURL+"/users/me?user.fields=confirmed_email", tok, nil, &b); err != nil {
		return Profile{}, err
	}
	if b.Data.ConfirmedEmail == "" {
		return Profile{}, notVerified("Twitter")
	}
	return Profile{ID: string(b.Data.ID), Username: b.Data.Username, Email: b.Data.ConfirmedEmail, EmailVerified: true}, nil
}
