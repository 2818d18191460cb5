package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
	"github.com/poolhost/poolhost/sdk/internal/convert"
	"github.com/poolhost/poolhost/sdk/internal/wire"
)

// IngestWebhooks serves IngestWebhook over one long-lived stream (adapter.proto): the
// host sends a delivery, waits for its answer, and sends the next, so each message is
// answered by IngestWebhook exactly as a unary call would be: under the deadline the
// request carries, and with a status that ends the stream where the unary call would have
// returned it. The host cancels a stream whose call its caller ended, and that cancels
// the adapter's work.
//
// What it buys: a unary call costs the host about 80 allocations of gRPC's per-call
// stream setup (host/bench, postgres/c64/plugin) and the plugin about as much; a message
// on an open stream a few.
func (s *grpcServer) IngestWebhooks(stream grpc.BidiStreamingServer[pb.IngestWebhookRequest, pb.IngestWebhookResponse]) error {
	ctx := stream.Context()
	// One request message for the whole stream: the decoder resets it, and nothing the
	// adapter is given points into it (strings and bytes are the decoder's copies).
	var req pb.IngestWebhookRequest
	// And one answer's storage: Send has marshalled an answer when it returns, and the
	// server has no stats handler that would read it later.
	var st answerStore
	for {
		if err := stream.RecvMsg(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the host closed the stream
			}
			return err
		}
		res, err := s.ingestOne(ctx, &req, &st)
		if err != nil {
			return err
		}
		err = stream.SendMsg(st.message(res))
		st.release()
		if err != nil {
			return err
		}
	}
}

// IngestWebhookBatches serves IngestWebhook for a batch of deliveries per message
// (adapter.proto): each request of a batch is answered in turn, in order, under the
// batch's deadline (batchDeadline), and a request IngestWebhook would have failed is answered with
// that status in the answer, so the stream goes on. What it buys: the host's deliveries
// that arrive while a batch is with the plugin cross in one message, not one each, and
// the plugin reads them with one wakeup; the answers are written as they are ready, and
// gRPC writes those that queue up behind each other together.
func (s *grpcServer) IngestWebhookBatches(stream grpc.BidiStreamingServer[pb.IngestWebhookBatch, pb.IngestWebhookResponse]) error {
	ctx := stream.Context()
	// One batch's storage for the whole stream, as IngestWebhooks keeps one request.
	var batch wire.IngestBatch
	var st answerStore
	for {
		if err := stream.RecvMsg(&batch); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		bctx, cancel := batchDeadline(ctx, batch.Requests)
		for _, req := range batch.Requests {
			res, err := s.ingestRecovering(bctx, req, &st)
			if err != nil {
				st.res.Result, st.res.WebhookError, st.res.Status = nil, nil, convert.StatusToProto(err)
				res = &st.res.IngestWebhookResponse
			}
			err = stream.SendMsg(st.message(res))
			st.release()
			if err != nil {
				cancel()
				return err
			}
		}
		cancel()
		batch.Release()
	}
}

// IngestWebhookBatchAnswers serves IngestWebhookBatches' batches with one answer message
// a batch (adapter.proto): each request is answered as there, in turn, and the batch's
// answers go together, encoded by hand in one buffer (wire.Answers), once the last is
// ready. What it buys: a write, a frame and on the host's side a read and a wakeup per
// batch instead of per delivery. host/bench, postgres/c64/plugin, 11 deliveries a
// message, eight interleaved pairs: the plugin's allocations per delivery 9.7 -> 6.2 and
// the host's 76 -> 71; the CPU per delivery within the VM's noise, the host's about 2%
// lower (host/bench/HISTORY.md, "The plugin boundary").
func (s *grpcServer) IngestWebhookBatchAnswers(stream grpc.BidiStreamingServer[pb.IngestWebhookBatch, pb.IngestWebhookBatchResponse]) error {
	ctx := stream.Context()
	var batch wire.IngestBatch
	var out wire.Answers
	// One answer's storage per request of the largest batch so far, kept from batch to
	// batch as IngestWebhookBatches keeps one.
	var stores []answerStore
	for {
		if err := stream.RecvMsg(&batch); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if len(stores) < len(batch.Requests) {
			stores = make([]answerStore, len(batch.Requests))
		}
		bctx, cancel := batchDeadline(ctx, batch.Requests)
		for i, req := range batch.Requests {
			st := &stores[i]
			res, err := s.ingestRecovering(bctx, req, st)
			if err != nil {
				st.res.Result, st.res.WebhookError, st.res.Status = nil, nil, convert.StatusToProto(err)
				res = &st.res.IngestWebhookResponse
			}
			out.Answers = append(out.Answers, res)
		}
		cancel()
		err := stream.SendMsg(&out)
		out.Reset()
		for i := range batch.Requests {
			stores[i].release()
		}
		batch.Release()
		if err != nil {
			return err
		}
	}
}

// batchDeadline is ctx under the latest deadline reqs carry (none if one carries none).
// They were sent together, each with the time its host-side call had left, so they
// differ by how long each waited for the batch; the latest keeps every delivery's own
// (the host ends each call at its own deadline whatever the plugin does), with one timer
// per batch instead of one per delivery: context.WithTimeout per delivery was 5–6% of
// the plugin's CPU (host/bench, postgres/c64/plugin, a profile of the plugin).
func batchDeadline(ctx context.Context, reqs []*pb.IngestWebhookRequest) (context.Context, context.CancelFunc) {
	var latest int64
	for _, req := range reqs {
		t := req.GetTimeoutNanos()
		if t <= 0 {
			return ctx, func() {}
		}
		latest = max(latest, t)
	}
	if latest == 0 { // an empty batch
		return ctx, func() {}
	}
	return withDeadline(ctx, time.Now().Add(time.Duration(latest)))
}

// answerStore is the storage an IngestWebhooks stream builds its answers in, kept from
// one delivery to the next: the answer, its result and its readings were 5 of the
// plugin's allocations per delivery (host/bench, postgres/c64/plugin: 26.4 -> 21.4).
type answerStore struct {
	res      wire.Answer
	result   pb.WebhookResult
	readings readingStore
}

// fill makes r the answer, in st's storage; valid until release.
func (st *answerStore) fill(r WebhookResult) *pb.IngestWebhookResponse {
	fillWebhookResult(&st.result, &st.readings, r)
	st.res.Result, st.res.WebhookError = &st.result, nil
	return &st.res.IngestWebhookResponse
}

// message is res as the stream sends it: the store's own answer as the wire.Answer it
// is part of, which the codec encodes without looking for unknown fields (the SDK made
// every message of it), any other (a parse failure's, new) as it is.
func (st *answerStore) message(res *pb.IngestWebhookResponse) any {
	if res == &st.res.IngestWebhookResponse {
		return &st.res
	}
	return res
}

// release drops what the answer held (the adapter's strings and payloads).
func (st *answerStore) release() {
	st.res.Result, st.res.Status = nil, nil
	st.result.Readings, st.result.TestSessions, st.result.CommandUpdates = nil, nil, nil
	st.result.DeliveryId, st.result.ProviderAccountId = "", ""
	st.readings.release()
}

// ingestOne answers one request under the deadline it carries, as a unary call's
// context would have it.
func (s *grpcServer) ingestOne(ctx context.Context, req *pb.IngestWebhookRequest, st *answerStore) (*pb.IngestWebhookResponse, error) {
	if t := req.GetTimeoutNanos(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = withDeadline(ctx, time.Now().Add(time.Duration(t)))
		defer cancel()
	}
	return s.ingestRecovering(ctx, req, st)
}

// ingestRecovering is IngestWebhook with the recovery the unary handlers get from
// recoverUnary: a panic is an INTERNAL status (the stream ends; the host opens another).
func (s *grpcServer) ingestRecovering(ctx context.Context, req *pb.IngestWebhookRequest, st *answerStore) (res *pb.IngestWebhookResponse, err error) {
	defer func() {
		if r := recover(); r != nil {
			Logger().Error("adapter panicked", "method", "IngestWebhooks", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			res, err = nil, status.Errorf(codes.Internal, "plugin panicked in IngestWebhooks (see plugin log)")
		}
	}()
	return s.ingest(ctx, req, st)
}
