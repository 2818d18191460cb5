package webhook

import (
	"errors"

	"github.com/poolhost/poolhost/host"
)

// Errors the pipeline answers with. Each is a *host.Error; nothing about the cause
// reaches the sender.
var (
	// The same words whichever it is (README: "unknown, or disabled by the operator"),
	// so they tell a sender nothing about which ids exist.
	ErrProviderNotFound = &host.Error{Code: host.ENOTFOUND, Type: "provider-not-found", Message: "provider not found: unknown, disabled by the operator, or not taking webhooks"}
	ErrAccountNotFound  = &host.Error{Code: host.ENOTFOUND, Type: "account-not-found", Message: "account not found"}
	ErrRejected         = &host.Error{Code: host.EUNAUTHORIZED, Type: "webhook-rejected", Message: "webhook authentication (signature or shared secret) missing or invalid; the host's log gives the reason under this request_id"}
	ErrUnavailable      = &host.Error{Code: host.EUNAVAILABLE, Type: "webhook-unavailable", Message: "the delivery could not be accepted now; retry later"}
	ErrTooMany          = &host.Error{Code: host.ETOOMANY, Type: "webhook-rate-limited", Message: "too many deliveries for this account; retry after the Retry-After seconds"}
)

// Rejection is the error of a rejected delivery. The sender hears ErrRejected, which it
// unwraps to; Reason (a bounded code such as bad_signature) is for the request's own log
// line, so every rejection's log says why, however many the audit rate-limits away.
type Rejection struct{ Reason string }

func (r *Rejection) Error() string { return ErrRejected.Error() }

func (r *Rejection) Unwrap() error { return ErrRejected }

// RejectReason returns the reason code of a rejected delivery's error, or "".
func RejectReason(err error) string {
	var r *Rejection
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}

// errNoSuchAccount is the audited reason of a delivery to an account-scoped URL whose
// account does not exist (for this provider); the sender hears ErrRejected.
var errNoSuchAccount = errors.New("no live account of this provider has this id")
