package grpcplugin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/poolhost/poolhost/sdk"
	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
	"github.com/poolhost/poolhost/sdk/internal/wire"
	"github.com/poolhost/poolhost/sdk/tracing"
)

// Client calls a plugin's adapter over gRPC. It is safe for concurrent use. Every
// method passes its context through, so the caller's deadline and cancellation reach the
// plugin. Errors keep the sdk.ErrorKind and message the adapter returned; a call ended
// by the caller's context returns an error that matches both context.DeadlineExceeded
// (or context.Canceled) and sdk.KindTemporary.
type Client struct {
	rpc     pb.AdapterClient
	conn    grpc.ClientConnInterface // for IngestWebhook, which calls it directly
	batches *ingestBatches           // IngestWebhook's batches
	streams *ingestStreams           // IngestWebhook's pooled streams, for a plugin without batches
}

var (
	_ sdk.Adapter       = (*Client)(nil)
	_ sdk.Poller        = (*Client)(nil)
	_ sdk.HealthChecker = (*Client)(nil)
	_ sdk.Commander     = (*Client)(nil)
)

// ObserveIngestBatches has f told how many deliveries each IngestWebhookBatch message
// to the plugin carries (for a metric: the host's poolhost_plugin_ingest_batch_deliveries).
// Call it before the client is used.
func (c *Client) ObserveIngestBatches(f func(deliveries int)) { c.batches.observe = f }

// ParseError is returned by [Client.IngestWebhook] when the webhook passed verification
// but could not be parsed: the payload is authentic, so the host may keep it for retry
// (or as a dead letter when the cause is permanent). Err carries the sdk.ErrorKind.
type ParseError struct {
	Err error
}

func (e *ParseError) Error() string { return "parse verified webhook: " + e.Err.Error() }
func (e *ParseError) Unwrap() error { return e.Err }

func (c *Client) Describe(ctx context.Context) (sdk.Description, error) {
	res, err := c.rpc.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return sdk.Description{}, fromStatus(ctx, "describe", err)
	}
	return descriptionFromProto(res), nil
}

func (c *Client) Configure(ctx context.Context, req sdk.ConfigureRequest) error {
	_, err := c.rpc.Configure(ctx, configureRequestToProto(req))
	if err != nil {
		return fromStatus(ctx, "configure", err)
	}
	return nil
}

func (c *Client) Connect(ctx context.Context, req sdk.ConnectRequest) (sdk.ConnectResult, error) {
	res, err := c.rpc.Connect(ctx, &pb.ConnectRequest{
		RedirectUri: req.RedirectURI, State: req.State, Input: req.Input,
		CodeChallenge: req.CodeChallenge, CodeChallengeMethod: req.CodeChallengeMethod,
	})
	if err != nil {
		return sdk.ConnectResult{}, fromStatus(ctx, "connect", err)
	}
	out := sdk.ConnectResult{AuthorizeURL: res.GetAuthorizeUrl()}
	if res.GetLinkage() != nil {
		l := linkageFromProto(res.GetLinkage())
		out.Linkage = &l
	}
	return out, nil
}

func (c *Client) Callback(ctx context.Context, req sdk.CallbackRequest) (sdk.Linkage, error) {
	res, err := c.rpc.Callback(ctx, &pb.CallbackRequest{
		Code:         req.Code,
		State:        req.State,
		RedirectUri:  req.RedirectURI,
		Query:        req.Query,
		CodeVerifier: req.CodeVerifier,
	})
	if err != nil {
		return sdk.Linkage{}, fromStatus(ctx, "callback", err)
	}
	return linkageFromProto(res.GetLinkage()), nil
}

func (c *Client) DiscoverDevices(ctx context.Context, req sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
	res, err := c.rpc.DiscoverDevices(ctx, discoverRequestToProto(req))
	if err != nil {
		return sdk.DiscoverResult{}, fromStatus(ctx, "discover devices", err)
	}
	return discoverResultFromProto(res), nil
}

func (c *Client) VerifyWebhook(ctx context.Context, req sdk.WebhookRequest) error {
	_, err := c.rpc.VerifyWebhook(ctx, &pb.VerifyWebhookRequest{Webhook: webhookToProto(req)})
	if err != nil {
		return fromStatus(ctx, "verify webhook", err)
	}
	return nil
}

func (c *Client) Webhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	res, err := c.rpc.Webhook(ctx, &pb.WebhookRequest{Webhook: webhookToProto(req)})
	if err != nil {
		return sdk.WebhookResult{}, fromStatus(ctx, "webhook", err)
	}
	return webhookResultFromProto(res.GetResult()), nil
}

// ingestCallOptions are what the generated client passes (StaticMethod), and a codec that
// decodes the answer with sdk/internal/wire's decoder: about 45 fewer of the host's
// allocations per 10-reading delivery (host/bench), the same bytes on the wire. Made once,
// as the generated client's per-call slice was one more.
var ingestCallOptions = []grpc.CallOption{grpc.StaticMethod(), grpc.ForceCodecV2(wire.Codec{})}

// ingestAnswers recycles the storage IngestWebhook's answers are decoded into: they are
// converted to sdk types (which keep none of it) before the call returns.
var ingestAnswers = sync.Pool{New: func() any { return new(wire.IngestResponse) }}

// IngestWebhook verifies and parses a webhook in one round trip. A failed verification
// returns the verification error (kind sdk.KindRejected for a missing or wrong
// signature) and nothing was parsed. A verified webhook that failed to parse returns a
// *ParseError wrapping the parse error. Any other error (transport, deadline) means the
// webhook's authenticity is unknown.
func (c *Client) IngestWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	return c.IngestWebhookWithin(ctx, req, Bounds{})
}

// Bounds are limits a call applies itself, beside its context's deadline and
// cancellation: see [Client.IngestWebhookWithin].
type Bounds struct {
	// Timeout, when positive, ends the call that long after it starts (or at its
	// context's deadline, when that comes first). The call then fails as one whose
	// context's deadline passed: errors.Is(err, context.DeadlineExceeded).
	Timeout time.Duration
	// Abort, when set, ends the call once it is done: a supervisor's way to abandon the
	// calls waiting on a plugin it found unresponsive. The call then fails as one whose
	// context was cancelled.
	Abort context.Context
}

// IngestWebhookWithin is IngestWebhook within b, which it applies without deriving a
// context from ctx. On a pooled stream the timeout is the stream's own timer, re-armed
// for each delivery, and the stream watches ctx and b.Abort directly: a caller's
// context.WithTimeout per delivery, watched by the stream, was 7 more of the host's
// allocations per delivery (35, now 28: host/pluginmgr's TestIngestWebhookAllocations)
// and a timer made and cancelled each time (host/bench, postgres/c64/plugin).
func (c *Client) IngestWebhookWithin(ctx context.Context, req sdk.WebhookRequest, b Bounds) (sdk.WebhookResult, error) {
	l := b.limits(ctx)
	out := outgoingWebhooks.Get().(*outgoingWebhook)
	out.request.Webhook = out.fill(req)
	answer := ingestAnswers.Get().(*wire.IngestResponse)
	owned := true // false: a batch still holds them (see ingestBatches.do)
	defer func() {
		if owned {
			out.release()
			answer.Release()
			ingestAnswers.Put(answer)
		}
	}()
	res := &answer.IngestWebhookResponse
	err := errStreamUnsupported
	// While tracing is on, each delivery is a call of its own: its trace context travels
	// in that call's metadata.
	traced := tracing.Enabled()
	if !c.batches.unsupported.Load() && !traced {
		owned, err = c.batches.do(l, &out.request, answer)
	}
	if errors.Is(err, errStreamUnsupported) && !c.streams.unsupported.Load() && !traced {
		err = c.streams.do(l, &out.request, answer)
	}
	if errors.Is(err, errStreamUnsupported) {
		out.request.TimeoutNanos = 0 // the call's own header carries the deadline
		cctx, cancel := l.context()
		err = c.conn.Invoke(cctx, pb.Adapter_IngestWebhook_FullMethodName, &out.request, answer, ingestCallOptions...)
		cancel()
	}
	if err != nil {
		return sdk.WebhookResult{}, fromStatusEnded(l.ended(), "ingest webhook", err)
	}
	if e := res.GetWebhookError(); e != nil {
		// The caller's deadline can pass while the plugin parses: the payload is still
		// verified (a ParseError), and the failure must still read as the context's.
		if ctxErr := l.ended(); ctxErr != nil {
			return sdk.WebhookResult{}, &ParseError{Err: contextError("ingest webhook", ctxErr)}
		}
		return sdk.WebhookResult{}, &ParseError{Err: errorFromProto(e)}
	}
	return webhookResultFromProto(res.GetResult()), nil
}

// limits are what ends a call: its context, its deadline (the sooner of the context's
// and Bounds.Timeout from now; zero for none) and Bounds.Abort.
type limits struct {
	ctx      context.Context
	deadline time.Time
	abort    context.Context
}

func (b Bounds) limits(ctx context.Context) limits {
	l := limits{ctx: ctx, abort: b.Abort}
	if dl, ok := ctx.Deadline(); ok {
		l.deadline = dl
	}
	if b.Timeout > 0 {
		if own := time.Now().Add(b.Timeout); l.deadline.IsZero() || own.Before(l.deadline) {
			l.deadline = own
		}
	}
	return l
}

// ended is how the call was ended, nil while nothing ended it: its context's error, or
// DeadlineExceeded once the deadline passed (even before a timer saw it: see
// contextEnded), or Canceled once aborted.
func (l limits) ended() error {
	if err := ContextEnded(l.ctx); err != nil {
		return err
	}
	if !l.deadline.IsZero() && !time.Now().Before(l.deadline) {
		return context.DeadlineExceeded
	}
	if l.abort != nil && l.abort.Err() != nil {
		return context.Canceled
	}
	return nil
}

// context is a context that ends as the limits say, for a unary call; cancel releases it.
func (l limits) context() (context.Context, context.CancelFunc) {
	var ctx context.Context
	var cancel context.CancelFunc
	if l.deadline.IsZero() {
		ctx, cancel = context.WithCancel(l.ctx)
	} else {
		ctx, cancel = context.WithDeadline(l.ctx, l.deadline)
	}
	if l.abort == nil {
		return ctx, cancel
	}
	stop := context.AfterFunc(l.abort, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

func (c *Client) PollReadings(ctx context.Context, req sdk.PollRequest) (sdk.PollResult, error) {
	res, err := c.rpc.PollReadings(ctx, pollRequestToProto(req))
	if err != nil {
		return sdk.PollResult{}, fromStatus(ctx, "poll readings", err)
	}
	return pollResultFromProto(res), nil
}

// Health asks the plugin whether it can serve. A plugin that does not implement Health
// answers UNIMPLEMENTED (what a gRPC server in any language answers for a method it
// lacks; the Node and Python SDKs do for an adapter without one): that answer is an
// answer, so the plugin is healthy while it gives it, as a Go plugin without
// sdk.HealthChecker is.
func (c *Client) Health(ctx context.Context) error {
	if _, err := c.rpc.Health(ctx, &pb.HealthRequest{}); err != nil {
		if status.Code(err) == codes.Unimplemented && ContextEnded(ctx) == nil {
			return nil
		}
		return fromStatus(ctx, "health", err)
	}
	return nil
}

// ContextEnded is ctx.Err(), or DeadlineExceeded once the deadline has passed even if
// the context's timer has not fired yet: on a loaded machine the plugin's copy of the
// deadline can end its work, and its answer arrive, before that timer runs here. The
// host's supervisor asks it too, to name the clock that ran out.
func ContextEnded(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// contextError marks a call the caller's context ended: temporary for the host, and
// errors.Is-comparable with the context error.
func contextError(call string, ctxErr error) error {
	return fmt.Errorf("%w: %w", &sdk.Error{Kind: sdk.KindTemporary, Message: call}, ctxErr)
}
