package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/history"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/userquery"
	"github.com/gin-gonic/gin"
)

// Error is the one error type handlers return. It renders as Strapi's
// envelope {"data":null,"error":{"status","name","message","details"}}.
// Err, the cause, is logged and never sent.
type Error struct {
	Status  int
	Name    string
	Message string
	Details any
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Name, e.Message, e.Err)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Name, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// ValidationError is a 400 ValidationError.
func ValidationError(message string, details any) *Error {
	return &Error{Status: http.StatusBadRequest, Name: "ValidationError", Message: message, Details: details}
}

// ApplicationError is a 400 ApplicationError.
func ApplicationError(message string) *Error {
	return &Error{Status: http.StatusBadRequest, Name: "ApplicationError", Message: message}
}

// UnauthorizedError is a 401 UnauthorizedError.
func UnauthorizedError(message string) *Error {
	return &Error{Status: http.StatusUnauthorized, Name: "UnauthorizedError", Message: message}
}

// ForbiddenError is a 403 ForbiddenError "Forbidden".
func ForbiddenError() *Error {
	return &Error{Status: http.StatusForbidden, Name: "ForbiddenError", Message: "Forbidden"}
}

// NotFoundError is a 404 NotFoundError.
func NotFoundError(message string) *Error {
	return &Error{Status: http.StatusNotFound, Name: "NotFoundError", Message: message}
}

// ServiceUnavailableError is a 503 ServiceUnavailableError: a dependency
// (the database, Redis) cannot serve now; the client may try again. The
// cause is logged (rate-limited: one line per cause every errLogInterval), never sent.
func ServiceUnavailableError(message string, cause error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Name: "ServiceUnavailableError", Message: message, Err: cause}
}

// errLogInterval is how often one cause of 503s may be logged.
const errLogInterval = 10 * time.Second

// msgUnavailable is the message of a 503 caused by the database.
const msgUnavailable = "Service temporarily unavailable, please try again later"

// PreconditionFailedError is a 412 PreconditionFailedError: an If-Match
// (or an expected revision) no longer matches.
func PreconditionFailedError(message string, details any) *Error {
	return &Error{Status: http.StatusPreconditionFailed, Name: "PreconditionFailedError", Message: message, Details: details}
}

// UnsupportedMediaTypeError is a 415 UnsupportedMediaTypeError: the name
// http-errors (Strapi's ctx.throw) gives the status, as Strapi names
// BadRequestError and NotFoundError.
func UnsupportedMediaTypeError(message string) *Error {
	return &Error{Status: http.StatusUnsupportedMediaType, Name: "UnsupportedMediaTypeError", Message: message}
}

// SyntaxError is a 400 SyntaxError: a request body that is not JSON at all
// (Strapi's body parser throws JavaScript's SyntaxError, and Strapi renders
// its name).
func SyntaxError(message string) *Error {
	return &Error{Status: http.StatusBadRequest, Name: "SyntaxError", Message: message}
}

var (
	// errCrossSite refuses a browser request from a site that is neither
	// PUBLIC_URL's nor a CORS origin, on what reads or sets the refresh
	// cookie (origin.go).
	errCrossSite       = &Error{Status: http.StatusForbidden, Name: "ForbiddenError", Message: "Cross-site request refused"}
	errPayloadTooLarge = &Error{Status: http.StatusRequestEntityTooLarge, Name: "PayloadTooLargeError", Message: "Entity too large"}
	errRateLimited     = &Error{Status: http.StatusTooManyRequests, Name: "RateLimitError", Message: "Too many requests, please try again later."}
	errNoRoute         = &Error{Status: http.StatusNotFound, Name: "NotFoundError", Message: "Not Found"}
	errNoMethod        = &Error{Status: http.StatusMethodNotAllowed, Name: "MethodNotAllowedError", Message: "Method Not Allowed"}
)

// asError maps any error to the Error to render: errors.As on *Error, sentinel
// errors of the leaves by errors.Is, the database being unavailable
// (store.Unavailable: down, unreachable, past DB_TIMEOUT, disk full or
// read-only) a 503 even when a handler wrapped it in a 500, anything else a
// 500 whose cause is kept for the log only.
func asError(err error) *Error {
	var e *Error
	var tooLarge *http.MaxBytesError
	var refusal *guard.Refusal
	var invalidKey *userquery.InvalidKeyError
	var badQuery *userquery.QueryError
	var stale *policy.StaleError
	isError := errors.As(err, &e)
	switch {
	case isError && e.Status != http.StatusInternalServerError:
		return e
	case unavailable(err):
		return ServiceUnavailableError(msgUnavailable, err)
	case isError:
		return e
	case errors.As(err, &refusal):
		return &Error{Status: refusal.Status, Name: refusal.Name, Message: refusal.Message, Err: refusal.Err}
	case errors.As(err, &tooLarge):
		return errPayloadTooLarge
	case errors.As(err, &invalidKey):
		return &Error{Status: http.StatusBadRequest, Name: "ValidationError", Message: invalidKey.Error(),
			Details: gin.H{"key": invalidKey.Key, "path": invalidKey.Path}, Err: err}
	case errors.As(err, &badQuery):
		return &Error{Status: http.StatusBadRequest, Name: "ValidationError", Message: badQuery.Error(), Err: err}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Name: "NotFoundError", Message: "Not Found", Err: err}
	case errors.As(err, &stale):
		return PreconditionFailedError(fmt.Sprintf("The policy changed: revision %d expected, the stored policy is at revision %d", stale.Expected, stale.Current),
			gin.H{"expected": stale.Expected, "current": stale.Current})
	case errors.Is(err, history.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Name: "NotFoundError", Message: "No policy history entry at this revision", Err: err}
	case errors.Is(err, history.ErrPruned):
		return &Error{Status: http.StatusNotFound, Name: "NotFoundError", Message: "This revision is older than the policy history kept", Err: err}
	case errors.Is(err, store.ErrConflict):
		return &Error{Status: http.StatusBadRequest, Name: "ApplicationError", Message: "This attribute must be unique", Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Name: "InternalServerError", Message: "Internal Server Error", Err: err}
}

// unavailable reports whether err says a dependency cannot serve now.
func unavailable(err error) bool {
	_, ok := store.Unavailable(err)
	return ok
}

// writeError renders err in the envelope and logs server-side causes; the
// causes of 503s are logged at most once per errLogInterval each, with
// the number of requests that failed the same way meanwhile.
func (s *Server) writeError(c *gin.Context, err error) {
	e := asError(err)
	if e.Status == http.StatusServiceUnavailable {
		if e.Err != nil {
			cause, _ := store.Unavailable(err)
			if log, suppressed := s.errLog.Allow(e.Message + ": " + cause); log {
				s.log.ErrorContext(c.Request.Context(), "request failed: unavailable", "cause", cause,
					"requestId", c.Writer.Header().Get(RequestIDHeader), "method", c.Request.Method,
					"path", c.Request.URL.Path, "err", err, "suppressedSinceLast", suppressed)
			}
		}
	} else if e.Status >= 500 {
		s.log.ErrorContext(c.Request.Context(), "request failed", "requestId", c.Writer.Header().Get(RequestIDHeader),
			"method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
	} else if e.Err != nil {
		s.log.DebugContext(c.Request.Context(), "request refused", "status", e.Status, "err", e.Err)
	}
	if refusal, ok := errors.AsType[*guard.Refusal](err); ok && refusal.DeniedBy != "" {
		c.Header("X-Gatehouse-Denied-By", refusal.DeniedBy)
	}
	details := e.Details
	if details == nil {
		details = gin.H{}
	}
	c.AbortWithStatusJSON(e.Status, guard.Envelope{Error: guard.EnvelopeError{Status: e.Status, Name: e.Name, Message: e.Message, Details: details}})
}
