package wire

import (
	"errors"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// A batch's answers on IngestWebhookBatchAnswers (adapter.proto) cross in one message,
// IngestWebhookBatchResponse { repeated IngestWebhookResponse answers = 1; }: the plugin
// writes it by hand (Answers), each answer as encode.go writes one of its own, and the
// host decodes each answer straight into the storage of the delivery it belongs to
// (BatchAnswers), as it decodes one of its own. One message instead of one an answer:
// at host/bench's 11 deliveries a message, 3.5 of the plugin's allocations per delivery
// and 5 of the host's fewer; BenchmarkIngestParallel flat out, the host's CPU per
// delivery 6.0 -> 5.7 µs (medians of seven interleaved pairs).

// Answers is an IngestWebhookBatchResponse the plugin's SDK built from its adapter's
// results, one answer per request of a batch: like Answer, its messages are the SDK's,
// never decoded, so the encoder does not look for unknown fields. An answer the hand
// encoder does not take (a webhook error, a status: a delivery that failed) is written
// by proto.Marshal in its place. A plugin sends one with the stream's SendMsg.
type Answers struct {
	pb.IngestWebhookBatchResponse
	sizes []int         // the hand-encoded answers' sizes (sizeResponse), in order
	parts []answerShape // each answer's size, and whether it is hand-encoded
}

type answerShape struct {
	n    int
	hand bool
}

// Reset drops the answers, keeping the storage.
func (a *Answers) Reset() {
	clear(a.Answers)
	a.Answers = a.Answers[:0]
}

// encodeAnswers writes a's answers into one buffer of batchPool, each sized once; ok is
// false when proto.Marshal is to write the message (or refuse it: an answer it cannot
// write, a nil answer).
func encodeAnswers(a *Answers) (data mem.BufferSlice, ok bool) {
	a.sizes, a.parts = a.sizes[:0], a.parts[:0]
	total := 0
	for _, m := range a.Answers {
		if m == nil {
			return nil, false
		}
		n, sizes, hand := sizeResponse(m, a.sizes)
		a.sizes = sizes
		if !hand {
			n = proto.Size(m)
		}
		a.parts = append(a.parts, answerShape{n, hand})
		total += 1 + sizeLen(n)
	}
	buf := batchPool.Get(total)
	b := (*buf)[:0]
	sz := a.sizes
	for i, m := range a.Answers {
		p := a.parts[i]
		b = append(b, byte(1<<3|protowire.BytesType))
		b = appendLen(b, p.n)
		if p.hand {
			b, sz = appendResponse(b, m, sz)
			continue
		}
		start := len(b)
		var err error
		if b, err = (proto.MarshalOptions{}).MarshalAppend(b, m); err != nil || len(b)-start != p.n {
			batchPool.Put(buf)
			return nil, false
		}
	}
	return finish(batchPool, buf, b, total)
}

// BatchAnswers is where the host decodes an IngestWebhookBatchResponse: each answer
// straight into the storage of its delivery (Into, in the batch's order), as an
// IngestResponse of its own is decoded, its strings cut from one copy of the whole
// message (one allocation a batch instead of one an answer). N is how many answers the
// message held: answers beyond len(Into) are counted and not decoded, so a plugin that
// answers more or fewer than it was asked is seen (N != len(Into)), never
// mis-assigned.
type BatchAnswers struct {
	Into []*IngestResponse
	N    int
}

// errMalformedAnswers is a message that is not an IngestWebhookBatchResponse.
var errMalformedAnswers = errors.New("wire: malformed IngestWebhookBatchResponse")

// unmarshal decodes data into a's deliveries' storage. An answer the fast decoder does
// not take (a failed delivery's status, a webhook error) is proto.Unmarshal's; an
// unknown field of the message (a newer plugin's) is skipped.
func (a *BatchAnswers) unmarshal(data mem.BufferSlice) error {
	a.N = 0
	b := data.Materialize() // the message's one copy: every answer's strings are cut from it
	d := decoder{b: b, copied: b}
	for pos, end := 0, len(b); pos < end; {
		f, after, ok := d.next(pos, end)
		if !ok || f.num == 1 && f.typ != protowire.BytesType {
			return errMalformedAnswers
		}
		pos = after
		if f.num != 1 {
			continue
		}
		if a.N < len(a.Into) {
			r := a.Into[a.N]
			d.st = r
			m := &r.IngestWebhookResponse
			proto.Reset(m)
			if !d.ingestResponseIn(f.start, f.end, m) {
				if err := proto.Unmarshal(b[f.start:f.end], m); err != nil {
					return err
				}
			}
		}
		a.N++
	}
	return nil
}
