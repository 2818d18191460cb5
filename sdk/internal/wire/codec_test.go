package wire

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// fastFields are the fields the fast decoders handle; with slowFields they must be every
// field of the two messages (TestEveryFieldIsKnown), and fullRequest and fullResponse
// set each of them (TestFastEqualsProto).
var fastFields = []string{
	"poolhost.adapter.v1.IngestWebhookRequest.webhook",
	"poolhost.adapter.v1.IngestWebhookRequest.timeout_nanos",
	"poolhost.adapter.v1.RawWebhook.headers",
	"poolhost.adapter.v1.RawWebhook.body",
	"poolhost.adapter.v1.RawWebhook.received_at",
	"poolhost.adapter.v1.RawWebhook.account",
	"poolhost.adapter.v1.RawWebhook.account_secret",
	"poolhost.adapter.v1.Header.name",
	"poolhost.adapter.v1.Header.values",
	"poolhost.adapter.v1.Account.id",
	"poolhost.adapter.v1.Account.external_account_id",
	"poolhost.adapter.v1.Account.credentials",
	"poolhost.adapter.v1.Credentials.values",
	"poolhost.adapter.v1.Credentials.ValuesEntry.key",
	"poolhost.adapter.v1.Credentials.ValuesEntry.value",
	"google.protobuf.Timestamp.seconds",
	"google.protobuf.Timestamp.nanos",
	"poolhost.adapter.v1.IngestWebhookResponse.result",
	"poolhost.adapter.v1.WebhookResult.readings",
	"poolhost.adapter.v1.WebhookResult.delivery_id",
	"poolhost.adapter.v1.WebhookResult.provider_account_id",
	"poolhost.adapter.v1.Reading.provider_device_id",
	"poolhost.adapter.v1.Reading.metric",
	"poolhost.adapter.v1.Reading.value",
	"poolhost.adapter.v1.Reading.unit",
	"poolhost.adapter.v1.Reading.recorded_at",
	"poolhost.adapter.v1.Reading.quality",
	"poolhost.adapter.v1.Reading.raw_payload",
	"poolhost.adapter.v1.Reading.qualifier",
}

func TestEveryFieldIsKnown(t *testing.T) {
	known := map[string]bool{}
	for _, f := range fastFields {
		known[f] = true
	}
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		for i := 0; i < md.Fields().Len(); i++ {
			f := md.Fields().Get(i)
			name := string(f.FullName())
			if slowFields[name] {
				continue
			}
			if !known[name] {
				t.Errorf("%s (field %d) is new to the fast decoders: decode it in messages.go, or list it in slowFields", name, f.Number())
			}
			if f.Message() != nil {
				walk(f.Message())
			}
		}
	}
	walk((&pb.IngestWebhookRequest{}).ProtoReflect().Descriptor())
	walk((&pb.IngestWebhookResponse{}).ProtoReflect().Descriptor())
}

var at = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

// fullRequest sets every field the request decoder handles.
func fullRequest() *pb.IngestWebhookRequest {
	return &pb.IngestWebhookRequest{Webhook: &pb.RawWebhook{
		Headers: []*pb.Header{
			{Name: "Content-Type", Values: []string{"application/json"}},
			{Name: "Webhook-Id", Values: []string{"msg_1"}},
			{Name: "Webhook-Signature", Values: []string{"v1,abc", "v1,def"}},
			{Name: "X-Empty"},
			{Values: []string{"", "é"}},
		},
		Body:       []byte(`{"device_id":"d1","readings":[]}`),
		ReceivedAt: timestamppb.New(at),
		Account: &pb.Account{Id: "42", ExternalAccountId: "ext-1", Credentials: &pb.Credentials{
			Values: map[string]string{"webhook_secret": "whsec_x", "": "empty key", "k": ""},
		}},
		AccountSecret: "whsec_x",
	}, TimeoutNanos: 1500000000}
}

// fullResponse sets every field the response decoder handles.
func fullResponse() *pb.IngestWebhookResponse {
	r := &pb.WebhookResult{DeliveryId: "msg_1", ProviderAccountId: "owner-7"}
	for i, m := range []string{"ph", "orp", "temperature", "free_chlorine", "salt", "battery", "signal", "tds", "bromine", "conductivity"} {
		r.Readings = append(r.Readings, &pb.Reading{ProviderDeviceId: "dev-1", Metric: m, Value: 7.2 + float64(i),
			Unit: "ppm", RecordedAt: timestamppb.New(at.Add(time.Duration(i) * time.Second))})
	}
	r.Readings[1].Quality, r.Readings[1].Qualifier, r.Readings[1].RawPayload = "suspect", "above", []byte{0, 1, 2}
	r.Readings[2].RecordedAt = nil                      // untimed
	r.Readings[3].RecordedAt = &timestamppb.Timestamp{} // a time, the zero one
	r.Readings[4].RecordedAt = &timestamppb.Timestamp{Seconds: -62135596800, Nanos: -1}
	r.Readings = append(r.Readings, &pb.Reading{}) // every field empty
	return &pb.IngestWebhookResponse{Result: r}
}

// cases are messages in wire form: fast says whether the fast path must take them.
func cases(t testing.TB) []struct {
	name string
	msg  func() proto.Message // a new message of the type to decode into
	b    []byte
	fast bool
} {
	marshal := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	req := func() proto.Message { return new(pb.IngestWebhookRequest) }
	res := func() proto.Message { return new(pb.IngestWebhookResponse) }
	batch := func() proto.Message { return new(pb.IngestWebhookBatch) }
	full := marshal(fullRequest())
	fullRes := marshal(fullResponse())
	fullBatch := marshal(&pb.IngestWebhookBatch{Requests: []*pb.IngestWebhookRequest{fullRequest(), {}, {Webhook: &pb.RawWebhook{}}, fullRequest()}})
	detail, err := anypb.New(&pb.ErrorDetail{Reason: "bad_signature"})
	if err != nil {
		t.Fatal(err)
	}
	tag := func(num protowire.Number, typ protowire.Type) []byte { return protowire.AppendTag(nil, num, typ) }
	str := func(num protowire.Number, s string) []byte {
		return protowire.AppendBytes(tag(num, protowire.BytesType), []byte(s))
	}
	msg := func(num protowire.Number, b ...[]byte) []byte {
		return protowire.AppendBytes(tag(num, protowire.BytesType), bytes.Join(b, nil))
	}
	return []struct {
		name string
		msg  func() proto.Message
		b    []byte
		fast bool
	}{
		{"request", req, full, true},
		{"empty request", req, nil, true},
		{"empty webhook", req, marshal(&pb.IngestWebhookRequest{Webhook: &pb.RawWebhook{}}), true},
		{"response", res, fullRes, true},
		{"empty response", res, nil, true},
		{"empty result", res, marshal(&pb.IngestWebhookResponse{Result: &pb.WebhookResult{}}), true},
		{"batch", batch, fullBatch, true},
		{"empty batch", batch, nil, true},
		{"batch of one", batch, msg(1, full), true},
		// Handed to proto.Unmarshal, which must give the same answer:
		{"webhook error", res, marshal(&pb.IngestWebhookResponse{WebhookError: &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_PERMANENT, Message: "bad"}}), false},
		{"test sessions", res, marshal(&pb.IngestWebhookResponse{Result: &pb.WebhookResult{TestSessions: []*pb.TestSession{{ProviderDeviceId: "d"}}}}), false},
		{"command updates", res, marshal(&pb.IngestWebhookResponse{Result: &pb.WebhookResult{CommandUpdates: []*pb.CommandUpdate{{CommandId: "c"}}}}), false},
		{"webhook twice (merged)", req, append(append([]byte(nil), full...), marshal(&pb.IngestWebhookRequest{Webhook: &pb.RawWebhook{AccountSecret: "second"}})...), false},
		{"result twice (merged)", res, append(append([]byte(nil), fullRes...), fullRes...), false},
		{"timestamp twice (merged)", res, msg(1, msg(1, msg(5, tag(1, protowire.VarintType), []byte{5}), msg(5, tag(2, protowire.VarintType), []byte{7}))), false},
		{"string field twice (last wins)", res, msg(1, str(2, "first"), str(2, "second")), true},
		{"unknown field", res, msg(1, str(99, "x")), false},
		{"unknown field in a reading", res, msg(1, msg(1, str(99, "x"))), false},
		{"wrong wire type", res, msg(1, tag(2, protowire.VarintType), []byte{1}), false},
		{"invalid UTF-8", res, msg(1, str(2, "\xff")), false},
		{"invalid UTF-8 in a header", req, msg(1, msg(1, str(1, "\xc3"))), false},
		{"truncated", res, fullRes[:len(fullRes)-3], false},
		{"status", res, marshal(&pb.IngestWebhookResponse{Status: &pb.Status{Code: 7, Message: "signature does not match", Details: []*anypb.Any{detail}}}), false},
		{"batch: a request's webhook twice (merged)", batch, append(msg(1, full), msg(1, full, msg(1, str(5, "second")))...), false},
		{"batch: unknown field", batch, append(msg(1, full), str(2, "x")...), false},
		{"batch: truncated", batch, fullBatch[:len(fullBatch)-3], false},
		{"group", res, append(tag(1, protowire.StartGroupType), tag(1, protowire.EndGroupType)...), false},
	}
}

// TestFastEqualsProto: the fast decoders give what proto.Unmarshal gives, and take the
// messages of the hot path themselves.
func TestFastEqualsProto(t *testing.T) {
	for _, c := range cases(t) {
		t.Run(c.name, func(t *testing.T) {
			fast, took := decodeFast(c.msg(), c.b)
			if took != c.fast {
				t.Errorf("fast path taken: %v, want %v", took, c.fast)
			}
			want := c.msg()
			wantErr := proto.Unmarshal(c.b, want)
			got := c.msg()
			gotErr := Codec{}.Unmarshal(mem.BufferSlice{mem.SliceBuffer(c.b)}, got)
			if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
				t.Fatalf("error %v, proto.Unmarshal's %v", gotErr, wantErr)
			}
			if !proto.Equal(got, want) {
				t.Errorf("decoded\n%v\nproto.Unmarshal\n%v", got, want)
			}
			if took && !proto.Equal(fast, want) {
				t.Errorf("fast path decoded\n%v\nproto.Unmarshal\n%v", fast, want)
			}
		})
	}
}

// decodeFast runs the fast decoder alone.
func decodeFast(m proto.Message, b []byte) (proto.Message, bool) {
	return m, decode(b, m)
}

// TestDecodedIsIndependent: the decoded message owns its bytes (gRPC reuses the buffer),
// and a header's values can be appended to without touching the next header's.
func TestDecodedIsIndependent(t *testing.T) {
	b, err := proto.Marshal(fullRequest())
	if err != nil {
		t.Fatal(err)
	}
	m := new(pb.IngestWebhookRequest)
	if !decode(b, m) {
		t.Fatal("fast path not taken")
	}
	clear(b)
	if !proto.Equal(m, fullRequest()) {
		t.Fatalf("decoded message changed with the buffer: %v", m)
	}
	hs := m.GetWebhook().GetHeaders()
	_ = append(hs[0].Values, "appended")
	if hs[1].Values[0] != "msg_1" {
		t.Errorf("appending to a header's values overwrote the next header's: %q", hs[1].Values)
	}
}

// TestFewAllocations: what the fast path is for (host/bench: about 45 allocations of the
// host's and 40 of the plugin's per delivery before).
func TestFewAllocations(t *testing.T) {
	for _, c := range []struct {
		name string
		m    proto.Message
		max  float64
	}{
		// The webhook with its timestamp, the headers (3 slices), the strings, the body,
		// and (account-scoped) the account, its credentials and their map (2).
		{"request", fullRequest(), 10},
		// The result, the readings (2 slices), their timestamps, the strings, one
		// reading's raw payload.
		{"response", fullResponse(), 6},
	} {
		b, err := proto.Marshal(c.m)
		if err != nil {
			t.Fatal(err)
		}
		n := testing.AllocsPerRun(100, func() {
			m := c.m.ProtoReflect().New().Interface()
			if _, ok := decodeFast(m, b); !ok {
				t.Fatal("fast path not taken")
			}
		})
		// AllocsPerRun counts the new message too.
		if n-1 > c.max {
			t.Errorf("%s: %.0f allocations, want at most %.0f", c.name, n-1, c.max)
		}
	}
}

func FuzzFastEqualsProto(f *testing.F) {
	for _, c := range cases(f) {
		f.Add(c.b, c.msg() != nil && c.name != "" && isRequest(c.msg()))
	}
	f.Fuzz(func(t *testing.T, b []byte, request bool) {
		var fast, want proto.Message = new(pb.IngestWebhookResponse), new(pb.IngestWebhookResponse)
		if request {
			fast, want = new(pb.IngestWebhookRequest), new(pb.IngestWebhookRequest)
		}
		_, took := decodeFast(fast, b)
		err := proto.Unmarshal(b, want)
		if took && err != nil {
			t.Fatalf("fast path took a message proto.Unmarshal refuses (%v): %v", err, fast)
		}
		if took && !proto.Equal(fast, want) {
			t.Fatalf("fast path decoded\n%v\nproto.Unmarshal\n%v", fast, want)
		}
		if request {
			// The same bytes as a batch: its requests are length-delimited fields 1 too.
			fastB, wantB := new(pb.IngestWebhookBatch), new(pb.IngestWebhookBatch)
			_, took := decodeFast(fastB, b)
			err := proto.Unmarshal(b, wantB)
			if took && (err != nil || !proto.Equal(fastB, wantB)) {
				t.Fatalf("batch: fast path decoded\n%v\nproto.Unmarshal (%v)\n%v", fastB, err, wantB)
			}
		}
	})
}

func isRequest(m proto.Message) bool {
	switch m.(type) {
	case *pb.IngestWebhookRequest, *pb.IngestWebhookBatch:
		return true
	}
	return false
}

// TestIngestResponseReused: an answer decoded into storage an earlier answer used is
// what proto.Unmarshal gives, whatever came before, and with few allocations.
func TestIngestResponseReused(t *testing.T) {
	var r IngestResponse
	for _, c := range cases(t) {
		if !isRequest(c.msg()) {
			for _, d := range cases(t) {
				if isRequest(d.msg()) {
					continue
				}
				_ = Codec{}.Unmarshal(mem.BufferSlice{mem.SliceBuffer(c.b)}, &r)
				r.Release()
				err := Codec{}.Unmarshal(mem.BufferSlice{mem.SliceBuffer(d.b)}, &r)
				want := new(pb.IngestWebhookResponse)
				wantErr := proto.Unmarshal(d.b, want)
				if (err == nil) != (wantErr == nil) {
					t.Fatalf("%s after %s: error %v, proto.Unmarshal's %v", d.name, c.name, err, wantErr)
				}
				if err == nil && !proto.Equal(&r.IngestWebhookResponse, want) {
					t.Fatalf("%s after %s: decoded\n%v\nproto.Unmarshal\n%v", d.name, c.name, &r.IngestWebhookResponse, want)
				}
				r.Release()
			}
		}
	}
	b, err := proto.Marshal(fullResponse())
	if err != nil {
		t.Fatal(err)
	}
	data := mem.BufferSlice{mem.SliceBuffer(b)} // gRPC's, in a call
	n := testing.AllocsPerRun(100, func() {
		if err := (Codec{}).Unmarshal(data, &r); err != nil {
			t.Fatal(err)
		}
		r.Release()
	})
	// The strings and one reading's raw payload.
	if n > 2 {
		t.Errorf("%.0f allocations decoding into reused storage, want at most 2", n)
	}
}

// batchCases are the encoded batches among cases.
func batchCases(t *testing.T) [][]byte {
	var all [][]byte
	for _, c := range cases(t) {
		if _, ok := c.msg().(*pb.IngestWebhookBatch); ok {
			all = append(all, c.b)
		}
	}
	return all
}

// TestIngestBatchReused: a batch decoded into storage an earlier batch used is what
// proto.Unmarshal gives, whatever came before, and its requests cost what they would
// alone.
func TestIngestBatchReused(t *testing.T) {
	all := batchCases(t)
	var st IngestBatch
	for _, prev := range all {
		for _, b := range all {
			_ = Codec{}.Unmarshal(mem.BufferSlice{mem.SliceBuffer(prev)}, &st)
			st.Release()
			err := Codec{}.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &st)
			want := new(pb.IngestWebhookBatch)
			wantErr := proto.Unmarshal(b, want)
			if (err == nil) != (wantErr == nil) || (err == nil && !proto.Equal(&st.IngestWebhookBatch, want)) {
				t.Fatalf("decoded (%v)\n%v\nproto.Unmarshal (%v)\n%v", err, &st.IngestWebhookBatch, wantErr, want)
			}
			st.Release()
		}
	}
	one, err := proto.Marshal(&pb.IngestWebhookBatch{Requests: []*pb.IngestWebhookRequest{fullRequest()}})
	if err != nil {
		t.Fatal(err)
	}
	four, err := proto.Marshal(&pb.IngestWebhookBatch{Requests: []*pb.IngestWebhookRequest{fullRequest(), fullRequest(), fullRequest(), fullRequest()}})
	if err != nil {
		t.Fatal(err)
	}
	allocs := func(b []byte) float64 {
		return testing.AllocsPerRun(100, func() {
			if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &st); err != nil {
				t.Fatal(err)
			}
			st.Release()
		})
	}
	single, err := proto.Marshal(fullRequest())
	if err != nil {
		t.Fatal(err)
	}
	var alone pb.IngestWebhookRequest
	perRequest := testing.AllocsPerRun(100, func() {
		if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(single)}, &alone); err != nil {
			t.Fatal(err)
		}
	})
	// One string copy for the whole batch, where each request alone makes its own.
	if a1, a4 := allocs(one), allocs(four); a1 > perRequest || a4 > 4*perRequest-3 {
		t.Errorf("a batch of one: %.0f allocations, of four: %.0f; a request alone: %.0f", a1, a4, perRequest)
	}
}

// TestIngestBatchInPieces: a batch that comes in several buffers (one per HTTP/2 frame
// it crossed) is decoded as it is whole, into storage that keeps the copy, and whatever
// decoded before: what proto.Unmarshal gives.
func TestIngestBatchInPieces(t *testing.T) {
	all := batchCases(t)
	var st IngestBatch
	for _, b := range all {
		for _, cuts := range [][]int{{0}, {1}, {len(b) / 2}, {1, len(b) / 3, len(b) - 1}, {len(b)}} {
			var data mem.BufferSlice
			from := 0
			for _, c := range cuts {
				c = min(max(c, from), len(b))
				data = append(data, mem.SliceBuffer(b[from:c]))
				from = c
			}
			data = append(data, mem.SliceBuffer(b[from:]))
			err := Codec{}.Unmarshal(data, &st)
			want := new(pb.IngestWebhookBatch)
			wantErr := proto.Unmarshal(b, want)
			if (err == nil) != (wantErr == nil) || (err == nil && !proto.Equal(&st.IngestWebhookBatch, want)) {
				t.Fatalf("cut at %v: decoded (%v)\n%v\nproto.Unmarshal (%v)\n%v", cuts, err, &st.IngestWebhookBatch, wantErr, want)
			}
			st.Release()
		}
	}
}

// providerLevel is fullRequest as host/bench's deliveries come: no account.
func providerLevel(body string) *pb.IngestWebhookRequest {
	r := fullRequest()
	r.Webhook.Account, r.Webhook.AccountSecret = nil, ""
	r.Webhook.Body = []byte(body)
	r.Webhook.Headers[1].Values = []string{"msg_" + body}
	return r
}

// TestIngestBatchAllocationsDoNotGrow: a batch's requests are decoded into storage kept
// from batch to batch, their header values and bodies cut from a slice each per batch,
// so a batch of eight costs what a batch of one does.
func TestIngestBatchAllocationsDoNotGrow(t *testing.T) {
	var st IngestBatch
	allocs := func(n int) float64 {
		var reqs []*pb.IngestWebhookRequest
		for i := range n {
			reqs = append(reqs, providerLevel(strings.Repeat("x", 100+i)))
		}
		b, err := proto.Marshal(&pb.IngestWebhookBatch{Requests: reqs})
		if err != nil {
			t.Fatal(err)
		}
		return testing.AllocsPerRun(100, func() {
			if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &st); err != nil {
				t.Fatal(err)
			}
			st.Release()
		})
	}
	if a1, a8 := allocs(1), allocs(8); a8 > a1 {
		t.Errorf("a batch of eight: %.0f allocations, of one: %.0f", a8, a1)
	}
}

// TestIngestBatchKeepsWhatTheAdapterHolds: the bodies and header values the adapter is
// given (sdk's WebhookRequest holds them) stay as they were when the storage decodes the
// next batch, and appending to one request's never writes into another's.
func TestIngestBatchKeepsWhatTheAdapterHolds(t *testing.T) {
	batch := func(bodies ...string) []byte {
		var reqs []*pb.IngestWebhookRequest
		for _, b := range bodies {
			reqs = append(reqs, providerLevel(b))
		}
		b, err := proto.Marshal(&pb.IngestWebhookBatch{Requests: reqs})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var st IngestBatch
	if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(batch("first", "second", "third"))}, &st); err != nil {
		t.Fatal(err)
	}
	var bodies [][]byte
	var ids [][]string
	for _, r := range st.Requests {
		bodies = append(bodies, r.Webhook.Body)
		ids = append(ids, r.Webhook.Headers[1].Values)
	}
	_ = append(bodies[0], "XXXXXX"...)
	_ = append(ids[0], "appended")
	for i := range bodies[1] {
		bodies[1][i] = 'Z' // the adapter's to write into, too
	}
	names := []string{st.Requests[2].Webhook.Headers[0].Name, st.Requests[2].Webhook.Headers[1].Name}
	st.Release()
	if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(batch("other", "bodies", "here"))}, &st); err != nil {
		t.Fatal(err)
	}
	if names[0] != "Content-Type" || names[1] != "Webhook-Id" {
		t.Errorf("the third request's header names %q after writing into the second's body", names)
	}
	for i, want := range []string{"first", "ZZZZZZ", "third"} {
		if string(bodies[i]) != want || len(ids[i]) != 1 || ids[i][0] != "msg_"+[]string{"first", "second", "third"}[i] {
			t.Errorf("request %d: body %q, webhook-id %q; want %q, msg_%s", i, bodies[i], ids[i], want, want)
		}
	}
}

// BenchmarkUnmarshalResponse: the answer to one of host/bench's deliveries (10 readings
// of one device, each with a unit and its time), decoded by the host into reused storage
// as sdk/grpcplugin does.
func BenchmarkUnmarshalResponse(b *testing.B) {
	r := &pb.WebhookResult{DeliveryId: "bench-0000001234"}
	for i, m := range []string{"ph", "orp", "temperature", "free_chlorine", "salt", "battery", "signal", "tds", "bromine", "conductivity"} {
		r.Readings = append(r.Readings, &pb.Reading{ProviderDeviceId: "bench-device-0007", Metric: m, Value: 7.2 + float64(i),
			Unit: "ppm", RecordedAt: timestamppb.New(at)})
	}
	raw, err := proto.Marshal(&pb.IngestWebhookResponse{Result: r})
	if err != nil {
		b.Fatal(err)
	}
	data := mem.BufferSlice{mem.SliceBuffer(raw)}
	var answer IngestResponse
	b.ReportAllocs()
	for b.Loop() {
		if err := (Codec{}).Unmarshal(data, &answer); err != nil {
			b.Fatal(err)
		}
		answer.Release()
	}
}

// TestNextAsProtowire: next, which reads one-byte tags and lengths inline, reads every
// field as protowire's ConsumeField would, and refuses what it refuses.
func TestNextAsProtowire(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 300)
	fields := map[string][]byte{
		"one-byte tag and length":     protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("ph")),
		"two-byte length":             protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), long),
		"two-byte tag":                protowire.AppendVarint(protowire.AppendTag(nil, 300, protowire.VarintType), 1),
		"varint of 10 bytes":          protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 1<<63),
		"fixed64":                     protowire.AppendFixed64(protowire.AppendTag(nil, 3, protowire.Fixed64Type), 0x0102030405060708),
		"fixed32":                     protowire.AppendFixed32(protowire.AppendTag(nil, 3, protowire.Fixed32Type), 0x01020304),
		"field number 0":              {0x02, 0x00},
		"field number beyond 32 bits": protowire.AppendVarint(nil, uint64(1)<<35|uint64(protowire.VarintType)),
		"group":                       protowire.AppendTag(nil, 1, protowire.StartGroupType),
		"length past the end":         {0x0a, 0x05, 'a'},
		"truncated length":            {0x0a, 0x80},
		"truncated fixed64":           {0x19, 1, 2, 3},
		"truncated fixed32":           {0x1d, 1, 2},
		"truncated varint":            {0x10, 0x80},
		"truncated tag":               {0x80},
		"overlong varint":             {0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	}
	for name, b := range fields {
		num, typ, n := protowire.ConsumeField(b)
		d := decoder{b: append(b, 0x0a, 0x00)} // a field after: next must stop at end
		f, after, ok := d.next(0, len(b))
		wantOK := n >= 0 && typ != protowire.StartGroupType
		if ok != wantOK || ok && (after != n || f.num != num || f.typ != typ) {
			t.Errorf("%s: next = %+v, %d, %v; protowire: %d, %d, %d", name, f, after, ok, num, typ, n)
		}
	}
}

// TestValidUTF8: validUTF8 is utf8.Valid, either side of its short-string loop.
func TestValidUTF8(t *testing.T) {
	for _, s := range []string{"", "ph", "bench-device-0007", "€", "a\xff", "\xc3", strings.Repeat("a", 32) + "\xff", strings.Repeat("é", 20), strings.Repeat("a", 31) + "\x80"} {
		if got, want := validUTF8([]byte(s)), utf8.ValidString(s); got != want {
			t.Errorf("validUTF8(%q) = %v, want %v", s, got, want)
		}
	}
}

// BenchmarkUnmarshalBatch: a batch of twelve of host/bench's deliveries (a 1.2 KB body,
// a signed webhook's headers, no account; about 20 KB, past one HTTP/2 frame, so in two
// buffers), decoded by the plugin into the stream's storage as sdk does.
func BenchmarkUnmarshalBatch(b *testing.B) {
	body := `{"seq":1,"device_id":"bench-dev-1","readings":[` + strings.Repeat(`{"metric":"ph","value":7.4,"unit":"pH","recorded_at":"2026-12-07T08:00:00Z"},`, 14) + `{}]}`
	m := &pb.IngestWebhookBatch{}
	for range 12 {
		m.Requests = append(m.Requests, providerLevel(body))
	}
	raw, err := proto.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	data := mem.BufferSlice{mem.SliceBuffer(raw[:16<<10]), mem.SliceBuffer(raw[16<<10:])}
	var batch IngestBatch
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if err := (Codec{}).Unmarshal(data, &batch); err != nil {
			b.Fatal(err)
		}
		batch.Release()
	}
}

// TestIngestResponseUnreleased: an answer decoded into storage an earlier answer left
// filled (no Release between) is still what proto.Unmarshal gives: the result's delivery
// and account ids were the earlier answer's when the new one had none.
func TestIngestResponseUnreleased(t *testing.T) {
	full, err := proto.Marshal(fullResponse())
	if err != nil {
		t.Fatal(err)
	}
	sparse, err := proto.Marshal(&pb.IngestWebhookResponse{Result: &pb.WebhookResult{Readings: []*pb.Reading{{Metric: "ph"}, {Value: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	var r IngestResponse
	for _, order := range [][]byte{full, sparse, full, sparse} {
		if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(order)}, &r); err != nil {
			t.Fatal(err)
		}
		want := new(pb.IngestWebhookResponse)
		if err := proto.Unmarshal(order, want); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&r.IngestWebhookResponse, want) {
			t.Fatalf("decoded\n%v\nproto.Unmarshal\n%v", &r.IngestWebhookResponse, want)
		}
	}
	r.Release()
	for _, order := range [][]byte{sparse, full, sparse} { // released each time
		if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(order)}, &r); err != nil {
			t.Fatal(err)
		}
		want := new(pb.IngestWebhookResponse)
		_ = proto.Unmarshal(order, want)
		if !proto.Equal(&r.IngestWebhookResponse, want) {
			t.Fatalf("decoded after Release\n%v\nproto.Unmarshal\n%v", &r.IngestWebhookResponse, want)
		}
		r.Release()
	}
}
