package wire

import (
	"bytes"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// encodeCases are answers the plugin may send; hand says whether the hand-written
// encoder must take them (false: proto.Marshal's, for its bytes or its error).
func encodeCases() []struct {
	name string
	m    *pb.IngestWebhookResponse
	hand bool
} {
	odd := fullResponse()
	odd.Result.Readings[0].Value = math.Copysign(0, -1) // -0 is written, +0 is not
	odd.Result.Readings[1].Value = math.NaN()
	odd.Result.Readings[2].Value = math.Inf(-1)
	odd.Result.Readings[5].RecordedAt = &timestamppb.Timestamp{Seconds: -1, Nanos: -999999999}
	odd.Result.Readings[6].RawPayload = bytes.Repeat([]byte{0xff}, 300) // a two-byte length
	long := fullResponse()
	for range 20 {
		long.Result.Readings = append(long.Result.Readings, proto.Clone(long.Result.Readings[0]).(*pb.Reading))
	}
	huge := fullResponse()
	huge.Result.Readings[3].RawPayload = bytes.Repeat([]byte{'x'}, 70<<10) // past answerPool's tiers
	unknownReading := fullResponse()
	unknownReading.Result.Readings[0].ProtoReflect().SetUnknown([]byte{0xf8, 0x06, 0x01}) // field 99, varint 1
	return []struct {
		name string
		m    *pb.IngestWebhookResponse
		hand bool
	}{
		{"response", fullResponse(), true},
		{"odd values", odd, true},
		{"over 4 KiB", long, true},
		{"over 64 KiB", huge, true},
		{"empty response", &pb.IngestWebhookResponse{}, true},
		{"empty result", &pb.IngestWebhookResponse{Result: &pb.WebhookResult{}}, true},
		{"webhook error", &pb.IngestWebhookResponse{WebhookError: &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_PERMANENT, Message: "bad"}}, false},
		{"test sessions", &pb.IngestWebhookResponse{Result: &pb.WebhookResult{TestSessions: []*pb.TestSession{{ProviderDeviceId: "d"}}}}, false},
		{"command updates", &pb.IngestWebhookResponse{Result: &pb.WebhookResult{CommandUpdates: []*pb.CommandUpdate{{CommandId: "c"}}}}, false},
		{"unknown field in a reading", unknownReading, false},
		{"invalid UTF-8", &pb.IngestWebhookResponse{Result: &pb.WebhookResult{Readings: []*pb.Reading{{Metric: "\xff"}}}}, false},
		{"invalid UTF-8 after a reading like it", &pb.IngestWebhookResponse{Result: &pb.WebhookResult{Readings: []*pb.Reading{
			{ProviderDeviceId: "d", Unit: "pH"}, {ProviderDeviceId: "d", Unit: "p\xff"}}}}, false},
		{"invalid UTF-8 twice", &pb.IngestWebhookResponse{Result: &pb.WebhookResult{Readings: []*pb.Reading{
			{Metric: "\xff"}, {Metric: "\xff"}}}}, false},
		{"invalid UTF-8 in the delivery id", &pb.IngestWebhookResponse{Result: &pb.WebhookResult{DeliveryId: "\xc3"}}, false},
	}
}

// TestEncodeEqualsProto: Codec.Marshal writes what proto.Marshal writes (or refuses what
// it refuses), and takes the answers of the hot path itself.
func TestEncodeEqualsProto(t *testing.T) {
	for _, c := range encodeCases() {
		t.Run(c.name, func(t *testing.T) {
			_, hand := marshalResponse(c.m)
			if hand != c.hand {
				t.Errorf("hand-written encoder taken: %v, want %v", hand, c.hand)
			}
			checkEncoding(t, c.m)
			if !unknownIn(c.m) {
				checkEncoding(t, answerOf(c.m))
			}
		})
	}
}

// answerOf is m as the SDK sends it: an Answer (which never has unknown fields).
func answerOf(m *pb.IngestWebhookResponse) *Answer {
	a := new(Answer)
	a.Result, a.WebhookError, a.Status = m.Result, m.WebhookError, m.Status
	return a
}

// TestAnswerReused: an Answer encoded after others, bigger and smaller, into buffers
// answerPool gives back uncleared, writes what proto.Marshal writes.
func TestAnswerReused(t *testing.T) {
	var a Answer
	for range 3 {
		for _, c := range encodeCases() {
			if unknownIn(c.m) {
				continue
			}
			a.Reset()
			a.Result, a.WebhookError, a.Status = c.m.Result, c.m.WebhookError, c.m.Status
			checkEncoding(t, &a)
		}
	}
}

// TestDirtyPool: a buffer has the length asked for and its tier's capacity, comes back
// from Put, and one past the largest tier is made and dropped.
func TestDirtyPool(t *testing.T) {
	p := &dirtyPool{}
	for _, c := range []struct{ n, cap int }{{0, 2048}, {1, 2048}, {700, 2048}, {2048, 2048}, {2049, 4096}, {65536, 65536}, {65537, 65537}} {
		buf := p.Get(c.n)
		if len(*buf) != c.n || cap(*buf) != c.cap {
			t.Errorf("Get(%d): len %d cap %d, want cap %d", c.n, len(*buf), cap(*buf), c.cap)
		}
		p.Put(buf)
	}
	odd := make([]byte, 10, 3000) // not a tier's: dropped
	p.Put(&odd)
	if buf := p.Get(2500); cap(*buf) != 4096 {
		t.Errorf("Get(2500) after Put of a 3000-byte buffer: cap %d, want 4096", cap(*buf))
	}
}

// FuzzEncodeEqualsProto encodes every answer proto.Unmarshal makes of the input both
// ways.
func FuzzEncodeEqualsProto(f *testing.F) {
	for _, c := range encodeCases() {
		if b, err := proto.Marshal(c.m); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(pb.IngestWebhookResponse)
		if proto.Unmarshal(b, m) != nil {
			return
		}
		checkEncoding(t, m)
		if !unknownIn(m) {
			checkEncoding(t, answerOf(m))
		}
	})
}

// TestEncodeAllocations: an answer or a batch is written into one of gRPC's pooled
// buffers; what is left is the BufferSlice gRPC takes. proto.Marshal through gRPC's
// codec makes 3 (BenchmarkMarshalResponse).
func TestEncodeAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("under the race detector sync.Pool drops items at random, so the pool allocates")
	}
	for _, m := range []proto.Message{fullResponse(), answerOf(fullResponse()), encodeBatchCases()[0].m} {
		n := testing.AllocsPerRun(100, func() {
			data, err := Codec{}.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			data.Free()
		})
		if n > 1 {
			t.Errorf("%T: %.0f allocations, want at most 1", m, n)
		}
	}
}

func BenchmarkMarshalResponse(b *testing.B) {
	m := fullResponse()
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			data, _ := Codec{}.Marshal(m)
			data.Free()
		}
	})
	b.Run("answer", func(b *testing.B) {
		a := answerOf(m)
		b.ReportAllocs()
		for b.Loop() {
			data, _ := Codec{}.Marshal(a)
			data.Free()
		}
	})
	b.Run("proto", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			data, _ := std.Marshal(m)
			data.Free()
		}
	})
}
