package subjects

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// Error is the error that crosses the wire. A handler returns it; the transport sends Code and
// Message in the micro error headers and the whole Error as the body; Call turns it back into
// *Error so that errors.As works across processes. Code is the HTTP status the error means.
type Error struct {
	// Code is the HTTP status this error means: 400, 401, 403, 404, 409, 422, 429, 503, …
	Code int `json:"code"`
	// Slug is a stable machine-readable kind, such as "email_taken" or "validation".
	Slug string `json:"slug"`
	// Message is the human explanation. For 5xx it is masked at the public edge.
	Message string `json:"message"`
	// Fields lists per-field problems of a validation failure.
	Fields []FieldError `json:"fields,omitempty"`
	// RetryAfter, in seconds, accompanies a 429 or 503 when the caller should wait.
	RetryAfter int `json:"retry_after,omitempty"`
}

// FieldError names one invalid field of a request.
type FieldError struct {
	// Field is the JSON name (dotted path for nested fields) of the invalid input.
	Field string `json:"field" required:"true"`
	// Message says what is wrong with it.
	Message string `json:"message" required:"true"`
}

// Error implements error.
func (e *Error) Error() string {
	return strconv.Itoa(e.Code) + " " + e.Slug + ": " + e.Message
}

// Is reports whether target is an *Error with the same code and slug, so that sentinels such
// as ErrUnauthorized match with errors.Is.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code && (t.Slug == "" || t.Slug == e.Slug)
}

// Sentinels for errors.Is. Their slugs are empty, so they match any error of their code.
var (
	ErrBadRequest   = &Error{Code: http.StatusBadRequest}
	ErrUnauthorized = &Error{Code: http.StatusUnauthorized}
	ErrForbidden    = &Error{Code: http.StatusForbidden}
	ErrNotFound     = &Error{Code: http.StatusNotFound}
	ErrConflict     = &Error{Code: http.StatusConflict}
	ErrUnprocessed  = &Error{Code: http.StatusUnprocessableEntity}
	ErrUnavailable  = &Error{Code: http.StatusServiceUnavailable}
	ErrTimeout      = &Error{Code: http.StatusGatewayTimeout}
)

// BadRequest is a 400 about one field (or none, when field is empty).
func BadRequest(field, message string) *Error {
	e := &Error{Code: http.StatusBadRequest, Slug: "validation", Message: message}
	if field != "" {
		e.Fields = []FieldError{{Field: field, Message: message}}
	}
	return e
}

// Invalid is a 400 listing every invalid field; nil when fields is empty, so that
// `if err := subjects.Invalid(fe); err != nil` reads naturally.
func Invalid(fields []FieldError) error {
	if len(fields) == 0 {
		return nil
	}
	msg := fields[0].Field + ": " + fields[0].Message
	if len(fields) > 1 {
		msg += " (and " + strconv.Itoa(len(fields)-1) + " more)"
	}
	return &Error{Code: http.StatusBadRequest, Slug: "validation", Message: msg, Fields: fields}
}

// Errorf builds an *Error with a code and slug.
func Errorf(code int, slug, message string) *Error {
	return &Error{Code: code, Slug: slug, Message: message}
}

// Internal is the error sent for anything unexpected; its message never reveals the cause.
func Internal() *Error {
	return &Error{Code: http.StatusInternalServerError, Slug: "internal", Message: "internal error"}
}

// Encode returns the wire form of err: code, description and body.
func (e *Error) Encode() (code, description string, body []byte) {
	body, _ = json.Marshal(e)
	desc := e.Message
	if desc == "" {
		desc = http.StatusText(e.Code)
	}
	return strconv.Itoa(e.Code), desc, body
}

func decodeError(code, description string, body []byte) *Error {
	var e Error
	if len(body) > 0 && json.Unmarshal(body, &e) == nil && e.Code != 0 {
		return &e
	}
	// A non-Souk micro service, or a body we cannot read: keep what the headers say.
	n, err := strconv.Atoi(code)
	if err != nil || n < 400 || n > 599 {
		n = http.StatusBadGateway
	}
	return &Error{Code: n, Slug: "remote", Message: description}
}
