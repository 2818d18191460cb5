package sdk

import (
	"errors"
	"fmt"
)

// ErrorKind tells the host what to do about a failed call.
type ErrorKind int

const (
	// KindTemporary: try again later (upstream down, timeout, quota). The default for
	// any error that is not an *Error.
	KindTemporary ErrorKind = iota
	// KindPermanent: the input can never succeed (malformed payload); do not retry.
	KindPermanent
	// KindReauth: the provider rejected the account's credentials; the user must
	// reconnect.
	KindReauth
	// KindUnsupported: the plugin does not offer this call.
	KindUnsupported
	// KindRejected: a webhook's signature or authentication is missing or wrong.
	KindRejected
	// KindInvalidInput: the user's input (an API key, a callback code) is not valid.
	KindInvalidInput
)

func (k ErrorKind) String() string {
	switch k {
	case KindTemporary:
		return "temporary"
	case KindPermanent:
		return "permanent"
	case KindReauth:
		return "reauth_required"
	case KindUnsupported:
		return "unsupported"
	case KindRejected:
		return "rejected"
	case KindInvalidInput:
		return "invalid_input"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is an error the host can act on. Message is shown to operators and may reach
// users: never put secrets or tokens in it.
type Error struct {
	Kind    ErrorKind
	Message string
	// Reason says, for KindRejected, why in one word from the bounded set below; the host
	// counts rejections by it (poolhost_webhook_rejections_total) and logs it with the
	// request id. Empty: "other". sdk/signature sets it for you.
	Reason string
}

// Why a webhook was rejected: the bounded set of Error.Reason. Any other value is
// counted as ReasonOther.
const (
	ReasonMissingSignature   = "missing_signature"   // no signature (or timestamp) header at all
	ReasonMalformedSignature = "malformed_signature" // a header the scheme cannot read
	ReasonBadSignature       = "bad_signature"       // read, but it does not match
	ReasonStaleTimestamp     = "stale_timestamp"     // signed too long ago, or in the future
	ReasonUnknownAccount     = "unknown_account"     // the URL names no account of this provider (host only)
	ReasonOther              = "other"
)

// RejectedBecause is Rejected with a Reason.
func RejectedBecause(reason, format string, args ...any) error {
	return &Error{Kind: KindRejected, Message: fmt.Sprintf(format, args...), Reason: reason}
}

// RejectReason is the Reason of err's first *Error, folded into the bounded set.
func RejectReason(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return ReasonOther
	}
	switch e.Reason {
	case ReasonMissingSignature, ReasonMalformedSignature, ReasonBadSignature, ReasonStaleTimestamp, ReasonUnknownAccount:
		return e.Reason
	}
	return ReasonOther
}

func (e *Error) Error() string { return e.Kind.String() + ": " + e.Message }

// Errorf builds an *Error of the given kind.
func Errorf(kind ErrorKind, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Permanent, Temporary, Reauth, Rejected, InvalidInput and Unsupported are shorthands.
func Permanent(format string, args ...any) error    { return Errorf(KindPermanent, format, args...) }
func Temporary(format string, args ...any) error    { return Errorf(KindTemporary, format, args...) }
func Reauth(format string, args ...any) error       { return Errorf(KindReauth, format, args...) }
func Rejected(format string, args ...any) error     { return Errorf(KindRejected, format, args...) }
func InvalidInput(format string, args ...any) error { return Errorf(KindInvalidInput, format, args...) }
func Unsupported(what string) error                 { return Errorf(KindUnsupported, "%s not supported", what) }

// KindOf reports the kind of err: the Kind of the first *Error in its chain, otherwise
// KindTemporary (an unexplained failure is worth retrying).
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindTemporary
}

// IsKind reports whether err is an *Error of kind k.
func IsKind(err error, k ErrorKind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}

// WithRefreshedCredentials returns err carrying credentials the call refreshed before it
// failed. An adapter that refreshed an account's tokens and then could not finish (the
// next upstream request got a 503 or hit a quota) must return them this way: with
// rotating refresh tokens the old ones are already revoked, and an error that dropped
// the new ones would lock the account out. The host stores them exactly as it stores
// RefreshedCredentials from a successful result, then handles the error as usual.
//
// err keeps its kind, message and chain (KindOf, IsKind and errors.Is/As see through
// the wrapper). A nil err returns nil (put the credentials in the result instead); nil
// credentials return err unchanged.
func WithRefreshedCredentials(err error, c Credentials) error {
	if err == nil || c == nil {
		return err
	}
	return &refreshedError{err: err, creds: c}
}

// RefreshedCredentialsOf reports the credentials attached to err by
// WithRefreshedCredentials, anywhere in its chain.
func RefreshedCredentialsOf(err error) (Credentials, bool) {
	var r *refreshedError
	if errors.As(err, &r) {
		return r.creds, true
	}
	return nil, false
}

// refreshedError is unexported so the only ways in and out are the two functions
// above; its text is err's, so wrapping changes nothing an operator sees (and never
// shows the credentials).
type refreshedError struct {
	err   error
	creds Credentials
}

func (e *refreshedError) Error() string { return e.err.Error() }
func (e *refreshedError) Unwrap() error { return e.err }

// WithNextCursor returns a failed poll's err carrying the cursor the next poll is to
// start from, for an adapter whose cursor keeps more than what it has returned: a
// per-user quota's ledger of the requests spent. A poll that spent requests and then
// failed (the fifth pool's measures answered 503) has to say so, or the next poll starts
// from the cursor before it, believes the requests unspent, and goes over the quota. The
// host stores the cursor with the failure (its backoff and Retry-After as usual), so
// make it the request's cursor with only the spending added: nothing of what the failed
// poll read, which it does not hand over, may be marked as returned.
//
// Like WithRefreshedCredentials, err keeps its kind, message and chain; a nil err
// returns nil (a result's NextCursor says it then). The cursor may be "" (start afresh).
// Only PollReadings' errors are read for it; the host ignores it on any other call.
func WithNextCursor(err error, cursor string) error {
	if err == nil {
		return nil
	}
	return &cursorError{err: err, cursor: cursor}
}

// NextCursorOf reports the cursor attached to err by WithNextCursor, anywhere in its
// chain.
func NextCursorOf(err error) (string, bool) {
	var c *cursorError
	if errors.As(err, &c) {
		return c.cursor, true
	}
	return "", false
}

// cursorError is unexported for the same reason as refreshedError; its text is err's.
type cursorError struct {
	err    error
	cursor string
}

func (e *cursorError) Error() string { return e.err.Error() }
func (e *cursorError) Unwrap() error { return e.err }
