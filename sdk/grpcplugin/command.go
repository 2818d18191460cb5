package grpcplugin

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/poolhost/poolhost/sdk"
	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
	"github.com/poolhost/poolhost/sdk/internal/convert"
)

// SendCommand sends one command. Its errors follow sdk.Commander: a refusal the plugin
// was sure of comes back as an *sdk.Error (permanent, temporary with an optional
// sdk.RetryAfterOf, or reauth), with refreshed credentials attached when the plugin
// returned some; every failed call (a crash, a deadline, a transport error) wraps
// sdk.ErrOutcomeUnknown, because the plugin may have reached the provider before it
// failed. Only UNIMPLEMENTED is a plain unsupported error: nothing was sent.
func (c *Client) SendCommand(ctx context.Context, req sdk.CommandRequest) (sdk.CommandResult, error) {
	msg, err := commandRequestToProto(req)
	if err != nil {
		return sdk.CommandResult{}, err
	}
	res, err := c.rpc.SendCommand(ctx, msg)
	if err != nil {
		if status.Code(err) == codes.Unimplemented {
			return sdk.CommandResult{}, fromStatus(ctx, "send command", err)
		}
		return sdk.CommandResult{}, outcomeUnknown(fromStatus(ctx, "send command", err))
	}
	if e := res.GetError(); e != nil {
		refusal := errorFromProto(e)
		if _, ok := sdk.CommandRefusal(refusal); !ok {
			// A kind SendCommand may not report in-band (a plugin in another language
			// that got it wrong): whether the command was sent is not known.
			return sdk.CommandResult{}, fmt.Errorf("send command: %w: %w", sdk.ErrOutcomeUnknown, refusal)
		}
		if d := res.GetRetryAfter(); d != nil && d.AsDuration() > 0 {
			refusal = &sdk.RetryAfterError{Err: refusal, After: min(d.AsDuration(), maxRetryDelay)}
		}
		return sdk.CommandResult{}, sdk.WithRefreshedCredentials(refusal, sdk.Credentials(convert.CredentialsFromProto(res.GetRefreshedCredentials())))
	}
	return commandResultFromProto(res), nil
}

// commandRequestToProto is req as the host sends it; an error (params that do not
// encode) is permanent: nothing was sent.
func commandRequestToProto(req sdk.CommandRequest) (*pb.SendCommandRequest, error) {
	params, err := sdk.EncodeCommandParams(req.Params)
	if err != nil {
		return nil, err
	}
	return &pb.SendCommandRequest{
		Account:          accountToProto(req.Account),
		ProviderDeviceId: req.ProviderDeviceID,
		Channel:          req.Channel,
		Command:          req.Command,
		ParamsJson:       params,
		CommandId:        req.CommandID,
		ExpiresAt:        convert.TimeToProto(req.ExpiresAt),
	}, nil
}

// commandResultFromProto is the result of a SendCommand the plugin accepted (no error
// in res).
func commandResultFromProto(res *pb.SendCommandResponse) sdk.CommandResult {
	st := sdk.CommandStatus(res.GetStatus())
	switch st {
	case sdk.CommandSent, sdk.CommandDelivered, sdk.CommandSucceeded:
	default:
		// The call succeeded, so the provider accepted the command: "sent" is the least
		// it can be.
		st = sdk.CommandSent
	}
	return sdk.CommandResult{
		Status:               st,
		ProviderRef:          res.GetProviderReference(),
		RefreshedCredentials: sdk.Credentials(convert.CredentialsFromProto(res.GetRefreshedCredentials())),
	}
}

// outcomeUnknown is a SendCommand call that failed with a non-OK status: whether the
// provider got the command is not known. Its message says so once, then the plugin's
// words: without the status's kind (every non-OK status means unknown here, so
// "temporary" would mislead the user who decides) and without the "send command: " and
// "command outcome unknown: " the plugin's error or the SDK's server (a panic) already
// began with. The host shows it as the command's reason.
func outcomeUnknown(err error) error {
	msg := err.Error()
	for _, prefix := range []string{sdk.KindOf(err).String() + ": ", "send command: ", sdk.ErrOutcomeUnknown.Error() + ": "} {
		for strings.HasPrefix(msg, prefix) {
			msg = strings.TrimPrefix(msg, prefix)
		}
	}
	return &unknownError{msg: "send command: " + sdk.ErrOutcomeUnknown.Error() + ": " + msg, err: err}
}

type unknownError struct {
	msg string
	err error
}

func (e *unknownError) Error() string   { return e.msg }
func (e *unknownError) Unwrap() []error { return []error{sdk.ErrOutcomeUnknown, e.err} }
