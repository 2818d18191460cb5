package grpcplugin_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
	"github.com/poolhost/poolhost/sdk/internal/wire"
)

// wireConn answers every call with the fuzzer's bytes, decoded exactly as gRPC's proto
// codec decodes a plugin's answer, or with the fuzzer's bytes as a status when asked to
// fail: the host's side of the protobuf conversions sees whatever a hostile plugin can
// put on the wire.
type wireConn struct {
	answer []byte
	fail   bool
}

func (c wireConn) Invoke(_ context.Context, _ string, _, reply any, _ ...grpc.CallOption) error {
	if c.fail {
		var st spb.Status
		if err := proto.Unmarshal(c.answer, &st); err != nil {
			return status.Error(14, "transport")
		}
		return status.ErrorProto(&st)
	}
	if m, ok := reply.(proto.Message); ok {
		return proto.Unmarshal(c.answer, m)
	}
	// A batch's answers (wire.BatchAnswers) are only ever decoded by the host's codec.
	return wire.Codec{}.Unmarshal(mem.BufferSlice{mem.SliceBuffer(c.answer)}, reply)
}

// NewStream is IngestWebhook's stream, answering each request as Invoke does.
func (c wireConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return wireStream{c: c}, nil
}

type wireStream struct {
	grpc.ClientStream // nil: only SendMsg and RecvMsg are called
	c                 wireConn
}

func (wireStream) SendMsg(any) error { return nil }

func (s wireStream) RecvMsg(m any) error { return s.c.Invoke(context.Background(), "", nil, m) }

// FuzzPluginAnswers feeds arbitrary bytes to every call the host makes as the plugin's
// answer (or its error status). Nothing may panic; an answer either fails with an
// error of a known kind or converts into SDK values.
func FuzzPluginAnswers(f *testing.F) {
	// Seeds: well-formed answers of the calls that carry the most.
	reading := &pb.Reading{ProviderDeviceId: "d", Metric: "ph", Value: 7.2, Unit: "pH",
		RecordedAt: timestamppb.New(time.Unix(1700000000, 5)), Quality: "good", RawPayload: []byte(`{"x":1}`)}
	creds := &pb.Credentials{Values: map[string]string{"access_token": "t"}}
	for _, m := range []proto.Message{
		&pb.PollReadingsResponse{Readings: []*pb.Reading{reading, {}}, NextCursor: "c", RefreshedCredentials: creds},
		&pb.WebhookResponse{Result: &pb.WebhookResult{Readings: []*pb.Reading{reading}, DeliveryId: "id"}},
		&pb.DiscoverDevicesResponse{Devices: []*pb.Device{{ProviderDeviceId: "d", Metadata: map[string]string{"k": "v"}}}},
		&pb.CallbackResponse{Linkage: &pb.Linkage{ExternalAccountId: "a", Credentials: creds}},
		&pb.ErrorDetail{RefreshedCredentials: creds},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	f.Add([]byte{}, false)
	f.Add([]byte{0x0a, 0x00}, false)
	f.Add([]byte{0x0a, 0x05, 0x0a, 0x01, 'd', 0x12, 0x00}, false)
	f.Add([]byte{0x08, 0x05, 0x12, 0x03, 'b', 'a', 'd'}, true)
	f.Add([]byte{0xff, 0xff, 0xff}, true)

	ctx := context.Background()
	f.Fuzz(func(t *testing.T, answer []byte, fail bool) {
		c := grpcplugin.NewClient(wireConn{answer: answer, fail: fail})
		check := func(call string, err error) {
			if err == nil {
				return
			}
			var se *sdk.Error
			var pe *grpcplugin.ParseError
			if !errors.As(err, &se) && !errors.As(err, &pe) {
				t.Fatalf("%s: error %v (%T) has no sdk kind", call, err, err)
			}
		}
		_, err := c.Describe(ctx)
		check("describe", err)
		check("configure", c.Configure(ctx, sdk.ConfigureRequest{}))
		_, err = c.Connect(ctx, sdk.ConnectRequest{})
		check("connect", err)
		_, err = c.Callback(ctx, sdk.CallbackRequest{})
		check("callback", err)
		_, err = c.DiscoverDevices(ctx, sdk.DiscoverRequest{})
		check("discover", err)
		req := sdk.WebhookRequest{Headers: http.Header{"A": {"b"}}, Body: []byte("{}")}
		check("verify", c.VerifyWebhook(ctx, req))
		_, err = c.Webhook(ctx, req)
		check("webhook", err)
		_, err = c.IngestWebhook(ctx, req)
		check("ingest webhook", err)
		_, err = c.PollReadings(ctx, sdk.PollRequest{Cursor: "c"})
		check("poll", err)
		check("health", c.Health(ctx))
	})
}
