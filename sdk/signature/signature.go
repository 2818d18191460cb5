package signature

import (
	"errors"
	"net/http"
	"time"

	"github.com/poolhost/poolhost/sdk"
)

// Reasons a webhook is rejected. The returned errors also satisfy
// sdk.IsKind(err, sdk.KindRejected).
var (
	ErrMissingHeader   = errors.New("missing header")
	ErrMalformedHeader = errors.New("malformed header")
	ErrTimestamp       = errors.New("timestamp outside tolerance")
	ErrBadSignature    = errors.New("bad signature")
)

// reasons names each sentinel in the host's bounded set (sdk.Error.Reason).
var reasons = map[error]string{
	ErrMissingHeader:   sdk.ReasonMissingSignature,
	ErrMalformedHeader: sdk.ReasonMalformedSignature,
	ErrTimestamp:       sdk.ReasonStaleTimestamp,
	ErrBadSignature:    sdk.ReasonBadSignature,
}

// ErrMalformedSecret is returned by constructors for an empty or undecodable secret. It
// is a configuration error, not a rejection: check secrets in Configure.
var ErrMalformedSecret = errors.New("malformed secret")

// Verifier is what the three schemes have in common.
type Verifier interface {
	Verify(headers http.Header, body []byte) error
}

// VerifyRequest verifies req with v. Timestamped schemes check against req.ReceivedAt
// (the host's clock at receipt) when it is set.
func VerifyRequest(v Verifier, req sdk.WebhookRequest) error {
	if at, ok := v.(interface {
		VerifyAt(http.Header, []byte, time.Time) error
	}); ok && !req.ReceivedAt.IsZero() {
		return at.VerifyAt(req.Headers, req.Body, req.ReceivedAt)
	}
	return v.Verify(req.Headers, req.Body)
}

// rejection is an *sdk.Error of kind rejected that also wraps a reason sentinel, so both
// sdk.IsKind and errors.Is work on it. Only the sdk.Error crosses the plugin wire.
type rejection struct {
	kind   *sdk.Error
	reason error
}

func (r *rejection) Error() string   { return r.kind.Error() }
func (r *rejection) Unwrap() []error { return []error{r.kind, r.reason} }

// reject builds a rejection. detail must never contain secret material.
func reject(scheme string, reason error, detail string) error {
	msg := scheme + ": " + reason.Error()
	if detail != "" {
		msg += " " + detail
	}
	return &rejection{kind: &sdk.Error{Kind: sdk.KindRejected, Message: msg, Reason: reasons[reason]}, reason: reason}
}
