package wire

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// hostRequest is a delivery as the host sends it (sdk/grpcplugin's outgoingWebhook): no
// account, every value of every header, a deadline.
func hostRequest() *pb.IngestWebhookRequest {
	r := fullRequest()
	r.Webhook.Account = nil
	return r
}

// encodeBatchCases are batches the host may send; hand says whether the hand-written
// encoder must take them (false: proto.Marshal's, for its bytes or its error).
func encodeBatchCases() []struct {
	name string
	m    *pb.IngestWebhookBatch
	hand bool
} {
	five := &pb.IngestWebhookBatch{}
	for range 5 {
		five.Requests = append(five.Requests, hostRequest())
	}
	odd := hostRequest()
	odd.TimeoutNanos = -1 // ten bytes, as protobuf sign-extends
	odd.Webhook.ReceivedAt = &timestamppb.Timestamp{Seconds: -1, Nanos: -999999999}
	odd.Webhook.Body = bytes.Repeat([]byte{0xff}, 70000) // not UTF-8, a three-byte length
	odd.Webhook.Headers[0].Values = append(odd.Webhook.Headers[0].Values, "", strings.Repeat("v", 200))
	zeroTime := hostRequest()
	zeroTime.Webhook.ReceivedAt = &timestamppb.Timestamp{} // a time, the zero one
	bare := &pb.IngestWebhookRequest{Webhook: &pb.RawWebhook{Body: []byte("{}")}}
	unknownHeader := hostRequest()
	unknownHeader.Webhook.Headers[1].ProtoReflect().SetUnknown([]byte{0xf8, 0x06, 0x01}) // field 99, varint 1
	unknownRequest := hostRequest()
	unknownRequest.ProtoReflect().SetUnknown([]byte{0xf8, 0x06, 0x01})
	badValue := hostRequest()
	badValue.Webhook.Headers[2].Values[1] = "v1,\xff"
	badName := hostRequest()
	badName.Webhook.Headers[0].Name = "\xc3"
	badSecret := hostRequest()
	badSecret.Webhook.AccountSecret = "\xc3"
	one := func(r *pb.IngestWebhookRequest) *pb.IngestWebhookBatch {
		return &pb.IngestWebhookBatch{Requests: []*pb.IngestWebhookRequest{hostRequest(), r}}
	}
	return []struct {
		name string
		m    *pb.IngestWebhookBatch
		hand bool
	}{
		{"five deliveries", five, true},
		{"odd values", one(odd), true},
		{"zero received_at", one(zeroTime), true},
		{"no headers, no deadline", one(bare), true},
		{"empty request", one(&pb.IngestWebhookRequest{}), true},
		{"empty webhook", one(&pb.IngestWebhookRequest{Webhook: &pb.RawWebhook{}}), true},
		{"empty batch", &pb.IngestWebhookBatch{}, true},
		{"an account", one(fullRequest()), false},
		{"nil request", one(nil), false},
		{"nil header", one(&pb.IngestWebhookRequest{Webhook: &pb.RawWebhook{Headers: []*pb.Header{nil}}}), false},
		{"unknown field in a header", one(unknownHeader), false},
		{"unknown field in a request", one(unknownRequest), false},
		{"invalid UTF-8 in a header value", one(badValue), false},
		{"invalid UTF-8 in a header name", one(badName), false},
		{"invalid UTF-8 in the account secret", one(badSecret), false},
	}
}

// TestEncodeBatchEqualsProto: Codec.Marshal writes what proto.Marshal writes for the
// host's batches and requests (or refuses what it refuses), and takes the host's hot
// path itself.
func TestEncodeBatchEqualsProto(t *testing.T) {
	for _, c := range encodeBatchCases() {
		t.Run(c.name, func(t *testing.T) {
			_, hand := marshalBatch(c.m, false)
			if hand != c.hand {
				t.Errorf("hand-written encoder taken: %v, want %v", hand, c.hand)
			}
			checkEncoding(t, c.m)
			if b := batchOf(c.m); b != nil {
				checkEncoding(t, b)
			}
			for _, r := range c.m.Requests {
				if r != nil {
					checkEncoding(t, r)
				}
			}
		})
	}
}

// checkEncoding fails t unless Codec.Marshal's bytes or error are proto.Marshal's
// (or, for a message with a map, which proto.Marshal writes in no fixed order, decode to
// the same message).
func checkEncoding(t *testing.T, m proto.Message) {
	t.Helper()
	want, wantErr := proto.Marshal(m)
	data, err := Codec{}.Marshal(m)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("error %v, proto.Marshal's %v", err, wantErr)
	}
	if err != nil {
		return
	}
	got := data.Materialize()
	data.Free()
	if bytes.Equal(got, want) {
		return
	}
	back := m.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(got, back); err != nil || !proto.Equal(back, m) || !hasAccount(m) {
		t.Errorf("encoded\n%x\nproto.Marshal\n%x", got, want)
	}
}

func hasAccount(m proto.Message) bool {
	switch m := m.(type) {
	case *pb.IngestWebhookRequest:
		return m.GetWebhook().GetAccount() != nil
	case *Batch:
		return hasAccount(&m.IngestWebhookBatch)
	case *pb.IngestWebhookBatch:
		for _, r := range m.Requests {
			if hasAccount(r) {
				return true
			}
		}
	}
	return false
}

// FuzzEncodeBatchEqualsProto encodes every batch proto.Unmarshal makes of the input both
// ways.
func FuzzEncodeBatchEqualsProto(f *testing.F) {
	for _, c := range encodeBatchCases() {
		if b, err := proto.Marshal(c.m); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(pb.IngestWebhookBatch)
		if proto.Unmarshal(b, m) != nil {
			return
		}
		checkEncoding(t, m)
		if b := batchOf(m); b != nil {
			checkEncoding(t, b)
		}
	})
}

// batchOf is m as the host sends it, a Batch, unless a message of m has unknown fields
// (a Batch's never do: the host builds it).
func batchOf(m *pb.IngestWebhookBatch) *Batch {
	if unknown(m) {
		return nil
	}
	for _, r := range m.Requests {
		if r == nil {
			continue
		}
		if unknown(r) {
			return nil
		}
		if w := r.Webhook; w != nil {
			if unknown(w) || w.ReceivedAt != nil && unknown(w.ReceivedAt) {
				return nil
			}
			for _, h := range w.Headers {
				if h != nil && unknown(h) {
					return nil
				}
			}
		}
	}
	b := new(Batch)
	b.Requests = m.Requests
	return b
}

// BenchmarkMarshalBatch: five deliveries of host/bench's shape (a 1 KiB body, the
// headers a signed webhook carries), as the host sends them at 64 senders.
func BenchmarkMarshalBatch(b *testing.B) {
	m := &pb.IngestWebhookBatch{}
	for range 5 {
		r := hostRequest()
		r.Webhook.Body = bytes.Repeat([]byte("x"), 1024)
		m.Requests = append(m.Requests, r)
	}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			data, _ := Codec{}.Marshal(m)
			data.Free()
		}
	})
	host := batchOf(m) // as sdk/grpcplugin sends it
	b.Run("batch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			data, _ := Codec{}.Marshal(host)
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

// TestBatchReused: a batch encoded after others, bigger and smaller, into buffers
// batchPool gives back uncleared, writes what proto.Marshal writes.
func TestBatchReused(t *testing.T) {
	big := &pb.IngestWebhookBatch{} // past the uncleared tiers: gRPC's pool
	for range 3 {
		r := hostRequest()
		r.Webhook.Body = bytes.Repeat([]byte("b"), 30<<10)
		big.Requests = append(big.Requests, r)
	}
	cases := append(encodeBatchCases(), struct {
		name string
		m    *pb.IngestWebhookBatch
		hand bool
	}{"90 KiB", big, true})
	for range 3 {
		for _, c := range cases {
			checkEncoding(t, c.m)
			if b := batchOf(c.m); b != nil {
				checkEncoding(t, b)
			}
		}
	}
}

// TestBatchPool: a batch's buffer up to 64 KiB is an uncleared tier's, a larger one
// gRPC's pooled one, and each goes back where it came from.
func TestBatchPool(t *testing.T) {
	for _, n := range []int{100, 9000, 64 << 10, 64<<10 + 1, 300 << 10} {
		buf := batchPool.Get(n)
		if len(*buf) != n {
			t.Fatalf("Get(%d): len %d", n, len(*buf))
		}
		if small := n <= 64<<10; small != (cap(*buf) <= 64<<10) {
			t.Errorf("Get(%d): cap %d", n, cap(*buf))
		}
		batchPool.Put(buf)
	}
}
