package poll

import (
	"context"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/poolhost/poolhost/host/internal/worker"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk/tracing"
)

var tracer = tracing.NewTracer("github.com/poolhost/poolhost/host/poll")

var noSpan = trace.SpanFromContext(context.Background())

// startSpan starts the trace of one account's poll: the plugin's PollReadings, its
// upstream calls and the write of what it returned are its children.
func startSpan(ctx context.Context, ps store.PollState) (context.Context, trace.Span) {
	if !tracing.Enabled() {
		return ctx, noSpan
	}
	return tracer.StartWith(ctx, "poll "+ps.Provider, trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String("poolhost.provider", ps.Provider),
			attribute.String("poolhost.account", strconv.FormatInt(ps.AccountID, 10))))
}

func endSpan(span trace.Span, out worker.Outcome) {
	if span.IsRecording() {
		span.SetAttributes(attribute.String("poolhost.outcome", out.String()))
		if out != worker.Succeeded {
			span.SetStatus(codes.Error, out.String())
		}
	}
	span.End()
}
