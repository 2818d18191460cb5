package sdk

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// echoAdapter hands back what it was given, so the fuzzed request travels through both
// conversions: wire to SDK on the way in, SDK to wire on the way out.
type echoAdapter struct{}

func (echoAdapter) Describe(context.Context) (Description, error)       { return Description{}, nil }
func (echoAdapter) Configure(context.Context, ConfigureRequest) error   { return nil }
func (echoAdapter) VerifyWebhook(context.Context, WebhookRequest) error { return nil }
func (echoAdapter) Health(context.Context) error                        { return nil }
func (echoAdapter) Connect(_ context.Context, r ConnectRequest) (ConnectResult, error) {
	return ConnectResult{AuthorizeURL: r.RedirectURI + r.State + r.CodeChallenge, Linkage: &Linkage{DisplayName: r.Input["name"], Credentials: Credentials(r.Input)}}, nil
}
func (echoAdapter) Callback(_ context.Context, r CallbackRequest) (Linkage, error) {
	return Linkage{ExternalAccountID: r.Code, DisplayName: r.Query["name"], Credentials: Credentials{"v": r.CodeVerifier}}, nil
}
func (echoAdapter) DiscoverDevices(_ context.Context, r DiscoverRequest) (DiscoverResult, error) {
	return DiscoverResult{Devices: []Device{{ProviderDeviceID: r.Account.ExternalAccountID, Metadata: r.Account.Credentials}}}, nil
}
func (echoAdapter) Webhook(_ context.Context, r WebhookRequest) (WebhookResult, error) {
	return WebhookResult{DeliveryID: r.Headers.Get("webhook-id"), Readings: []Reading{{ProviderDeviceID: r.Headers.Get("d"), RecordedAt: r.ReceivedAt, Timed: true, RawPayload: r.Body}}}, nil
}
func (echoAdapter) PollReadings(_ context.Context, r PollRequest) (PollResult, error) {
	return PollResult{NextCursor: r.Cursor, RefreshedCredentials: r.Account.Credentials}, nil
}

// FuzzHostRequests decodes arbitrary bytes as each request the host sends and serves
// it: the plugin side of the protobuf conversions must not panic on any of them (a
// webhook's headers and body come from the internet).
func FuzzHostRequests(f *testing.F) {
	for _, m := range []proto.Message{
		&pb.IngestWebhookRequest{Webhook: &pb.RawWebhook{Body: []byte(`{"a":1}`), Headers: []*pb.Header{{Name: "webhook-id", Values: []string{"x"}}}}},
		&pb.PollReadingsRequest{Account: &pb.Account{ExternalAccountId: "a", Credentials: &pb.Credentials{Values: map[string]string{"k": "v"}}}, Cursor: "c"},
		&pb.CallbackRequest{Code: "c", State: "s", Query: map[string]string{"name": "n"}, CodeVerifier: "v"},
		&pb.ConnectRequest{RedirectUri: "https://h/cb", Input: map[string]string{"name": "n"}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xff})
	s := &grpcServer{adapter: echoAdapter{}}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, b []byte) {
		decode := func(m proto.Message) bool { return proto.Unmarshal(b, m) == nil }
		if m := new(pb.ConfigureRequest); decode(m) {
			_, _ = s.Configure(ctx, m)
		}
		if m := new(pb.ConnectRequest); decode(m) {
			_, _ = s.Connect(ctx, m)
		}
		if m := new(pb.CallbackRequest); decode(m) {
			_, _ = s.Callback(ctx, m)
		}
		if m := new(pb.DiscoverDevicesRequest); decode(m) {
			_, _ = s.DiscoverDevices(ctx, m)
		}
		if m := new(pb.VerifyWebhookRequest); decode(m) {
			_, _ = s.VerifyWebhook(ctx, m)
		}
		if m := new(pb.WebhookRequest); decode(m) {
			_, _ = s.Webhook(ctx, m)
		}
		if m := new(pb.IngestWebhookRequest); decode(m) {
			_, _ = s.IngestWebhook(ctx, m)
		}
		if m := new(pb.PollReadingsRequest); decode(m) {
			_, _ = s.PollReadings(ctx, m)
		}
	})
}
