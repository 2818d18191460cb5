package host

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status and one problem type in httpapi, and to one
// exit status in the CLI; nowhere else decides.
const (
	EINVALID      = "invalid"      // the request is malformed or a value is out of range
	ENOTFOUND     = "not_found"    // no such thing, or not one the caller may know exists
	ECONFLICT     = "conflict"     // the thing exists already or changed underneath
	EUNAUTHORIZED = "unauthorized" // no valid credentials
	EFORBIDDEN    = "forbidden"    // authenticated, known to exist, not allowed
	EUNAVAILABLE  = "unavailable"  // a dependency (plugin, database) is down; retry later
	ETOOLARGE     = "too_large"    // the body exceeds its limit
	ETOOMANY      = "too_many"     // a rate limit is exceeded; retry later
	EUPSTREAM     = "upstream"     // a provider's plugin answered what the host refuses to store
	// EUNPROCESSABLE: well formed, but it contradicts an earlier request (an
	// Idempotency-Key reused with another body).
	EUNPROCESSABLE = "unprocessable"
	EINTERNAL      = "internal" // a bug or an unexpected failure; details only in logs
)

// Error is an error a caller can act on. Message is safe to show to the client; Type, when
// set, refines Code into a stable problem type (e.g. "provider-in-pilot"). Err keeps the
// cause for logs and errors.Is, and is never shown.
type Error struct {
	Code    string
	Type    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a client-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithType sets the stable problem type and returns e.
func (e *Error) WithType(t string) *Error { e.Type = t; return e }

// Wrap returns an *Error with the given code and message that keeps err as its cause.
func Wrap(code string, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL otherwise.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err: an *Error's Message, otherwise a
// generic text, because anything else may carry SQL, paths or secrets.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorType returns the stable problem type of err, or "" when it has none.
func ErrorType(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Type
	}
	return ""
}

// ErrDegraded marks a readiness check whose failure leaves the host serving: /readyz
// says "degraded" and still answers 200, because taking the host out of rotation would
// not help (a failed provider is failed on every replica) and would stop every other
// provider too.
var ErrDegraded = errors.New("degraded")
