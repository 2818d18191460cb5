// Package tracing is poolhost's OpenTelemetry tracing, shared by the host and by plugins
// served with sdk.Serve: one reading of the standard OTEL_* environment variables, the
// W3C trace context on the gRPC wire between them, and spans for a plugin's upstream HTTP
// calls. The host uses it too; a provider team needs only sdk.HTTPClient (or
// sdk.HTTPTransport) for its upstream calls, since sdk.Serve does the rest.
//
// Tracing is off unless the environment names an exporter. Off, no tracer provider is
// installed and every helper here returns at once: no span, no allocation.
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Env lists the environment variables Setup reads itself. The exporter, sampler, batch
// processor and resource read the rest of the standard OTEL_* set.
var Env = []string{
	"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
}

// current is the installed provider; nil while tracing is off. Tracers look it up on
// every span rather than holding the global one, so a Setup after a shutdown (tests)
// takes effect, and "off" is one atomic load.
var current atomic.Pointer[sdktrace.TracerProvider]

// propagator is the W3C trace context, the one format host and plugins agree on.
var propagator = propagation.TraceContext{}

// Enabled reports whether spans are being exported.
func Enabled() bool { return current.Load() != nil }

// Configured reports whether getenv asks for traces to be exported: OTEL_TRACES_EXPORTER
// is "otlp", or unset with an OTLP endpoint given. OTEL_SDK_DISABLED=true and
// OTEL_TRACES_EXPORTER=none turn it off. Only OTLP over HTTP/protobuf (the specification's
// default) is supported; anything else is an error, so a typo does not silently trace
// nothing.
func Configured(getenv func(string) string) (bool, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false, nil
	}
	on := false
	switch exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exp {
	case "none":
		return false, nil
	case "otlp":
		on = true
	case "":
		on = getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: only \"otlp\" and \"none\" are supported", exp)
	}
	if !on {
		return false, nil
	}
	protoVar := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	proto := getenv(protoVar)
	if proto == "" {
		protoVar = "OTEL_EXPORTER_OTLP_PROTOCOL"
		proto = getenv(protoVar)
	}
	if p := strings.TrimSpace(proto); p != "" && p != "http/protobuf" {
		// Name the variable and the way out: the collector's OTLP/HTTP port (4318 by
		// convention), not its gRPC one (4317).
		return false, fmt.Errorf("%s=%q: only OTLP over HTTP (\"http/protobuf\") is supported: unset it or set http/protobuf, and point the endpoint at the collector's OTLP/HTTP port (usually 4318, not gRPC's 4317)", protoVar, p)
	}
	return true, nil
}

// Setup installs an OTLP/HTTP exporter when the environment asks for one (see
// Configured) and returns a shutdown that flushes the spans not yet sent; with tracing
// off it installs nothing and the shutdown does nothing. service is the service.name
// unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES says otherwise.
func Setup(ctx context.Context, service string) (shutdown func(context.Context) error, err error) {
	none := func(context.Context) error { return nil }
	on, err := Configured(os.Getenv)
	if err != nil || !on {
		return none, err
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return none, fmt.Errorf("otlp trace exporter: %w", err)
	}
	// Later sources win: the environment overrides the default name.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", service)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv())
	if err != nil && res == nil {
		return none, fmt.Errorf("trace resource: %w", err)
	}
	// The sampler (OTEL_TRACES_SAMPLER, default parent-based always-on) and the batch
	// processor (OTEL_BSP_*) read their own variables.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	current.Store(tp)
	// For libraries that use the globals.
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagator)
	return func(ctx context.Context) error {
		current.CompareAndSwap(tp, nil)
		otel.SetTracerProvider(noop.NewTracerProvider())
		return tp.Shutdown(ctx)
	}, nil
}

// Tracer starts spans under one instrumentation scope.
type Tracer struct{ scope string }

// NewTracer returns a Tracer for scope (a package path).
func NewTracer(scope string) Tracer { return Tracer{scope: scope} }

// noSpan is what Start returns while tracing is off: its methods do nothing.
var noSpan = trace.SpanFromContext(context.Background())

// Start starts a span of kind as a child of ctx's. With tracing off it returns ctx and a
// span that does nothing, without allocating; set attributes only when
// span.IsRecording(), so building them costs nothing then either.
func (t Tracer) Start(ctx context.Context, name string, kind trace.SpanKind) (context.Context, trace.Span) {
	tp := current.Load()
	if tp == nil {
		return ctx, noSpan
	}
	return tp.Tracer(t.scope).Start(ctx, name, trace.WithSpanKind(kind))
}

// StartWith starts a span with opts. Unlike Start, it takes the options' cost even while
// tracing is off: call it where Enabled() was checked first.
func (t Tracer) StartWith(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	tp := current.Load()
	if tp == nil {
		return ctx, noSpan
	}
	return tp.Tracer(t.scope).Start(ctx, name, opts...)
}

// Remote is the W3C trace context h carries (traceparent, tracestate), or an invalid
// span context.
func Remote(h http.Header) trace.SpanContext {
	return trace.SpanContextFromContext(propagator.Extract(context.Background(), propagation.HeaderCarrier(h)))
}

// Fail marks span as failed with err (nil: nothing to mark).
func Fail(span trace.Span, err error) {
	if err == nil || !span.IsRecording() {
		return
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}

// TraceID is ctx's trace id in hex, or "" when it has none (tracing off): the value log
// lines carry as trace_id.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

// LogArgs appends "trace_id" and ctx's trace id to a log line's key/value pairs while
// ctx is in a trace, so the line leads to its trace; otherwise it returns kv as is.
func LogArgs(ctx context.Context, kv []any) []any {
	if id := TraceID(ctx); id != "" {
		return append(kv, "trace_id", id)
	}
	return kv
}
