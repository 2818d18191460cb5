package httpapi

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/sdk/tracing"
)

var tracer = tracing.NewTracer("github.com/poolhost/poolhost/host/httpapi")

var noSpan = trace.SpanFromContext(context.Background())

// startSpan starts the server span of one request, named after its route template
// ("POST /v1/webhooks/{provider}"). Every request starts a trace of its own: the API is
// a public endpoint, and a sender's traceparent would let it choose our trace ids and
// switch our sampling off. The sender's context, when it sends one, is kept as a link.
func startSpan(r *http.Request, route string) (context.Context, trace.Span) {
	if !tracing.Enabled() {
		return r.Context(), noSpan
	}
	opts := []trace.SpanStartOption{trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("http.route", route),
			attribute.String("url.path", r.URL.Path), attribute.String("poolhost.request_id", auth.RequestID(r.Context())))}
	if remote := tracing.Remote(r.Header); remote.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: remote}))
	}
	// Named with the metrics' method label: span names are what trace backends group
	// by, and a made-up method must not make a name of its own.
	return tracer.StartWith(r.Context(), methodLabel(r.Method)+" "+route, opts...)
}

// endSpan records the answer's status (5xx is the server's failure) and ends span.
func endSpan(span trace.Span, status int) {
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	}
	span.End()
}
