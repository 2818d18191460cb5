package grpcplugin

import (
	"cmp"
	"context"
	"errors"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
	"github.com/poolhost/poolhost/sdk/internal/convert"
	"github.com/poolhost/poolhost/sdk/internal/wire"
)

// ingestBatches sends IngestWebhook's deliveries in IngestWebhookBatch messages on
// IngestWebhookBatchAnswers streams, whose plugin answers a batch with one message, or,
// for a plugin of an older SDK, on IngestWebhookBatches streams, one message an answer
// (adapter.proto): the deliveries that arrive while a batch is with the plugin wait, and
// go together in the next, so under light load a batch carries one delivery, and under
// heavy load the boundary's cost per message (a write and a read on each side, the
// wakeups of both processes' goroutines, gRPC's framing) is shared by a batch instead of
// paid by every delivery.
//
// There is no timer and no leader goroutine: the caller whose delivery finds no batch
// with the plugin sends it once the goroutines ready to run have run (one yield of its
// P, so that deliveries that arrived together go together), with whatever waits, and the
// caller whose batch came back hands the next batch to the first delivery waiting, whose
// caller sends it.
// A second batch goes beside the first (a lane) once the deliveries waiting would keep
// the plugin busy for laneWait, going by its time per delivery in recent batches, so a
// plugin that is slow per delivery is not made to work through one long queue; at most
// maxLanes go at once, as many as the streams IngestWebhooks kept open. A fast plugin
// gains nothing from a second lane (a Go plugin runs on one P: sdk.Serve), and splitting
// the waiting deliveries into more messages costs both sides per message: at 64 senders
// through the plugin a message carried 5 deliveries with a lane per 8 waiting, 9 with
// one lane (host/bench, postgres/c64/plugin).
//
// A caller whose context ends while its delivery waits takes it out and returns. Once
// sent in a batch of one, its cancellation cancels the stream, as on IngestWebhooks;
// in a larger batch the delivery stays (the plugin is not told: the others of the batch
// go on), and the caller returns at once, leaving its storage to the batch's sender,
// unless it is that sender, which waits for the batch. The deadline travels with each
// delivery (timeout_nanos), and a batch's stream is cancelled when the soonest of its
// deliveries' deadlines passes, or when the plugin's instance is aborted.
type ingestBatches struct {
	// answers are IngestWebhookBatchAnswers streams (a batch's answers in one message),
	// streams IngestWebhookBatches streams (a message per answer), for a plugin of an SDK
	// from before IngestWebhookBatchAnswers: oneEach is set once it answered
	// UNIMPLEMENTED to the first.
	answers, streams streamPool
	oneEach          atomic.Bool
	// unsupported is set once the plugin answered UNIMPLEMENTED to both (an SDK from
	// before IngestWebhookBatches): the deliveries go on IngestWebhooks streams from then
	// on.
	unsupported atomic.Bool

	// observe, when set, is told how many deliveries each batch message carried.
	observe func(deliveries int)

	mu    sync.Mutex
	queue []*pendingIngest // waiting for a batch, in arrival order
	lanes int              // batches with the plugin, or being put together
	// took and carried are the batches' round trips (in seconds) and their deliveries,
	// each batch's added to seven eighths of the sums before it; laneAt is how many
	// deliveries must wait before another lane opens (laneAtFor), 0 before any batch.
	took, carried float64
	laneAt        int
}

const (
	// maxBatch and maxBatchBytes bound a batch: in deliveries, and in the bodies' bytes,
	// well inside gRPC's default 4 MiB for the message a plugin accepts (a delivery
	// larger than that goes alone).
	maxBatch      = 64
	maxBatchBytes = 256 << 10
	// Another batch goes beside those with the plugin once the deliveries waiting would
	// take the plugin laneWait, and at least laneBacklog and at most maxBatch wait; at
	// most maxLanes go at once. A plugin taking 1 ms or more per delivery gets a lane per
	// 8 waiting; one taking under 125 µs (a round trip over a batch's deliveries) gets
	// a second only when more wait than one batch takes.
	laneWait    = 8 * time.Millisecond
	laneBacklog = 8
	maxLanes    = maxIdleIngestStreams
)

// timed adds a batch's round trip to the plugin's time per delivery, and sets laneAt by
// it; the caller holds the mutex. The time per delivery includes the round trip's fixed
// cost (both processes' wakeups, the writes and reads), so it overstates a fast
// plugin's, and errs towards more lanes.
func (b *ingestBatches) timed(took time.Duration, deliveries int) {
	b.took = b.took*7/8 + took.Seconds()
	b.carried = b.carried*7/8 + float64(deliveries)
	b.laneAt = laneAtFor(time.Duration(b.took / b.carried * float64(time.Second)))
}

// laneAtFor is how many deliveries waiting open another lane for a plugin taking
// perDelivery for each.
func laneAtFor(perDelivery time.Duration) int {
	if perDelivery <= 0 {
		return maxBatch
	}
	return int(min(max(laneWait/perDelivery, laneBacklog), maxBatch))
}

// pendingIngest is one delivery on its way through ingestBatches. Its state, lead and
// err are guarded by the batches' mutex; its wake gets one token when its answer is in
// or when it is to send the next batch.
type pendingIngest struct {
	l      limits
	req    *pb.IngestWebhookRequest
	answer *wire.IngestResponse
	size   int
	err    error
	state  pendingState
	lead   bool
	wake   chan struct{}
	// batch and sent are its batch when it sends one, kept with it in pendings, and
	// answers where the batch's answers are decoded on IngestWebhookBatchAnswers.
	batch, sent []*pendingIngest
	answers     wire.BatchAnswers
}

type pendingState int

const (
	pendingQueued    pendingState = iota
	pendingSent                   // in a batch with the plugin
	pendingDone                   // answered: err, or answer holds the answer
	pendingAbandoned              // its caller returned while it was with the plugin
)

var pendings = sync.Pool{New: func() any { return &pendingIngest{wake: make(chan struct{}, 1)} }}

func newIngestBatches(conn grpc.ClientConnInterface) *ingestBatches {
	return &ingestBatches{
		answers: newStreamPool(conn, &pb.Adapter_ServiceDesc.Streams[2], pb.Adapter_IngestWebhookBatchAnswers_FullMethodName),
		streams: newStreamPool(conn, &pb.Adapter_ServiceDesc.Streams[1], pb.Adapter_IngestWebhookBatches_FullMethodName),
	}
}

// do sends req in a batch and decodes its answer into answer, as ingestStreams.do does
// on a stream of its own. owned is false when the caller must leave req and answer
// alone (its context ended while the delivery was with the plugin: the batch's sender
// still writes the answer); err then says how the caller's limits ended the call.
func (b *ingestBatches) do(l limits, req *pb.IngestWebhookRequest, answer *wire.IngestResponse) (owned bool, err error) {
	p := pendings.Get().(*pendingIngest)
	p.l, p.req, p.answer, p.err, p.state, p.lead = l, req, answer, nil, pendingQueued, false
	p.size = len(req.GetWebhook().GetBody())
	b.mu.Lock()
	b.queue = append(b.queue, p)
	laneAt := cmp.Or(b.laneAt, maxBatch) // no batch back yet: nothing says the plugin is slow
	idle := b.lanes == 0
	lead := idle || (len(b.queue) >= laneAt && b.lanes < maxLanes)
	if lead {
		b.lanes++
		p.lead = true
	}
	b.mu.Unlock()
	if !lead {
		var ok bool
		if lead, ok = b.wait(p); !ok {
			return false, status.FromContextError(l.ended()).Err()
		}
	}
	if lead { // its own turn, or handed on to it: p is answered when send returns
		if idle {
			// Let the callers that are ready to run reach the queue first: under load the
			// senders a group commit answered post again together, and their deliveries
			// reach the host together; sent at once, the first went alone and the others
			// waited a whole round trip (about 1 ms at 64 senders) for the next message.
			// Half of the messages carried one delivery (host/bench, postgres/c64/plugin).
			// With nothing else runnable the yield returns at once. Three interleaved
			// pairs (2026-12-07 11:15 UTC): deliveries per message 8.5-8.9 -> 10.2, the
			// host's CPU per delivery 94.4 / 93.7 / 95.2 -> 89.6 / 91.1 / 92.8 µs, the
			// plugin's 20.5 -> 19.0-20.0, deliveries/s 5,759 / 5,500 / 5,633 -> 5,963 /
			// 5,825 / 5,835.
			runtime.Gosched()
		}
		b.send(p)
	}
	err = p.err
	p.l, p.req, p.answer, p.err = limits{}, nil, nil, nil
	pendings.Put(p)
	return true, err
}

// wait waits for p's answer or its turn to send (lead), unless its caller's limits end
// first. ok is false when p was with the plugin as they ended: it is abandoned to its
// batch's sender.
func (b *ingestBatches) wait(p *pendingIngest) (lead, ok bool) {
	woke := false
	select {
	case <-p.wake:
		woke = true
	case <-p.l.ctx.Done():
	case <-doneOf(p.l.abort):
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case p.lead:
		if !woke {
			<-p.wake // sent under the mutex with lead: it is there
		}
		if ended := p.l.ended(); ended != nil {
			// Ended as its turn came: hand the turn on, and give up.
			p.lead = false
			b.dequeue(p)
			p.err, p.state = status.FromContextError(ended).Err(), pendingDone
			b.handOn()
			return false, true
		}
		return true, true
	case p.state == pendingDone:
		if !woke {
			<-p.wake
		}
		return false, true
	case p.state == pendingQueued:
		b.dequeue(p)
		p.err, p.state = status.FromContextError(p.l.ended()).Err(), pendingDone
		return false, true
	default: // with the plugin
		p.state = pendingAbandoned
		return false, false
	}
}

// A waiting delivery needs no timer of its own for its deadline: the batches ahead of it
// end by theirs (sooner: they came first, under the same per-method timeout), and a
// delivery whose deadline passed by its turn is not sent (exchange).

func doneOf(ctx context.Context) <-chan struct{} {
	if ctx == nil {
		return nil
	}
	return ctx.Done()
}

// dequeue takes p out of the queue; the caller holds the mutex.
func (b *ingestBatches) dequeue(p *pendingIngest) {
	if i := slices.Index(b.queue, p); i >= 0 {
		b.queue = slices.Delete(b.queue, i, i+1)
	}
}

// handOn gives the lane of a batch that came back to the first delivery waiting that is
// not already to send one, or closes the lane; the caller holds the mutex.
func (b *ingestBatches) handOn() {
	for _, next := range b.queue {
		if !next.lead {
			next.lead = true
			next.wake <- struct{}{}
			return
		}
	}
	b.lanes--
}

// take takes lead's batch from the queue: lead, then the deliveries waiting that are
// bound by the same abort and not to send batches of their own, up to maxBatch and
// maxBatchBytes. The caller holds the mutex.
func (b *ingestBatches) take(lead *pendingIngest) []*pendingIngest {
	batch := append(lead.batch[:0], lead)
	lead.lead, lead.state = false, pendingSent
	bytes := lead.size
	rest := b.queue[:0]
	for _, p := range b.queue {
		if p == lead {
			continue
		}
		if len(batch) < maxBatch && !p.lead && p.l.abort == lead.l.abort && bytes+p.size <= maxBatchBytes {
			batch = append(batch, p)
			bytes += p.size
			p.state = pendingSent
			continue
		}
		rest = append(rest, p)
	}
	clear(b.queue[len(rest):])
	b.queue = rest
	lead.batch = batch
	return batch
}

// send sends the batch lead heads, gives every delivery of it its answer, and hands the
// lane on.
func (b *ingestBatches) send(lead *pendingIngest) {
	b.mu.Lock()
	batch := b.take(lead)
	b.mu.Unlock()

	start := time.Now()
	b.exchange(lead, batch)
	took := time.Since(start)

	b.mu.Lock()
	b.timed(took, len(batch))
	for _, p := range batch {
		if p.state == pendingAbandoned {
			continue // its caller is gone; the storage goes with the batch
		}
		p.state = pendingDone
		if p != lead {
			p.wake <- struct{}{}
		}
	}
	b.handOn()
	b.mu.Unlock()
	clear(lead.batch)
}

// exchange sends lead's batch on a stream and sets each delivery's err (nil: its answer
// is in). A delivery whose deadline already passed is not sent. When the plugin answers
// UNIMPLEMENTED to IngestWebhookBatchAnswers (it acted on nothing), the batch goes
// again on IngestWebhookBatches; when the answers of a batch were refused together as
// too large (MaxMessage), each of its deliveries goes again in a batch of its own, so
// that only the answer too large is refused. (IngestWebhook only verifies and parses:
// answering a delivery twice changes nothing.)
func (b *ingestBatches) exchange(lead *pendingIngest, batch []*pendingIngest) {
	msg := batchMessages.Get().(*wire.Batch)
	defer func() {
		clear(msg.Requests)
		msg.Requests = msg.Requests[:0]
		batchMessages.Put(msg)
	}()
	sent := lead.sent[:0]
	defer func() { clear(sent); lead.sent = sent[:0] }()
	for {
		var soonest time.Duration
		sent, soonest = prepare(msg, batch, sent[:0])
		if len(sent) == 0 {
			return
		}
		switch b.roundTrip(lead, msg, sent, soonest, !b.oneEach.Load()) {
		case retryOneEach:
			continue
		case retryAlone:
			for _, p := range slices.Clone(sent) {
				alone, soonest := prepare(msg, []*pendingIngest{p}, nil)
				if len(alone) > 0 && b.roundTrip(lead, msg, alone, soonest, true) != retryNone {
					p.err = status.Error(codes.Unavailable, "plugin stream ended before this delivery's answer")
				}
			}
		}
		if b.observe != nil {
			b.observe(len(sent))
		}
		return
	}
}

// prepare makes msg the requests of batch whose deadlines have not passed, each with the
// time it has left, appended to sent; the others' err says their deadline passed.
// soonest is the least time left, 0 for none.
func prepare(msg *wire.Batch, batch, sent []*pendingIngest) (_ []*pendingIngest, soonest time.Duration) {
	clear(msg.Requests)
	msg.Requests = msg.Requests[:0]
	for _, p := range batch {
		p.req.TimeoutNanos = 0
		if !p.l.deadline.IsZero() {
			left := time.Until(p.l.deadline)
			if left <= 0 {
				p.err = status.Error(codes.DeadlineExceeded, context.DeadlineExceeded.Error())
				continue
			}
			p.req.TimeoutNanos = int64(left)
			if soonest == 0 || left < soonest {
				soonest = left
			}
		}
		msg.Requests = append(msg.Requests, p.req)
		sent = append(sent, p)
	}
	return sent, soonest
}

// retry is what roundTrip leaves to exchange: nothing, or the batch to send again (see
// exchange), the deliveries' err then unset.
type retry int

const (
	retryNone    retry = iota
	retryOneEach       // the plugin lacks IngestWebhookBatchAnswers: on IngestWebhookBatches
	retryAlone         // the answers together were refused as too large: each alone
)

// roundTrip sends msg, the requests of sent, on a stream of IngestWebhookBatchAnswers
// (whole) or IngestWebhookBatches, and sets each delivery's err (nil: its answer is in),
// unless it says the batch is to go again.
func (b *ingestBatches) roundTrip(lead *pendingIngest, msg *wire.Batch, sent []*pendingIngest, soonest time.Duration, whole bool) retry {
	pool := &b.streams
	if whole {
		pool = &b.answers
	}
	s, err := pool.get(lead.l.abort)
	if err != nil {
		for _, p := range sent {
			p.err = err
		}
		return retryNone
	}
	if soonest > 0 {
		s.deadline.Reset(soonest)
	}
	// A batch of one is its caller's alone: its caller's cancellation cancels the stream,
	// and so reaches the adapter, as on IngestWebhooks. A larger batch's sender waits
	// for the batch (its other deliveries' answers are its to hand out), bounded by the
	// deadlines and the abort.
	stop := func() bool { return true }
	if len(sent) == 1 {
		stop = context.AfterFunc(sent[0].l.ctx, s.cancel)
	}
	err = s.cs.SendMsg(msg)
	answered := 0
	if err == nil || errors.Is(err, io.EOF) {
		// io.EOF from SendMsg: the stream ended; RecvMsg gives the status it ended with.
		if whole {
			answered, err = recvAnswers(s.cs, &lead.answers, sent)
		} else {
			answered, err = recvEach(s.cs, sent)
		}
	}
	live := stop()
	if soonest > 0 {
		live = s.deadline.Stop() && live
	}
	if err != nil || !live || s.ctx.Err() != nil {
		s.close()
		if err != nil && answered == 0 && !s.used && status.Code(err) == codes.Unimplemented {
			if whole {
				b.oneEach.Store(true)
				return retryOneEach
			}
			b.unsupported.Store(true)
			err = errStreamUnsupported
		}
		if whole && live && len(sent) > 1 && status.Code(err) == codes.InvalidArgument {
			return retryAlone
		}
		for i, p := range sent[answered:] {
			p.err = err
			if !live && len(sent) > 1 {
				// The soonest deadline of the batch passed; this delivery's own may not
				// have (if it did, its caller's limits say so).
				p.err = status.Error(codes.Unavailable, "plugin did not answer a batch of deliveries before the soonest of their deadlines")
			}
			if i > 0 && status.Code(err) == codes.InvalidArgument {
				// The plugin's answer to the delivery before it was refused (MaxMessage):
				// that one is permanent, this one only travelled with it.
				p.err = status.Error(codes.Unavailable, "plugin stream ended before this delivery's answer: "+status.Convert(err).Message())
			}
			if p.err == nil {
				p.err = status.Error(codes.Unavailable, "plugin stream ended before this delivery's answer")
			}
		}
		return retryNone
	}
	s.used = true
	pool.put(s)
	return retryNone
}

// recvEach reads sent's answers on IngestWebhookBatches, one message each, into their
// deliveries' storage; answered is how many are in.
func recvEach(cs grpc.ClientStream, sent []*pendingIngest) (answered int, err error) {
	for _, p := range sent {
		if err := cs.RecvMsg(p.answer); err != nil {
			return answered, err
		}
		p.err = convert.StatusFromProto(p.answer.GetStatus())
		answered++
	}
	return answered, nil
}

// recvAnswers reads sent's answers on IngestWebhookBatchAnswers, one message for all,
// each decoded into its delivery's storage (into is where the lead keeps the list).
// A message with more or fewer answers than sent fails them all: which answer is whose
// is then unknown.
func recvAnswers(cs grpc.ClientStream, into *wire.BatchAnswers, sent []*pendingIngest) (answered int, err error) {
	into.Into = into.Into[:0]
	for _, p := range sent {
		into.Into = append(into.Into, p.answer)
	}
	defer clear(into.Into)
	if err := cs.RecvMsg(into); err != nil {
		return 0, err
	}
	if into.N != len(sent) {
		return 0, status.Errorf(codes.Internal, "plugin answered a batch of %d deliveries with %d answers (IngestWebhookBatchAnswers)", len(sent), into.N)
	}
	for _, p := range sent {
		p.err = convert.StatusFromProto(p.answer.GetStatus())
	}
	return len(sent), nil
}

// batchMessages recycles the batch message: gRPC has marshalled it when SendMsg returns.
// It is a wire.Batch: the host's own requests, whose encoder need not look for unknown
// fields.
var batchMessages = sync.Pool{New: func() any { return new(wire.Batch) }}
