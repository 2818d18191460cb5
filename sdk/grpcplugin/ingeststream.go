package grpcplugin

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
	"github.com/poolhost/poolhost/sdk/internal/wire"
)

// ingestStreams is the client's pool of IngestWebhooks streams (adapter.proto): open
// streams, each carrying one delivery at a time, request then answer, so that a delivery
// is two messages on a stream already open instead of a new gRPC call. A unary call is a
// new HTTP/2 stream with its headers, trailers, status, call options, contexts and
// goroutine hand-offs on both sides: about 80 of the host's allocations per delivery and
// about as many of the plugin's (host/bench, postgres/c64/plugin: host 209 -> see the
// README's figure), and the matching CPU.
//
// A stream is used by one call at a time and goes back to the pool only after a clean
// exchange; any error, and any call its context ended, closes it. The pool holds at most
// maxIdleIngestStreams: a burst above that opens streams it closes afterwards.
type ingestStreams struct {
	streamPool
	// unsupported is set once the plugin answered UNIMPLEMENTED (an older SDK): every
	// delivery is a unary IngestWebhook from then on.
	unsupported atomic.Bool
}

// maxIdleIngestStreams bounds the open idle streams: a plugin keeps a goroutine and a few
// KB per stream. host/bench's 64 concurrent senders keep about that many busy.
const maxIdleIngestStreams = 64

type ingestStream struct {
	cs     grpc.ClientStream
	ctx    context.Context // the stream's: done once it is cancelled
	cancel context.CancelFunc
	used   bool // an exchange completed on it: the plugin implements the method
	// deadline cancels the stream when an exchange outlives its deadline: made with the
	// stream, stopped between exchanges, re-armed for each (see do).
	deadline *time.Timer
	// abort is the Bounds.Abort the stream is watched by, and stopAbort ends that watch.
	// The host gives every delivery to an instance the same one (the instance's), so the
	// stream is registered on it once, not per exchange, and stays registered while idle:
	// an abort then cancels idle streams too, which get drops. A registration per
	// exchange on that context, shared by every sender, was 2 of the host's allocations
	// and a lock all senders contend for, per delivery (host/pluginmgr's
	// TestIngestWebhookAllocations: 22 -> 20).
	abort     context.Context
	stopAbort func() bool
}

// close cancels the stream and ends its abort's watch, which would otherwise keep it
// until the abort's context ends (an instance's lifetime).
func (s *ingestStream) close() {
	s.cancel()
	if s.stopAbort != nil {
		s.stopAbort()
	}
}

// watchAbort makes abort the one that cancels s. false: the abort s watched until now
// fired, so s is cancelled (or about to be), and closed.
func (s *ingestStream) watchAbort(abort context.Context) bool {
	if abort == s.abort {
		return true
	}
	if s.stopAbort != nil && !s.stopAbort() {
		s.close()
		return false
	}
	s.abort, s.stopAbort = abort, nil
	if abort != nil {
		s.stopAbort = context.AfterFunc(abort, s.cancel)
	}
	return true
}

// ingestStreamOptions are ingestCallOptions for the stream: the answers are decoded by
// sdk/internal/wire's decoder into the caller's pooled storage.
var ingestStreamOptions = ingestCallOptions

func newIngestStreams(conn grpc.ClientConnInterface) *ingestStreams {
	return &ingestStreams{streamPool: newStreamPool(conn, &pb.Adapter_ServiceDesc.Streams[0], pb.Adapter_IngestWebhooks_FullMethodName)}
}

// streamPool holds the open idle streams of one of the Adapter's streaming methods
// (IngestWebhooks, IngestWebhookBatches), at most maxIdleIngestStreams.
type streamPool struct {
	conn   grpc.ClientConnInterface
	desc   *grpc.StreamDesc
	method string
	idle   chan *ingestStream
}

func newStreamPool(conn grpc.ClientConnInterface, desc *grpc.StreamDesc, method string) streamPool {
	return streamPool{conn: conn, desc: desc, method: method, idle: make(chan *ingestStream, maxIdleIngestStreams)}
}

// put gives back a stream after a clean exchange, or closes it when the pool is full.
func (p *streamPool) put(s *ingestStream) {
	select {
	case p.idle <- s:
	default:
		s.close()
	}
}

// errStreamUnsupported means the plugin does not serve IngestWebhooks and nothing was
// sent that it acted on: the caller makes the unary call instead.
var errStreamUnsupported = errors.New("grpcplugin: IngestWebhooks not implemented by the plugin")

// do sends req on a pooled stream and decodes the answer into answer. The error is the
// gRPC status the unary call would have returned (or errStreamUnsupported); how l ended
// the exchange, if it did, is l.ended()'s to say.
func (p *ingestStreams) do(l limits, req *pb.IngestWebhookRequest, answer *wire.IngestResponse) error {
	// The deadline travels in the request, as the time left (gRPC's grpc-timeout header
	// does that for a unary call); the plugin applies it to the adapter's context.
	req.TimeoutNanos = 0
	var left time.Duration
	if !l.deadline.IsZero() {
		left = time.Until(l.deadline)
		if left <= 0 {
			return status.Error(codes.DeadlineExceeded, context.DeadlineExceeded.Error())
		}
		req.TimeoutNanos = int64(left)
	}
	s, err := p.get(l.abort)
	if err != nil {
		return err
	}
	// The caller's context, the abort and the deadline end the exchange: cancelling the
	// stream makes RecvMsg return and, on the plugin's side, cancels the adapter's
	// context. One registration on the caller's context per delivery, released when the
	// answer is in; the abort's is the stream's (watchAbort), and the deadline is the
	// stream's own timer, so no context is made for it.
	stop := context.AfterFunc(l.ctx, s.cancel)
	if left > 0 {
		s.deadline.Reset(left)
	}
	err = s.cs.SendMsg(req)
	if err == nil || errors.Is(err, io.EOF) {
		// io.EOF from SendMsg: the stream ended; RecvMsg gives the status it ended with.
		err = s.cs.RecvMsg(answer)
	}
	live := stop()
	if left > 0 {
		live = s.deadline.Stop() && live
	}
	if !live || s.ctx.Err() != nil {
		// Something ended the exchange while it ran (or the abort, just after), so the
		// stream is cancelled; an answer that arrived first still counts, as a unary
		// call's would.
		s.close()
		return err
	}
	if err != nil {
		s.close()
		if !s.used && status.Code(err) == codes.Unimplemented {
			p.unsupported.Store(true)
			return errStreamUnsupported
		}
		return err
	}
	s.used = true
	p.put(s)
	return nil
}

// get takes an idle stream that abort has not cancelled, or opens one, watched by abort
// (nil: none).
func (p *streamPool) get(abort context.Context) (*ingestStream, error) {
	for {
		var s *ingestStream
		select {
		case s = <-p.idle:
		default:
		}
		if s == nil {
			break
		}
		if s.ctx.Err() == nil && s.watchAbort(abort) {
			return s, nil
		}
		s.close() // aborted while idle
	}
	return p.open(abort)
}

// open opens a stream watched by abort (nil: none). Its context is not the caller's: the
// stream outlives the call, and ends with the connection or its cancel.
func (p *streamPool) open(abort context.Context) (*ingestStream, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cs, err := p.conn.NewStream(ctx, p.desc, p.method, ingestStreamOptions...)
	if err != nil {
		cancel()
		return nil, err
	}
	// Made stopped: each exchange that has a deadline arms it.
	deadline := time.AfterFunc(time.Hour, cancel)
	deadline.Stop()
	s := &ingestStream{cs: cs, ctx: ctx, cancel: cancel, deadline: deadline}
	s.watchAbort(abort)
	return s, nil
}
