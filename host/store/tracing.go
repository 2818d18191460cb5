package store

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/poolhost/poolhost/sdk/tracing"
)

var tracer = tracing.NewTracer("github.com/poolhost/poolhost/host/store")

var noSpan = trace.SpanFromContext(context.Background())

// startSpan starts the client span of one database write ("store.transaction",
// "store.write_deliveries"), under the request or poll whose write it is.
func (q queries) startSpan(ctx context.Context, name string) (context.Context, trace.Span) {
	if !tracing.Enabled() {
		return ctx, noSpan
	}
	system := "sqlite"
	if q.d == dialectPostgres {
		system = "postgresql"
	}
	return tracer.StartWith(ctx, name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", system)))
}
