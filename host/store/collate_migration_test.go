package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// 00031: on PostgreSQL every `metric` column, in every partition, and every index over
// one, compares in the "C" collation after `migrate up`, and in the database's default
// again after `migrate down`; readings stored before keep their rows through both, the
// duplicate key still refuses a reading already stored (the group commit's retry infers
// it with ON CONFLICT), and answers ordered by metric keep their order. SQLite's 00031
// changes nothing (its columns compare bytes already); the same rows are checked there.
func TestMetricCollationMigration(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, eng, true)
			f := newFixture(t, e, "collate@x.io")
			if err := e.s.MigrateDownTo(ctx, 30); err != nil {
				t.Fatal(err)
			}
			start := e.clock.Now().Add(-time.Hour)
			var before []store.Reading
			for _, m := range []string{"total_chlorine", "ph", "free_chlorine", "signal_dbm", "signal"} {
				before = append(before, readingsFor(f, start, 2, m)...)
			}
			if n, err := e.s.InsertReadings(ctx, before); err != nil || n != len(before) {
				t.Fatalf("before 00031: %d readings, %v", n, err)
			}
			if _, _, err := e.s.InsertTestSession(ctx, store.TestSession{PoolID: f.pool.ID, TakenAt: start, Method: "strips",
				Results: []store.TestResult{{Metric: "total_alkalinity", Value: 90}, {Metric: "ph", Value: 7.4}, {Metric: "cyanuric_acid", Value: 40}}}); err != nil {
				t.Fatal(err)
			}

			check := func(step string, wantC bool) {
				t.Helper()
				if eng.name == "postgres" {
					checkMetricCollation(t, e, step, wantC)
				}
				rs, _, err := e.s.ListReadings(ctx, store.ReadingQuery{PoolID: f.pool.ID})
				if err != nil || len(rs) != len(before) {
					t.Fatalf("%s: %d readings, %v", step, len(rs), err)
				}
				// A replay of every reading, and one new: only the new one is stored.
				again := append(slices.Clone(before), readingsFor(f, start.Add(time.Minute), 1, "orp")...)
				again[len(again)-1].RecordedAt = start.Add(time.Duration(len(before)) * time.Minute)
				var n []int
				withHoldPools(t, e, eng, func() { n, err = e.s.WriteDeliveries(ctx, []store.DeliveryWrite{{Readings: again}}) })
				if err != nil || len(n) != 1 || n[0] != 1 {
					t.Fatalf("%s: a replay stored %v, %v; want [1]", step, n, err)
				}
				before = append(before, again[len(again)-1])
				ss, _, err := e.s.ListTestSessions(ctx, f.pool.ID, nil, 10)
				if err != nil || len(ss) != 1 {
					t.Fatalf("%s: %d sessions, %v", step, len(ss), err)
				}
				var got []string
				for _, r := range ss[0].Results {
					got = append(got, r.Metric)
				}
				if want := []string{"cyanuric_acid", "ph", "total_alkalinity"}; !slices.Equal(got, want) {
					t.Errorf("%s: results in order %v, want %v", step, got, want)
				}
			}
			check("at 30", false)
			if _, err := e.s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			check("after up", true)
			if err := e.s.MigrateDownTo(ctx, 30); err != nil {
				t.Fatal(err)
			}
			check("after down", false)
			if _, err := e.s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			check("up again", true)
			if err := e.s.Verify(ctx); err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
}

// checkMetricCollation fails unless every column named metric of a table (partitions
// included) and every index position over one has the "C" collation (wantC) or none
// has (the database's default).
func checkMetricCollation(t *testing.T, e *env, step string, wantC bool) {
	t.Helper()
	db := e.s.DB()
	type col struct {
		Rel string `db:"rel"`
		C   bool   `db:"c"`
	}
	var cols, idx []col
	if err := db.Select(&cols, `SELECT c.relname AS rel, a.attcollation = 'pg_catalog."C"'::regcollation AS c
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		WHERE a.attname = 'metric' AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
		  AND c.relnamespace = current_schema()::regnamespace ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if err := db.Select(&idx, `SELECT i.indexrelid::regclass::text AS rel, k.coll = 'pg_catalog."C"'::regcollation AS c
		FROM pg_index i
		JOIN pg_class c ON c.oid = i.indrelid AND c.relnamespace = current_schema()::regnamespace
		CROSS JOIN LATERAL unnest(i.indkey::int2[], i.indcollation::oid[]) AS k(attnum, coll)
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND a.attname = 'metric'
		ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	tables := map[string]bool{}
	for _, c := range cols {
		tables[c.Rel] = true
	}
	// The five tables, and at least the partitions the readings went to.
	for _, want := range []string{"sensor_readings", "test_results", "reading_rollups", "reading_rollups_daily", "measured_metrics", "sensor_readings_default"} {
		if !tables[want] {
			t.Errorf("%s: no metric column in %s (have %v)", step, want, cols)
		}
	}
	if len(idx) < 6 {
		t.Errorf("%s: only %d indexes over metric: %v", step, len(idx), idx)
	}
	for _, c := range append(cols, idx...) {
		if c.C != wantC {
			t.Errorf("%s: %s compares metric in \"C\": %v, want %v", step, c.Rel, c.C, wantC)
		}
	}
}
