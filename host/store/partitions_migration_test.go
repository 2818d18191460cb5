package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// seriesRow is one row of a time series, as the migration must keep it.
type seriesRow struct {
	ID     int64     `db:"id"`
	At     time.Time `db:"at"`
	Value  float64   `db:"v"`
	Metric string    `db:"metric"`
}

func dumpSeries(t *testing.T, e *env) map[string][]seriesRow {
	t.Helper()
	out := map[string][]seriesRow{}
	for table, q := range map[string]string{
		"sensor_readings": `SELECT id, recorded_at AS at, value AS v, metric FROM sensor_readings ORDER BY id`,
		"test_results":    `SELECT session_id AS id, taken_at AS at, value AS v, metric FROM test_results ORDER BY session_id, metric`,
		"audit_events":    `SELECT id, at, 0.0 AS v, action AS metric FROM audit_events ORDER BY id`,
	} {
		var rows []seriesRow
		if err := e.s.DB().Select(&rows, q); err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		for i := range rows {
			rows[i].At = rows[i].At.UTC()
		}
		out[table] = rows
	}
	return out
}

// 00019 converts a database with rows in the three time series: up (partitioned on
// PostgreSQL, a month partition for each month the rows cover), down and up again, every
// row is kept with its id, and new rows take ids after the old ones.
func TestPartitionMigrationKeepsRows(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, eng, true)
			f := newFixture(t, e, "conv@x.io")
			if err := e.s.MigrateDownTo(ctx, 18); err != nil {
				t.Fatal(err)
			}
			now := e.clock.Now()
			// Readings over three months (one of them a year back) and a test session.
			var rs []store.Reading
			for _, at := range []time.Time{now.AddDate(-1, 0, 0), now.AddDate(0, -1, 0), now.Add(-time.Hour)} {
				rs = append(rs, readingsFor(f, at, 50, "ph")...)
			}
			if n, err := e.s.InsertReadings(ctx, rs); err != nil || n != len(rs) {
				t.Fatalf("insert readings = %d, %v", n, err)
			}
			if _, _, err := e.s.InsertTestSession(ctx, store.TestSession{PoolID: f.pool.ID, TakenAt: now.AddDate(0, -2, 0), Method: "strips",
				Results: []store.TestResult{{Metric: "ph", Value: 7.4}, {Metric: "free_chlorine", Value: 1.5}}}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.s.AppendAudit(ctx, store.AuditEvent{At: now.AddDate(0, -3, 0), Action: "test.old", Actor: store.ActorSystem}); err != nil {
				t.Fatal(err)
			}
			before := dumpSeries(t, e)
			for table, rows := range before {
				if len(rows) == 0 {
					t.Fatalf("no %s before the migration", table)
				}
			}

			for _, step := range []func(context.Context) error{
				func(ctx context.Context) error { _, err := e.s.Migrate(ctx); return err },
				func(ctx context.Context) error { return e.s.MigrateDownTo(ctx, 18) },
				func(ctx context.Context) error { _, err := e.s.Migrate(ctx); return err },
			} {
				if err := step(ctx); err != nil {
					t.Fatal(err)
				}
				after := dumpSeries(t, e)
				for table, rows := range before {
					if !slices.Equal(after[table], rows) {
						t.Fatalf("%s changed:\nbefore %v\nafter  %v", table, rows, after[table])
					}
				}
			}
			if err := e.s.Verify(ctx); err != nil {
				t.Fatal(err)
			}
			if eng.name == "postgres" {
				// Each month with rows has its partition: none waits in the default one.
				for _, table := range []string{"sensor_readings", "test_results", "audit_events"} {
					var n int
					if err := e.s.DB().Get(&n, `SELECT COUNT(*) FROM `+table+`_default`); err != nil || n != 0 {
						t.Errorf("%s_default holds %d rows (%v), want 0", table, n, err)
					}
				}
				ps, err := e.s.Partitions(ctx, store.TableReadings)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range before["sensor_readings"] {
					if !slices.ContainsFunc(ps, func(p store.Partition) bool { return !r.At.Before(p.From) && r.At.Before(p.To) }) {
						t.Errorf("no partition for the reading at %v (partitions %v)", r.At, ps)
					}
				}
			}
			// The identities continue after the copied rows.
			last := before["sensor_readings"][len(before["sensor_readings"])-1].ID
			if n, err := e.s.InsertReadings(ctx, readingsFor(f, now, 1, "orp")); err != nil || n != 1 {
				t.Fatalf("insert after = %d, %v", n, err)
			}
			var id int64
			if err := e.s.DB().Get(&id, `SELECT MAX(id) FROM sensor_readings`); err != nil || id <= last {
				t.Errorf("new reading id %d (%v), want after %d", id, err, last)
			}
			ev, err := e.s.AppendAudit(ctx, store.AuditEvent{Action: "test.new", Actor: store.ActorSystem})
			if lastAudit := before["audit_events"][len(before["audit_events"])-1].ID; err != nil || ev.ID <= lastAudit {
				t.Errorf("new audit id %d (%v), want after %d", ev.ID, err, lastAudit)
			}
		})
	}
}
