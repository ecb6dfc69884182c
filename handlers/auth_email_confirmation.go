package handlers

import (
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
)

// Email confirmation (spec §2.2 step 7, §2.8, §2.9), with Gatehouse's
// changes to Strapi: the confirmation mail is queued (mail_queue.go), so
// register and send-email-confirmation answer alike whether the mail can be
// sent now or only after an SMTP outage; the token is 32 random bytes
// stored only as its SHA-256 hash, single-use, expiring after
// ConfirmationTokenTTL, replaced by each new one and issued when the mail
// is sent; send-email-confirmation answers {email, sent:true} for unknown,
// blocked and already confirmed addresses alike, after the same work (Strapi
// answers 400 "Already confirmed" and "User blocked", which tells who has
// an account), echoes the address as it was sent (Strapi echoes the stored,
// lower-cased one, which tells the same), and sends at most one mail per
// address per ResendInterval, silently.

// confirmationPath is where the confirmation link points, under PublicURL.
const confirmationPath = "/api/auth/email-confirmation"

// afterRegisterWithConfirmation answers a registration while email
// confirmation is on: the confirmation mail is queued and the answer is
// {user} without a JWT. (Strapi v5 answers 400 "Error sending confirmation
// email" when its mail fails; here a failing SMTP server delays the mail.)
func (s *Server) afterRegisterWithConfirmation(c *gin.Context, user store.User) error {
	if err := s.queueMail(ctx(c), store.MailEmailConfirmation, user.Email, false); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, gin.H{"user": userJSON(user, false)})
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
// §2.9): {email} → {email, sent:true}, in every case. The mail is queued;
// the queue's worker sends a new link when the address belongs to an
// unconfirmed, unblocked account and no link was mailed to it within
// ResendInterval.
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
	if err := s.queueMail(ctx(c), store.MailEmailConfirmation, email, true); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, gin.H{"email": email, "sent": true})
}
