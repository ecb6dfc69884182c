package providers

import "errors"

// Sentinels a caller maps to HTTP responses with errors.Is. Every error this
// package returns for one of these reasons wraps the sentinel, usually through
// an *Error that also carries the message Strapi shows for it.
var (
	// ErrUnknownProvider: no provider of that name is registered
	// (Strapi: "Unknown auth provider").
	ErrUnknownProvider = errors.New("providers: unknown provider")

	// ErrMisconfigured: the stored settings cannot work (no key, no
	// subdomain, no JWKS URL, an endpoint that is not an absolute URL).
	ErrMisconfigured = errors.New("providers: provider is misconfigured")

	// ErrExchange: the provider's token endpoint refused the code or could
	// not be reached.
	ErrExchange = errors.New("providers: token exchange failed")

	// ErrUpstream: a profile request to the provider failed or returned
	// something unusable.
	ErrUpstream = errors.New("providers: provider request failed")

	// ErrInvalidToken: the access token or id_token is missing, malformed or
	// fails verification (signature, algorithm, issuer, audience, expiry).
	ErrInvalidToken = errors.New("providers: invalid token")

	// ErrEmailNotVerified: the provider did not vouch for the email address
	// (Strapi 5.53: "Email not verified by <Provider>").
	ErrEmailNotVerified = errors.New("providers: email not verified")

	// ErrNoEmail: the profile has no email (Strapi: "Email was not available.").
	ErrNoEmail = errors.New("providers: email not available")

	// ErrInvalidCallback: a front-end callback URL was refused
	// (CVE-2024-34065; Strapi: "Invalid callback URL provided").
	ErrInvalidCallback = errors.New("providers: invalid callback")

	// ErrStateMismatch: the OAuth2 state is missing or differs from the one
	// stored in the session (Strapi: "OAuth2 state mismatch").
	ErrStateMismatch = errors.New("providers: oauth2 state mismatch")
)

// Error is a failure that carries, next to its sentinel, the message Strapi
// shows the client for it. Message never contains a secret or a token; Err
// is the cause, for logs only.
//
// A handler renders it with:
//
//	var pe *providers.Error
//	if errors.As(err, &pe) { msg = pe.Message }
type Error struct {
	Kind    error  // one of the Err* sentinels
	Message string // client-facing text, worded as Strapi words it
	Err     error  // underlying cause, may be nil
}

// Error returns the client message followed by the cause, if any.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap exposes both the sentinel and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

func notVerified(display string) error {
	return &Error{Kind: ErrEmailNotVerified, Message: "Email not verified by " + display}
}

func noEmail() error {
	return &Error{Kind: ErrNoEmail, Message: "Email was not available."}
}

func misconfigured(msg string) error {
	return &Error{Kind: ErrMisconfigured, Message: msg}
}
