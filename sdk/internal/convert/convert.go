// Package convert holds the protobuf ↔ Go conversions that both sides of the plugin
// protocol need: the plugin side (package sdk, serving an adapter) and the host side
// (package grpcplugin, calling one). Written once here, as grafana-plugin-sdk-go keeps
// its backend/convert_*.go, so the two sides cannot drift apart on what an unset value
// means. Conversions of one side only stay with that side.
package convert

import (
	"time"

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
