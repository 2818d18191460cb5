// Package convert holds the protobuf ↔ Go conversions that both sides of the plugin
// protocol need: the plugin side (package sdk, serving an adapter) and the host side
// (package grpcplugin, calling one). Written once here, as grafana-plugin-sdk-go keeps
// its backend/convert_*.go, so the two sides cannot drift apart on what an unset value
// means. Conversions of one side only stay with that side.
package convert

import (
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// TimeFromProto maps an unset timestamp to the zero time.
func TimeFromProto(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// TimeToProto sends the zero time as an unset timestamp.
func TimeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// CredentialsFromProto keeps "unset" (nil: unchanged) apart from "set but empty"
// (non-nil, empty). The result converts to sdk.Credentials, which this package cannot
// name (package sdk imports it).
func CredentialsFromProto(c *pb.Credentials) map[string]string {
	if c == nil {
		return nil
	}
	out := make(map[string]string, len(c.GetValues()))
	for k, v := range c.GetValues() {
		out[k] = v
	}
	return out
}

// CredentialsToProto sends nil as unset ("unchanged") and an empty map as an empty set.
func CredentialsToProto(c map[string]string) *pb.Credentials {
	if c == nil {
		return nil
	}
	return &pb.Credentials{Values: c}
}

// StatusToProto is err's gRPC status as the Status an IngestWebhookBatches answer
// carries for a delivery IngestWebhook would have failed (the fields and bytes of
// google.rpc.Status). A nil or OK error has none.
func StatusToProto(err error) *pb.Status {
	st := status.Convert(err).Proto()
	if st.GetCode() == int32(codes.OK) {
		return nil
	}
	return &pb.Status{Code: st.GetCode(), Message: st.GetMessage(), Details: st.GetDetails()}
}

// StatusFromProto is the error StatusToProto was given, as the unary call would have
// returned it: code, message and details. A nil or OK status is nil.
func StatusFromProto(s *pb.Status) error {
	if s.GetCode() == int32(codes.OK) {
		return nil
	}
	return status.ErrorProto(&spb.Status{Code: s.GetCode(), Message: s.GetMessage(), Details: s.GetDetails()})
}
