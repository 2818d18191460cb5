package ingest

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/poolhost/poolhost/sdk/tracing"
)

var tracer = tracing.NewTracer("github.com/poolhost/poolhost/host/ingest")

var noSpan = trace.SpanFromContext(context.Background())

// startBatchSpan starts the span of one group commit, in the trace of the request that
// leads it (ctx); the requests that merely share the write are linked, so each of their
// traces leads to it too.
func startBatchSpan(ctx context.Context, batch []*call) (context.Context, trace.Span) {
	if !tracing.Enabled() {
		return ctx, noSpan
	}
	var links []trace.Link
	for _, c := range batch[1:] {
		if l := trace.LinkFromContext(c.ctx); l.SpanContext.IsValid() {
			links = append(links, l)
		}
	}
	return tracer.StartWith(ctx, "ingest.batch", trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("poolhost.deliveries", len(batch))))
}
