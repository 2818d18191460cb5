package benchscale

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/internal/loadtest"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/retention"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/plugins/generic"
	"github.com/poolhost/poolhost/sdk"
)

// Config sizes one run.
type Config struct {
	Rows  int64 // readings to load
	Pools int
	// StatusRuns and SummaryRuns are how many times each query is timed per pool (after
	// a few untimed runs that warm the cache, as a pool's page would be).
	StatusRuns, SummaryRuns int
	// Deliveries per ingest round; Rounds alternate the empty and the loaded database.
	Deliveries, Rounds int
	// Senders is the ingest benchmark's concurrency (host/bench's BenchmarkIngestOnly: 16).
	Senders int
	// End is the newest readings' time; zero is now.
	End time.Time
	// KeepUpDeliveries, when not zero (and rollups are on), times the rollup worker
	// against live ingestion of that many deliveries (KeepUp).
	KeepUpDeliveries int
	// NoRollups skips the rollup worker: summaries then read raw rows, and retention
	// runs as without rollups. For sizes whose catch-up would take longer than the
	// time at hand (make bench-scale POOLHOST_BENCH_ROLLUPS=0).
	NoRollups bool
	// DatabaseURL, when set, is a PostgreSQL database that outlives the run (make
	// bench-scale POOLHOST_BENCH_DATABASE_URL): the first run loads it and records the
	// plan; later runs with the same plan skip the load (see Reuse). The empty database
	// of the ingest comparison is then made on the same server.
	DatabaseURL string
}

// Targets are issue 20's.
const (
	TargetStatusP50   = 2 * time.Millisecond
	TargetYearP50     = 10 * time.Millisecond
	TargetIngestRatio = 0.90
	TargetMonthDrop   = time.Second
)

// Timing is a query's latency over its timed runs.
type Timing struct {
	P50, P99 time.Duration
	Runs     int
}

// PoolFigures are the query timings of one pool.
type PoolFigures struct {
	Name         string // "median" or "largest"
	PoolID       int64
	Rows         int64 // counted in the database
	Status       Timing
	Day, Year    Timing // 24 hourly buckets; 365 daily buckets
	DayBuckets   int    // buckets the last answers held
	YearBuckets  int
	StatusMetric int // metrics the last status answer held
}

// Report is one engine's figures.
type Report struct {
	Engine string
	World  World
	// Reused: the readings were loaded by an earlier run (Config.DatabaseURL), and
	// World.Loaded and RollupCatchUp are that run's.
	Reused bool
	Pools  []PoolFigures
	// Ingest: deliveries/s of each round, on a fresh database and on the loaded one.
	EmptyRate, LoadedRate []float64
	// RollupCatchUp is the rollup worker's one run over the whole load.
	RollupCatchUp time.Duration
	// RollupMerged and RollupThisRun are this run's catch-up: on a kept database, what
	// arrived since the last run.
	RollupMerged  int64
	RollupThisRun time.Duration
	// KeepUp is the rollup worker against live ingestion (Config.KeepUpDeliveries).
	KeepUp *KeepUp
	// Retention: the month dropped (or deleted, on SQLite), its rows, and the time the
	// pruner's run took.
	MonthName string
	MonthRows int64
	MonthDrop time.Duration
}

// Run loads cfg.Rows readings into a fresh database of engine eng and takes the figures.
// It needs the package's TestMain to run pgtest.Main when eng is PostgreSQL.
func Run(tb testing.TB, eng string, cfg Config, logf func(string, ...any)) Report {
	tb.Helper()
	ctx := context.Background()
	var url string
	switch {
	case eng == "postgres" && cfg.DatabaseURL != "":
		url = cfg.DatabaseURL
	case eng == "postgres":
		url = pgtest.NewDatabase(tb)
	case eng == "sqlite":
		url = "sqlite:" + tb.TempDir() + "/scale.db"
	default:
		tb.Fatalf("engine %q", eng)
	}
	keep := eng == "postgres" && cfg.DatabaseURL != ""
	s := openStore(tb, url)
	var rep Report
	var kept Kept
	if keep {
		var err error
		if kept, rep.Reused, err = Reuse(ctx, s, cfg.Rows, cfg.Pools, cfg.End); err != nil {
			tb.Fatalf("kept database: %v", err)
		}
	}
	var w World
	if rep.Reused {
		w = kept.World
		logf("%d readings loaded by an earlier run (in %v) reused", w.Plan.Rows(), w.Loaded.Round(time.Second))
		// An earlier run's retention dropped the oldest month: back before measuring.
		if err := restoreMonth(ctx, s, url, w.Plan, logf); err != nil {
			tb.Fatalf("kept database: %v", err)
		}
	} else {
		if cfg.End.IsZero() {
			cfg.End = time.Now()
		}
		plan, err := NewPlan(cfg.Rows, cfg.Pools, cfg.End)
		if err != nil {
			tb.Fatal(err)
		}
		if w, err = Load(ctx, s, url, plan, logf); err != nil {
			tb.Fatalf("load: %v", err)
		}
		if keep {
			if err := recordPlan(ctx, s, cfg.Rows, cfg.Pools, w); err != nil {
				tb.Fatalf("kept database: %v", err)
			}
		}
	}
	plan := w.Plan
	rep.Engine, rep.World = eng, w
	// The rollup worker catches up with the load before anything is measured, as it
	// would have kept up while the readings arrived: summaries then read rollups. On a
	// kept database it goes on from its watermark: nothing, once a run has caught up.
	// The worker's own step, without its leader election: the benchmark is alone on its
	// database, and an earlier run's leadership may not have lapsed yet.
	if !cfg.NoRollups {
		start := time.Now()
		merged, _, err := s.AdvanceRollups(ctx)
		if err != nil || (!rep.Reused && merged != plan.Rows()) {
			tb.Fatalf("rollups: %d of %d readings merged, %v", merged, plan.Rows(), err)
		}
		took := time.Since(start)
		if behind, err := rollupsBehind(ctx, s); err != nil || behind != 0 {
			tb.Fatalf("rollups: %d readings above the watermark after the catch-up (%v)", behind, err)
		}
		logf("rollups caught up with %d readings in %v", merged, took.Round(time.Millisecond))
		rep.RollupMerged, rep.RollupThisRun = merged, took
		rep.RollupCatchUp = took
		if rep.Reused {
			// The first run's, which did the work; zero when it skipped the rollups
			// and later runs caught up piecemeal: then no time covers the whole load.
			rep.RollupCatchUp = kept.RollupCatchUp
		}
		if keep && !rep.Reused {
			if err := recordRollups(ctx, s, rep.RollupCatchUp); err != nil {
				tb.Fatalf("kept database: %v", err)
			}
		}
	}
	svc := pools.New(s, nil)
	for _, pick := range []struct {
		name string
		idx  int
	}{{"median", plan.Median()}, {"largest", 0}} {
		rep.Pools = append(rep.Pools, poolFigures(tb, s, svc, w, pick.name, pick.idx, cfg))
	}
	rep.EmptyRate, rep.LoadedRate = ingestRates(tb, eng, s, url, cfg)
	// The worker's next run takes in the ingested readings, so the rollups hold every
	// reading retention is asked to expire.
	if !cfg.NoRollups {
		if _, _, err := s.AdvanceRollups(ctx); err != nil {
			tb.Fatalf("rollups: %v", err)
		}
		if cfg.KeepUpDeliveries > 0 {
			k := keepUp(tb, s, w, cfg)
			rep.KeepUp = &k
		}
	}
	// Last, as it is the one destructive measurement: on a kept database the month is
	// copied aside first, and the next run puts it back (restoreMonth).
	if keep {
		_, to := oldestMonth(plan)
		if err := saveMonth(ctx, s, to); err != nil {
			tb.Fatalf("kept database: %v", err)
		}
	}
	rep.MonthName, rep.MonthRows, rep.MonthDrop = dropMonth(tb, s, plan, !cfg.NoRollups)
	return rep
}

func openStore(tb testing.TB, url string) *store.Store {
	tb.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, url, store.WithCipher(ingesttest.NewCipher()))
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return s
}

// timed runs f warm times untimed, then runs times timed.
func timed(tb testing.TB, warm, runs int, f func() error) Timing {
	tb.Helper()
	for i := 0; i < warm; i++ {
		if err := f(); err != nil {
			tb.Fatal(err)
		}
	}
	ds := make([]time.Duration, runs)
	for i := range ds {
		start := time.Now()
		if err := f(); err != nil {
			tb.Fatal(err)
		}
		ds[i] = time.Since(start)
	}
	return Timing{P50: loadtest.Percentile(ds, 0.50), P99: loadtest.Percentile(ds, 0.99), Runs: runs}
}

// poolFigures times, through the pools service the HTTP routes call (authorization
// included), GET …/status and the two summaries of one pool's ph.
func poolFigures(tb testing.TB, s *store.Store, svc *pools.Service, w World, name string, idx int, cfg Config) PoolFigures {
	tb.Helper()
	ctx := context.Background()
	id := w.PoolIDs[idx]
	f := PoolFigures{Name: name, PoolID: id}
	n, err := s.CountReadings(ctx, id)
	if err != nil {
		tb.Fatal(err)
	}
	f.Rows = n
	f.Status = timed(tb, 5, cfg.StatusRuns, func() error {
		st, err := svc.Status(ctx, w.Owner, id, 0)
		f.StatusMetric = len(st.Metrics)
		return err
	})
	to := w.Plan.End.Add(Interval) // the newest reading included
	summary := func(bucket string, span time.Duration, n *int) func() error {
		return func() error {
			sum, err := svc.Summary(ctx, w.Owner, pools.SummaryQuery{PoolID: id, Metric: Metrics[0].Name, Bucket: bucket, From: to.Add(-span), To: to})
			*n = len(sum.Buckets)
			return err
		}
	}
	f.Day = timed(tb, 3, cfg.SummaryRuns, summary("1h", 24*time.Hour, &f.DayBuckets))
	f.Year = timed(tb, 3, cfg.SummaryRuns, summary("1d", 365*24*time.Hour, &f.YearBuckets))
	return f
}

// ingestMetrics are host/bench's ten readings per delivery.
var ingestMetrics = []string{"ph", "orp", "temperature", "free_chlorine", "total_chlorine",
	"combined_chlorine", "cyanuric_acid", "total_alkalinity", "calcium_hardness", "salt"}

const ingestEmail = "ingest@example.com"

var ingestDevices = []string{"d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7"}

// ingestRates is host/bench's BenchmarkIngestOnly — ingest.Ingest with its
// webhook.received audit row, group-committed, from cfg.Senders goroutines: the store
// side of a delivery — on a fresh database of the same engine and on the loaded one,
// in alternating rounds so both see the same machine load. A pool of the generic
// provider's devices is seeded in each.
func ingestRates(tb testing.TB, eng string, loaded *store.Store, url string, cfg Config) (empty, full []float64) {
	tb.Helper()
	var fresh *store.Store
	switch {
	case eng == "postgres" && cfg.DatabaseURL != "":
		fresh = openStore(tb, siblingDatabase(tb, url))
	case eng == "postgres":
		fresh = openStore(tb, pgtest.NewDatabase(tb))
	default:
		fresh = openStore(tb, "sqlite:"+tb.TempDir()+"/empty.db")
	}
	type target struct {
		s    *store.Store
		ing  *ingest.Service
		seq  atomic.Int64
		base time.Time
	}
	mk := func(s *store.Store) *target {
		// A kept database has the pool and devices from an earlier run.
		var seeded []int
		if err := s.DB().SelectContext(context.Background(), &seeded, s.DB().Rebind(`SELECT 1 FROM users WHERE email = ?`), ingestEmail); err != nil {
			tb.Fatal(err)
		}
		t := &target{s: s, ing: ingest.New(s, ingest.Config{MaxFutureSkew: time.Hour, MaxPastAge: 48 * time.Hour}, nil, nil),
			base: time.Now().Add(-time.Hour).UTC().Truncate(time.Second)}
		if len(seeded) == 0 {
			ingesttest.Seed(tb, s, generic.ID, ingestEmail, nil, ingestDevices, nil)
			return t
		}
		// Its readings start after the earlier runs', which would be duplicates
		// otherwise (a fast rerun within the same second). Only a kept PostgreSQL
		// database gets here.
		var last sql.NullTime
		if err := s.DB().GetContext(context.Background(), &last, `SELECT MAX(r.recorded_at)
			FROM sensor_readings r JOIN integration_devices d ON d.id = r.device_id WHERE d.provider = $1`, generic.ID); err != nil {
			tb.Fatal(err)
		}
		if last.Valid {
			t.base = maxTime(t.base, last.Time.UTC().Truncate(time.Second).Add(time.Second))
		}
		return t
	}
	e, l := mk(fresh), mk(loaded)
	round := func(t *target) float64 {
		first := t.seq.Load()
		t.seq.Add(int64(cfg.Deliveries))
		start := time.Now()
		err := sendAll(context.Background(), t.ing, generic.ID, cfg.Senders, first, first+int64(cfg.Deliveries), func(seq int64) []sdk.Reading {
			at := t.base.Add(time.Duration(seq) * time.Millisecond)
			rs := make([]sdk.Reading, len(ingestMetrics))
			for i, m := range ingestMetrics {
				rs[i] = sdk.Reading{ProviderDeviceID: ingestDevices[int(seq)%len(ingestDevices)], Metric: m, Value: 1, RecordedAt: at}
			}
			return rs
		})
		elapsed := time.Since(start)
		if err != nil {
			tb.Fatalf("ingest: %v", err)
		}
		return float64(cfg.Deliveries) / elapsed.Seconds()
	}
	for r := 0; r < cfg.Rounds; r++ {
		empty = append(empty, round(e))
		full = append(full, round(l))
	}
	return empty, full
}

// dropMonth times the retention pruner expiring the oldest month of readings: its
// clock is set one day past that month's end with readings kept for a day, so exactly
// that month goes (a DROP of its partition on PostgreSQL; batches of deletes on SQLite).
func dropMonth(tb testing.TB, s *store.Store, plan Plan, rollups bool) (string, int64, time.Duration) {
	tb.Helper()
	ctx := context.Background()
	from, to := oldestMonth(plan)
	var rows int64
	if err := s.DB().GetContext(ctx, &rows, s.DB().Rebind(`SELECT COUNT(*) FROM sensor_readings WHERE recorded_at < ?`), to); err != nil {
		tb.Fatal(err)
	}
	// As the host wires it: no reading the rollups do not hold yet is expired.
	cfg := retention.Config{Readings: 24 * time.Hour, Now: func() time.Time { return to.Add(24 * time.Hour) }}
	if rollups {
		cfg.RollupWatermark = s.RollupHorizon
	}
	p := retention.New(s, cfg, nil)
	start := time.Now()
	stats, err := p.Run(ctx)
	elapsed := time.Since(start)
	if err != nil {
		tb.Fatalf("retention: %v", err)
	}
	var left int64
	if err := s.DB().GetContext(ctx, &left, s.DB().Rebind(`SELECT COUNT(*) FROM sensor_readings WHERE recorded_at < ?`), to); err != nil {
		tb.Fatal(err)
	}
	if left != 0 || (s.Dialect() == "postgres" && stats.PartitionsDropped == 0) {
		tb.Fatalf("retention left %d rows of %s (%+v)", left, from.Format("2006-01"), stats)
	}
	return from.Format("2006-01"), rows, elapsed
}

// median of xs (0 when empty).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// Print writes the report with the targets, PASS or FAIL next to each.
func (r Report) Print(out io.Writer) {
	p := r.World.Plan
	earlier, whose := "", ""
	if r.Reused {
		earlier, whose = " by an earlier run (kept database)", ", in that earlier run"
	}
	fmt.Fprintf(out, "\n== %s: %d readings (and %d audit rows) across %d pools, %s to %s; loaded%s in %v\n",
		r.Engine, p.Rows(), p.Deliveries(), len(p.Pools), p.Start().Format("2006-01-02"), p.End.Format("2006-01-02 15:04 UTC"), earlier, r.World.Loaded.Round(time.Second))
	switch {
	case r.RollupCatchUp > 0:
		fmt.Fprintf(out, "rollups: the worker's first run over the load took %v (%.0f readings/s)%s\n",
			r.RollupCatchUp.Round(time.Millisecond), float64(p.Rows())/r.RollupCatchUp.Seconds(), whose)
	case r.RollupThisRun > 0:
		// A kept load whose rollups earlier runs caught up piecemeal: a rate over the
		// whole load from this run's part would be meaningless.
		fmt.Fprintf(out, "rollups: caught up by earlier runs (not timed whole); this run merged %d readings in %v\n",
			r.RollupMerged, r.RollupThisRun.Round(time.Millisecond))
	default:
		fmt.Fprintf(out, "rollups: skipped (POOLHOST_BENCH_ROLLUPS=0): the summaries read raw rows\n")
	}
	for _, f := range r.Pools {
		fmt.Fprintf(out, "%-8s pool %d: %d readings\n", f.Name, f.PoolID, f.Rows)
		fmt.Fprintf(out, "  status (%d metrics)          p50 %-10s p99 %-10s target p50 ≤ %v: %s\n", f.StatusMetric,
			ms(f.Status.P50), ms(f.Status.P99), TargetStatusP50, verdict(f.Status.P50 <= TargetStatusP50))
		fmt.Fprintf(out, "  summary 24 × 1h (%3d buckets) p50 %-10s p99 %s\n", f.DayBuckets, ms(f.Day.P50), ms(f.Day.P99))
		fmt.Fprintf(out, "  summary 365 × 1d (%3d buckets) p50 %-10s p99 %-10s target p50 ≤ %v: %s\n", f.YearBuckets,
			ms(f.Year.P50), ms(f.Year.P99), TargetYearP50, verdict(f.Year.P50 <= TargetYearP50))
	}
	e, l := median(r.EmptyRate), median(r.LoadedRate)
	ratio := 0.0
	if e > 0 {
		ratio = l / e
	}
	fmt.Fprintf(out, "ingest (store side, 10 readings + audit row per delivery): empty %.0f/s, loaded %.0f/s (medians of %d rounds) = %.0f%%  target ≥ %.0f%%: %s\n",
		e, l, len(r.EmptyRate), 100*ratio, 100*TargetIngestRatio, verdict(ratio >= TargetIngestRatio))
	if r.KeepUp != nil {
		r.KeepUp.print(out)
	}
	how := "dropped"
	if r.Engine == "sqlite" {
		how = "deleted"
	}
	fmt.Fprintf(out, "retention: month %s (%d readings) %s in %s  target < %v: %s\n",
		r.MonthName, r.MonthRows, how, ms(r.MonthDrop), TargetMonthDrop, verdict(r.MonthDrop < TargetMonthDrop))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// sendAll ingests deliveries seq from first to end (exclusive) from senders goroutines
// at once, each delivery's readings made by readings(seq) and all required new, and
// returns the first failure.
func sendAll(ctx context.Context, ing *ingest.Service, provider string, senders int, first, end int64, readings func(seq int64) []sdk.Reading) error {
	var next atomic.Int64
	next.Store(first)
	var failed atomic.Value
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				seq := next.Add(1) - 1
				if seq >= end {
					return
				}
				rs := readings(seq)
				res, err := ing.Ingest(ctx, ingest.Request{
					Provider: provider, Readings: rs, ReceivedAt: time.Now(),
					Audit: func(ingest.Result) store.AuditEvent {
						return store.AuditEvent{Action: "webhook.received", Actor: "provider:" + provider, Provider: provider}
					},
				})
				if err == nil && res.Accepted != len(rs) {
					err = fmt.Errorf("delivery %d: %d of %d readings accepted (%v)", seq, res.Accepted, len(rs), res.Dropped)
				}
				if err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	err, _ := failed.Load().(error)
	return err
}
