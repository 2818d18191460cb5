package worker

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/poolhost/poolhost/sdk/tracing"
)

var tracer = tracing.NewTracer("github.com/poolhost/poolhost/host/internal/worker")

var noSpan = trace.SpanFromContext(context.Background())

// StartSpan starts the trace of the work on one claimed row ("poll iopool", "retry
// generic"): the plugin call, its upstream calls and the write of the outcome are its
// children. idKey names the row's id attribute ("poolhost.account", "poolhost.failure").
// Off, it returns at once, building nothing.
func StartSpan(ctx context.Context, work, provider, idKey string, id int64) (context.Context, trace.Span) {
	if !tracing.Enabled() {
		return ctx, noSpan
	}
	return tracer.StartWith(ctx, work+" "+provider, trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String("poolhost.provider", provider), attribute.String(idKey, strconv.FormatInt(id, 10))))
}

// EndSpan records the work's outcome and ends span.
func EndSpan(span trace.Span, out Outcome) {
	if span.IsRecording() {
		span.SetAttributes(attribute.String("poolhost.outcome", out.String()))
		if out != Succeeded {
			span.SetStatus(codes.Error, out.String())
		}
	}
	span.End()
}
