// Package wire is gRPC's protobuf codec with hand-written decoders for the messages every
// webhook delivery crosses the plugin boundary in: IngestWebhookRequest, alone or in an
// IngestWebhookBatch (decoded by the plugin), and IngestWebhookResponse, alone or in an
// IngestWebhookBatchResponse (decoded by the host).
//
// The generated decoder allocates every message, every string and every timestamp of a
// delivery on its own: for host/bench's 10-reading delivery that was about 45 of the
// host's and 40 of the plugin's allocations. These decoders fill the same generated
// structs, with the repeated messages carved from one slice per kind and every string a
// substring of one copy of the message, so a delivery costs a handful.
//
// Why not a generated fast decoder: vtprotobuf v0.6.0's UnmarshalVTUnsafe (strings
// aliasing the input) still allocates each message and timestamp on its own — 26
// allocations for host/bench's 10-reading response and 21 for its request, against 6 and
// 10 here and proto.Unmarshal's 62 and 46 (measured 2026-12-06) — and its aliasing would
// tie every string to a buffer gRPC frees and reuses. These decoders copy the message into
// one string and are built on protobuf's own protowire.
//
// The bytes on the wire do not change, and neither does the result: a message the fast
// path does not fully understand (a field it does not handle, a field given twice that
// protobuf would merge, a wrong wire type, invalid UTF-8) is decoded by proto.Unmarshal,
// which then also gives the error. TestFastEqualsProto and FuzzFastEqualsProto hold the
// two to the same answer; TestEveryFieldIsKnown fails when adapter.proto grows a field the
// decoders do not know.
package wire

import (
	"encoding/binary"
	"unicode/utf8"
	"unsafe"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the codec delegated to
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// Codec is gRPC's "proto" codec with the fast decoders. Its name is "proto", so a call
// using it is the same call on the wire (content-type application/grpc+proto), and any
// peer understands it. IngestWebhookResponse (encode.go), IngestWebhookBatch and
// IngestWebhookRequest (encode_batch.go) and IngestWebhookBatchResponse (answers.go) are
// encoded by hand; every other message is the registered proto codec's.
type Codec struct{}

var _ encoding.CodecV2 = Codec{}

// std is grpc-go's own proto codec.
var std = encoding.GetCodecV2("proto")

func (Codec) Name() string { return "proto" }

// Marshal encodes the plugin's IngestWebhookResponse (encode.go) and
// IngestWebhookBatchResponse (answers.go) and the host's IngestWebhookBatch and
// IngestWebhookRequest (encode_batch.go) by hand, and every other message with gRPC's
// proto codec.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	var data mem.BufferSlice
	ok := false
	switch m := v.(type) {
	case *pb.IngestWebhookResponse:
		data, ok = marshalResponse(m)
	case *Answer:
		data, m.sizes, ok = encodeResponse(&m.IngestWebhookResponse, m.sizes[:0])
		v = &m.IngestWebhookResponse // proto.Marshal's, when not ok
	case *pb.IngestWebhookBatch:
		data, ok = marshalBatch(m, false)
	case *Batch:
		data, ok = marshalBatch(&m.IngestWebhookBatch, true)
		v = &m.IngestWebhookBatch // proto.Marshal's, when not ok
	case *pb.IngestWebhookRequest:
		data, ok = marshalRequest(m)
	case *Answers:
		data, ok = encodeAnswers(m)
		v = &m.IngestWebhookBatchResponse // proto.Marshal's, when not ok
	}
	if ok {
		return data, nil
	}
	return std.Marshal(v)
}

func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	var d decoder
	switch r := v.(type) {
	case *IngestResponse:
		d.st, v = r, &r.IngestWebhookResponse
	case *IngestBatch:
		d.batch, v = r, &r.IngestWebhookBatch
	case *BatchAnswers:
		return r.unmarshal(data)
	case *pb.IngestWebhookRequest, *pb.IngestWebhookResponse:
	default:
		return std.Unmarshal(data, v)
	}
	m := v.(proto.Message)
	if len(data) > 1 && d.batch != nil {
		d.b = d.batch.gather(data)
	} else {
		buf := data.MaterializeToBuffer(mem.DefaultBufferPool()) // one buffer: itself
		defer buf.Free()
		d.b = buf.ReadOnlyData()
	}
	if d.decode(m) {
		return nil
	}
	return proto.Unmarshal(d.b, m)
}

// decode decodes b into m, reset first, when the fast path takes it; false means m is
// to be decoded by proto.Unmarshal instead (m may be partly filled).
func decode(b []byte, m proto.Message) bool { return (&decoder{b: b}).decode(m) }

// decode decodes d.b into m, reset first, a response's messages carved from d.st's
// storage and a batch's requests from d.batch's (nil: new).
func (d *decoder) decode(m proto.Message) bool {
	proto.Reset(m)
	switch m := m.(type) {
	case *pb.IngestWebhookRequest:
		return d.ingestRequest(m)
	case *pb.IngestWebhookResponse:
		return d.ingestResponse(m)
	case *pb.IngestWebhookBatch:
		if d.batch == nil {
			d.batch = new(IngestBatch)
		}
		if !d.ingestBatch(d.batch) {
			return false
		}
		m.Requests = d.batch.Requests
		return true
	}
	return false
}

// IngestResponse is an IngestWebhookResponse with the storage its messages are decoded
// into, kept from one answer to the next: the host decodes every delivery's answer into
// one from a pool (sdk/grpcplugin), 4 allocations and 2.4 KB per delivery fewer
// (host/bench). The message is valid until Release; its strings and bytes stay valid
// after. It is embedded, so an IngestResponse is a proto.Message too, which any codec
// (a test's fake connection) decodes the generated way.
type IngestResponse struct {
	pb.IngestWebhookResponse
	result   pb.WebhookResult
	readings []pb.Reading
	times    []timestamppb.Timestamp
	ptrs     []*pb.Reading
}

// Release drops what the answer held (its strings and raw payloads are the caller's),
// keeping the storage.
func (r *IngestResponse) Release() {
	r.IngestWebhookResponse.Reset()
	r.result.Reset()
	clear(r.readings)
	clear(r.ptrs)
}

// decoder reads one message. Positions are offsets into b, so that a string field can be
// cut from copied, b copied once.
type decoder struct {
	b []byte
	// copied is the message's one copy (made on first use), which its strings and a
	// batch's bodies are cut from. Only a body's bytes may ever be written (by the
	// adapter that got it); no string is cut from them, each field's bytes being its
	// own, so every string's bytes stay as they were, as unsafe.String requires.
	copied []byte
	st     *IngestResponse // storage for a response's messages; nil: allocate them
	batch  *IngestBatch    // storage for a batch's requests; nil: allocate them

	// In a batch: the request being decoded's slot, how many requests are left (it
	// included), and what is left of the slice the batch's header values are cut from.
	slot *requestSlot
	left int
	vals []string
}

// field is one field of a message; for a length-delimited field, b[start:end] holds its
// bytes.
type field struct {
	num        protowire.Number
	typ        protowire.Type
	start, end int
	v          uint64 // varint and fixed values
}

// next reads the field at pos, which is before end; it returns the position after it.
// ok is false for malformed input and for groups, which these messages never hold.
//
// A tag or a length of one byte (every tag of these messages, and every length under 128)
// is read inline, the rest by protowire, with protowire's checks: every field of a
// delivery's answer goes through here, and with protowire's ConsumeTag, ConsumeVarint and
// ConsumeBytes for each, BenchmarkUnmarshalResponse (host/bench's 10-reading answer) took
// 2.7-3.9 µs, now 2.3-2.8 (four interleaved pairs).
func (d *decoder) next(pos, end int) (f field, after int, ok bool) {
	b := d.b[:end]
	var tag uint64
	if pos < len(b) && b[pos] < 0x80 {
		tag = uint64(b[pos])
		pos++
	} else {
		var n int
		if tag, n = protowire.ConsumeVarint(b[pos:]); n < 0 {
			return f, 0, false
		}
		pos += n
	}
	num, typ := protowire.DecodeTag(tag)
	if num < protowire.MinValidNumber {
		return f, 0, false // as ConsumeTag: 0, or beyond 32 bits
	}
	f.num, f.typ = num, typ
	switch typ {
	case protowire.VarintType:
		if pos < len(b) && b[pos] < 0x80 {
			f.v = uint64(b[pos])
			return f, pos + 1, true
		}
		v, n := protowire.ConsumeVarint(b[pos:])
		if n < 0 {
			return f, 0, false
		}
		f.v = v
		return f, pos + n, true
	case protowire.Fixed64Type:
		if len(b)-pos < 8 {
			return f, 0, false
		}
		f.v = binary.LittleEndian.Uint64(b[pos:])
		return f, pos + 8, true
	case protowire.Fixed32Type:
		if len(b)-pos < 4 {
			return f, 0, false
		}
		f.v = uint64(binary.LittleEndian.Uint32(b[pos:]))
		return f, pos + 4, true
	case protowire.BytesType:
		var l uint64
		if pos < len(b) && b[pos] < 0x80 {
			l = uint64(b[pos])
			pos++
		} else {
			var n int
			if l, n = protowire.ConsumeVarint(b[pos:]); n < 0 {
				return f, 0, false
			}
			pos += n
		}
		if l > uint64(len(b)-pos) {
			return f, 0, false
		}
		f.start, f.end = pos, pos+int(l)
		return f, f.end, true
	}
	return f, 0, false
}

// string is a string field's value: its bytes in the message's one copy (copy), made on
// first use (one allocation per message, not one per field). The strings keep that copy
// alive, which is the size of the message: a delivery's few hundred bytes, dropped with
// it. ok is false for invalid UTF-8, which proto3 refuses.
func (d *decoder) string(f field) (s string, ok bool) {
	if f.typ != protowire.BytesType {
		return "", false
	}
	v := d.b[f.start:f.end]
	if !validUTF8(v) {
		return "", false
	}
	if len(v) == 0 {
		return "", true
	}
	return unsafe.String(&d.copy()[f.start], len(v)), true
}

// copy is the message's one copy, made on first use.
func (d *decoder) copy() []byte {
	if d.copied == nil {
		d.copied = append([]byte(nil), d.b...)
	}
	return d.copied
}

// validUTF8 is utf8.Valid, with a short ASCII string (a reading's device id, metric or
// unit) checked by a plain loop first: utf8.Valid's setup for words of 8 bytes costs
// more than the few bytes themselves. BenchmarkUnmarshalResponse, four interleaved
// pairs: 3.13/3.18/2.86/3.13 -> 2.82/2.97/2.88/2.75 µs.
func validUTF8(v []byte) bool {
	if len(v) > 32 {
		return utf8.Valid(v)
	}
	var or byte
	for _, c := range v {
		or |= c
	}
	return or < utf8.RuneSelf || utf8.Valid(v)
}

// bytes is a bytes field's value, copied: the message's buffer goes back to gRPC's pool.
// Empty is nil, as proto.Unmarshal leaves it.
func (d *decoder) bytes(f field) ([]byte, bool) {
	if f.typ != protowire.BytesType {
		return nil, false
	}
	if f.start == f.end {
		return nil, true
	}
	return append([]byte(nil), d.b[f.start:f.end]...), true
}

// body is a request's body, copied as bytes copies it; in a batch it is the body's bytes
// in the batch's one copy (copied, which its strings are cut from), capped so that
// appending to it copies. The adapter may write into its body: no string is cut from a
// body's bytes (each field's bytes are its own), so nothing else of the batch sees it. What it buys: a second copy of the batch's bodies, cleared before it was
// written: the plugin's bytes allocated per delivery at postgres/c64/plugin 4.9 -> 3.6
// KB (three interleaved pairs).
func (d *decoder) body(f field) ([]byte, bool) {
	if d.slot == nil || f.typ != protowire.BytesType || f.start == f.end {
		return d.bytes(f)
	}
	return d.copy()[f.start:f.end:f.end], true
}

// timestamp decodes a google.protobuf.Timestamp into ts.
func (d *decoder) timestamp(f field, ts *timestamppb.Timestamp) bool {
	if f.typ != protowire.BytesType {
		return false
	}
	for pos := f.start; pos < f.end; {
		g, after, ok := d.next(pos, f.end)
		if !ok || g.typ != protowire.VarintType {
			return false
		}
		switch g.num {
		case 1:
			ts.Seconds = int64(g.v)
		case 2:
			ts.Nanos = int32(g.v)
		default:
			return false
		}
		pos = after
	}
	return true
}

// count returns how many fields number num the message in b[start:end] holds; ok is
// false for malformed input.
func (d *decoder) count(start, end int, num protowire.Number) (n int, ok bool) {
	for pos := start; pos < end; {
		f, after, ok := d.next(pos, end)
		if !ok {
			return 0, false
		}
		if f.num == num {
			n++
		}
		pos = after
	}
	return n, true
}
