package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
)

// Email confirmation (spec §2.2 step 7, §2.8, §2.9), with Gatehouse's
// changes to Strapi: the token is 32 random bytes stored only as its
// SHA-256 hash, single-use, expiring after ConfirmationTokenTTL, replaced by
// each new one; send-email-confirmation answers {email, sent:true} for
// unknown, blocked and already confirmed addresses alike (Strapi answers 400
// "Already confirmed" and "User blocked", which tells who has an account),
// echoes the address as it was sent (Strapi echoes the stored, lower-cased
// one, which tells the same), and sends at most one mail per address per
// ResendInterval, silently.

// confirmationPath is where the confirmation link points, under PublicURL.
const confirmationPath = "/api/auth/email-confirmation"

// sendConfirmation issues a new confirmation token for the user, replacing
// any earlier one, and mails the link. With minInterval > 0 it returns
// store.ErrTooSoon, sending nothing, when a token was issued less than that
// ago. A mail that cannot be sent is a *deliveryError; the token then stays
// stored, and a retry is not held back by the resend limit.
func (s *Server) sendConfirmation(c context.Context, user store.User, minInterval time.Duration) error {
	templates, err := s.emailTemplates(c)
	if err != nil {
		return err
	}
	token, hash, err := store.NewToken()
	if err != nil {
		return err
	}
	expires, err := s.store.Users().IssueToken(c, store.ConfirmationToken, user.ID, hash, s.now(), s.confirmationTokenTTL(), minInterval)
	if err != nil {
		return err
	}
	msg, err := s.composeMail(templates, mail.KeyEmailConfirmation, user, mail.Vars{URL: s.cfg.PublicURL + confirmationPath, Code: token})
	if err == nil {
		err = s.deliverMail(c, msg)
	}
	if err != nil {
		s.releaseResendLimit(c, store.ConfirmationToken, user.ID, hash, expires)
		var de *deliveryError
		if !errors.As(err, &de) {
			err = &deliveryError{err: err}
		}
		return err
	}
	return nil
}

// afterRegisterWithConfirmation answers a registration while email
// confirmation is on: the confirmation mail is sent and the answer is
// {user} without a JWT. When the mail cannot be sent the answer is Strapi
// v5's 400 ApplicationError "Error sending confirmation email"; the user and
// the token stay stored (POST /api/auth/send-email-confirmation sends a new
// link).
func (s *Server) afterRegisterWithConfirmation(c *gin.Context, user store.User) error {
	err := s.sendConfirmation(ctx(c), user, 0)
	var de *deliveryError
	if errors.As(err, &de) {
		s.log.ErrorContext(ctx(c), "mail: could not send the confirmation email of a new user", "user", user.ID, "err", err)
		return &Error{Status: http.StatusBadRequest, Name: "ApplicationError", Message: "Error sending confirmation email", Err: err}
	}
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, gin.H{"user": newUserView(user, false)})
}

// emailConfirmation is GET /api/auth/email-confirmation?confirmation=<token>
// (spec §2.8): the user is confirmed, the token used up, and the answer is
// a 302 to email_confirmation_redirection (or /). An unknown, used,
// replaced or expired token is 400 ValidationError "Invalid token".
func (s *Server) emailConfirmation(c *gin.Context) error {
	confirmation := c.Query("confirmation")
	if confirmation == "" {
		var v validator
		v.add("confirmation", "confirmation is a required field", nil)
		return v.err()
	}
	_, err := s.store.Users().ConsumeToken(ctx(c), store.ConfirmationToken, store.HashToken(confirmation), s.now(),
		map[string]any{"confirmed": true})
	if errors.Is(err, store.ErrInvalidToken) {
		return ValidationError("Invalid token", nil)
	}
	if err != nil {
		return err
	}
	adv, err := s.store.Settings().Advanced(ctx(c))
	if err != nil {
		return err
	}
	target := "/"
	if r := adv.EmailConfirmationRedirection; r != nil && *r != "" {
		target = *r
	}
	c.Redirect(http.StatusFound, target)
	return nil
}

// sendEmailConfirmation is POST /api/auth/send-email-confirmation (spec
// §2.9): {email} → {email, sent:true}. A new link is mailed when the
// address belongs to an unconfirmed, unblocked account and no link was
// mailed to it within ResendInterval; the answer is the same in every case
// but a failed send (503 ServiceUnavailableError "Error sending
// confirmation email", within MailTimeout).
func (s *Server) sendEmailConfirmation(c *gin.Context) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	var v validator
	email := v.requiredEmail(b, "email")
	if err := v.err(); err != nil {
		return err
	}
	answer := gin.H{"email": email, "sent": true}
	user, found, err := s.userByEmail(ctx(c), email)
	if err != nil {
		return err
	}
	if !found || user.Blocked || user.Confirmed {
		return writeJSON(c, http.StatusOK, answer)
	}
	err = s.sendConfirmation(ctx(c), user, s.resendInterval())
	var de *deliveryError
	switch {
	case errors.Is(err, store.ErrTooSoon):
		s.log.InfoContext(ctx(c), "mail: confirmation email not sent: one was sent to this address less than the resend interval ago", "user", user.ID)
	case errors.As(err, &de):
		return &Error{Status: http.StatusServiceUnavailable, Name: "ServiceUnavailableError", Message: "Error sending confirmation email", Err: err}
	case err != nil:
		return err
	}
	return writeJSON(c, http.StatusOK, answer)
}
