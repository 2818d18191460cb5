package store_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// A summary reads sensor_readings only where its range lies, however many months are
// kept. At 100 million readings (130 monthly partitions) a year of daily buckets from
// caught-up rollups took 13.7 ms, the rollups' own rows a fraction of it: the rest was
// MAX(id) for where the open edge ends and the open edge's id range, neither of which
// PostgreSQL can prune by month, so both planned and probed every partition. So on
// PostgreSQL no statement of a summary may touch a month outside its range, caught up
// or with a reading above the watermark; and caught up (no reading above it) the
// statement has no open edge at all: on SQLite it reads sensor_readings only for the
// partial hours at the range's two ends.
func TestSummaryReadsOnlyItsMonths(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "summary@x.io")
		other := newFixture(t, e, "history@x.io")
		now := e.clock.Now()
		// Another pool's reading in each of the last 48 months: the months kept.
		var history []store.Reading
		for m := range 48 {
			history = append(history, store.Reading{DeviceID: other.device.ID, PoolID: other.pool.ID, Metric: "ph", Value: 7, RecordedAt: now.AddDate(0, -m, 0)})
		}
		if _, err := e.s.InsertReadings(ctx, history); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.EnsurePartitions(ctx); err != nil {
			t.Fatal(err)
		}
		start := time.Date(2025, 5, 9, 0, 0, 0, 0, time.UTC)
		hourly(t, e, f, start, start.Add(5*24*time.Hour))
		advance(t, e)

		// Three whole days from the daily rollups, hours of the day before and after
		// from the hourly ones, and a partial hour raw at each end: all in May 2025.
		q := store.SummaryQuery{PoolID: f.pool.ID, Metric: "ph", Bucket: 24 * time.Hour,
			From: start.Add(22*time.Hour + 30*time.Minute), To: start.Add(4*24*time.Hour + 6*time.Hour + 30*time.Minute)}
		scanned := regexp.MustCompile(` on (sensor_readings_(?:p\d+|default))\b`)
		check := func(when string, edges int) {
			t.Helper()
			plans, err := e.s.ExplainSummary(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(plans) != 2 {
				t.Fatalf("%s: %d statements, want 2 (the watermark, then the rows)", when, len(plans))
			}
			if e.s.Dialect() == "postgres" {
				for _, plan := range plans {
					for _, m := range scanned.FindAllStringSubmatch(plan, -1) {
						if name := m[1]; name != "sensor_readings_p202505" {
							t.Fatalf("%s: a statement's plan holds %s, outside the summary's month:\n%s", when, name, plan)
						}
					}
				}
				return
			}
			n := 0
			for _, line := range strings.Split(plans[1], "\n") {
				if strings.Contains(line, "sensor_readings") {
					n++
				}
			}
			if n != edges {
				t.Fatalf("%s: the statement reads sensor_readings %d times, want %d:\n%s", when, n, edges, plans[1])
			}
		}
		check("caught up", 2)
		if bs := sameAsRaw(t, e, q); len(bs) != 5 || bs[1].Count != 24 {
			t.Fatalf("caught up: summary = %+v, want 5 days, 24 readings on the first whole one", bs)
		}

		// A late reading, above the watermark: the open edge reads it, from May only.
		late := start.Add(2*24*time.Hour + 12*time.Hour + 15*time.Minute)
		if _, err := e.s.InsertReadings(ctx, []store.Reading{{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: "ph", Value: 6, RecordedAt: late}}); err != nil {
			t.Fatal(err)
		}
		check("a reading above the watermark", 3)
		if bs := sameAsRaw(t, e, q); len(bs) != 5 || bs[2].Count != 25 || bs[2].Min != 6 {
			t.Fatalf("with the late reading: summary = %+v, want 25 readings, min 6 on %s", bs, late.Format(time.DateOnly))
		}
	})
}

// A summary's statements run without JIT on PostgreSQL, whatever the planner's estimate
// (here jit_above_cost 0 for every statement): at 100 million readings the large pool's
// 24 hourly buckets were estimated at 31,000 rollup rows for 140, and compiling the
// statement took 46 ms.
func TestSummaryWithoutJIT(t *testing.T) {
	e := newEnv(t, engines[1], true)
	ctx := context.Background()
	var available bool
	if err := e.s.DB().GetContext(ctx, &available, `SELECT pg_jit_available()`); err != nil || !available {
		t.Skipf("no JIT in this server (%v)", err)
	}
	if _, err := e.s.DB().ExecContext(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET jit_above_cost = 0', current_database()); END $$`); err != nil {
		t.Fatal(err)
	}
	s := e.open(t) // its sessions start with the setting
	f := newFixture(t, e, "jit@x.io")
	start := time.Date(2025, 5, 9, 0, 0, 0, 0, time.UTC)
	hourly(t, e, f, start, start.Add(3*24*time.Hour))
	advance(t, e)
	var cost string
	if err := s.DB().GetContext(ctx, &cost, `SHOW jit_above_cost`); err != nil || cost != "0" {
		t.Fatalf("jit_above_cost %q (%v), want 0", cost, err)
	}
	plans, err := s.ExplainSummary(ctx, store.SummaryQuery{PoolID: f.pool.ID, Metric: "ph", Bucket: time.Hour,
		From: start.Add(30 * time.Minute), To: start.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, plan := range plans {
		if strings.Contains(plan, "JIT") {
			t.Fatalf("a summary's statement is compiled:\n%s", plan)
		}
	}
}
