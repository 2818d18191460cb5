package tracing

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The W3C trace context crosses the plugin boundary as gRPC metadata ("traceparent",
// "tracestate"), as any gRPC-speaking OpenTelemetry library expects it, so a plugin
// written in another language continues the host's trace with its own instrumentation.

// Scope is the instrumentation scope of this package's spans.
const Scope = "github.com/poolhost/poolhost/sdk/tracing"

var tracer = NewTracer(Scope)

// ClientInterceptor puts ctx's trace context in the outgoing metadata of each call (the
// host dials plugins with it while tracing is on). The call's span is the caller's.
func ClientInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if trace.SpanContextFromContext(ctx).IsValid() {
		c := propagation.MapCarrier{}
		propagator.Inject(ctx, c)
		kv := make([]string, 0, 2*len(c))
		for k, v := range c {
			kv = append(kv, k, v)
		}
		ctx = metadata.AppendToOutgoingContext(ctx, kv...)
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// ServerInterceptor continues the caller's trace from the incoming metadata and runs
// each call under a server span named after the method
// ("poolhost.adapter.v1.Adapter/IngestWebhook"); sdk.Serve installs it while tracing is
// on, so the adapter's ctx carries the span.
func ServerInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !Enabled() {
		return handler(ctx, req)
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		ctx = propagator.Extract(ctx, mdCarrier(md))
	}
	name := strings.TrimPrefix(info.FullMethod, "/")
	ctx, span := tracer.Start(ctx, name, trace.SpanKindServer)
	defer span.End()
	if span.IsRecording() {
		svc, method, _ := strings.Cut(name, "/")
		span.SetAttributes(attribute.String("rpc.system", "grpc"),
			attribute.String("rpc.service", svc), attribute.String("rpc.method", method))
	}
	res, err := handler(ctx, req)
	if err != nil && span.IsRecording() {
		st, _ := status.FromError(err)
		span.SetAttributes(attribute.String("rpc.grpc.status_code", st.Code().String()))
		span.SetStatus(codes.Error, st.Message())
	}
	return res, err
}

// mdCarrier reads gRPC metadata for the propagator (keys are lower case there, as the
// W3C names are).
type mdCarrier metadata.MD

func (c mdCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c mdCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }

func (c mdCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
