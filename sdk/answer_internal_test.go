package sdk

import (
	"bytes"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
	"github.com/poolhost/poolhost/sdk/internal/wire"
)

// TestStreamAnswerEncodesAsProto: a stream's answer, built in its answerStore and sent
// as the wire.Answer it is part of, is the bytes proto.Marshal writes for the message
// the unary call builds, answer after answer in the same storage.
func TestStreamAnswerEncodesAsProto(t *testing.T) {
	at := time.Date(2026, 12, 7, 8, 0, 0, 123, time.UTC)
	results := []WebhookResult{
		{DeliveryID: "msg_1", Readings: []Reading{
			{ProviderDeviceID: "dev-1", Metric: "ph", Value: 7.4, Unit: "pH", RecordedAt: at, Timed: true, Quality: QualityGood},
			{ProviderDeviceID: "dev-1", Metric: "orp", Value: 700, Unit: "mV", Qualifier: QualifierAbove, RawPayload: bytes.Repeat([]byte{'x'}, 200)},
			{ProviderDeviceID: "dev-1", Metric: "temperature", Value: math.Copysign(0, -1), Timed: true},
		}},
		{DeliveryID: "msg_2", ProviderAccountID: "acct"},
		{},
		{DeliveryID: "msg_3", Readings: []Reading{{ProviderDeviceID: "d", Metric: "fc", Value: 1.5, Unit: "ppm", RecordedAt: at}}},
	}
	var st answerStore
	for _, r := range results {
		res := st.fill(r)
		sent := st.message(res)
		if _, ok := sent.(*wire.Answer); !ok {
			t.Fatalf("the store's answer is sent as %T, want *wire.Answer", sent)
		}
		want, err := proto.Marshal(&pb.IngestWebhookResponse{Result: webhookResultToProto(r)})
		if err != nil {
			t.Fatal(err)
		}
		data, err := wire.Codec{}.Marshal(sent)
		if err != nil {
			t.Fatal(err)
		}
		if got := data.Materialize(); !bytes.Equal(got, want) {
			t.Errorf("%s: encoded\n%x\nproto.Marshal\n%x", r.DeliveryID, got, want)
		}
		data.Free()
		st.release()
	}
	other := &pb.IngestWebhookResponse{WebhookError: &pb.Error{Message: "bad"}}
	if sent := st.message(other); sent != any(other) {
		t.Errorf("a new answer is sent as %T, want itself", sent)
	}
}
