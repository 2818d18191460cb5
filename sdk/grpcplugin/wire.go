package grpcplugin

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/poolhost/poolhost/sdk"
	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// The host's half of each call's conversions, as bytes: with the plugin side's halves
// (sdk.DecodeRequest and sdk.EncodeAnswer), a request and an answer through the same
// conversions and the same protobuf encoding as the wire. Written for sdk/sdktest's
// Direct, which no longer uses them: it runs this package's Client against the plugin
// side's own service (sdk.RegisterGRPCServer) over memory, so that Connect, Callback and
// every error take the wire's path too. Hosts and adapters never call them, and they are
// outside the SDK's compatibility promise (PLUGINS.md): they change with the wire.

// EncodeRequest is req as the host's client sends it: an sdk.ConfigureRequest,
// DiscoverRequest, WebhookRequest, PollRequest or CommandRequest. An error is
// [sdk.KindPermanent]: nothing would be sent.
func EncodeRequest(req any) ([]byte, error) {
	var m proto.Message
	switch r := req.(type) {
	case sdk.ConfigureRequest:
		m = configureRequestToProto(r)
	case sdk.DiscoverRequest:
		m = discoverRequestToProto(r)
	case sdk.WebhookRequest:
		m = webhookToProto(r)
	case sdk.PollRequest:
		m = pollRequestToProto(r)
	case sdk.CommandRequest:
		c, err := commandRequestToProto(r)
		if err != nil {
			return nil, err
		}
		m = c
	default:
		return nil, sdk.Permanent("grpcplugin: no request of type %T", req)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, sdk.Permanent("encode %T: %v", req, err)
	}
	return b, nil
}

// DecodeAnswer sets *answer to what the host's client makes of the plugin's answer b
// (sdk.EncodeAnswer's): answer is an *sdk.Description, *DiscoverResult, *WebhookResult,
// *PollResult or *CommandResult.
func DecodeAnswer(b []byte, answer any) error {
	var err error
	unmarshal := func(m proto.Message) bool {
		err = proto.Unmarshal(b, m)
		return err == nil
	}
	switch a := answer.(type) {
	case *sdk.Description:
		if m := new(pb.DescribeResponse); unmarshal(m) {
			*a = descriptionFromProto(m)
		}
	case *sdk.DiscoverResult:
		if m := new(pb.DiscoverDevicesResponse); unmarshal(m) {
			*a = discoverResultFromProto(m)
		}
	case *sdk.WebhookResult:
		if m := new(pb.WebhookResult); unmarshal(m) {
			*a = webhookResultFromProto(m)
		}
	case *sdk.PollResult:
		if m := new(pb.PollReadingsResponse); unmarshal(m) {
			*a = pollResultFromProto(m)
		}
	case *sdk.CommandResult:
		if m := new(pb.SendCommandResponse); unmarshal(m) {
			*a = commandResultFromProto(m)
		}
	default:
		return fmt.Errorf("grpcplugin: no answer of type %T", answer)
	}
	if err != nil {
		return fmt.Errorf("decode %T: %w", answer, err)
	}
	return nil
}
