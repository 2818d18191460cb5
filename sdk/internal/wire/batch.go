package wire

import (
	"google.golang.org/protobuf/encoding/protowire"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// IngestBatch is an IngestWebhookBatch with the storage its requests are decoded into,
// kept from one batch to the next: a plugin receives every batch of an
// IngestWebhookBatches stream into one. Each request is decoded by the same decoder as
// a request of its own (ingestRequestIn), so a batch costs the plugin what its requests
// would, less the messages. The requests are valid until Release; their strings and
// bytes stay valid after.
type IngestBatch struct {
	pb.IngestWebhookBatch
	reqs []pb.IngestWebhookRequest
	ptrs []*pb.IngestWebhookRequest
}

// Release drops the requests (their bodies and secrets), keeping the storage.
func (b *IngestBatch) Release() {
	b.IngestWebhookBatch.Reset()
	for i := range b.reqs {
		b.reqs[i].Reset()
	}
	clear(b.ptrs)
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
	}
	reqs, ptrs := b.reqs[:n], b.ptrs[:n]
	i := 0
	for pos, end := 0, len(d.b); pos < end; {
		f, after, ok := d.next(pos, end)
		if !ok || f.num != 1 || f.typ != protowire.BytesType {
			return false
		}
		reqs[i].Reset()
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
