package grpcplugin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// The benchmarks compare the same adapter called three ways:
//   - direct: a plain method call, no wire;
//   - grpc-in-process: over go-plugin's TestPluginGRPCConn (real gRPC and protobuf, on a
//     Unix socket inside the test process, no TLS);
//   - out-of-process: a real plugin process launched by go-plugin the way the host does
//     it (Unix socket, AutoMTLS).

// benchWebhook returns a signed webhook whose body is exactly 1 KiB of JSON.
func benchWebhook(b *testing.B, secret []byte) sdk.WebhookRequest {
	b.Helper()
	type reading struct {
		Metric string    `json:"metric"`
		Value  float64   `json:"value"`
		At     time.Time `json:"at"`
	}
	p := struct {
		Device   string    `json:"device"`
		Delivery string    `json:"delivery"`
		Readings []reading `json:"readings"`
		Note     string    `json:"note"`
	}{Device: "dev-1", Delivery: "msg_1"}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, m := range []string{"ph", "orp", "temperature", "free_chlorine", "salt", "battery"} {
		p.Readings = append(p.Readings, reading{Metric: m, Value: 7.2 + float64(i), At: at})
	}
	body, err := json.Marshal(p)
	if err != nil {
		b.Fatal(err)
	}
	if len(body) > 1024 {
		b.Fatalf("payload is %d bytes before padding", len(body))
	}
	p.Note = strings.Repeat("x", 1024-len(body))
	if body, err = json.Marshal(p); err != nil || len(body) != 1024 {
		b.Fatalf("payload is %d bytes, want 1024 (%v)", len(body), err)
	}
	return sdk.WebhookRequest{
		Headers: http.Header{
			"X-Signature":  {fmt.Sprintf("sha256=%x", sign(secret, body))},
			"Content-Type": {"application/json"},
			"User-Agent":   {"acme-webhooks/1.0"},
		},
		Body:       body,
		ReceivedAt: time.Now(),
	}
}

// ingester is what the host calls on its hot path.
type ingester interface {
	IngestWebhook(context.Context, sdk.WebhookRequest) (sdk.WebhookResult, error)
}

// direct is the in-process baseline for IngestWebhook: verify, then parse.
type direct struct{ a sdk.Adapter }

func (d direct) IngestWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	if err := d.a.VerifyWebhook(ctx, req); err != nil {
		return sdk.WebhookResult{}, err
	}
	return d.a.Webhook(ctx, req)
}

type healthIngester interface {
	sdk.HealthChecker
	ingester
}

// benchTargets returns the three ways to reach an hmacAdapter holding secret.
func benchTargets(b *testing.B, secret []byte) []struct {
	name string
	new  func(b *testing.B) healthIngester
} {
	return []struct {
		name string
		new  func(b *testing.B) healthIngester
	}{
		{"direct", func(b *testing.B) healthIngester {
			a := &hmacAdapter{secret: secret}
			return struct {
				sdk.HealthChecker
				ingester
			}{a, direct{a}}
		}},
		{"grpc-in-process", func(b *testing.B) healthIngester {
			return sdktest.Connect(b, &hmacAdapter{secret: secret})
		}},
		{"out-of-process", func(b *testing.B) healthIngester {
			c, _ := launch(b, hclog.NewNullLogger())
			if err := c.Configure(b.Context(), sdk.ConfigureRequest{Secrets: map[string]string{"webhook_secret": string(secret)}}); err != nil {
				b.Fatal(err)
			}
			return c
		}},
	}
}

// BenchmarkNoop is one round trip of a call that does nothing (Health).
func BenchmarkNoop(b *testing.B) {
	for _, tgt := range benchTargets(b, []byte("bench-secret")) {
		b.Run(tgt.name, func(b *testing.B) {
			c := tgt.new(b)
			ctx := b.Context()
			for b.Loop() {
				if err := c.Health(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIngestWebhook1KiB verifies (HMAC-SHA256, constant-time compare) and parses
// (JSON, six readings) a 1 KiB webhook: the host's hot path.
func BenchmarkIngestWebhook1KiB(b *testing.B) {
	secret := []byte("bench-secret")
	req := benchWebhook(b, secret)
	for _, tgt := range benchTargets(b, secret) {
		b.Run(tgt.name, func(b *testing.B) {
			c := tgt.new(b)
			ctx := b.Context()
			b.SetBytes(int64(len(req.Body)))
			for b.Loop() {
				res, err := c.IngestWebhook(ctx, req)
				if err != nil || len(res.Readings) != 6 {
					b.Fatalf("ingest: %v, %d readings", err, len(res.Readings))
				}
			}
		})
	}
}
