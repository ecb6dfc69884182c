package guard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Refusal is a request the guard turns away: 401 or 403, with Strapi's
// error name and message. Err, the cause, is for logs and never sent.
// Gatehouse's handlers map it to their own error type; WriteError renders it
// for an app.
type Refusal struct {
	Status  int
	Name    string
	Message string
	// AllowWith is, on a denial by the policy, the row that would allow
	// the request (for logs).
	AllowWith string
	// DeniedBy, with Config.ExplainDenials, is the X-Gatehouse-Denied-By
	// header of a 403.
	DeniedBy string
	Err      error
}

func (r *Refusal) Error() string {
	if r.Err != nil {
		return fmt.Sprintf("%d %s: %s: %v", r.Status, r.Name, r.Message, r.Err)
	}
	return fmt.Sprintf("%d %s: %s", r.Status, r.Name, r.Message)
}

func (r *Refusal) Unwrap() error { return r.Err }

// Envelope is Strapi's error body: {"data":null,"error":{status, name,
// message, details}}.
type Envelope struct {
	Data  any           `json:"data"`
	Error EnvelopeError `json:"error"`
}

// EnvelopeError is the error member of Envelope.
type EnvelopeError struct {
	Status  int    `json:"status"`
	Name    string `json:"name"`
	Message string `json:"message"`
	Details any    `json:"details"`
}

// WriteError answers a request the guard refused (or could not decide) in
// Strapi's error envelope: a Refusal with its status, anything else (the
// database failed) as a 500 whose cause is not sent.
func WriteError(w http.ResponseWriter, err error) {
	status, name, message := http.StatusInternalServerError, "InternalServerError", "Internal Server Error"
	var r *Refusal
	if errors.As(err, &r) {
		status, name, message = r.Status, r.Name, r.Message
		if r.DeniedBy != "" {
			w.Header().Set("X-Gatehouse-Denied-By", r.DeniedBy)
		}
	}
	body, _ := json.Marshal(Envelope{Error: EnvelopeError{Status: status, Name: name, Message: message, Details: struct{}{}}})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}
