package bench_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/store"
)

// What the readings mean, at scale: GET /status and /readings/summary answer one pool of
// a PostgreSQL database holding 10 million readings across 1,000 pools. The data is made
// by the server itself with generate_series (one INSERT … SELECT), not row by row, and
// only when a benchmark runs: `go test` without -bench never calls these functions.
const (
	meaningPools    = 1000
	meaningReadings = 10_000_000
)

// meaningMetrics are the metrics each pool's sensor reports, round robin, one reading
// every 6 minutes: 10,000 readings per pool cover about 41 days.
var meaningMetrics = []string{"ph", "orp", "temperature", "free_chlorine", "salt", "tds", "conductivity", "battery", "signal", "total_alkalinity"}

var (
	meaningOnce sync.Once
	meaningSvc  *pools.Service
	meaningEnd  time.Time
	meaningErr  error
)

// meaningWorld loads the database once per benchmark binary.
func meaningWorld(b *testing.B) (*pools.Service, time.Time) {
	b.Helper()
	meaningOnce.Do(func() {
		url := pgtest.NewDatabase(b)
		ctx := context.Background()
		st, err := store.Open(ctx, url)
		if err != nil {
			meaningErr = err
			return
		}
		if _, err := st.Migrate(ctx); err != nil {
			meaningErr = err
			return
		}
		meaningEnd = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		start := time.Now()
		perPool := meaningReadings / meaningPools
		step := 6 * time.Minute
		first := meaningEnd.Add(-time.Duration(perPool) * step)
		stmts := []string{
			`INSERT INTO users (email) SELECT 'owner' || g || '@example.com' FROM generate_series(1, 1000) g`,
			`INSERT INTO pools (name, sanitizer) SELECT 'pool ' || g, 'chlorine' FROM generate_series(1, 1000) g`,
			`INSERT INTO pool_members (pool_id, user_id, role) SELECT g, g, 'owner' FROM generate_series(1, 1000) g`,
			// Building the two indexes once after the load is far cheaper than keeping
			// them up to date through it; they are recreated exactly as the migrations
			// define them.
			`ALTER TABLE sensor_readings DROP CONSTRAINT sensor_readings_device_id_recorded_at_metric_key`,
			`DROP INDEX sensor_readings_pool_metric_time_idx`,
		}
		for _, s := range stmts {
			if _, err := st.DB().ExecContext(ctx, s); err != nil {
				meaningErr = err
				return
			}
		}
		// Reading i of pool p: metric i mod 10, at first + i·6min, value a slow wave.
		_, err = st.DB().ExecContext(ctx, `INSERT INTO sensor_readings
			(device_id, pool_id, metric, value, unit, recorded_at, received_at, quality)
			SELECT p, p, (CAST($1 AS TEXT[]))[1 + i % 10], 7 + sin(i / 50.0) / 2, '',
			       $2::timestamptz + i * interval '6 minutes', $2::timestamptz + i * interval '6 minutes', ''
			FROM generate_series(1, $3) p, generate_series(0, $4 - 1) i`,
			"{"+joinComma(meaningMetrics)+"}", first, meaningPools, perPool)
		if err != nil {
			meaningErr = err
			return
		}
		for _, s := range []string{
			`ALTER TABLE sensor_readings ADD CONSTRAINT sensor_readings_device_id_recorded_at_metric_key UNIQUE (device_id, recorded_at, metric)`,
			`CREATE INDEX sensor_readings_pool_metric_time_idx ON sensor_readings (pool_id, metric, recorded_at, id)`,
			// A weekly manual test per pool, for the status's second source.
			`INSERT INTO test_sessions (pool_id, taken_at, method, author_id, created_at)
			 SELECT p, $1::timestamptz - w * interval '7 days' - interval '3 hours', 'drops', p, now()
			 FROM generate_series(1, 1000) p, generate_series(0, 5) w`,
			`INSERT INTO test_results (session_id, pool_id, metric, value, unit, taken_at)
			 SELECT id, pool_id, m, 7.4, '', taken_at FROM test_sessions, unnest(ARRAY['ph', 'free_chlorine', 'cyanuric_acid']) m`,
			`ANALYZE`,
		} {
			args := []any{}
			if slices.Contains([]byte(s), '$') {
				args = append(args, meaningEnd)
			}
			if _, err := st.DB().ExecContext(ctx, s, args...); err != nil {
				meaningErr = err
				return
			}
		}
		b.Logf("loaded %d readings across %d pools in %s", meaningReadings, meaningPools, time.Since(start).Round(time.Second))
		// Summaries read the hourly rollups, as they do once the rollup worker has run.
		rolled := time.Now()
		if _, _, meaningErr = st.AdvanceRollups(ctx); meaningErr != nil {
			return
		}
		b.Logf("rolled up in %s", time.Since(rolled).Round(time.Second))
		meaningSvc = pools.New(st, audit.NewRecorder(audit.StoreWriter(st), nil))
		meaningSvc.SetClock(func() time.Time { return meaningEnd })
	})
	if meaningErr != nil {
		b.Fatal(meaningErr)
	}
	return meaningSvc, meaningEnd
}

func joinComma(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}

// benchMedian runs fn for each iteration on pools spread across the 1,000 and reports
// the median and 95th percentile latency beside Go's mean.
func benchMedian(b *testing.B, fn func(poolID int64) error) {
	b.Helper()
	var lat []time.Duration
	i := 0
	for b.Loop() {
		pool := int64(i*7919%meaningPools + 1)
		i++
		t0 := time.Now()
		if err := fn(pool); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median-ms")
		b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
	}
}

func owner(poolID int64) auth.Actor { return auth.Actor{UserID: poolID} }

// BenchmarkPoolMeaning loads the database once (its cleanup belongs to this benchmark)
// and runs, on one pool at a time:
//   - status: the latest value of every metric from its sensor and its test sessions,
//     judged against its targets (GET /v1/pools/{id}/status);
//   - summary_1h, summary_1d: one metric hourly over a day and daily over 30 days
//     (GET /v1/pools/{id}/readings/summary).
func BenchmarkPoolMeaning(b *testing.B) {
	svc, end := meaningWorld(b)
	b.Run("status", func(b *testing.B) {
		benchMedian(b, func(pool int64) error {
			st, err := svc.Status(context.Background(), owner(pool), pool, 0)
			// The sensor's ten metrics, and cyanuric_acid from the manual tests.
			if err == nil && len(st.Metrics) != len(meaningMetrics)+1 {
				b.Fatalf("status has %d metrics", len(st.Metrics))
			}
			return err
		})
	})
	for _, bucket := range []string{"1h", "1d"} {
		b.Run("summary_"+bucket, func(b *testing.B) {
			benchMedian(b, func(pool int64) error {
				s, err := svc.Summary(context.Background(), owner(pool), pools.SummaryQuery{PoolID: pool, Metric: "ph", Bucket: bucket, To: end})
				if err == nil && len(s.Buckets) == 0 {
					b.Fatal("empty summary")
				}
				return err
			})
		})
	}
}
