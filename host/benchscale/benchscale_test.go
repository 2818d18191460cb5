package benchscale_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/benchscale"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/store"
)

func TestMain(m *testing.M) {
	// As host/bench: under make bench-scale the benchmark's own PostgreSQL keeps fsync
	// and synchronous_commit (POOLHOST_PGTEST_DURABLE=0 to see what durability costs).
	if os.Getenv(scaleEnv) == "1" && os.Getenv("POOLHOST_PGTEST_DURABLE") == "" {
		os.Setenv("POOLHOST_PGTEST_DURABLE", "1")
	}
	pgtest.Main(m)
}

// scaleEnv turns TestScale on (make bench-scale sets it).
const scaleEnv = "POOLHOST_BENCH_SCALE"

// envInt reads a positive integer from the environment, or def.
func envInt(t *testing.T, name string, def int64) int64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// TestScale is make bench-scale: POOLHOST_BENCH_ROWS readings (10 million) on
// PostgreSQL and POOLHOST_BENCH_SQLITE_ROWS (1 million; 0 skips SQLite) on SQLite,
// across POOLHOST_BENCH_POOLS pools (10,000). With POOLHOST_BENCH_DATABASE_URL (an
// empty PostgreSQL database on a server the operator runs, its role allowed CREATEDB)
// the PostgreSQL side loads that database once and later runs reuse it (Config.DatabaseURL).
// It prints the figures; it fails only when
// something does not work, never on a timing.
func TestScale(t *testing.T) {
	if os.Getenv(scaleEnv) != "1" {
		t.Skip("make bench-scale runs this (" + scaleEnv + "=1)")
	}
	pools := int(envInt(t, "POOLHOST_BENCH_POOLS", benchscale.DefaultPools))
	cfg := benchscale.Config{Pools: pools, Rounds: 3, Senders: 16,
		StatusRuns:  int(envInt(t, "POOLHOST_BENCH_STATUS_RUNS", 200)),
		SummaryRuns: int(envInt(t, "POOLHOST_BENCH_SUMMARY_RUNS", 50)),
		Deliveries:  int(envInt(t, "POOLHOST_BENCH_DELIVERIES", 3000)),
		// Of 4 readings: by default as many readings as an ingest round's deliveries of 10.
		KeepUpDeliveries: int(envInt(t, "POOLHOST_BENCH_KEEPUP_DELIVERIES", 5*envInt(t, "POOLHOST_BENCH_DELIVERIES", 3000)/2)),
		NoRollups:        os.Getenv("POOLHOST_BENCH_ROLLUPS") == "0",
		DatabaseURL:      os.Getenv("POOLHOST_BENCH_DATABASE_URL"),
	}
	runs := []struct {
		engine string
		rows   int64
	}{
		{"postgres", envInt(t, "POOLHOST_BENCH_ROWS", benchscale.DefaultRows)},
	}
	if v := os.Getenv("POOLHOST_BENCH_SQLITE_ROWS"); v != "0" {
		runs = append(runs, struct {
			engine string
			rows   int64
		}{"sqlite", envInt(t, "POOLHOST_BENCH_SQLITE_ROWS", 1_000_000)})
	}
	for _, r := range runs {
		t.Run(r.engine, func(t *testing.T) {
			c := cfg
			c.Rows = r.rows
			rep := benchscale.Run(t, r.engine, c, func(f string, args ...any) {
				fmt.Printf("%s %s: %s\n", time.Now().Format("15:04:05"), r.engine, fmt.Sprintf(f, args...))
			})
			rep.Print(os.Stdout)
		})
	}
}

// TestFigures runs the benchmark at a tiny size on both engines, so it cannot rot: the
// loader writes exactly the rows its plan claims (Load checks the totals, one audit row
// per delivery and, on PostgreSQL, an empty default partition; here the measured pools'
// counts), and every figure is taken.
func TestFigures(t *testing.T) {
	for _, eng := range []string{"sqlite", "postgres"} {
		t.Run(eng, func(t *testing.T) {
			// The history (16 hours for the large pool) ends this month, just after its
			// first midnight: retention then has a past month to drop.
			now := time.Now().UTC()
			end := time.Date(now.Year(), now.Month(), 1, 4, 0, 0, 0, time.UTC)
			rep := benchscale.Run(t, eng, benchscale.Config{Rows: 10_000, Pools: 100, StatusRuns: 3, SummaryRuns: 2,
				Deliveries: 20, Rounds: 1, Senders: 4, KeepUpDeliveries: 50, End: end}, t.Logf)
			p := rep.World.Plan
			if got := p.Rows(); got < 9_900 || got > 10_100 {
				t.Errorf("plan holds %d readings, want about 10,000", got)
			}
			for i, f := range rep.Pools {
				want := p.Pools[[]int{p.Median(), 0}[i]].Rows()
				if f.Rows != want {
					t.Errorf("%s pool has %d readings, the plan %d", f.Name, f.Rows, want)
				}
				if f.Status.Runs != 3 || f.Status.P50 <= 0 || f.StatusMetric != len(benchscale.Metrics) {
					t.Errorf("%s pool status: %+v, %d metrics", f.Name, f.Status, f.StatusMetric)
				}
				if f.Day.P50 <= 0 || f.Year.P50 <= 0 || f.DayBuckets == 0 || f.YearBuckets == 0 {
					t.Errorf("%s pool summaries: %+v", f.Name, f)
				}
			}
			if len(rep.EmptyRate) != 1 || rep.EmptyRate[0] <= 0 || rep.LoadedRate[0] <= 0 {
				t.Errorf("ingest rates %v %v", rep.EmptyRate, rep.LoadedRate)
			}
			// The rollups took in every reading of the live ingestion.
			if k := rep.KeepUp; k == nil || k.Readings != 50*int64(len(benchscale.Metrics)) || k.Total != k.Readings ||
				k.Merged > k.Total || k.Ingest <= 0 || k.Lag <= 0 {
				t.Errorf("keep-up: %+v", k)
			}
			if rep.MonthRows == 0 || rep.MonthDrop <= 0 {
				t.Errorf("retention: month %s, %d rows, %v", rep.MonthName, rep.MonthRows, rep.MonthDrop)
			}
			rep.Print(testWriter{t})
		})
	}
}

// TestReuse runs the benchmark twice on one kept database: the first run loads it and
// drops its oldest month; the second loads nothing, puts the month back, and takes the
// same figures. A database holding another plan is refused.
func TestReuse(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	now := time.Now().UTC()
	end := time.Date(now.Year(), now.Month(), 1, 4, 0, 0, 0, time.UTC)
	cfg := benchscale.Config{Rows: 10_000, Pools: 100, StatusRuns: 3, SummaryRuns: 2,
		Deliveries: 20, Rounds: 1, Senders: 4, DatabaseURL: url}
	first := cfg
	first.End = end
	var logged []string
	logf := func(f string, args ...any) { logged = append(logged, fmt.Sprintf(f, args...)); t.Logf(f, args...) }
	r1 := benchscale.Run(t, "postgres", first, logf)
	if r1.Reused || r1.World.Loaded <= 0 || r1.RollupCatchUp <= 0 {
		t.Fatalf("first run: reused %v, loaded in %v, rollups in %v", r1.Reused, r1.World.Loaded, r1.RollupCatchUp)
	}
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string) int64 {
		var n int64
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Readings before the rerun: the plan's, less the month dropped, plus the
	// ingest benchmark's ten per delivery.
	before := count(`SELECT COUNT(*) FROM sensor_readings`)
	if want := r1.World.Plan.Rows() - r1.MonthRows + 10*20; before != want {
		t.Fatalf("after the first run %d readings, want %d", before, want)
	}
	audits := count(`SELECT COUNT(*) FROM audit_events WHERE action = 'webhook.received' AND provider = '` + benchscale.ScaleProvider + `'`)

	logged = nil
	r2 := benchscale.Run(t, "postgres", cfg, logf) // End zero: the kept plan's
	if !r2.Reused || r2.World.Loaded != r1.World.Loaded.Truncate(time.Millisecond) {
		t.Errorf("second run: reused %v, loaded in %v (the first run's %v)", r2.Reused, r2.World.Loaded, r1.World.Loaded)
	}
	if !r2.World.Plan.End.Equal(r1.World.Plan.End) || r2.World.PoolIDs[0] != r1.World.PoolIDs[0] {
		t.Errorf("second run's plan ends %v, large pool %d; first's %v, %d", r2.World.Plan.End, r2.World.PoolIDs[0], r1.World.Plan.End, r1.World.PoolIDs[0])
	}
	for _, l := range logged {
		if strings.Contains(l, "loaded and analyzed") {
			t.Errorf("second run loaded: %q", l)
		}
	}
	// Nothing loaded: the scale provider's audit rows are as they were; the month was
	// put back and dropped again, whole.
	if n := count(`SELECT COUNT(*) FROM audit_events WHERE action = 'webhook.received' AND provider = '` + benchscale.ScaleProvider + `'`); n != audits {
		t.Errorf("scale audit rows: %d, before the second run %d", n, audits)
	}
	if r2.MonthName != r1.MonthName || r2.MonthRows != r1.MonthRows || r2.MonthDrop <= 0 {
		t.Errorf("second run dropped %s (%d readings), the first %s (%d)", r2.MonthName, r2.MonthRows, r1.MonthName, r1.MonthRows)
	}
	if n := count(`SELECT COUNT(*) FROM sensor_readings`); n != before+10*20 {
		t.Errorf("after the second run %d readings, want %d", n, before+10*20)
	}
	for i, f := range r2.Pools {
		g := r1.Pools[i]
		if f.Rows != g.Rows || f.StatusMetric != g.StatusMetric || f.DayBuckets != g.DayBuckets || f.YearBuckets != g.YearBuckets || f.Status.P50 <= 0 || f.Year.P50 <= 0 {
			t.Errorf("%s pool: second run %+v, first %+v", f.Name, f, g)
		}
	}
	if len(r2.LoadedRate) != 1 || r2.LoadedRate[0] <= 0 || r2.EmptyRate[0] <= 0 {
		t.Errorf("second run's ingest rates %v %v", r2.EmptyRate, r2.LoadedRate)
	}
	// The rollups hold each reading once: the month put back kept its ids, which they
	// already held.
	if got := count(`SELECT COALESCE(SUM(n), 0) FROM reading_rollups`); got != r1.World.Plan.Rows()+2*10*20 {
		t.Errorf("hourly rollups count %d readings, want %d", got, r1.World.Plan.Rows()+2*10*20)
	}
	r2.Print(testWriter{t})

	other := cfg
	other.Rows = 20_000
	s, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := benchscale.Reuse(ctx, s, other.Rows, other.Pools, time.Time{}); err == nil || !strings.Contains(err.Error(), "asked for 20000") {
		t.Errorf("a database of another plan: %v", err)
	}
	if _, _, err := benchscale.Reuse(ctx, s, cfg.Rows, cfg.Pools, end.AddDate(0, 0, 1)); err == nil || !strings.Contains(err.Error(), "asked for") {
		t.Errorf("a database ending at another time: %v", err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }
