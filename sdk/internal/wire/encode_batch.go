package wire

import (
	"unicode/utf8"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// The host's side of every delivery, IngestWebhookBatch (and IngestWebhookRequest, on
// an IngestWebhooks stream or a unary call), is encoded by hand too, as the plugin's
// answer is (encode.go): gRPC's proto codec sized the batch with one walk of the
// generated field tables and wrote it with another. A CPU profile of the host
// (host/bench, postgres/c64/plugin, perf over 15,000 deliveries, 2026-12-07) had that
// marshal at 3.8 µs per delivery, 1.7 of it the sizing. BenchmarkMarshalBatch (five
// deliveries with a 1 KiB body and a signed webhook's headers), three runs with the box
// to itself: 5.4-6.7 -> 3.9-4.3 µs a batch, the same one allocation (gRPC's pooled
// buffer). End to end (postgres/c64/plugin, three interleaved pairs) the microsecond is
// below what the shared VM's drift lets a pair see.
//
// The fast path writes what proto.Marshal writes: fields in number order, a proto3
// scalar only when not zero, every element of a repeated field. Whatever it does not
// handle goes to proto.Marshal, which also gives the error: an account (its credentials
// are a map, which proto.Marshal writes in no fixed order), a nil request or header,
// unknown fields, invalid UTF-8. TestEncodeBatchEqualsProto and FuzzEncodeBatchEqualsProto
// hold the bytes to proto.Marshal's.

// Batch is an IngestWebhookBatch the host built of its own requests (sdk/grpcplugin's
// batches). Its messages are made by the host, never decoded, so they carry no unknown
// fields, and the encoder does not ask protobuf's reflection for them: a call for the
// batch, each request, its webhook, its timestamp and each header, 19% of
// BenchmarkMarshalBatch's CPU profile. With batchPool: BenchmarkMarshalBatch (five
// deliveries), three interleaved pairs, 4.97/4.64/4.40 -> 2.85/3.62/3.19 µs a batch. The host sends one with the stream's SendMsg;
// Codec encodes it as the IngestWebhookBatch it embeds.
type Batch struct{ pb.IngestWebhookBatch }

// marshalBatch encodes m into a pooled buffer; ok is false when m is for proto.Marshal.
// built says m is a Batch's, whose messages have no unknown fields to look for. Each
// webhook's size is computed once, kept for the append (a batch of the host's has at most
// 64 requests: sdk/grpcplugin's maxBatch).
func marshalBatch(m *pb.IngestWebhookBatch, built bool) (data mem.BufferSlice, ok bool) {
	if !built && unknown(m) {
		return nil, false
	}
	var kept [64]int
	sizes := kept[:0]
	n := 0
	for _, r := range m.Requests {
		if !handledRequest(r, built) {
			return nil, false
		}
		ws := webhookSize(r)
		sizes = append(sizes, ws)
		n += 1 + protowire.SizeBytes(sizeRequest(r, ws))
	}
	buf := batchPool.Get(n)
	b := (*buf)[:0]
	for i, r := range m.Requests {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizeRequest(r, sizes[i])))
		b = appendRequest(b, r, sizes[i])
	}
	return finish(batchPool, buf, b, n)
}

// batchPool holds the buffers the host's batches and requests, and the plugin's answers
// to a batch (answers.go), are written into, uncleared as answerPool's are (finish
// checks that every byte of the length asked for was written): gRPC's default pool
// cleared the whole 16 or 32 KiB buffer of every batch, 0.75 µs per delivery of the
// host's CPU at postgres/c64/plugin (perf over 20,000 deliveries, 9.1 a batch: 30 of the
// 475 samples in the batches' exchange). A message over dirtyPool's largest tier (64
// KiB: 64 deliveries of 1 KiB) takes gRPC's pool, which keeps buffers up to 1 MiB,
// rather than a new buffer each time.
var batchPool mem.BufferPool = batchBuffers{}

type batchBuffers struct{}

var smallBatches dirtyPool

func (batchBuffers) Get(n int) *[]byte {
	if smallBatches.tier(n) < len(smallBatches.tiers) {
		return smallBatches.Get(n)
	}
	return mem.DefaultBufferPool().Get(n)
}

func (batchBuffers) Put(buf *[]byte) {
	if smallBatches.tier(cap(*buf)) < len(smallBatches.tiers) {
		smallBatches.Put(buf)
		return
	}
	mem.DefaultBufferPool().Put(buf)
}

// marshalRequest encodes one request as marshalBatch encodes each of a batch.
func marshalRequest(m *pb.IngestWebhookRequest) (data mem.BufferSlice, ok bool) {
	if !handledRequest(m, false) {
		return nil, false
	}
	ws := webhookSize(m)
	n := sizeRequest(m, ws)
	buf := batchPool.Get(n)
	return finish(batchPool, buf, appendRequest((*buf)[:0], m, ws), n)
}

// finish hands b, written into buf, to gRPC, unless its length is not the n it was
// sized at (a bug in the sizes only): then proto.Marshal answers.
func finish(pool mem.BufferPool, buf *[]byte, b []byte, n int) (mem.BufferSlice, bool) {
	if len(b) != n {
		pool.Put(buf)
		return nil, false
	}
	*buf = b
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, true
}

// handledRequest says whether the encoder below writes r as proto.Marshal would; the
// sizes and appends check nothing. built: r's messages have no unknown fields (Batch).
func handledRequest(r *pb.IngestWebhookRequest, built bool) bool {
	if r == nil || !built && unknown(r) {
		return false
	}
	w := r.Webhook
	if w == nil {
		return true
	}
	if w.Account != nil || !utf8.ValidString(w.AccountSecret) || !built && (unknown(w) || w.ReceivedAt != nil && unknown(w.ReceivedAt)) {
		return false
	}
	for _, h := range w.Headers {
		if h == nil || !built && unknown(h) || !utf8.ValidString(h.Name) {
			return false
		}
		for _, v := range h.Values {
			if !utf8.ValidString(v) {
				return false
			}
		}
	}
	return true
}

// webhookSize is r's webhook's encoded size (0 when it has none).
func webhookSize(r *pb.IngestWebhookRequest) int {
	if r.Webhook == nil {
		return 0
	}
	return sizeWebhook(r.Webhook)
}

// sizeRequest is IngestWebhookRequest { RawWebhook webhook = 1; int64 timeout_nanos =
// 2; }'s encoded size, its webhook's being ws.
func sizeRequest(r *pb.IngestWebhookRequest, ws int) int {
	n := 0
	if r.Webhook != nil {
		n += 1 + protowire.SizeBytes(ws)
	}
	if r.TimeoutNanos != 0 {
		n += 1 + protowire.SizeVarint(uint64(r.TimeoutNanos))
	}
	return n
}

func appendRequest(b []byte, r *pb.IngestWebhookRequest, ws int) []byte {
	if w := r.Webhook; w != nil {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(ws))
		b = appendWebhook(b, w)
	}
	if r.TimeoutNanos != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(r.TimeoutNanos))
	}
	return b
}

// sizeWebhook is RawWebhook { repeated Header headers = 1; bytes body = 2; Timestamp
// received_at = 3; Account account = 4; string account_secret = 5; }'s, without the
// account (handledRequest leaves one to proto.Marshal).
func sizeWebhook(w *pb.RawWebhook) int {
	n := sizeString(w.AccountSecret)
	for _, h := range w.Headers {
		n += 1 + protowire.SizeBytes(sizeHeader(h))
	}
	if len(w.Body) > 0 {
		n += 1 + protowire.SizeBytes(len(w.Body))
	}
	if w.ReceivedAt != nil {
		n += 1 + protowire.SizeBytes(sizeTimestamp(w.ReceivedAt))
	}
	return n
}

func appendWebhook(b []byte, w *pb.RawWebhook) []byte {
	for _, h := range w.Headers {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizeHeader(h)))
		b = appendString(b, 1, h.Name)
		for _, v := range h.Values {
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			b = protowire.AppendString(b, v)
		}
	}
	if len(w.Body) > 0 {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, w.Body)
	}
	if ts := w.ReceivedAt; ts != nil {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizeTimestamp(ts)))
		b = appendTimestamp(b, ts)
	}
	return appendString(b, 5, w.AccountSecret)
}

// sizeHeader is Header { string name = 1; repeated string values = 2; }'s: every value
// is written, an empty one too.
func sizeHeader(h *pb.Header) int {
	n := sizeString(h.Name)
	for _, v := range h.Values {
		n += 1 + protowire.SizeBytes(len(v))
	}
	return n
}
