package tracing_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/poolhost/poolhost/sdk/tracing"
)

func TestConfigured(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    bool
		wantErr string
	}{
		{name: "nothing set", env: nil, want: false},
		{name: "endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, want: true},
		{name: "traces endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, want: true},
		{name: "exporter otlp, default endpoint", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, want: true},
		{name: "exporter none wins", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, want: false},
		{name: "sdk disabled wins", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, want: false},
		{name: "http/protobuf", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, want: true},
		{name: "grpc refused", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, wantErr: `OTEL_EXPORTER_OTLP_PROTOCOL="grpc": only OTLP over HTTP ("http/protobuf") is supported: unset it or set http/protobuf`},
		{name: "grpc traces protocol refused, named", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, wantErr: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="grpc"`},
		{name: "traces protocol overrides", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, want: true},
		{name: "unknown exporter refused", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: `"zipkin"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tracing.Configured(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Configured = %v, %v; want an error naming %s", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Configured = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// Off (no exporter set), the helpers on the host's hot path cost nothing: no span, no
// allocation, no header.
func TestOffCostsNothing(t *testing.T) {
	for _, k := range tracing.Env {
		t.Setenv(k, "")
	}
	shutdown, err := tracing.Setup(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())
	if tracing.Enabled() {
		t.Fatal("tracing on with no exporter set")
	}
	tr := tracing.NewTracer("test")
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		c, span := tr.Start(ctx, "x", trace.SpanKindInternal)
		if c != ctx || span.IsRecording() {
			t.Fatal("a span while off")
		}
		span.End()
		_ = tracing.TraceID(c)
	})
	if allocs != 0 {
		t.Errorf("Start while off: %v allocations, want 0", allocs)
	}

	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	c := &http.Client{Transport: tracing.Transport(nil)}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := got.Get("traceparent"); v != "" {
		t.Errorf("traceparent %q sent while tracing is off", v)
	}
}

// On, an upstream call made with a call's ctx carries that trace upstream, and the
// caller's request is left as it was.
func TestTransportCarriesTheTrace(t *testing.T) {
	var mu sync.Mutex
	var exports int
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		exports++
		mu.Unlock()
	}))
	defer collector.Close()
	for _, k := range tracing.Env {
		t.Setenv(k, "")
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	shutdown, err := tracing.Setup(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if !tracing.Enabled() {
		t.Fatal("tracing off with an endpoint set")
	}

	var got string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Get("traceparent") }))
	defer upstream.Close()
	ctx, span := tracing.NewTracer("test").Start(context.Background(), "call", trace.SpanKindServer)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, upstream.URL+"/v1/pools?key=secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tracing.Transport(nil)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	span.End()
	traceID := span.SpanContext().TraceID().String()
	if !strings.HasPrefix(got, "00-"+traceID+"-") {
		t.Errorf("upstream got traceparent %q, want one in trace %s", got, traceID)
	}
	if strings.Contains(got, span.SpanContext().SpanID().String()) {
		t.Errorf("traceparent %q names the caller's span, not the call's own client span", got)
	}
	if req.Header.Get("traceparent") != "" {
		t.Error("the caller's request was changed")
	}
	if id := tracing.TraceID(ctx); id != traceID {
		t.Errorf("TraceID = %q, want %s", id, traceID)
	}

	ctx2, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := shutdown(ctx2); err != nil {
		t.Fatal(err)
	}
	if tracing.Enabled() {
		t.Error("still on after shutdown")
	}
	mu.Lock()
	defer mu.Unlock()
	if exports == 0 {
		t.Error("shutdown flushed nothing to the collector")
	}
}
