package sdktest

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	"github.com/poolhost/poolhost/sdk/internal/wire"
	"github.com/poolhost/poolhost/sdk/judge"
)

// Direct adapts an in-process adapter to [Target]. Every call, Connect and Callback
// included, is the host's own: the host's client (sdk/grpcplugin) calls the plugin
// side's own service ([sdk.RegisterGRPCServer], what [sdk.Serve] serves), and only the
// transport between them is replaced by memory. So each request reaches the adapter,
// and each answer and each error comes back, through the code a host and a plugin run:
// times in UTC without a monotonic clock reading, header names canonical and repeated
// ones merged, empty maps and slices as nil, a reading with a time Timed, a result with
// an id the SDK refuses ([sdk.CheckID]) refused, and an error rebuilt from its gRPC
// status as the host rebuilds it: its kind, its message without the wrapping's kind
// prefix, its reason, refreshed credentials and Retry-After (at most 24 hours), and
// nothing else of its chain; an error of no kind the wire knows, temporary; a panic,
// recovered and reported as temporary (its stack in the plugin's log); a message that is
// not UTF-8 as gRPC's transport carries it; an answer over the host's default
// max_message_bytes refused in the host's words. Streams answer UNIMPLEMENTED, so
// IngestWebhook is one unary call, as a host makes it to a plugin without streams.
// Unlike [Connect], no process, socket or TLS is involved, and the adapter's errors
// reach the checks without a deadline of the transport's own.
func Direct(a sdk.Adapter) Target {
	conn := &memConn{}
	sdk.RegisterGRPCServer(conn, a)
	return direct{adapter: a, c: grpcplugin.NewClient(conn)}
}

// direct is the host's client of an adapter served in memory; adapter is the adapter
// itself, for what it implements (sdk.Commander).
type direct struct {
	adapter sdk.Adapter
	c       *grpcplugin.Client
}

var (
	_ sdk.Adapter       = direct{}
	_ sdk.Poller        = direct{}
	_ sdk.Commander     = direct{}
	_ sdk.HealthChecker = direct{}
)

func (d direct) Describe(ctx context.Context) (sdk.Description, error) { return d.c.Describe(ctx) }
func (d direct) Configure(ctx context.Context, req sdk.ConfigureRequest) error {
	return d.c.Configure(ctx, req)
}
func (d direct) Connect(ctx context.Context, req sdk.ConnectRequest) (sdk.ConnectResult, error) {
	return d.c.Connect(ctx, req)
}
func (d direct) Callback(ctx context.Context, req sdk.CallbackRequest) (sdk.Linkage, error) {
	return d.c.Callback(ctx, req)
}
func (d direct) DiscoverDevices(ctx context.Context, req sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
	return d.c.DiscoverDevices(ctx, req)
}
func (d direct) VerifyWebhook(ctx context.Context, req sdk.WebhookRequest) error {
	return d.c.VerifyWebhook(ctx, req)
}
func (d direct) Webhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	return d.c.Webhook(ctx, req)
}
func (d direct) IngestWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	return d.c.IngestWebhook(ctx, req)
}
func (d direct) PollReadings(ctx context.Context, req sdk.PollRequest) (sdk.PollResult, error) {
	return d.c.PollReadings(ctx, req)
}
func (d direct) Health(ctx context.Context) error { return d.c.Health(ctx) }

// memConn is Direct's transport: a grpc.ServiceRegistrar for the plugin side's service
// and a grpc.ClientConnInterface for the host's client. A call encodes its request with
// the codec both sides use (wire.Codec: gRPC's proto codec, with poolhost's fast paths),
// decodes it in the service's handler, and brings the answer back the same way; a
// failed call's status is what gRPC's transport delivers of it.
type memConn struct {
	srv     any
	methods map[string]grpc.MethodDesc // by full method name, "/service/Method"
}

func (c *memConn) RegisterService(desc *grpc.ServiceDesc, impl any) {
	c.srv = impl
	c.methods = make(map[string]grpc.MethodDesc, len(desc.Methods))
	for _, m := range desc.Methods {
		c.methods["/"+desc.ServiceName+"/"+m.MethodName] = m
	}
}

func (c *memConn) Invoke(ctx context.Context, method string, args, reply any, _ ...grpc.CallOption) error {
	m, ok := c.methods[method]
	if !ok {
		return status.Errorf(codes.Unimplemented, "unknown method %s", method)
	}
	in, err := encode(args)
	if err != nil {
		return err
	}
	resp, err := m.Handler(c.srv, ctx, func(v any) error { return decode(in, v) }, nil)
	if err != nil {
		return transported(err)
	}
	out, err := encode(resp)
	if err != nil {
		return err
	}
	if max := judge.DefaultCaps.MaxMessageBytes; int64(len(out)) > max {
		// What the host's gRPC client, dialled with grpcplugin.MaxMessage, makes of it.
		return grpcplugin.OversizedRefusal(max, status.Errorf(codes.ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", len(out), max))
	}
	return decode(out, reply)
}

// NewStream answers UNIMPLEMENTED, as a plugin without IngestWebhook's streams does:
// the host's client then makes unary IngestWebhook calls.
func (c *memConn) NewStream(ctx context.Context, _ *grpc.StreamDesc, method string, _ ...grpc.CallOption) (grpc.ClientStream, error) {
	return unimplementedStream{ctx: ctx, method: method}, nil
}

type unimplementedStream struct {
	ctx    context.Context
	method string
}

func (unimplementedStream) Header() (metadata.MD, error) { return nil, nil }
func (unimplementedStream) Trailer() metadata.MD         { return nil }
func (unimplementedStream) CloseSend() error             { return nil }
func (s unimplementedStream) Context() context.Context {
	return s.ctx
}
func (unimplementedStream) SendMsg(any) error { return nil }
func (s unimplementedStream) RecvMsg(any) error {
	return status.Errorf(codes.Unimplemented, "method %s not implemented", s.method)
}

// encode is a message as it leaves either side: an error is gRPC's INTERNAL, as a
// message the codec cannot marshal (a string that is not UTF-8) fails the call.
func encode(m any) ([]byte, error) {
	data, err := wire.Codec{}.Marshal(m)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err)
	}
	defer data.Free()
	return data.Materialize(), nil
}

func decode(b []byte, m any) error {
	if err := (wire.Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, m); err != nil {
		return status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
	}
	return nil
}

// transported is the status a service's error err reaches the client as over gRPC's
// HTTP/2 transport: an error that is no status is UNKNOWN (a context's error its code);
// details are carried only when the whole status marshals (grpc-status-details-bin),
// and the message otherwise travels alone in grpc-message, where each byte that is not
// UTF-8 arrives as U+FFFD.
func transported(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		st = status.FromContextError(err)
	}
	p := st.Proto()
	if len(p.GetDetails()) > 0 {
		if _, merr := encode(p); merr == nil {
			return status.ErrorProto(p)
		}
	}
	return status.New(st.Code(), validUTF8(st.Message())).Err()
}

// validUTF8 is s with each byte that is not part of a UTF-8 sequence replaced by U+FFFD,
// as grpc-message's percent-encoding does.
func validUTF8(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		out = append(out, r) // ranging over a string yields U+FFFD for each such byte
	}
	return string(out)
}
