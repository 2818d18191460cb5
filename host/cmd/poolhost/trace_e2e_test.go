package main

import (
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/poolhost/poolhost/plugins/iopool/iopooltest"
)

// otlpSpan is one span an OTLP receiver got, with the service that sent it.
type otlpSpan struct {
	service, name             string
	traceID, spanID, parentID string
	kind                      tracepb.Span_SpanKind
	attrs                     map[string]string
}

func (s otlpSpan) String() string {
	return fmt.Sprintf("%s %q trace=%s span=%s parent=%s %v", s.service, s.name, s.traceID, s.spanID, s.parentID, s.attrs)
}

// otlpReceiver is an in-process OTLP/HTTP trace receiver: what a collector listening on
// 4318 does with POST /v1/traces (binary protobuf, maybe gzipped), keeping the spans.
type otlpReceiver struct {
	URL   string
	mu    sync.Mutex
	spans []otlpSpan
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want POST /v1/traces of application/x-protobuf", http.StatusBadRequest)
			return
		}
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var ex coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &ex); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.add(&ex)
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *otlpReceiver) add(ex *coltracepb.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range ex.ResourceSpans {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				attrs := map[string]string{}
				for _, kv := range s.Attributes {
					v := kv.GetValue()
					if sv, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
						attrs[kv.Key] = sv.StringValue
					} else {
						attrs[kv.Key] = fmt.Sprint(v.GetIntValue())
					}
				}
				r.spans = append(r.spans, otlpSpan{service: service, name: s.Name, kind: s.Kind,
					traceID: hex.EncodeToString(s.TraceId), spanID: hex.EncodeToString(s.SpanId),
					parentID: hex.EncodeToString(s.ParentSpanId), attrs: attrs})
			}
		}
	}
}

func (r *otlpReceiver) all() []otlpSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]otlpSpan(nil), r.spans...)
}

// chain finds, within one trace, a span matching each of steps in turn, each a
// descendant of the one before; it returns them, or nil.
func chain(spans []otlpSpan, steps ...func(otlpSpan) bool) []otlpSpan {
	byID := map[string]otlpSpan{}
	for _, s := range spans {
		byID[s.spanID] = s
	}
	descends := func(s otlpSpan, from string) bool {
		for p := s.parentID; p != ""; p = byID[p].parentID {
			if p == from {
				return true
			}
			if _, ok := byID[p]; !ok {
				return false
			}
		}
		return false
	}
	var find func(prev *otlpSpan, i int) []otlpSpan
	find = func(prev *otlpSpan, i int) []otlpSpan {
		if i == len(steps) {
			return []otlpSpan{}
		}
		for _, s := range spans {
			if !steps[i](s) || (prev != nil && (s.traceID != prev.traceID || !descends(s, prev.spanID))) {
				continue
			}
			if rest := find(&s, i+1); rest != nil {
				return append([]otlpSpan{s}, rest...)
			}
		}
		return nil
	}
	return find(nil, 0)
}

// waitChain waits until the receiver holds a chain (see chain) and returns it.
func (r *otlpReceiver) waitChain(t *testing.T, srv *served, what string, steps ...func(otlpSpan) bool) []otlpSpan {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for {
		if c := chain(r.all(), steps...); c != nil {
			return c
		}
		select {
		case <-srv.done:
			t.Fatalf("serve exited while waiting for the %s trace: %v", what, srv.err)
		default:
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, s := range r.all() {
				fmt.Fprintln(&b, s)
			}
			t.Fatalf("no %s trace within %v; spans received:\n%s", what, e2eWait, b.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func named(service, name string) func(otlpSpan) bool {
	return func(s otlpSpan) bool { return s.service == service && s.name == name }
}

func upstreamCall(service, host string) func(otlpSpan) bool {
	return func(s otlpSpan) bool {
		return s.service == service && s.kind == tracepb.Span_SPAN_KIND_CLIENT && s.attrs["server.address"] == host
	}
}

// TestTraceCrossesThePluginBoundary runs the real poolhost binary with the real generic
// and iopool plugins, the OTEL_* variables set for the host and listed in pass_env, and
// an OTLP receiver in the test. Each flow must come back as one trace across both
// processes: the HTTP request, the host's plugin call, the plugin's gRPC server span, its
// upstream call to the provider (an httptest fake) and the database write.
func TestTraceCrossesThePluginBoundary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs binaries; skipped in -short mode")
	}
	dir := t.TempDir()
	b := e2eBuild{dir: dir, poolhost: filepath.Join(dir, "poolhost"), pluginDir: filepath.Join(dir, "plugins")}
	goBuild(t, "-o", b.pluginDir+string(filepath.Separator),
		"./plugins/generic/cmd/poolhost-provider-generic", "./plugins/iopool/cmd/poolhost-provider-iopool")
	goBuild(t, "-o", b.poolhost, "./host/cmd/poolhost")

	recv := newOTLPReceiver(t)
	iopool := iopooltest.NewServer(t)
	iopool.SetLatestMeasure(iopooltest.SamplePoolID, &iopooltest.Measure{
		Temperature: iopooltest.Float(26.5), PH: iopooltest.Float(7.3), ORP: iopooltest.Float(700),
		Mode: "standard", IsValid: true, EcoID: "0C6rSuWJ", MeasuredAt: time.Now().UTC().Add(-10 * time.Minute).Format(time.RFC3339),
	})
	iopoolURL, err := url.Parse(iopool.URL)
	if err != nil {
		t.Fatal(err)
	}
	iopoolHost := iopoolURL.Hostname()

	// The host reads these from its environment; plugins get them only through pass_env.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recv.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50") // ms: spans reach the receiver promptly

	cdir := t.TempDir()
	writeSecrets(t, filepath.Join(cdir, "data"))
	addr := freeAddr(t)
	c := e2eConfig{path: filepath.Join(cdir, "poolhost.hcl"), dbURL: "sqlite:" + filepath.Join(cdir, "data", "poolhost.db"), baseURL: "http://" + addr}
	cfg := fmt.Sprintf(`
listen          = %q
database_url    = %q
plugin_dir      = %q
public_url      = %q
log_format      = "json"
auto_migrate    = true
credentials_key = file("data/dev-credentials.key")
poll_worker {
  enabled  = true
  interval = "1s"
}
plugins {
  pass_env = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_BSP_SCHEDULE_DELAY"]
}
provider "generic" {
  webhooks = true
  secrets  = { webhook_secret = file("data/dev-webhook.secret") }
}
provider "iopool" {
  poll          = true
  poll_interval = "15m"
  settings      = { base_url = %q }
}
`, addr, c.dbURL, b.pluginDir, c.baseURL, iopool.URL)
	if err := os.WriteFile(c.path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")

	// A signed webhook: HTTP request → IngestWebhook in the generic plugin → the write.
	sender, token := newSender(t, b, c, c.baseURL)
	if _, status, err := sender.post(t, c.baseURL); err != nil || status != http.StatusOK {
		t.Fatalf("webhook: status %d, %v", status, err)
	}
	webhook := recv.waitChain(t, srv, "webhook",
		named("poolhost", "POST /v1/webhooks/{provider}/accounts/{accountId}"),
		named("poolhost", "plugin.ingest_webhook"),
		named("poolhost-provider-generic", "poolhost.adapter.v1.Adapter/IngestWebhook"))
	recv.waitChain(t, srv, "webhook write",
		func(s otlpSpan) bool { return s.spanID == webhook[0].spanID },
		named("poolhost", "ingest.batch"),
		named("poolhost", "store.transaction"))

	// Connecting iopool: HTTP request → Connect in the plugin → its upstream call to
	// iopool → the write of the new account.
	status, body := postJSON(t, c.baseURL+"/v1/providers/iopool/connect", token, map[string]any{"input": map[string]string{"api_key": iopooltest.APIKey}})
	if status != http.StatusCreated && status != http.StatusOK {
		t.Fatalf("connect iopool: %d %s", status, body)
	}
	connect := recv.waitChain(t, srv, "connect",
		named("poolhost", "POST /v1/providers/{provider}/connect"),
		named("poolhost", "plugin.connect"),
		named("poolhost-provider-iopool", "poolhost.adapter.v1.Adapter/Connect"),
		upstreamCall("poolhost-provider-iopool", iopoolHost))
	recv.waitChain(t, srv, "connect write",
		func(s otlpSpan) bool { return s.spanID == connect[0].spanID },
		named("poolhost", "store.transaction"))

	// The new account is due at once: the poll worker's trace goes through PollReadings
	// and its upstream call to the write that completes the poll.
	poll := recv.waitChain(t, srv, "poll",
		named("poolhost", "poll iopool"),
		named("poolhost", "plugin.poll_readings"),
		named("poolhost-provider-iopool", "poolhost.adapter.v1.Adapter/PollReadings"),
		upstreamCall("poolhost-provider-iopool", iopoolHost))
	recv.waitChain(t, srv, "poll write",
		func(s otlpSpan) bool { return s.spanID == poll[0].spanID },
		named("poolhost", "store.transaction"))

	for _, c := range [][]otlpSpan{webhook, connect, poll} {
		for _, s := range c {
			t.Logf("%v", s)
		}
	}

	// The request's log line carries its trace id.
	var logged bool
	for _, line := range strings.Split(srv.out.String(), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) != nil || l["@message"] != "request" {
			continue
		}
		if l["route"] == "/v1/webhooks/{provider}/accounts/{accountId}" && l["trace_id"] == webhook[0].traceID {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no request log line with trace_id %s:\n%s", webhook[0].traceID, srv.out.String())
	}
}
