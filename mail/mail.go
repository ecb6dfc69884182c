// Package mail builds and delivers Gatehouse's transactional email: the
// password-reset and email-confirmation messages of Strapi's Users &
// Permissions plugin.
//
// It holds the Strapi-compatible template store types and their defaults
// (Templates, DefaultTemplates), a safe renderer for Strapi's `<%= KEY %>`
// syntax that substitutes values and never evaluates anything (Render,
// Compose, ValidateTemplate; see CVE-2023-22621), an SMTP sender built on
// go-mail (SMTP) and an in-memory sender for development and tests (Outbox).
//
// Consumers declare the interface they need, for example
//
//	type Mailer interface {
//		Send(ctx context.Context, m mail.Message) error
//	}
//
// which both *SMTP and *Outbox satisfy.
package mail

import "strings"

// Message is one email ready to send.
//
// From and ReplyTo may be a plain address ("a@example.com") or a name and an
// address ("Support <a@example.com>"). To is one address or a comma-separated
// address list. Text is the text/plain part, HTML the text/html part; when
// both are set the message is sent as multipart/alternative.
type Message struct {
	To      string
	From    string
	ReplyTo string
	Subject string
	Text    string
	HTML    string
}

// headerSafe replaces every ASCII control character (CR and LF included)
// with a space, so that a value can never start a new header line.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
