package sdk

import (
	"context"
	"fmt"
	"runtime/debug"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
	"github.com/poolhost/poolhost/sdk/internal/convert"
)

// SendCommand is the server shim of [Commander]. A refusal the adapter is sure of travels
// in the response (the host may act on it); anything else, a panic included, is a non-OK
// status, which the host reads as "outcome unknown" and never resends.
func (s *grpcServer) SendCommand(ctx context.Context, req *pb.SendCommandRequest) (res *pb.SendCommandResponse, err error) {
	c, ok := s.adapter.(Commander)
	if !ok {
		return nil, toStatus(Unsupported("send command"))
	}
	creq, perr := commandRequestFromProto(req)
	if perr != nil {
		return &pb.SendCommandResponse{Error: errorToProto(perr)}, nil
	}
	defer func() {
		if r := recover(); r != nil {
			Logger().Error("adapter panicked", "method", "SendCommand", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			res, err = nil, toStatus(unknownOutcome("send command", fmt.Errorf("plugin panicked (see plugin log)")))
		}
	}()
	// Ended before the host's deadline, so that an unknown outcome answered when it ends
	// still arrives, with the tokens the send refreshed (see answerInTime).
	ctx, cancel := answerInTime(ctx)
	defer cancel()
	out, cerr := c.SendCommand(ctx, creq)
	if cerr != nil {
		if _, refused := CommandRefusal(cerr); refused {
			creds, _ := RefreshedCredentialsOf(cerr)
			resp := &pb.SendCommandResponse{Error: errorToProto(cerr), RefreshedCredentials: convert.CredentialsToProto(creds)}
			if d := RetryAfterOf(cerr); d > 0 {
				resp.RetryAfter = durationpb.New(d)
			}
			return resp, nil
		}
		// Unknown: a status. UNAVAILABLE would read as "temporary" elsewhere; here every
		// non-OK status means unknown, so the code only informs operators.
		return nil, toStatus(cerr)
	}
	return commandResultToProto(out), nil
}

// commandRequestFromProto is the request SendCommand receives; an error (params
// DecodeCommandParams refuses) is permanent, and the adapter is not called.
func commandRequestFromProto(req *pb.SendCommandRequest) (CommandRequest, error) {
	params, err := DecodeCommandParams(req.GetCommand(), req.GetParamsJson())
	if err != nil {
		return CommandRequest{}, err
	}
	return CommandRequest{
		Account:          accountFromProto(req.GetAccount()),
		ProviderDeviceID: req.GetProviderDeviceId(),
		Channel:          req.GetChannel(),
		Command:          req.GetCommand(),
		Params:           params,
		CommandID:        req.GetCommandId(),
		ExpiresAt:        convert.TimeFromProto(req.GetExpiresAt()),
	}, nil
}

// commandResultToProto is the answer of a SendCommand the adapter accepted.
func commandResultToProto(out CommandResult) *pb.SendCommandResponse {
	status := out.Status
	if status == "" {
		status = CommandSent
	}
	return &pb.SendCommandResponse{
		Status:               string(status),
		ProviderReference:    out.ProviderRef,
		RefreshedCredentials: convert.CredentialsToProto(out.RefreshedCredentials),
	}
}
