package wire

import (
	"math"
	"math/bits"
	"sync"
	"unicode/utf8"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// The plugin's answer to every delivery, IngestWebhookResponse, is encoded by hand: the
// generated marshaller walks each message's field table, and gRPC's codec marshals an
// answer under 1 KiB into a new slice of its own. These functions write the same bytes,
// field by field in number order as proto.Marshal does, into a pooled buffer
// (answerPool). BenchmarkMarshalResponse (an 11-reading answer), CPU-profile samples over
// 300,000 answers, two runs each: 2.4-2.5 -> 1.5-1.7 µs of CPU, 3 -> 1 allocations and
// 520 -> 16 bytes per answer; host/bench's generic plugin makes 2 allocations fewer per
// delivery. (The end-to-end benchmarks on the shared box cannot see a microsecond.)
//
// Whatever they do not handle goes to proto.Marshal, which also gives the error: a
// webhook error, test sessions, command updates, a nil reading, unknown fields, invalid
// UTF-8. TestEncodeEqualsProto and FuzzEncodeEqualsProto hold the bytes to
// proto.Marshal's.

// marshalResponse encodes m into a buffer of answerPool; ok is false when m is for
// proto.Marshal.
func marshalResponse(m *pb.IngestWebhookResponse) (data mem.BufferSlice, ok bool) {
	if unknownIn(m) {
		return nil, false
	}
	var kept [16]int
	data, _, ok = encodeResponse(m, kept[:0])
	return data, ok
}

// Answer is an IngestWebhookResponse the plugin's SDK built from its adapter's result
// (sdk's answerStore), with storage its encoder keeps from one answer to the next. Its
// messages are made by the SDK, never decoded, so they carry no unknown fields, and the
// encoder does not ask protobuf's reflection for them (a call per reading and its
// timestamp: 1.1% of the plugin's CPU at postgres/c64/plugin, perf). A plugin sends one
// with the stream's SendMsg; Codec encodes it as the IngestWebhookResponse it embeds.
type Answer struct {
	pb.IngestWebhookResponse
	sizes []int // each reading's size, from encodeResponse's sizing to its append
}

// Reset drops the answer's messages, keeping the storage.
func (a *Answer) Reset() { a.IngestWebhookResponse = pb.IngestWebhookResponse{} }

// unknownIn says whether any message of m that encodeResponse writes carries unknown
// fields (a message decoded from a newer peer), which proto.Marshal writes back.
func unknownIn(m *pb.IngestWebhookResponse) bool {
	if unknown(m) {
		return true
	}
	r := m.Result
	if r == nil {
		return false
	}
	if unknown(r) {
		return true
	}
	for _, rd := range r.Readings {
		if rd != nil && (unknown(rd) || (rd.RecordedAt != nil && unknown(rd.RecordedAt))) {
			return true
		}
	}
	return false
}

// encodeResponse writes IngestWebhookResponse { WebhookResult result = 1; } down to the
// readings as proto.Marshal does, its messages' unknown fields aside (the caller's to
// check); ok is false for what proto.Marshal is to write or refuse (sizeResponse). The
// sizes are computed once, appended to sz for the append (returned, for its storage).
func encodeResponse(m *pb.IngestWebhookResponse, sz []int) (data mem.BufferSlice, sizes []int, ok bool) {
	n, sz, ok := sizeResponse(m, sz)
	if !ok {
		return nil, sz, false
	}
	buf := answerPool.Get(n)
	b, _ := appendResponse((*buf)[:0], m, sz)
	data, ok = finish(answerPool, buf, b, n)
	return data, sz, ok
}

// sizeResponse is m's encoded size, its messages' unknown fields aside. It appends to sz
// the sizes appendResponse writes m with: the result's, then each reading's (nothing
// without a result). ok is false, sz as it was, for what proto.Marshal is to write or
// refuse: a webhook error, a status, test sessions, command updates, a nil reading,
// invalid UTF-8.
func sizeResponse(m *pb.IngestWebhookResponse, sz []int) (n int, sizes []int, ok bool) {
	if m.WebhookError != nil || m.Status != nil {
		return 0, sz, false
	}
	r := m.Result
	if r == nil {
		return 0, sz, true
	}
	if len(r.TestSessions) > 0 || len(r.CommandUpdates) > 0 || !utf8.ValidString(r.DeliveryId) || !utf8.ValidString(r.ProviderAccountId) {
		return 0, sz, false
	}
	at := len(sz)
	sz = append(sz, 0) // the result's, once its readings are sized
	result := sizeString(r.DeliveryId) + sizeString(r.ProviderAccountId)
	var prev *pb.Reading
	for _, rd := range r.Readings {
		s, ok := sizeReading(rd, prev)
		if !ok {
			return 0, sz[:at], false
		}
		prev = rd
		sz = append(sz, s)
		result += 1 + sizeLen(s)
	}
	sz[at] = result
	return 1 + sizeLen(result), sz, true
}

// appendResponse appends m as sizeResponse sized it, sz starting with its sizes; rest is
// what follows them.
func appendResponse(b []byte, m *pb.IngestWebhookResponse, sz []int) (_ []byte, rest []int) {
	r := m.Result
	if r == nil {
		return b, sz
	}
	b = append(b, byte(1<<3|protowire.BytesType))
	b = appendLen(b, sz[0])
	for i, rd := range r.Readings {
		b = append(b, byte(1<<3|protowire.BytesType))
		b = appendLen(b, sz[1+i])
		b = appendReading(b, rd)
	}
	b = appendString(b, 2, r.DeliveryId)
	b = appendString(b, 3, r.ProviderAccountId)
	return b, sz[1+len(r.Readings):]
}

// sizeReading is Reading { string provider_device_id = 1; string metric = 2; double
// value = 3; string unit = 4; Timestamp recorded_at = 5; string quality = 6; bytes
// raw_payload = 7; string qualifier = 8; }'s encoded size; ok is false for a nil reading
// or a string that is not valid UTF-8, which proto3 refuses. A string equal to the same
// field of prev (the reading before, sized already; nil for none) is not checked again:
// a delivery's readings share their device id and often their unit, and == between
// strings sharing their bytes is a pointer compare (ValidString was 0.9% of the
// plugin's CPU at postgres/c64/plugin, perf).
func sizeReading(r, prev *pb.Reading) (n int, ok bool) {
	if r == nil {
		return 0, false
	}
	var was [5]string
	if prev != nil {
		was = [...]string{prev.ProviderDeviceId, prev.Metric, prev.Unit, prev.Quality, prev.Qualifier}
	}
	for i, s := range [...]string{r.ProviderDeviceId, r.Metric, r.Unit, r.Quality, r.Qualifier} {
		if s != was[i] && !utf8.ValidString(s) {
			return 0, false
		}
		n += sizeString(s)
	}
	if hasDouble(r.Value) {
		n += 1 + 8
	}
	if r.RecordedAt != nil {
		n += 1 + sizeLen(sizeTimestamp(r.RecordedAt))
	}
	if len(r.RawPayload) > 0 {
		n += 1 + sizeLen(len(r.RawPayload))
	}
	return n, true
}

func appendReading(b []byte, r *pb.Reading) []byte {
	b = appendString(b, 1, r.ProviderDeviceId)
	b = appendString(b, 2, r.Metric)
	if hasDouble(r.Value) {
		b = append(b, byte(3<<3|protowire.Fixed64Type))
		b = protowire.AppendFixed64(b, math.Float64bits(r.Value))
	}
	b = appendString(b, 4, r.Unit)
	if ts := r.RecordedAt; ts != nil {
		b = append(b, byte(5<<3|protowire.BytesType))
		b = appendLen(b, sizeTimestamp(ts))
		b = appendTimestamp(b, ts)
	}
	b = appendString(b, 6, r.Quality)
	if len(r.RawPayload) > 0 {
		b = append(b, byte(7<<3|protowire.BytesType))
		b = appendLen(b, len(r.RawPayload))
		b = append(b, r.RawPayload...)
	}
	return appendString(b, 8, r.Qualifier)
}

// sizeTimestamp is Timestamp { int64 seconds = 1; int32 nanos = 2; }'s.
func sizeTimestamp(ts *timestamppb.Timestamp) int {
	n := 0
	if ts.Seconds != 0 {
		n += 1 + protowire.SizeVarint(uint64(ts.Seconds))
	}
	if ts.Nanos != 0 {
		n += 1 + protowire.SizeVarint(uint64(ts.Nanos))
	}
	return n
}

func appendTimestamp(b []byte, ts *timestamppb.Timestamp) []byte {
	if ts.Seconds != 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(ts.Seconds))
	}
	if ts.Nanos != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(ts.Nanos)) // int32: sign-extended, as protobuf does
	}
	return b
}

// sizeString is a proto3 string field's size, numbered under 16 (a one-byte tag):
// nothing when empty.
func sizeString(s string) int {
	if s == "" {
		return 0
	}
	return 1 + sizeLen(len(s))
}

// appendString appends a proto3 string field numbered under 16: nothing when empty.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, byte(num)<<3|byte(protowire.BytesType))
	b = appendLen(b, len(s))
	return append(b, s...)
}

// sizeLen is a length-delimited field's length prefix and bytes: n under 128, nearly
// every string and reading of an answer, takes one byte without protowire's general
// varint (which the encoder called three times a reading field: about a sixth of its
// CPU in perf).
func sizeLen(n int) int {
	if n < 0x80 {
		return 1 + n
	}
	return protowire.SizeBytes(n)
}

// appendLen appends n as a varint, one byte when under 128.
func appendLen(b []byte, n int) []byte {
	if n < 0x80 {
		return append(b, byte(n))
	}
	return protowire.AppendVarint(b, uint64(n))
}

// hasDouble says whether a proto3 double is written: every value but +0.
func hasDouble(v float64) bool { return v != 0 || math.Signbit(v) }

// unknown says whether m carries unknown fields (a message decoded from a newer peer),
// which proto.Marshal writes back.
func unknown(m proto.Message) bool { return len(m.ProtoReflect().GetUnknown()) > 0 }

// answerPool holds the buffers answers are written into. gRPC's default pool clears a
// buffer whole on every Get (4 KiB for a 700-byte answer) so that no earlier message
// shows through a caller's careless read; encodeResponse writes every byte of the length
// it asks for (finish checks), so nothing earlier can show, and this pool does not clear:
// 1.4% of the plugin's CPU at postgres/c64/plugin (perf). gRPC puts a buffer back once
// its bytes are on the connection.
var answerPool mem.BufferPool = &dirtyPool{}

// dirtyPool pools buffers of powers of two from 2 KiB to 64 KiB, uncleared; a larger
// one is made and dropped. (gRPC keeps a buffer of 1 KiB or less as a plain slice it
// never puts back: the smallest tier is above that.)
type dirtyPool struct{ tiers [6]sync.Pool }

const smallestTier = 2 << 10

// tier is the index of the smallest tier holding n bytes (len(tiers): none).
func (p *dirtyPool) tier(n int) int {
	if n <= smallestTier {
		return 0
	}
	return min(bits.Len(uint(n-1))-11, len(p.tiers))
}

func (p *dirtyPool) Get(n int) *[]byte {
	i := p.tier(n)
	if i < len(p.tiers) {
		if buf, ok := p.tiers[i].Get().(*[]byte); ok {
			*buf = (*buf)[:n]
			return buf
		}
		b := make([]byte, n, smallestTier<<i)
		return &b
	}
	b := make([]byte, n)
	return &b
}

func (p *dirtyPool) Put(buf *[]byte) {
	c := cap(*buf)
	if i := p.tier(c); i < len(p.tiers) && c == smallestTier<<i {
		p.tiers[i].Put(buf)
	}
}
