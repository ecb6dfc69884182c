package handlers

import (
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"
)

// errBadLogin is the one answer for an unknown user and a wrong password.
var errBadLogin = ValidationError("Invalid identifier or password", nil)

// The refusals of a correct password (login and the OAuth finish).
var (
	errUnconfirmed = ApplicationError("Your account email is not confirmed")
	errBlocked     = ApplicationError("Your account has been blocked by an administrator")
)

// loginResult names a sign-in's outcome for the metrics: "ok", or why it
// failed.
func loginResult(err error) string {
	if err == nil {
		return "ok"
	}
	switch e := asError(err); {
	case e == errBadLogin:
		return "invalid_credentials"
	case e == errUnconfirmed:
		return "unconfirmed"
	case e == errBlocked:
		return "blocked"
	case e.Status >= 500:
		return "error"
	case e.Name == "ValidationError" || e.Status == 413:
		return "invalid_request"
	default:
		return "refused"
	}
}

// countLogin reports a sign-in attempt to the metrics.
func (s *Server) countLogin(provider string, err error) {
	if s.metrics != nil {
		s.metrics.Login(provider, loginResult(err))
	}
}

// login is POST /api/auth/local (spec §2.1): the password is checked before
// the confirmed and blocked states, so neither leaks.
func (s *Server) login(c *gin.Context) (err error) {
	defer func() { s.countLogin(providers.Local, err) }()
	if err := s.providerEnabled(c, "email"); err != nil {
		return err
	}
	b, err := readBody(c)
	if err != nil {
		return err
	}
	var v validator
	identifier := v.requiredStr(b, "identifier")
	password := v.requiredStr(b, "password")
	if err := v.err(); err != nil {
		return err
	}
	user, err := s.localUser(c, identifier)
	if errors.Is(err, store.ErrNotFound) {
		// Compare anyway, so an unknown identifier costs the time of a wrong
		// password (no enumeration by timing).
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
		return errBadLogin
	}
	if err != nil {
		return err
	}
	if user.Password == "" || bcrypt.CompareHashAndPassword([]byte(user.Password), []byte(password)) != nil {
		return errBadLogin
	}
	adv, err := s.store.Settings().Advanced(ctx(c))
	if err != nil {
		return err
	}
	if adv.EmailConfirmation && !user.Confirmed {
		return errUnconfirmed
	}
	if user.Blocked {
		return errBlocked
	}
	if s.refreshMode() {
		return s.startSession(c, user, b) // with body.deviceId
	}
	return s.respondWithToken(c, user)
}

// localUser finds the local user an identifier names. Strapi matches the
// email or the username, so a username spelling another user's email in
// other capitals could win the lookup; here an identifier that is a valid
// email matches emails only (case-insensitively), anything else usernames
// only (exactly).
func (s *Server) localUser(c *gin.Context, identifier string) (store.User, error) {
	if validEmail(identifier) {
		return s.store.Users().LocalByEmail(ctx(c), identifier)
	}
	return s.store.Users().LocalByUsername(ctx(c), identifier)
}

// respondWithToken answers 200 {jwt, user}; in refresh mode it opens a
// session instead (auth_refresh.go).
func (s *Server) respondWithToken(c *gin.Context, user store.User) error {
	if s.refreshMode() {
		return s.startSession(c, user, nil)
	}
	token, err := s.tokens.Issue(user.ID)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, authResponse{JWT: token, User: userJSON(user, false)})
}

// hashPassword hashes with the configured bcrypt cost.
func (s *Server) hashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.cfg.BcryptCost)
	if err != nil {
		return "", errInternal("handlers: hash password: %w", err)
	}
	return string(h), nil
}

// providerEnabled refuses a disabled provider ("email" is local login) with
// Strapi's message. Providers without stored settings use the defaults: only
// email is enabled.
func (s *Server) providerEnabled(c *gin.Context, name string) error {
	var grant map[string]struct {
		Enabled bool `json:"enabled"`
	}
	found, err := s.store.Settings().Get(ctx(c), store.KeyGrant, &grant)
	if err != nil {
		return err
	}
	enabled := name == "email"
	if found {
		if p, ok := grant[name]; ok {
			enabled = p.Enabled
		}
	}
	if !enabled {
		return ApplicationError("This provider is disabled")
	}
	return nil
}
