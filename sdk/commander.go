package sdk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/poolhost/poolhost/sdk/command"
)

// Commander is implemented by adapters that can send write/control commands to devices.
// It is optional: the host only calls it for providers whose description sets
// Capabilities.Write and lists the command in Capabilities.Commands, whose operator set
// access = "read-write" and approved the command, and for users allowed to command the
// pool. Params arrive validated and normalized by [command.Validate], through
// [DecodeCommandParams] (in-process under sdktest.Direct too).
//
// A command actuates equipment, so the host sends it at most once. What SendCommand
// returns decides what the host may do next:
//   - a result: the provider accepted the command (Status sent, delivered or succeeded);
//   - an *Error of kind [KindPermanent], [KindTemporary] or [KindReauth]: the provider
//     certainly did NOT accept it (a 4xx, a 429, a refused key). The host fails the
//     command, or for KindTemporary tries again before its expiry (see [RetryAfter]);
//   - an error wrapping [ErrOutcomeUnknown] (or a panic, a crash, a missed deadline):
//     the request may have reached the provider. The host marks the command unknown
//     and never resends it; the user decides.
//
// When in doubt, return ErrOutcomeUnknown: a pump switched twice is worse than a user
// asked to look.
type Commander interface {
	SendCommand(ctx context.Context, req CommandRequest) (CommandResult, error)
}

// CommandRequest is one validated command for one device.
type CommandRequest struct {
	Account          Account
	ProviderDeviceID string
	// Channel is the relay or output of a multi-channel device; "" for the whole device.
	Channel string
	// Command is a name of sdk/command, e.g. command.PumpSet.
	Command string
	// Params are the command's parameters. An adapter receives them as
	// [DecodeCommandParams] returns them: bool, float64 in the parameter's canonical
	// unit, or an enumeration's string.
	Params command.Params
	// CommandID is the host's id for the command: put it where the provider echoes it
	// back (a correlation id) so a later [CommandUpdate] can name it.
	CommandID string
	// ExpiresAt is when the command stops being wanted; tell the provider when it can
	// honour it.
	ExpiresAt time.Time
}

// CommandStatus is how far a command got.
type CommandStatus string

const (
	CommandSent      CommandStatus = "sent"      // the provider accepted it
	CommandDelivered CommandStatus = "delivered" // it reached the device
	CommandSucceeded CommandStatus = "succeeded" // the device confirmed it
	CommandFailed    CommandStatus = "failed"    // only in a CommandUpdate
)

// CommandResult is a command the provider accepted.
type CommandResult struct {
	// Status is CommandSent, CommandDelivered or CommandSucceeded; empty means sent.
	Status CommandStatus
	// ProviderRef is the provider's id for the command, when it has one.
	ProviderRef          string
	RefreshedCredentials Credentials
}

// CommandUpdate is a provider's later word on a command the host sent, carried by a
// webhook or poll result. It names the command by CommandID or ProviderRef; the host
// applies it only to commands of the account that authenticated the payload, and only
// forward (a delivered command never goes back to sent).
type CommandUpdate struct {
	CommandID   string
	ProviderRef string
	// Status is CommandDelivered, CommandSucceeded or CommandFailed.
	Status CommandStatus
	// Reason says why it failed; never secrets.
	Reason string
}

// Skipped says why the host applies nothing of u, or is nil when it applies u: u must
// name its command (CommandID, or the ProviderRef its CommandResult gave) and carry
// CommandDelivered, CommandSucceeded or CommandFailed. The host skips any other update
// without a word (the command stays as it was), so sdktest fails an answer carrying one:
// both ask this.
func (u CommandUpdate) Skipped() error {
	if u.CommandID == "" && u.ProviderRef == "" {
		return errors.New("names no command: set CommandID (the CommandRequest's) or ProviderRef (the CommandResult's)")
	}
	switch u.Status {
	case CommandDelivered, CommandSucceeded, CommandFailed:
		return nil
	}
	return fmt.Errorf("status %q is not delivered, succeeded or failed", u.Status)
}

// ErrOutcomeUnknown says a command may or may not have reached the provider (the
// request was written and no answer came back). Wrap it:
// fmt.Errorf("%w: push timed out", sdk.ErrOutcomeUnknown).
var ErrOutcomeUnknown = errors.New("command outcome unknown")

// RetryAfterError is a temporary refusal with the provider's Retry-After.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter returns a [KindTemporary] error saying the provider refused for now and
// named when to come back (an HTTP 429's or 503's Retry-After). From SendCommand the host
// tries the command again no sooner; from PollReadings it polls the account again no
// sooner (bounded by its own maximum backoff).
func RetryAfter(after time.Duration, format string, args ...any) error {
	return &RetryAfterError{Err: Temporary(format, args...), After: after}
}

// RetryAfterOf returns the delay a RetryAfterError in err's chain names, or 0.
func RetryAfterOf(err error) time.Duration {
	// errors.AsType, not errors.As: As's target escapes, an allocation for every error
	// the host answers (TestWebhookRouteAllocs counts them).
	if ra, ok := errors.AsType[*RetryAfterError](err); ok {
		return ra.After
	}
	return 0
}

// IsOutcomeUnknown reports whether err means the command may have reached the provider.
func IsOutcomeUnknown(err error) bool { return errors.Is(err, ErrOutcomeUnknown) }

// CommandRefusal checks that err, returned by SendCommand, is one the host can act on as
// "not sent": an *Error of kind permanent, temporary or reauth that does not wrap
// ErrOutcomeUnknown. Anything else the host treats as unknown.
func CommandRefusal(err error) (ErrorKind, bool) {
	if err == nil || IsOutcomeUnknown(err) {
		return 0, false
	}
	var e *Error
	if !errors.As(err, &e) {
		return 0, false
	}
	switch e.Kind {
	case KindPermanent, KindTemporary, KindReauth:
		return e.Kind, true
	}
	return 0, false
}

func unknownOutcome(call string, err error) error {
	return fmt.Errorf("%s: %w: %w", call, ErrOutcomeUnknown, err)
}
