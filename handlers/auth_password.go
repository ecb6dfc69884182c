package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"
)

// The password endpoints (spec §2.5–2.7), with Gatehouse's changes to
// Strapi:
//   - forgot-password only queues the mail (mail_queue.go): the answer, and
//     the work done before it, are the same whether or not the address has
//     an account, and an SMTP outage delays the mail instead of failing the
//     request (Strapi answers an error for an account whose mail failed);
//   - the reset code is 32 random bytes, stored only as its SHA-256 hash,
//     single-use, and expires after ResetTokenTTL (Strapi's never expires);
//     it is issued when the mail is sent;
//   - a reset or a change sets tokens_valid_after to the current second, so
//     every JWT issued before that second answers 401 afterwards (Strapi's
//     legacy mode keeps them valid); the JWT in the answer is issued in that
//     second or later, so it stays valid. A JWT issued earlier within the
//     same second also stays valid: iat has a one-second resolution;
//   - a change also drops a pending reset code;
//   - at most one reset mail goes to an address per ResendInterval (60s):
//     a request within it gets the same {ok:true} and nothing is sent.

// forgotKeys are the keys forgot-password accepts.
var forgotKeys = []string{"email"}

// okAnswer is {ok:true}.
var okAnswer = gin.H{"ok": true}

// forgotPassword is POST /api/auth/forgot-password (spec §2.5): {email} →
// {ok:true}, whether or not the address has an account. The reset mail is
// queued; the queue's worker sends it when the address has an unblocked
// account and no reset mail went to it within ResendInterval.
func (s *Server) forgotPassword(c *gin.Context) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	var v validator
	email := v.requiredEmail(b, "email")
	v.noUnknown(b, nil, forgotKeys...)
	if err := v.err(); err != nil {
		return err
	}
	if err := s.queueMail(ctx(c), store.MailResetPassword, email, true); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, okAnswer)
}

// userByEmail finds the account of an address as Strapi does (any
// provider), preferring the local account when unique_email is off and
// several exist.
func (s *Server) userByEmail(c context.Context, email string) (store.User, bool, error) {
	users, err := s.store.Users().ByEmail(c, email)
	if err != nil || len(users) == 0 {
		return store.User{}, false, err
	}
	for _, u := range users {
		if u.Provider == "local" {
			return u, true, nil
		}
	}
	return users[0], true, nil
}

// newPassword reads password and passwordConfirmation as Strapi v5's reset
// and change schemas do: both required, at most 72 bytes, and equal
// ("Passwords do not match").
func (v *validator) newPassword(b body) string {
	password := v.requiredStr(b, "password")
	if !v.failed("password") {
		v.checkPasswordLength("password", password)
	}
	confirmation, present := v.str(b, "passwordConfirmation")
	if !present && !v.failed("passwordConfirmation") || present && confirmation == "" {
		v.add("passwordConfirmation", "passwordConfirmation is a required field", nil)
	}
	if present && confirmation != password {
		v.add("passwordConfirmation", "Passwords do not match", nil)
	}
	return password
}

// checkNewPasswordLength applies the user schema's minimum length, which
// Strapi checks when it writes the user (after the code or the current
// password has been checked).
func checkNewPasswordLength(password string) error {
	if utf8.RuneCountInString(password) >= 6 {
		return nil
	}
	var v validator
	v.add("password", "password must be at least 6 characters", nil)
	return v.err()
}

// tokensValidAfter is the revocation point of a password reset or change:
// the current second, so the JWT issued right after is not revoked.
func (s *Server) tokensValidAfter() time.Time {
	return s.now().UTC().Truncate(time.Second)
}

var errIncorrectCode = ValidationError("Incorrect code provided", nil)

// resetPassword is POST /api/auth/reset-password (spec §2.6): {password,
// passwordConfirmation, code} → {jwt, user}. The code is used up, and every
// JWT of the user issued before this second is revoked.
func (s *Server) resetPassword(c *gin.Context) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	var v validator
	password := v.newPassword(b)
	code := v.requiredStr(b, "code")
	v.noUnknown(b, nil, "password", "passwordConfirmation", "code")
	if err := v.err(); err != nil {
		return err
	}
	hash := store.HashToken(code)
	if _, err := s.store.Users().ByToken(ctx(c), store.ResetToken, hash, s.now()); errors.Is(err, store.ErrInvalidToken) {
		return errIncorrectCode
	} else if err != nil {
		return err
	}
	if err := checkNewPasswordLength(password); err != nil {
		return err
	}
	passwordHash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	user, err := s.store.Users().ConsumeToken(ctx(c), store.ResetToken, hash, s.now(), map[string]any{
		"password":           passwordHash,
		"tokens_valid_after": s.tokensValidAfter(),
	})
	if errors.Is(err, store.ErrInvalidToken) { // used or replaced meanwhile
		return errIncorrectCode
	}
	if err != nil {
		return err
	}
	return s.respondAfterPasswordChange(c, user) // ends every refresh session
}

// changePassword is POST /api/auth/change-password (spec §2.7), for an
// authenticated caller: {currentPassword, password, passwordConfirmation} →
// {jwt, user}. Every JWT of the user issued before this second is revoked
// and a pending reset code is dropped.
func (s *Server) changePassword(c *gin.Context) error {
	current, ok := CurrentUser(c)
	if !ok {
		return ApplicationError("You must be authenticated to reset your password")
	}
	b, err := readBody(c)
	if err != nil {
		return err
	}
	var v validator
	password := v.newPassword(b)
	currentPassword := v.requiredStr(b, "currentPassword")
	v.noUnknown(b, nil, "password", "passwordConfirmation", "currentPassword")
	if err := v.err(); err != nil {
		return err
	}
	user, err := s.store.Users().ByID(ctx(c), current.ID)
	if err != nil {
		return err
	}
	if user.Password == "" || bcrypt.CompareHashAndPassword([]byte(user.Password), []byte(currentPassword)) != nil {
		return ValidationError("The provided current password is invalid", nil)
	}
	if currentPassword == password {
		return ValidationError("Your new password must be different than your current password", nil)
	}
	if err := checkNewPasswordLength(password); err != nil {
		return err
	}
	passwordHash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	err = s.store.Users().Update(ctx(c), user.ID, map[string]any{
		"password":               passwordHash,
		"tokens_valid_after":     s.tokensValidAfter(),
		"reset_password_token":   nil,
		"reset_token_expires_at": nil,
		"updated_at":             s.now().UTC(),
	})
	if err != nil {
		return err
	}
	updated, err := s.store.Users().ByID(ctx(c), user.ID)
	if err != nil {
		return err
	}
	return s.respondAfterPasswordChange(c, updated) // ends every refresh session
}
