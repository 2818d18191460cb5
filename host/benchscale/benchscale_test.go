package benchscale_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/benchscale"
	"github.com/poolhost/poolhost/host/internal/pgtest"
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
// across POOLHOST_BENCH_POOLS pools (10,000). It prints the figures; it fails only when
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
		NoRollups:   os.Getenv("POOLHOST_BENCH_ROLLUPS") == "0",
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
				Deliveries: 20, Rounds: 1, Senders: 4, End: end}, t.Logf)
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
			if rep.MonthRows == 0 || rep.MonthDrop <= 0 {
				t.Errorf("retention: month %s, %d rows, %v", rep.MonthName, rep.MonthRows, rep.MonthDrop)
			}
			rep.Print(testWriter{t})
		})
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }
