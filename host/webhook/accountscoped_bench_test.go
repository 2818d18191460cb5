package webhook_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/internal/loadtest"
	"github.com/poolhost/poolhost/host/webhook"
)

// BenchmarkAccountScopedDelivery is what an account-scoped delivery costs beside a
// provider-level one, end to end through the pipeline (webhook.Service.Handle, no HTTP)
// and the real generic plugin: the same signed deliveries of 10 readings, from 32
// concurrent senders (so the group commit batches them, as under load), to /v1/webhooks/generic ("provider", the provider's secret) and to
// /v1/webhooks/generic/accounts/<id> ("account", the account's own secret, read and
// opened from the store for each delivery). It reports CPU per delivery of this process
// (SQLite included), of the plugin's process and of the PostgreSQL cluster's backends
// (only for pgtest's own cluster on this machine), from /proc:
//
//	go test -run '^$' -bench AccountScopedDelivery -benchtime 3000x ./host/webhook/
func BenchmarkAccountScopedDelivery(b *testing.B) {
	const senders = 32
	for _, eng := range ingesttest.Engines {
		b.Run(eng.Name, func(b *testing.B) {
			s := eng.Open(b)
			mine := ingesttest.Seed(b, s, "generic", "owner@example.com", map[string]string{"webhook_secret": accountSecret}, []string{"probe"}, nil)
			log := hclog.New(&hclog.LoggerOptions{Output: io.Discard})
			cfg := ingesttest.Config(b, pluginDir, "")
			h := ingesttest.ServeWebhooks(b, ingesttest.Webhooks{Store: s, Plugins: ingesttest.StartManager(b, cfg, log), Log: log,
				Registry: prometheus.NewRegistry(), Ingest: ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, Pipeline: webhook.Config{MaxAttempts: 8}})
			var postmaster int
			if eng.Name == "postgres" {
				var pid int
				if err := s.DB().GetContext(context.Background(), &pid, `SELECT pg_backend_pid()`); err != nil {
					b.Fatal(err)
				}
				postmaster = parentOf(pid)
			}
			seq := int64(0)
			for _, scope := range []struct {
				name    string
				secret  string
				account int64
			}{{"provider", ingesttest.GenericSecret, 0}, {"account", accountSecret, mine.Account.ID}} {
				b.Run(scope.name, func(b *testing.B) {
					p, err := loadtest.NewPayloads(scope.secret, []string{"probe"}, 10)
					if err != nil {
						b.Fatal(err)
					}
					deliver := func(n int) []webhook.Delivery {
						ds := make([]webhook.Delivery, n)
						for i := range ds {
							seq++
							body := p.Body(seq)
							ds[i] = webhook.Delivery{Provider: "generic", AccountID: scope.account, Body: body,
								Headers: p.Signer.Headers(loadtest.DeliveryID(seq), time.Now(), body), Client: "127.0.0.1"}
						}
						return ds
					}
					run := func(ds []webhook.Delivery) {
						var next atomic.Int64
						var wg sync.WaitGroup
						for range senders {
							wg.Go(func() {
								for i := next.Add(1) - 1; i < int64(len(ds)); i = next.Add(1) - 1 {
									out, err := h.Pipeline.Handle(context.Background(), ds[i])
									if err != nil || out.Status != webhook.OutcomeAccepted || out.Result.Accepted != 10 {
										b.Errorf("delivery: %+v, %v", out, err)
										return
									}
								}
							})
						}
						wg.Wait()
					}
					run(deliver(200)) // warm: statements prepared, plans settled
					ds := deliver(b.N)
					b.ReportAllocs()
					b.ResetTimer()
					host0, plugin0, db0 := selfCPU(), childrenCPU(os.Getpid()), childrenCPU(postmaster)
					run(ds)
					host1, plugin1, db1 := selfCPU(), childrenCPU(os.Getpid()), childrenCPU(postmaster)
					b.StopTimer()
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
					per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(b.N) }
					b.ReportMetric(per(host1-host0), "host-cpu-us/op")
					b.ReportMetric(per(plugin1-plugin0), "plugin-cpu-us/op")
					if postmaster != 0 {
						b.ReportMetric(per(db1-db0), "db-cpu-us/op")
					}
				})
			}
		})
	}
}

// selfCPU is the CPU this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// parentOf is process pid's parent, 0 when it cannot be read (not on this machine).
func parentOf(pid int) int {
	f := procStat(pid)
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// childrenCPU is the CPU the live children of process pid have used (user and system,
// in clock ticks of 10 ms, so only long runs are exact); 0 for pid 0.
func childrenCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var ticks int64
	for _, d := range dirs {
		child, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		f := procStat(child)
		if len(f) < 13 || f[1] != strconv.Itoa(pid) {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// procStat is /proc/<pid>/stat's fields after the command name: state, ppid, …
func procStat(pid int) []string {
	bs, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(bs), ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(bs[i+1:]))
}
