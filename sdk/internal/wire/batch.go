package wire

import (
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// IngestBatch is an IngestWebhookBatch with the storage its requests are decoded into,
// kept from one batch to the next: a plugin receives every batch of an
// IngestWebhookBatches stream into one. Each request is decoded by the same decoder as
// a request of its own (ingestRequestIn), into a slot of messages (its webhook, received
// time and headers) kept from batch to batch; the header values and the bodies of a
// batch share one slice each, new for every batch. The requests are valid until Release;
// their strings, bytes and header values stay valid after.
//
// What it buys: a request of its own costs the webhook with its timestamp, the headers
// (3 slices) and the body; in a batch of five, host/bench's deliveries cost 2 of those
// 5 allocations per batch instead of per delivery.
type IngestBatch struct {
	pb.IngestWebhookBatch
	reqs  []pb.IngestWebhookRequest
	ptrs  []*pb.IngestWebhookRequest
	slots []requestSlot
	raw   []byte // a batch that came in more than one buffer, copied whole (gather)
}

// gather copies a message that came in more than one buffer into b's storage: a batch
// over 16 KiB crosses HTTP/2 frames, and gRPC hands it over one buffer a frame.
// MaterializeToBuffer took a buffer from gRPC's pool, which clears it whole on every Get
// (32 KiB for a 20 KB batch) before the copy: 1.9% of the plugin's CPU at
// postgres/c64/plugin (perf, 9.5 deliveries a message). The decoder keeps nothing
// pointing into it.
func (b *IngestBatch) gather(data mem.BufferSlice) []byte {
	b.raw = b.raw[:0]
	for _, buf := range data {
		b.raw = append(b.raw, buf.ReadOnlyData()...)
	}
	return b.raw
}

// requestSlot is the storage one request of a batch is decoded into, but for what the
// plugin's adapter is given (strings, header values, body), which are new per batch.
type requestSlot struct {
	webhook  pb.RawWebhook
	received timestamppb.Timestamp
	headers  []pb.Header
	ptrs     []*pb.Header
}

// Release drops the requests (their bodies and secrets), keeping the storage. The
// messages are zeroed rather than Reset: a generated Reset also stores the message's
// type information, an atomic store per message that the decoder's own zeroing made
// again (with every header's: 1.1% of the plugin's CPU at postgres/c64/plugin, perf); a
// zero message is a valid one.
func (b *IngestBatch) Release() {
	b.IngestWebhookBatch = pb.IngestWebhookBatch{}
	clear(b.reqs)
	clear(b.ptrs)
	for i := range b.slots {
		s := &b.slots[i]
		s.webhook, s.received = pb.RawWebhook{}, timestamppb.Timestamp{}
		clear(s.headers)
		clear(s.ptrs[:cap(s.ptrs)])
	}
}

// ingestBatch decodes IngestWebhookBatch { repeated IngestWebhookRequest requests = 1; }
// into b's storage.
func (d *decoder) ingestBatch(b *IngestBatch) bool {
	n, ok := d.count(0, len(d.b), 1)
	if !ok {
		return false
	}
	if cap(b.reqs) < n {
		b.reqs = make([]pb.IngestWebhookRequest, n)
		b.ptrs = make([]*pb.IngestWebhookRequest, n)
		b.slots = make([]requestSlot, n)
	}
	reqs, ptrs := b.reqs[:n], b.ptrs[:n]
	i := 0
	for pos, end := 0, len(d.b); pos < end; {
		f, after, ok := d.next(pos, end)
		if !ok || f.num != 1 || f.typ != protowire.BytesType {
			return false
		}
		reqs[i] = pb.IngestWebhookRequest{}
		d.slot, d.left = &b.slots[i], n-i
		if !d.ingestRequestIn(f.start, f.end, &reqs[i]) {
			return false
		}
		ptrs[i] = &reqs[i]
		i++
		pos = after
	}
	b.Requests = ptrs
	return true
}
