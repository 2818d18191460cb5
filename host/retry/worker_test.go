package retry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/retry"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

var pluginDir string

func TestMain(m *testing.M) { ingesttest.Main(m, &pluginDir) }

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

type env struct {
	s        *store.Store
	clk      *ingesttest.Clock
	logs     *logBuffer
	log      hclog.Logger
	ing      *ingest.Service
	plugins  retry.Plugins
	failFile string
	reg      *prometheus.Registry
}

func newEnv(t *testing.T, eng ingesttest.Engine) *env {
	t.Helper()
	clk := ingesttest.NewClock()
	s := eng.Open(t, store.WithClock(clk.Now))
	ingesttest.Seed(t, s, "faulty", "owner@example.com", nil, []string{"probe"}, nil)
	e := &env{s: s, clk: clk, logs: &logBuffer{}, failFile: filepath.Join(t.TempDir(), "fail"), reg: prometheus.NewRegistry()}
	e.log = hclog.New(&hclog.LoggerOptions{Output: e.logs, Level: hclog.Info})
	cfg := ingesttest.Config(t, pluginDir, fmt.Sprintf(`settings = { fail_file = %q }`, e.failFile))
	mgr := ingesttest.StartManager(t, cfg, hclog.NewNullLogger())
	e.plugins = retry.ManagerPlugins(mgr)
	e.ing = ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, e.log, e.reg)
	return e
}

func (e *env) worker(cfg retry.Config) *retry.Worker {
	cfg.Now = e.clk.Now
	if cfg.Rand == nil {
		cfg.Rand = func() float64 { return 0.5 } // no jitter
	}
	return retry.New(retry.Deps{Store: e.s, Ingest: e.ing, Plugins: e.plugins, Logger: e.log, Registerer: e.reg}, cfg)
}

func enabled(maxAttempts int) retry.Config {
	rw := config.DefaultRetryWorker
	rw.MaxAttempts = maxAttempts
	rw.BackoffBase = 10 * time.Second
	rw.BackoffCap = 25 * time.Second
	rw.Lease = time.Minute
	return retry.Config{RetryWorker: rw, Owner: "worker-a"}
}

// enqueue keeps a verified faulty delivery of one pH reading at the given minute.
func (e *env) enqueue(t *testing.T, minute int) store.Failure {
	t.Helper()
	body := fmt.Sprintf(`{"device_id": "probe", "readings": [{"metric": "ph", "value": "7.4", "recorded_at": %q}]}`,
		e.clk.Now().Add(-time.Duration(minute)*time.Minute).Format(time.RFC3339))
	f, err := e.s.EnqueueFailure(context.Background(), store.NewFailure{
		Provider: "faulty", Payload: []byte(body), Headers: map[string][]string{"Webhook-Id": {"msg"}},
		ReceivedAt: e.clk.Now(), MaxAttempts: 8, Error: "parse: plugin crashed",
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (e *env) failFileOn(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(e.failFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e *env) get(t *testing.T, id int64) store.Failure {
	t.Helper()
	f, err := e.s.GetFailure(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func tick(t *testing.T, w *retry.Worker) retry.Stats {
	t.Helper()
	st, err := w.Tick(context.Background())
	if err != nil {
		t.Fatalf("tick: %v", err)
	}
	return st
}

func TestRetryWorker(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			t.Run("disabled processes nothing and says so once", func(t *testing.T) {
				e := newEnv(t, eng)
				f := e.enqueue(t, 1)
				cfg := enabled(8)
				cfg.Enabled = false
				cfg.Interval = 10 * time.Millisecond
				w := e.worker(cfg)
				w.Start(context.Background())
				time.Sleep(200 * time.Millisecond)
				w.Close()
				if got := e.get(t, f.ID); got.Status != store.FailurePending || got.Attempts != 0 {
					t.Fatalf("disabled worker touched the failure: %+v", got)
				}
				if n := strings.Count(e.logs.String(), "retry worker disabled"); n != 1 {
					t.Fatalf("disabled message logged %d times:\n%s", n, e.logs)
				}
			})

			t.Run("enabled resolves in the background", func(t *testing.T) {
				e := newEnv(t, eng)
				f := e.enqueue(t, 1)
				cfg := enabled(8)
				cfg.Interval = 20 * time.Millisecond
				w := e.worker(cfg)
				w.Start(context.Background())
				defer w.Close()
				deadline := time.Now().Add(30 * time.Second)
				for e.get(t, f.ID).Status != store.FailureResolved {
					if time.Now().After(deadline) {
						t.Fatalf("failure not resolved: %+v", e.get(t, f.ID))
					}
					time.Sleep(20 * time.Millisecond)
				}
				w.Close()
				if n := ingesttest.CountReadings(t, e.s); n != 1 {
					t.Fatalf("%d readings, want 1", n)
				}
				ev := ingesttest.Audit(t, e.s, retry.ActionRetrySucceeded)
				if len(ev) != 1 || ev[0].TargetID != fmt.Sprint(f.ID) {
					t.Fatalf("retry_succeeded audit: %+v", ev)
				}
				if !strings.Contains(e.logs.String(), "retry tick: claimed=1 succeeded=1 retried=0 dead=0 rescued=0") {
					t.Fatalf("no tick line with counters in the log:\n%s", e.logs)
				}
			})

			t.Run("backoff schedule, dead after max attempts, requeue", func(t *testing.T) {
				e := newEnv(t, eng)
				e.failFileOn(t)
				f := e.enqueue(t, 1)
				w := e.worker(enabled(4))
				// base 10s, cap 25s, no jitter: 10s, 20s, 25s, then dead at attempt 4.
				for i, delay := range []time.Duration{10 * time.Second, 20 * time.Second, 25 * time.Second} {
					start := e.clk.Now()
					st := tick(t, w)
					if st != (retry.Stats{Claimed: 1, Retried: 1}) {
						t.Fatalf("attempt %d: stats %+v", i+1, st)
					}
					got := e.get(t, f.ID)
					if got.Status != store.FailurePending || got.Attempts != i+1 || !got.NextAttemptAt.Equal(start.Add(delay)) {
						t.Fatalf("attempt %d: %s attempts=%d next=%v, want pending %d next=%v", i+1, got.Status, got.Attempts,
							got.NextAttemptAt.Sub(start), i+1, delay)
					}
					// Not due a moment before the backoff ends.
					e.clk.Add(delay - time.Second)
					if st := tick(t, w); st.Claimed != 0 {
						t.Fatalf("attempt %d: claimed before its backoff ended", i+1)
					}
					e.clk.Add(time.Second)
				}
				if st := tick(t, w); st != (retry.Stats{Claimed: 1, Dead: 1}) {
					t.Fatalf("last attempt: stats %+v, want dead", st)
				}
				got := e.get(t, f.ID)
				if got.Status != store.FailureDead || len(got.ErrorHistory) != 5 || !strings.Contains(got.LastError, "fail file present") {
					t.Fatalf("dead row: %s history=%d last=%q", got.Status, len(got.ErrorHistory), got.LastError)
				}
				if ev := ingesttest.Audit(t, e.s, retry.ActionDead); len(ev) != 1 || ev[0].TargetID != fmt.Sprint(f.ID) {
					t.Fatalf("ingestion.dead audit: %+v", ev)
				}
				// Dead rows stay put: more ticks do nothing.
				e.clk.Add(time.Hour)
				if st := tick(t, w); st.Claimed != 0 {
					t.Fatal("a dead row was claimed")
				}

				// An operator requeues it once the cause is fixed.
				os.Remove(e.failFile)
				svc := failures.New(e.s)
				if _, err := svc.Requeue(context.Background(), auth.System("test"), f.ID); err != nil {
					t.Fatal(err)
				}
				if got := e.get(t, f.ID); got.Status != store.FailurePending || got.Attempts != 0 {
					t.Fatalf("requeued row: %+v", got)
				}
				if ev := ingesttest.Audit(t, e.s, failures.ActionRequeued); len(ev) != 1 || ev[0].Actor != "system:test" {
					t.Fatalf("requeue audit: %+v", ev)
				}
				if st := tick(t, w); st != (retry.Stats{Claimed: 1, Succeeded: 1}) {
					t.Fatalf("after requeue: %+v", st)
				}
				if n := ingesttest.CountReadings(t, e.s); n != 1 {
					t.Fatalf("%d readings, want 1", n)
				}
			})

			t.Run("permanent parse error goes dead at once", func(t *testing.T) {
				e := newEnv(t, eng)
				f, err := e.s.EnqueueFailure(context.Background(), store.NewFailure{
					Provider: "faulty", Payload: []byte(`{"device_id": "probe", "fail": "permanent"}`),
					ReceivedAt: e.clk.Now(), MaxAttempts: 8,
				})
				if err != nil {
					t.Fatal(err)
				}
				if st := tick(t, e.worker(enabled(8))); st != (retry.Stats{Claimed: 1, Dead: 1}) {
					t.Fatalf("stats %+v", st)
				}
				if got := e.get(t, f.ID); got.Status != store.FailureDead || got.Attempts != 1 {
					t.Fatalf("row %+v", got)
				}
			})

			t.Run("lease rescue never double-applies", func(t *testing.T) {
				e := newEnv(t, eng)
				f := e.enqueue(t, 1)
				ctx := context.Background()
				// Worker A claims the row and stalls past its lease.
				claimed, err := e.s.ClaimFailures(ctx, "worker-stalled", 10, time.Minute)
				if err != nil || len(claimed) != 1 {
					t.Fatalf("claim: %v %d", err, len(claimed))
				}
				stale := claimed[0]
				e.clk.Add(2 * time.Minute)

				// Worker B rescues it, claims it again and resolves it.
				cfg := enabled(8)
				cfg.Owner = "worker-b"
				if st := tick(t, e.worker(cfg)); st != (retry.Stats{Claimed: 1, Succeeded: 1, Rescued: 1}) {
					t.Fatalf("stats %+v", st)
				}
				// A wakes up and commits its own attempt under the stale lease: the
				// compare-and-set fails and its readings roll back with it.
				_, err = e.ing.Ingest(ctx, ingest.Request{
					Provider: "faulty", ReceivedAt: e.clk.Now(),
					Readings: []sdk.Reading{{ProviderDeviceID: "probe", Metric: "orp", Value: 700}},
					Finish: func(ctx context.Context, tx *store.Tx, _ ingest.Result) error {
						return tx.CompleteFailure(ctx, stale.ID, stale.Lease())
					},
				})
				if !errors.Is(err, store.ErrLeaseLost) {
					t.Fatalf("stale completion: %v, want ErrLeaseLost", err)
				}
				if n := ingesttest.CountReadings(t, e.s); n != 1 {
					t.Fatalf("%d readings, want 1: the stale attempt committed", n)
				}
				if got := e.get(t, f.ID); got.Status != store.FailureResolved || got.Attempts != 2 {
					t.Fatalf("row %+v", got)
				}
				if ev := ingesttest.Audit(t, e.s, retry.ActionRetrySucceeded); len(ev) != 1 {
					t.Fatalf("%d retry_succeeded rows, want 1", len(ev))
				}
			})
		})
	}
}
