package bench_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	poolhost "github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/internal/loadtest"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/webhook"
	"github.com/poolhost/poolhost/plugins/generic"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
)

var pluginDir string

func TestMain(m *testing.M) {
	if job := os.Getenv(loadgenEnv); job != "" {
		os.Exit(runLoadgen(job))
	}
	if os.Getenv(burnEnv) != "" {
		burnCPU()
		os.Exit(0)
	}
	// The host in this process runs with the runtime settings and GC defaults
	// `poolhost serve` applies (the load generator's child inherits the first).
	if err := poolhost.TuneSysmon(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	poolhost.TuneGC()
	dir, err := os.MkdirTemp("", "poolhost-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginDir = dir
	if err := ingesttest.BuildPlugins(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	// Honest figures: the benchmark's own PostgreSQL keeps fsync and synchronous_commit
	// unless told otherwise (POOLHOST_PGTEST_DURABLE=0, to see what durability costs).
	if os.Getenv("POOLHOST_PGTEST_DURABLE") == "" {
		os.Setenv("POOLHOST_PGTEST_DURABLE", "1")
	}
	pgtest.Main(m, func() { os.RemoveAll(dir) })
}

// Benchmark shape. Two client counts, because they measure different things: at 16
// concurrent senders the host is latency-bound — every sender waits out a shared
// transaction, and the box has idle CPU — so deliveries/s there is 16 / latency; at 64
// the group commits fill up and the 2-core box runs out of CPU, which is the host's
// throughput.
var concurrencies = []int{16, 64}

const readingsPerDelivery = 10

var devices = []string{"d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7"}

// BenchmarkWebhookIngest posts signed deliveries of 10 readings at each concurrency and
// reports deliveries/s and p50/p99 latency, for each engine with the adapter out of
// process (plugin) and linked in (inprocess), the two alternating in rounds, each run
// between two rounds of the batched ceiling (rounds_test.go). One op is one delivery.
func BenchmarkWebhookIngest(b *testing.B) {
	modes := []string{"inprocess", "plugin"}
	rounds := benchRounds(b)
	for _, eng := range ingesttest.Engines {
		// Set up here, on the parent benchmark, so the hosts outlive the sub-benchmarks'
		// repeated runs (their cleanups run after each).
		hosts := map[string]*host{}
		for _, mode := range modes {
			hosts[mode] = newHost(b, eng, mode == "plugin")
		}
		for _, c := range concurrencies {
			results := map[string][]runResult{}
			for round := range rounds {
				for _, mode := range modes {
					var res runResult // stays zero when the filter leaves this one out
					b.Run(fmt.Sprintf("%s/c%d/%s/round%d", eng.Name, c, mode, round+1), func(b *testing.B) {
						res = hosts[mode].run(b, c)
					})
					results[mode] = append(results[mode], res)
				}
			}
			// On stdout, between the benchmark lines: a parent benchmark's b.Log shows
			// only with -v.
			if s := summary(eng.Name, c, modes, results); s != "" {
				fmt.Println(s)
			}
		}
	}
}

// host is one engine's host serving webhooks over real HTTP.
type host struct {
	url      string
	payloads *loadtest.Payloads
	next     int64 // first sequence of the next run: runs never replay a delivery
	// pluginPID is the plugin process (out of process only); postmaster the local
	// PostgreSQL server's (0 when not found). They are for CPU accounting.
	pluginPID  func() int
	postmaster int
	pprofAddr  string // the plugin's sdk.PprofEnv endpoint ("" in process)
	engine     string
	store      *store.Store
	reg        *prometheus.Registry
}

func newHost(b *testing.B, eng ingesttest.Engine, outOfProcess bool) *host {
	b.Helper()
	var s *store.Store
	// BENCH_PG_URL_OPTIONS appends driver options to the PostgreSQL URL, for experiments
	// (e.g. binary_parameters=yes).
	if eng.Name == "postgres" && os.Getenv("BENCH_PG_URL_OPTIONS") != "" {
		ctx := context.Background()
		var err error
		s, err = store.Open(ctx, pgtest.NewDatabase(b)+"&"+os.Getenv("BENCH_PG_URL_OPTIONS"), store.WithCipher(ingesttest.NewCipher()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		if _, err := s.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
	} else {
		s = eng.Open(b)
	}
	ingesttest.Seed(b, s, generic.ID, "bench@example.com", nil, devices, nil)
	// The faulty plugin stays off: it would take the profiling endpoint's address first.
	cfg := ingesttest.Config(b, pluginDir, "enabled = false")
	log := hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Warn})
	reg := prometheus.NewRegistry()
	ing := ingest.New(s, ingest.Config{MaxFutureSkew: cfg.Ingest.MaxFutureSkew, MaxPastAge: cfg.Ingest.MaxPastAge}, log, reg)
	d := webhook.Deps{Store: s, Ingest: ing, Logger: log, Registerer: reg}
	h := &host{engine: eng.Name, store: s, reg: reg, pluginPID: func() int { return 0 }}
	if eng.Name == "postgres" {
		var backend int
		if err := s.DB().Get(&backend, `SELECT pg_backend_pid()`); err == nil {
			if _, ppid, ok := procCPU(backend); ok {
				h.postmaster = ppid
			}
		}
	}
	if outOfProcess {
		h.pprofAddr = freeAddr(b)
		b.Setenv(sdk.PprofEnv, h.pprofAddr) // passed on by the config's pass_env
		mgr := ingesttest.StartManagerMetered(b, cfg, log, reg)
		d.Plugins = mgr
		h.pluginPID = func() int {
			for _, st := range mgr.Statuses() {
				if st.Provider == generic.ID {
					return st.PID
				}
			}
			return 0
		}
	} else {
		d.Handles = linkedIn(b, cfg)
	}
	svc := webhook.New(d, webhook.Config{MaxAttempts: cfg.RetryWorker.MaxAttempts})
	api := httpapi.New(httpapi.Deps{Logger: log, Registry: reg, HTTP: cfg.HTTP}, httpapi.WithWebhooks(svc))
	// Served as serve serves it: its http.Server settings and its listener.
	srv := httptest.NewUnstartedServer(api)
	srv.Config = httpapi.NewServer("", api, cfg.HTTP, log)
	srv.Listener = httpapi.ProblemListener(srv.Listener)
	srv.Start()
	b.Cleanup(srv.Close)
	p, err := loadtest.NewPayloads(ingesttest.GenericSecret, devices, readingsPerDelivery)
	if err != nil {
		b.Fatal(err)
	}
	h.url, h.payloads = srv.URL+"/v1/webhooks/"+generic.ID, p
	return h
}

// run posts b.N deliveries from concurrency senders, between two rounds of the batched
// ceiling on the same database, and reports the figures. A run of one delivery — the
// testing package's first call of every benchmark, whose figures -benchtime Nx discards
// — gets no ceiling rounds: it measures nothing, and each round costs a VACUUM and an
// ANALYZE.
func (h *host) run(b *testing.B, concurrency int) runResult {
	var res runResult
	bracket := bracketed() && b.N > 1
	if bracket {
		// Before the timer is reset: neither its time nor its allocations are the run's.
		res.before = h.ceilingRound(b, b.N)
	}
	job := loadgenJob{URL: h.url, Base: h.payloads.Base, FirstSeq: h.next, N: int64(b.N), Concurrency: concurrency}
	h.next += int64(b.N)
	pid := h.pluginPID()
	self, plugin := strconv.Itoa(os.Getpid()), strconv.Itoa(pid)
	resetPeakRSS(self)
	resetPeakRSS(plugin)
	mem0 := readPluginMem(h.pprofAddr)
	hostGC0 := readHostGC()
	allocs0 := hostAllocs()
	b.ResetTimer()
	cpu0 := sampleCPU(pid, h.postmaster)
	gc0 := groupCommits(h.reg)
	w0, _ := h.store.SQLiteWriter()
	lg := startLoadgen(b, job)()
	b.StopTimer()
	allocs1 := hostAllocs()
	posted := sampleCPU(pid, h.postmaster)
	h.vacuum(b)
	cpu1 := sampleCPU(pid, h.postmaster)
	h.settle(b)
	mem1 := readPluginMem(h.pprofAddr)
	hostGC1 := readHostGC()
	hostRSS, pluginRSS := peakRSSMiB(self), peakRSSMiB(plugin)
	gc1 := groupCommits(h.reg)
	w1, sqlite := h.store.SQLiteWriter()
	if lg.Failure != "" {
		b.Fatalf("%s; a benchmark of failures measures nothing", lg.Failure)
	}
	if bracket {
		// The timer is stopped: the round after is not the run's either.
		res.after = h.ceilingRound(b, b.N)
	}
	if gc1.txs > gc0.txs {
		// Requests per shared transaction (group commit); a delivery that found the
		// service idle committed alone and is not counted here.
		b.ReportMetric((gc1.requests-gc0.requests)/(gc1.txs-gc0.txs), "deliveries/group-commit")
	}
	if gc1.pluginMessages > gc0.pluginMessages {
		// Deliveries per message to the plugin: those that queued behind a batch the
		// plugin was working through crossed together (grpcplugin's ingestBatches).
		b.ReportMetric((gc1.pluginDeliveries-gc0.pluginDeliveries)/(gc1.pluginMessages-gc0.pluginMessages), "deliveries/plugin-message")
	}
	reportPhases(b, gc0, gc1, lg.Elapsed)
	if sqlite && w1.Transactions > w0.Transactions {
		// SQLite's one writer: the share of the run it was held (near 1, it is the
		// limit, whatever the CPU), its time per delivery written, and the deliveries
		// one transaction and sync carried.
		busy := w1.Busy - w0.Busy
		b.ReportMetric(busy.Seconds()/lg.Elapsed.Seconds(), "writer-busy")
		b.ReportMetric(float64(busy.Microseconds())/float64(w1.Deliveries-w0.Deliveries), "writer-us/delivery")
		b.ReportMetric(float64(w1.Deliveries-w0.Deliveries)/float64(w1.Transactions-w0.Transactions), "deliveries/sqlite-tx")
	}
	n := float64(lg.N)
	res.perSec = n / lg.Elapsed.Seconds()
	b.ReportMetric(res.perSec, "deliveries/s")
	if c := res.ceiling(); c > 0 {
		// The ceiling around this run: each round, and the run against their mean.
		b.ReportMetric(res.xCeiling(), "x-ceiling")
		b.ReportMetric(res.before.perSec, "ceiling-before-deliveries/s")
		b.ReportMetric(res.after.perSec, "ceiling-after-deliveries/s")
		if res.before.cpuPer > 0 && res.after.cpuPer > 0 {
			b.ReportMetric((res.before.cpuPer+res.after.cpuPer)/2, "ceiling-cpu-us/delivery")
			b.ReportMetric((res.before.util+res.after.util)/2, "ceiling-util")
		}
		if res.before.boxUtil >= 0 && res.after.boxUtil >= 0 {
			b.ReportMetric((res.before.boxUtil+res.after.boxUtil)/2, "ceiling-box-util")
		}
	}
	// -benchmem's allocs/op, kept for the targets (targets_test.go).
	res.hostAllocs = float64(allocs1-allocs0) / n
	res.hostRSS, res.pluginRSS = hostRSS, pluginRSS
	if mem0.ok && mem1.ok {
		res.pluginAllocs = float64(mem1.Mallocs-mem0.Mallocs) / n
		b.ReportMetric(res.pluginAllocs, "plugin-allocs/delivery")
		b.ReportMetric(float64(mem1.TotalAlloc-mem0.TotalAlloc)/n, "plugin-B/delivery")
	}
	b.ReportMetric(float64(hostGC1.cycles-hostGC0.cycles)*1000/n, "host-gc/1k-deliveries")
	b.ReportMetric((hostGC1.cpu-hostGC0.cpu)*1e6/n, "host-gc-cpu-us/delivery")
	if hostRSS > 0 {
		b.ReportMetric(hostRSS, "host-peak-RSS-MiB")
	}
	if pluginRSS > 0 && pid != 0 {
		b.ReportMetric(pluginRSS, "plugin-peak-RSS-MiB")
	}
	b.ReportMetric(float64(lg.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lg.P99.Microseconds())/1000, "p99-ms")
	res.boxUtil = lg.BoxUtil
	if res.boxUtil >= 0 {
		// Every process on the machine, while the load generator posted: beside util,
		// whether anything else used the box.
		b.ReportMetric(res.boxUtil, "box-util")
	}
	if h.accounted(cpu0, cpu1) {
		per := func(d time.Duration) float64 { return float64(d.Microseconds()) / n }
		host := cpu1.self - cpu0.self
		total := host + lg.cpu + (cpu1.plugin - cpu0.plugin) + (cpu1.db - cpu0.db)
		// The whole box's CPU per delivery, load generator included, as on the 2-core
		// machine the targets are set for; and each part's share.
		res.cpuPer = per(total)
		b.ReportMetric(res.cpuPer, "cpu-us/delivery")
		b.ReportMetric(per(host), "host-cpu-us/delivery")
		b.ReportMetric(per(lg.cpu), "client-cpu-us/delivery")
		// Not in the whole box's figure: building and signing the deliveries before the
		// clock starts (blast), shown so that it is not hidden either.
		b.ReportMetric(per(lg.Setup), "client-setup-cpu-us/delivery")
		b.ReportMetric(per(cpu1.db-cpu0.db), "db-cpu-us/delivery")
		b.ReportMetric(per(cpu1.plugin-cpu0.plugin), "plugin-cpu-us/delivery")
		// The share of the box's cores the run's processes used while it posted (the
		// VACUUM after it, charged above, not included): well below 1, the path waited
		// rather than computed, and deliveries/s is short of what the CPU per delivery
		// allows.
		res.util = (posted.sum() - cpu0.sum() + lg.cpu).Seconds() / (float64(runtime.NumCPU()) * lg.Elapsed.Seconds())
		b.ReportMetric(res.util, "util")
	}
	return res
}

// accounted reports whether the CPU samples a and b cover the whole box's parts: the
// PostgreSQL server's processes were found (SQLite runs in this process).
func (h *host) accounted(a, b cpuSample) bool {
	return a.ok && b.ok && (h.postmaster != 0 || h.engine == "sqlite")
}

// vacuum and settle keep each run's database CPU its own. PostgreSQL vacuums an
// insert-only table once a fifth of its rows are new, and analyzes it once a tenth
// changed; run after the ceiling's 100,000 readings, that autovacuum could land in the
// next run's database CPU (one run in four here: 213 against 127–145 µs per delivery
// through the plugin). So after each run its database is vacuumed, charged to the run: the
// work autovacuum does for its writes, in proportion to them at any table size. Then,
// uncharged, settle analyzes it and waits for the cluster's autovacuum workers. An
// ANALYZE reads a sample of a fixed size (30,000 rows a table) whatever the rows
// written: charged here, to 10,000 deliveries, it would count what a production table
// of millions of rows pays once per tenth of its growth.
func (h *host) vacuum(b *testing.B) {
	b.Helper()
	if h.engine != "postgres" {
		return
	}
	if _, err := h.store.DB().ExecContext(context.Background(), `VACUUM`); err != nil {
		b.Fatalf("vacuum: %v", err)
	}
}

func (h *host) settle(b *testing.B) {
	b.Helper()
	if h.engine != "postgres" {
		return
	}
	ctx := context.Background()
	if _, err := h.store.DB().ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatalf("settle: %v", err)
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var workers int
		if err := h.store.DB().GetContext(ctx, &workers,
			`SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'`); err != nil {
			b.Fatalf("settle: %v", err)
		}
		if workers == 0 {
			return
		}
	}
}

// linkedIn returns the generic adapter linked into the host, configured as the plugin
// would be, behind the same Handle the pipeline calls on a plugin.
func linkedIn(b *testing.B, cfg *config.Config) func(string) (webhook.Handle, error) {
	b.Helper()
	var pc config.Provider
	for _, p := range cfg.Providers {
		if p.ID == generic.ID {
			pc = p
		}
	}
	a := generic.New()
	if err := a.Configure(context.Background(), sdk.ConfigureRequest{Settings: pc.Settings, Secrets: pc.Secrets}); err != nil {
		b.Fatalf("configure: %v", err)
	}
	h := inProcess{a: a, cfg: pc}
	return func(id string) (webhook.Handle, error) {
		if id != generic.ID {
			return nil, fmt.Errorf("no provider %q", id)
		}
		return h, nil
	}
}

// inProcess is a webhook.Handle over an adapter in the same process: IngestWebhook is
// what the plugin side of the RPC does (sdk's server), minus the wire.
type inProcess struct {
	a   *generic.Adapter
	cfg config.Provider
}

func (h inProcess) Config() config.Provider { return h.cfg }

func (h inProcess) VerifyWebhook(ctx context.Context, req sdk.WebhookRequest) error {
	return h.a.VerifyWebhook(ctx, req)
}

func (h inProcess) IngestWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	if err := h.a.VerifyWebhook(ctx, req); err != nil {
		return sdk.WebhookResult{}, err
	}
	res, err := h.a.Webhook(ctx, req)
	if err != nil {
		return sdk.WebhookResult{}, &grpcplugin.ParseError{Err: err}
	}
	return res, nil
}

// BenchmarkIngestOnly is the store side of a delivery alone — ingest.Ingest with the
// webhook.received audit row in the same transaction (group-committed like a webhook's),
// from 16 goroutines — without HTTP or the plugin: what the database path costs by itself.
func BenchmarkIngestOnly(b *testing.B) {
	for _, eng := range ingesttest.Engines {
		b.Run(eng.Name, func(b *testing.B) {
			h := newHost(b, eng, false)
			s := h.store
			ing := ingest.New(s, ingest.Config{MaxFutureSkew: time.Hour, MaxPastAge: 48 * time.Hour}, nil, nil)
			p := h.payloads
			readings := func(seq int64) []sdk.Reading {
				rs := make([]sdk.Reading, readingsPerDelivery)
				for i := range rs {
					rs[i] = sdk.Reading{ProviderDeviceID: devices[int(seq)%len(devices)], Metric: benchMetrics[i],
						Value: 1, RecordedAt: p.RecordedAt(seq)}
				}
				return rs
			}
			var next atomic.Int64
			b.ResetTimer()
			cpu0 := sampleCPU(0, h.postmaster)
			start := time.Now()
			var wg sync.WaitGroup
			for g := 0; g < 16; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						seq := next.Add(1) - 1
						if seq >= int64(b.N) {
							return
						}
						_, err := ing.Ingest(context.Background(), ingest.Request{
							Provider: generic.ID, Readings: readings(seq), ReceivedAt: time.Now(),
							Audit: func(res ingest.Result) store.AuditEvent {
								return store.AuditEvent{Action: webhook.ActionReceived, Actor: "provider:generic",
									Provider: generic.ID, Details: store.Details{"accepted": res.Accepted}}
							},
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			cpu1 := sampleCPU(0, h.postmaster)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
			if cpu1.ok && cpu0.ok {
				b.ReportMetric(float64((cpu1.db-cpu0.db).Microseconds())/float64(b.N), "db-cpu-us/delivery")
				b.ReportMetric(float64((cpu1.self-cpu0.self).Microseconds())/float64(b.N), "host-cpu-us/delivery")
			}
		})
	}
}

type groupCommitStats struct {
	txs, requests float64
	// Messages to the plugin (IngestWebhookBatches) and the deliveries they carried.
	pluginMessages, pluginDeliveries float64
	// Seconds summed and observations counted of each of ingest's group-commit phases
	// (queue, lookup, write).
	sum, count map[string]float64
}

// groupCommits reads ingest's group-commit histograms from reg.
func groupCommits(reg *prometheus.Registry) groupCommitStats {
	st := groupCommitStats{sum: map[string]float64{}, count: map[string]float64{}}
	mfs, err := reg.Gather()
	if err != nil {
		return st
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "poolhost_ingest_group_commit_requests":
			if len(mf.GetMetric()) > 0 {
				h := mf.GetMetric()[0].GetHistogram()
				st.txs, st.requests = float64(h.GetSampleCount()), h.GetSampleSum()
			}
		case "poolhost_plugin_ingest_batch_deliveries":
			for _, m := range mf.GetMetric() {
				st.pluginMessages += float64(m.GetHistogram().GetSampleCount())
				st.pluginDeliveries += m.GetHistogram().GetSampleSum()
			}
		case "poolhost_ingest_group_commit_seconds":
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "phase" {
						st.sum[l.GetValue()] = m.GetHistogram().GetSampleSum()
						st.count[l.GetValue()] = float64(m.GetHistogram().GetSampleCount())
					}
				}
			}
		}
	}
	return st
}

// reportPhases reports where a delivery's time went between two readings of the
// group-commit histograms over elapsed: the mean queue wait, a shared write's mean device
// lookup and write (statement, COMMIT included), and how many writes were in flight on
// average — with the box's
// utilization (util), whether the path waited on the database or on the CPU.
func reportPhases(b *testing.B, gc0, gc1 groupCommitStats, elapsed time.Duration) {
	mean := func(phase string) float64 {
		n := gc1.count[phase] - gc0.count[phase]
		if n <= 0 {
			return 0
		}
		return (gc1.sum[phase] - gc0.sum[phase]) / n
	}
	b.ReportMetric(mean("queue")*1000, "queue-ms")
	b.ReportMetric(mean("lookup")*1000, "lookup-ms")
	b.ReportMetric(mean("write")*1000, "write-ms")
	busy := gc1.sum["lookup"] - gc0.sum["lookup"] + gc1.sum["write"] - gc0.sum["write"]
	b.ReportMetric(busy/elapsed.Seconds(), "writes-in-flight")
}

var benchMetrics = []string{"ph", "orp", "temperature", "free_chlorine", "total_chlorine",
	"combined_chlorine", "cyanuric_acid", "total_alkalinity", "calcium_hardness", "salt"}

// freeAddr is a loopback address with a port free right now, for the plugin's profiling
// endpoint.
func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
