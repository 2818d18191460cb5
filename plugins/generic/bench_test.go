package generic_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/plugins/generic"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest"
	"github.com/poolhost/poolhost/sdk/signature"
)

// benchDelivery is a provider-level delivery shaped like host/bench's (10 readings of one
// device, Standard Webhooks headers, the headers a Go HTTP client sends), so the
// allocations per call can be read without the whole end-to-end benchmark.
func benchDelivery(b testing.TB) (sdk.Adapter, sdk.WebhookRequest) {
	b.Helper()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	a := generic.New()
	if err := a.Configure(context.Background(), sdk.ConfigureRequest{Secrets: map[string]string{generic.SecretWebhookSecret: secret}}); err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	at := now.Add(-time.Minute).Format(time.RFC3339Nano)
	var body strings.Builder
	body.WriteString(`{"seq":1,"device_id":"bench-dev-1","readings":[`)
	metrics := []struct{ name, unit, value string }{ // host/internal/loadtest's
		{"ph", "pH", "7.4"}, {"orp", "mV", "700"}, {"temperature", "C", "27.5"}, {"free_chlorine", "ppm", "2.5"},
		{"total_chlorine", "ppm", "2.8"}, {"combined_chlorine", "ppm", "0.3"}, {"cyanuric_acid", "ppm", "40"},
		{"total_alkalinity", "ppm", "100"}, {"calcium_hardness", "ppm", "250"}, {"salt", "ppm", "3200"},
	}
	for i, m := range metrics {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"metric":%q,"value":%s,"unit":%q,"recorded_at":%q}`, m.name, m.value, m.unit, at)
	}
	body.WriteString("]}")
	s, err := signature.NewStandardWebhooks(secret)
	if err != nil {
		b.Fatal(err)
	}
	h := s.Headers("msg_bench_1", now, []byte(body.String()))
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Go-http-client/1.1")
	h.Set("Accept-Encoding", "gzip")
	h.Set("Content-Length", strconv.Itoa(body.Len()))
	return a, sdk.WebhookRequest{Headers: h, Body: []byte(body.String()), ReceivedAt: now}
}

// BenchmarkIngestWebhook is one delivery through the plugin's gRPC server and the host's
// client, in one process (sdktest.Connect): both sides' allocations, without HTTP and
// storage. The direct case is the adapter alone (verify, then parse).
func BenchmarkIngestWebhook(b *testing.B) {
	b.Run("direct", func(b *testing.B) {
		a, req := benchDelivery(b)
		b.ReportAllocs()
		for b.Loop() {
			if err := a.VerifyWebhook(b.Context(), req); err != nil {
				b.Fatal(err)
			}
			res, err := a.Webhook(b.Context(), req)
			if err != nil || len(res.Readings) != 10 {
				b.Fatalf("webhook: %v, %d readings", err, len(res.Readings))
			}
		}
	})
	b.Run("grpc", func(b *testing.B) {
		a, req := benchDelivery(b)
		c := sdktest.Connect(b, a)
		b.ReportAllocs()
		for b.Loop() {
			res, err := c.IngestWebhook(b.Context(), req)
			if err != nil || len(res.Readings) != 10 {
				b.Fatalf("ingest: %v, %d readings", err, len(res.Readings))
			}
		}
	})
}
