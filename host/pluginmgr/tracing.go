package pluginmgr

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/poolhost/poolhost/sdk/grpcplugin"
	"github.com/poolhost/poolhost/sdk/tracing"
)

var tracer = tracing.NewTracer("github.com/poolhost/poolhost/host/pluginmgr")

// noSpan does nothing: what a call outside a trace ends.
var noSpan = trace.SpanFromContext(context.Background())

// dialOptions are the gRPC options the host dials a plugin with: the message cap, fixed
// flow-control windows (grpcplugin.FlowControl: no bandwidth probes between deliveries)
// and, while tracing is on, the trace context in each call's metadata, so the plugin's spans
// join the host's trace. Off, no interceptor is added: none runs per call.
func (p *Plugin) dialOptions(maxMessageBytes int64) []grpc.DialOption {
	opts := append(p.maxMessage(maxMessageBytes), grpcplugin.FlowControl()...)
	if tracing.Enabled() {
		opts = append(opts, grpc.WithChainUnaryInterceptor(tracing.ClientInterceptor))
	}
	return opts
}

// startSpan starts the span of one plugin call ("plugin.ingest_webhook"): the host's side
// of the gRPC call, including the wait for a free instance and the deadline's outcome.
// Only inside a trace (a request, a poll): the supervisor's health probes every few
// seconds would otherwise each be a trace of their own.
func (p *Plugin) startSpan(ctx context.Context, method string) (context.Context, trace.Span) {
	if !tracing.Enabled() || !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, noSpan
	}
	ctx, span := tracer.Start(ctx, "plugin."+method, trace.SpanKindClient)
	span.SetAttributes(attribute.String("poolhost.provider", p.id), attribute.String("poolhost.plugin.method", method))
	return ctx, span
}
