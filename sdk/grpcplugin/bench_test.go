package grpcplugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
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

// BenchmarkIngestParallel is the plugin boundary under host/bench's load: 64 concurrent
// IngestWebhook calls to a real plugin process (AutoMTLS, the pooled IngestWebhooks
// streams), reporting the CPU each side spends per delivery — the host's (this process:
// the gRPC client, its transport and codec) and the plugin's (its transport, codec and
// the test adapter's verify and parse). Judge changes to the boundary by these, A/B
// interleaved: wall-clock time on a shared box measures the neighbours.
func BenchmarkIngestParallel(b *testing.B) {
	secret := []byte("bench-secret")
	req := benchWebhook(b, secret)
	c, pc := launch(b, hclog.NewNullLogger())
	if err := c.Configure(b.Context(), sdk.ConfigureRequest{Secrets: map[string]string{"webhook_secret": string(secret)}}); err != nil {
		b.Fatal(err)
	}
	pid := pc.ReattachConfig().Pid
	for _, rate := range []int{0, 3000} {
		name := "flat-out"
		if rate > 0 {
			name = fmt.Sprintf("%d-per-s", rate)
		}
		b.Run(name, func(b *testing.B) { ingestParallel(b, c, pid, req, rate) })
	}
}

// ingestParallel runs b.N deliveries from 64 senders, at most rate a second (0: as fast
// as they go). host/bench's deliveries reach the plugin at about 3,000/s, and how many
// messages share a wakeup or a write depends on that.
func ingestParallel(b *testing.B, c *grpcplugin.Client, pid int, req sdk.WebhookRequest, rate int) {
	// Paced: the k-th delivery is sent no earlier than k/rate after the start.
	var sent atomic.Int64
	var start time.Time
	b.SetParallelism(32) // 64 senders on host/bench's 2-core box
	b.ReportAllocs()
	host0, plugin0 := selfCPU(b), procCPU(b, pid)
	b.ResetTimer()
	start = time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if rate > 0 {
				due := start.Add(time.Duration(sent.Add(1)) * time.Second / time.Duration(rate))
				time.Sleep(time.Until(due))
			}
			res, err := c.IngestWebhook(ctx, req)
			if err != nil || len(res.Readings) != 6 {
				b.Errorf("ingest: %v, %d readings", err, len(res.Readings))
				return
			}
		}
	})
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64((selfCPU(b)-host0).Microseconds())/n, "host-cpu-us/op")
	b.ReportMetric(float64((procCPU(b, pid)-plugin0).Microseconds())/n, "plugin-cpu-us/op")
}

// selfCPU is this process's user and system CPU time.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is process pid's user and system CPU time, from /proc (Linux; clock ticks of
// 10 ms, so run long enough for those to be small).
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	// The fields after the command's closing parenthesis; utime and stime are the 14th
	// and 15th of the line.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
