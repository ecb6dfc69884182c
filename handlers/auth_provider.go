package handlers

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"golang.org/x/oauth2"
)

// errNoProviderSession is the answer in session mode without a completed
// connect flow (Strapi 5.53).
var errNoProviderSession = ApplicationError("OAuth authentication requires a completed provider session")

// newProviderCallback builds GET /api/auth/:provider/callback, with its
// memory of used session cookies.
func (s *Server) newProviderCallback() func(*gin.Context) error {
	used := s.consumed()
	return func(c *gin.Context) error {
		err := s.providerCallback(c, used)
		provider := c.Param("provider")
		if _, known, _ := s.providerSetting(ctx(c), provider); !known || provider == providers.Email {
			provider = "unknown" // the label takes only existing providers' names
		}
		s.countLogin(provider, err)
		return err
	}
}

// providerCallback is the OAuth finish (spec §2.3): the provider's token,
// from the sealed session cookie ("session" mode) or the query ("query"
// mode, Strapi <= 5.52), becomes a profile, the profile a user, and the
// answer {jwt, user}. Every refusal is a 400 ApplicationError with Strapi's
// message, but for the 503 of a memory of used sessions that cannot answer.
func (s *Server) providerCallback(c *gin.Context, used Consumed) error {
	p, set, err := s.enabledProvider(c)
	if err != nil {
		return err
	}
	mode, err := s.redirectMode()
	if err != nil {
		return err
	}
	var tok *oauth2.Token
	if mode == redirectSession {
		resp, err := s.takeProviderSession(c, p.Name, used)
		if err != nil {
			return err
		}
		if tok, err = providers.ParseGrantResponse(resp); err != nil {
			return providerError(err)
		}
	} else {
		q := c.Request.URL.Query()
		// raw[…] values came from the browser: a profile must not take
		// them on trust (VK reads its email there), so only the session
		// form carries them.
		for k := range q {
			if strings.HasPrefix(k, "raw[") {
				delete(q, k)
			}
		}
		if tok, err = providers.ParseGrantResponse(q); err != nil {
			return providerError(err)
		}
		if err := s.takeDelivered(ctx(c), p.Name, q); err != nil {
			return err
		}
	}
	profile, err := p.FetchProfile(s.providerContext(c), set, tok)
	if err != nil {
		return providerError(err)
	}
	user, err := s.userForProfile(ctx(c), p.Name, profile)
	if err != nil {
		return err
	}
	if user.Blocked {
		return errBlocked
	}
	c.Header("Cache-Control", "no-store")
	return s.respondWithDevice(c, user) // refresh mode: body.deviceId
}

// takeProviderSession opens and consumes the session cookie of provider.
// When the memory of used sessions cannot answer, the session is refused
// with a 503 (fail closed; the front end starts the sign-in again).
func (s *Server) takeProviderSession(c *gin.Context, provider string, used Consumed) (url.Values, error) {
	raw, err := c.Cookie(sessionCookie)
	if err != nil {
		return nil, errNoProviderSession
	}
	var sess oauthSession
	if err := newCookieSealer(s.cfg.Secret).open(sessionCookie, raw, &sess); err != nil {
		s.setOAuthCookie(c, sessionCookie, "", -1)
		return nil, errNoProviderSession
	}
	if sess.Provider != provider {
		return nil, errNoProviderSession
	}
	s.setOAuthCookie(c, sessionCookie, "", -1)
	if s.now().Unix() > sess.Expires || sess.ID == "" {
		return nil, errNoProviderSession
	}
	fresh, err := used.Use(ctx(c), usedKey("session", sess.ID), time.Unix(sess.Expires, 0))
	if err != nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Name: "ServiceUnavailableError", Message: signInUnavailable, Err: err}
	}
	if !fresh {
		return nil, errNoProviderSession
	}
	return url.Values(sess.Response), nil
}

// userForProfile finds or creates the user of a provider profile, as
// Strapi's providers.connect: the user with the email and this provider
// signs in; otherwise a new confirmed user is created, unless registration
// is off or another user has the email and unique_email is on. Gatehouse
// also refuses to add a second account under an email the provider did not
// verify.
func (s *Server) userForProfile(c context.Context, provider string, profile providers.Profile) (store.User, error) {
	email := strings.ToLower(strings.TrimSpace(profile.Email))
	if email == "" {
		return store.User{}, ApplicationError("Email was not available.")
	}
	adv, err := s.store.Settings().Advanced(c)
	if err != nil {
		return store.User{}, err
	}
	for attempt := 0; ; attempt++ {
		users, err := s.store.Users().ByEmail(c, email)
		if err != nil {
			return store.User{}, err
		}
		for _, u := range users {
			if u.Provider == provider {
				return u, nil
			}
		}
		if !adv.AllowRegister {
			return store.User{}, ApplicationError("Register action is actually not available.")
		}
		refuseShared := adv.UniqueEmail || !profile.EmailVerified
		if len(users) > 0 && refuseShared {
			return store.User{}, ApplicationError("Email is already taken.")
		}
		role, err := s.store.Roles().ByType(c, adv.DefaultRole)
		if errors.Is(err, store.ErrNotFound) {
			return store.User{}, ApplicationError("Impossible to find the default role")
		}
		if err != nil {
			return store.User{}, err
		}
		base := profile.Username
		if base == "" {
			base, _, _ = strings.Cut(email, "@")
		}
		username, err := s.findValidUsername(c, base)
		if err != nil {
			return store.User{}, err
		}
		now := s.now().UTC()
		user := store.User{
			DocumentID: store.NewDocumentID(), Username: username, Email: email, Provider: provider,
			Confirmed: true, RoleID: &role.ID, PublishedAt: now, TokensValidAfter: now,
		}
		err = s.store.Users().CreateFromProvider(c, &user, refuseShared)
		switch {
		case err == nil:
			return user, nil
		case errors.Is(err, store.ErrEmailTaken):
			return store.User{}, ApplicationError("Email is already taken.")
		case errors.Is(err, store.ErrConflict) && attempt < 2:
			// A concurrent sign-in took the username or created this
			// provider's user first: look again.
			continue
		}
		return store.User{}, err
	}
}

// usernameMinLength is the user schema's minimum (spec §3).
const usernameMinLength = 3

// findValidUsername is Strapi 5.52's: the base when it is long enough and
// free, else the base with a random 4-digit suffix (up to 10 tries), else a
// random UUID.
func (s *Server) findValidUsername(c context.Context, base string) (string, error) {
	base = strings.TrimSpace(base)
	if utf8.RuneCountInString(base) > 200 {
		base = string([]rune(base)[:200])
	}
	free := func(name string) (bool, error) {
		_, taken, err := s.store.Users().IdentifierOwner(c, name)
		return !taken, err
	}
	if utf8.RuneCountInString(base) >= usernameMinLength {
		if ok, err := free(base); err != nil || ok {
			return base, err
		}
	}
	for range 10 {
		name := base + strconv.Itoa(1000+rand.IntN(9000))
		if utf8.RuneCountInString(name) < usernameMinLength {
			continue
		}
		if ok, err := free(name); err != nil || ok {
			return name, err
		}
	}
	return uuid.NewString(), nil
}
