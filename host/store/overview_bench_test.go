package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkOverviewAt3MillionRows: the Overview's two audit queries (deliveries per
// provider and hour, readings dropped by reason) with 3 million webhook.received rows in
// the last 24 hours — a day at 35 deliveries/s, one in ten with readings dropped — all
// but the last minute rolled up, as the serve loop keeps it. Scanning the day took 2.2–
// 2.6 s on PostgreSQL; the hourly counts answer in milliseconds (ms/overview).
func BenchmarkOverviewAt3MillionRows(b *testing.B) {
	const rows = 3_000_000
	for _, eng := range engines {
		// Set up once per engine (a sub-benchmark's function runs once per b.N tried).
		func() {
			e := newEnv(b, eng, true)
			ctx := context.Background()
			now := e.clock.Now()
			start := now.Add(-24 * time.Hour)
			db := e.s.DB()
			// Generated in the database: 3 million rows, spread evenly over the day, for
			// four providers.
			var q string
			if eng.name == "postgres" {
				q = fmt.Sprintf(`INSERT INTO audit_events (at, action, actor, provider, details)
					SELECT $1::timestamptz + (i * interval '86399 seconds' / %[1]d), 'webhook.received', 'provider:p' || (i %% 4), 'p' || (i %% 4),
					       CASE WHEN i %% 10 = 0 THEN '{"accepted":9,"dropped":{"unknown_metric":1}}'::jsonb ELSE '{"accepted":10}'::jsonb END
					FROM generate_series(1, %[1]d) AS i`, rows)
			} else {
				q = fmt.Sprintf(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %[1]d)
					INSERT INTO audit_events (at, action, actor, provider, details)
					SELECT ? + i * 86399000000 / %[1]d, 'webhook.received', 'provider:p' || (i %% 4), 'p' || (i %% 4),
					       CASE WHEN i %% 10 = 0 THEN '{"accepted":9,"dropped":{"unknown_metric":1}}' ELSE '{"accepted":10}' END
					FROM s`, rows)
			}
			var arg any = start
			if eng.name != "postgres" {
				arg = start.UnixMicro()
			}
			if _, err := db.ExecContext(ctx, db.Rebind(q), arg); err != nil {
				b.Fatal(err)
			}
			e.clock.Advance(time.Hour) // every generated row is past the rollup's lag
			for {
				n, err := e.s.RollupAudit(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					break
				}
			}
			since := e.clock.Now().Add(-24 * time.Hour)
			b.Run(eng.name, func(b *testing.B) {
				for range b.N {
					acts, err := e.s.DeliveryActivity(ctx, since)
					if err != nil || len(acts) == 0 {
						b.Fatalf("activity: %d buckets, %v", len(acts), err)
					}
					if _, err := e.s.DroppedReadings(ctx, since); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/overview")
			})
		}()
	}
}
