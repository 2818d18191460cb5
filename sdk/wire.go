package sdk

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// The plugin side's half of each call's conversions, as bytes: with the host's halves
// (sdk/grpcplugin's EncodeRequest and DecodeAnswer), a request and an answer through the
// same conversions ([Serve] uses) and the same protobuf encoding as the wire. Written for
// sdk/sdktest's Direct, which no longer uses them: it runs the host's client
// (sdk/grpcplugin) against this package's own service ([RegisterGRPCServer]) over
// memory, so that Connect, Callback and every error take the wire's path too. Adapters
// never call them, and they are outside the SDK's compatibility promise (PLUGINS.md):
// they change with the wire.

// DecodeRequest sets *req to what the adapter receives for the host's request b
// (grpcplugin.EncodeRequest's): req is a *ConfigureRequest, *DiscoverRequest,
// *WebhookRequest, *PollRequest or *CommandRequest. An error is [KindPermanent]: the
// adapter would not be called (a command's params [DecodeCommandParams] refuses).
func DecodeRequest(b []byte, req any) error {
	var err error
	unmarshal := func(m proto.Message) bool {
		if err = proto.Unmarshal(b, m); err != nil {
			err = Permanent("decode %T: %v", req, err)
		}
		return err == nil
	}
	switch r := req.(type) {
	case *ConfigureRequest:
		if m := new(pb.ConfigureRequest); unmarshal(m) {
			*r = configureRequestFromProto(m)
		}
	case *DiscoverRequest:
		if m := new(pb.DiscoverDevicesRequest); unmarshal(m) {
			*r = discoverRequestFromProto(m)
		}
	case *WebhookRequest:
		if m := new(pb.RawWebhook); unmarshal(m) {
			*r = webhookRequestFromProto(m)
		}
	case *PollRequest:
		if m := new(pb.PollReadingsRequest); unmarshal(m) {
			*r = pollRequestFromProto(m)
		}
	case *CommandRequest:
		if m := new(pb.SendCommandRequest); unmarshal(m) {
			*r, err = commandRequestFromProto(m)
		}
	default:
		return Permanent("sdk: no request of type %T", req)
	}
	return err
}

// EncodeAnswer is what the plugin side of the wire sends for an adapter's answer: a
// Description, DiscoverResult, WebhookResult, PollResult or CommandResult.
func EncodeAnswer(answer any) ([]byte, error) {
	var m proto.Message
	switch a := answer.(type) {
	case Description:
		m = descriptionToProto(a)
	case DiscoverResult:
		m = discoverResultToProto(a)
	case WebhookResult:
		m = webhookResultToProto(a)
	case PollResult:
		m = pollResultToProto(a)
	case CommandResult:
		m = commandResultToProto(a)
	default:
		return nil, fmt.Errorf("sdk: no answer of type %T", answer)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", answer, err)
	}
	return b, nil
}
