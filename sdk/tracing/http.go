package tracing

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Transport wraps base (nil: http.DefaultTransport) so that, while tracing is on, each
// request runs under a client span, child of the request context's, and carries the
// W3C trace context to the upstream. Off, it only calls base.
//
// The span records the method, host and path, never the query string or headers: a
// provider API may take its key in either.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base}
}

type transport struct{ base http.RoundTripper }

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !Enabled() {
		return t.base.RoundTrip(r)
	}
	ctx, span := tracer.Start(r.Context(), r.Method, trace.SpanKindClient)
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(attribute.String("http.request.method", r.Method),
			attribute.String("server.address", r.URL.Hostname()),
			attribute.String("url.scheme", r.URL.Scheme),
			attribute.String("url.path", r.URL.Path))
		if p := r.URL.Port(); p != "" {
			span.SetAttributes(attribute.String("server.port", p))
		}
	}
	// A RoundTripper must not change the caller's request: the header goes on a copy.
	r = r.Clone(ctx)
	propagator.Inject(ctx, propagation.HeaderCarrier(r.Header))
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		Fail(span, err)
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetStatus(codes.Error, resp.Status)
	}
	return resp, nil
}
