package pluginmgr

import (
	"errors"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/sdk"
)

// ErrNotFound: the provider is not configured or is disabled. Callers answer as if it
// did not exist.
var ErrNotFound = &host.Error{Code: host.ENOTFOUND, Type: "provider-not-found", Message: "provider not found"}

// ErrUnavailable: the provider is enabled but its plugin is not running (starting,
// restarting, failed, or stopped while the call was in flight). Retry later.
var ErrUnavailable = &host.Error{Code: host.EUNAVAILABLE, Type: "provider-unavailable", Message: "provider plugin unavailable"}

// ErrNotCalled is in the chain of a call's error when the call never reached the plugin:
// the provider was disabled, or its plugin not running (starting, restarting, failed,
// stopping) or refused as unresponsive before the call. Nothing was sent, nothing
// parsed: the caller may do it again without it counting against anything. A call the
// plugin died or hung in is ErrUnavailable without it (the plugin may have acted, or
// crashed on what it was given).
var ErrNotCalled = errors.New("the call did not reach the plugin")

// notCalled marks err as ErrNotCalled without changing its text.
type notCalled struct{ err error }

func (e notCalled) Error() string        { return e.err.Error() }
func (e notCalled) Unwrap() error        { return e.err }
func (e notCalled) Is(target error) bool { return target == ErrNotCalled }

// startError marks a start failure that retrying cannot fix (a sha256 mismatch, a
// missing binary, a Describe contradicting the config): the provider goes straight to
// failed until the next Reload.
type startError struct{ err error }

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// TypeAnswerRefused is the problem type of a call whose answer broke a cap in
// config.Plugins (a discovery of 30,000 devices, a megabyte device name): nothing of it
// was stored, and the message names the cap. 502: the provider's side answered badly, and
// the same request will be refused again until it answers otherwise.
const TypeAnswerRefused = "plugin-answer-refused"

// answerRefused turns a refusal (an sdk.Permanent from checkDevices) into the error the
// API answers with, keeping the refusal as its cause.
func answerRefused(provider string, refusal error) error {
	msg := refusal.Error()
	var se *sdk.Error
	if errors.As(refusal, &se) {
		msg = se.Message
	}
	return host.Wrap(host.EUPSTREAM, refusal, "%s: %s", provider, msg).WithType(TypeAnswerRefused)
}
