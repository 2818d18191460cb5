package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// partitionOf names the partition holding the reading of metric at at.
func partitionOf(t *testing.T, e *env, table, where string, args ...any) string {
	t.Helper()
	var name string
	if err := e.s.DB().Get(&name, e.s.DB().Rebind(`SELECT tableoid::regclass::text FROM `+table+` WHERE `+where), args...); err != nil {
		t.Fatalf("partition of %s where %s: %v", table, where, err)
	}
	return name
}

var partitionKey = map[string]string{"sensor_readings": "recorded_at", "test_results": "taken_at", "audit_events": "at"}

// After migrate up, the three time series are partitioned by month on PostgreSQL and a
// reading of any date is stored: two years old (a month without a partition: the default
// one takes it) or next month (kept ahead). EnsurePartitions then gives the old month
// its partition, moving the row out of the default one with its id, and duplicate
// detection stays exact across the move. SQLite keeps plain tables.
func TestPartitionedTimeSeries(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		db := e.s.DB()
		if e.s.Dialect() != "postgres" {
			if ps, err := e.s.EnsurePartitions(ctx); err != nil || ps != nil {
				t.Fatalf("sqlite: EnsurePartitions = %v, %v; want nothing", ps, err)
			}
			return
		}
		var partitioned []string
		if err := db.Select(&partitioned, `SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
			WHERE p.partstrat = 'r' ORDER BY 1`); err != nil {
			t.Fatal(err)
		}
		if want := []string{"audit_events", "sensor_readings", "test_results"}; !slices.Equal(partitioned, want) {
			t.Fatalf("range-partitioned tables = %v, want %v", partitioned, want)
		}
		if _, err := e.s.EnsurePartitions(ctx); err != nil { // the test clock's months
			t.Fatal(err)
		}
		f := newFixture(t, e, "part@x.io")
		now := e.clock.Now()
		old := now.AddDate(-2, 0, 0)
		next := now.AddDate(0, 1, 0)
		rs := append(readingsFor(f, old, 2, "ph"), readingsFor(f, next, 1, "ph")...)
		if n, err := e.s.InsertReadings(ctx, rs); err != nil || n != 3 {
			t.Fatalf("insert = %d, %v; want 3 stored", n, err)
		}
		if got := partitionOf(t, e, "sensor_readings", "recorded_at = ?", old); got != "sensor_readings_default" {
			t.Errorf("a reading two years old is in %s, want the default partition", got)
		}
		if got, want := partitionOf(t, e, "sensor_readings", "recorded_at = ?", next), "sensor_readings_p"+next.Format("200601"); got != want {
			t.Errorf("a reading of next month is in %s, want %s", got, want)
		}
		var ids []int64
		if err := db.Select(&ids, `SELECT id FROM sensor_readings WHERE recorded_at < $1 ORDER BY id`, now); err != nil {
			t.Fatal(err)
		}
		// A test session and an audit event of the same old month wait in their default
		// partitions too.
		if _, _, err := e.s.InsertTestSession(ctx, store.TestSession{PoolID: f.pool.ID, TakenAt: old, Method: "strips",
			Results: []store.TestResult{{Metric: "ph", Value: 7.4}}}); err != nil {
			t.Fatal(err)
		}
		oldEvent, err := e.s.AppendAudit(ctx, store.AuditEvent{At: old, Action: "test.old", Actor: store.ActorSystem})
		if err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"test_results", "audit_events"} {
			if got := partitionOf(t, e, table, partitionKey[table]+" = ?", old); got != table+"_default" {
				t.Errorf("an old row of %s is in %s, want the default partition", table, got)
			}
		}

		created, err := e.s.EnsurePartitions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range created {
			names = append(names, p.Name)
		}
		month := "_p" + old.Format("200601")
		if want := []string{"sensor_readings" + month, "test_results" + month, "audit_events" + month}; !slices.Equal(names, want) {
			t.Fatalf("created %v, want %v", names, want)
		}
		for _, table := range []string{"test_results", "audit_events"} {
			if got := partitionOf(t, e, table, partitionKey[table]+" = ?", old); got != table+month {
				t.Errorf("after upkeep the old row of %s is in %s, want %s", table, got, table+month)
			}
		}
		if evs, err := e.s.ListAudit(ctx, store.AuditFilter{Action: "test.old"}); err != nil || len(evs) != 1 || evs[0].ID != oldEvent.ID {
			t.Errorf("the moved audit event: %v, %v; want id %d", evs, err, oldEvent.ID)
		}
		want := "sensor_readings" + month
		if got := partitionOf(t, e, "sensor_readings", "recorded_at = ?", old); got != want {
			t.Errorf("after upkeep the old reading is in %s, want %s", got, want)
		}
		var moved []int64
		if err := db.Select(&moved, `SELECT id FROM `+want+` ORDER BY id`); err != nil || !slices.Equal(moved, ids) {
			t.Errorf("moved ids %v (%v), want %v", moved, err, ids)
		}
		var left int
		if err := db.Get(&left, `SELECT COUNT(*) FROM sensor_readings_default`); err != nil || left != 0 {
			t.Errorf("default partition holds %d rows (%v), want 0", left, err)
		}
		// A replay of all three inserts nothing, in the new partition as in the others.
		if n, err := e.s.InsertReadings(ctx, rs); err != nil || n != 0 {
			t.Errorf("replay = %d, %v; want 0", n, err)
		}
		if n, err := e.s.CountReadings(ctx, f.pool.ID); err != nil || n != 3 {
			t.Errorf("count = %d, %v; want 3", n, err)
		}
		// Nothing left to do: a second upkeep creates nothing.
		if again, err := e.s.EnsurePartitions(ctx); err != nil || len(again) != 0 {
			t.Errorf("second upkeep created %v, %v", again, err)
		}
	})
}

// The status is a backward index probe per metric, and stays one on the partitioned
// table: each partition is read through its copy of the (pool, metric, time) index,
// none is scanned.
func TestStatusProbesPartitions(t *testing.T) {
	e := newEnv(t, engines[1], true)
	ctx := context.Background()
	f := newFixture(t, e, "probe@x.io")
	// A year of readings, one every 20 minutes, in twelve month partitions plus more
	// pools' rows around them so the planner sees realistic sizes.
	start := e.clock.Now().AddDate(-1, 0, 0)
	for m := range 12 {
		from := start.AddDate(0, m, 0)
		rs := make([]store.Reading, 0, 3*2000)
		for i := range 2000 {
			at := from.Add(time.Duration(i) * 20 * time.Minute)
			for _, metric := range []string{"ph", "orp", "temp"} {
				rs = append(rs, store.Reading{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: metric, Value: 7, RecordedAt: at})
			}
		}
		if _, err := e.s.InsertReadings(ctx, rs); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.s.EnsurePartitions(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.DB().Exec(`ANALYZE sensor_readings`); err != nil {
		t.Fatal(err)
	}
	var parts int
	if err := e.s.DB().Get(&parts, `SELECT COUNT(*) FROM pg_inherits WHERE inhparent = 'sensor_readings'::regclass`); err != nil || parts < 13 {
		t.Fatalf("%d partitions (%v), want a year's and the default", parts, err)
	}
	plan, err := e.s.ExplainLatest(ctx, f.pool.ID, []string{"ph", "orp"})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if strings.Contains(text, "Seq Scan on sensor_readings") {
		t.Errorf("the status scans a partition:\n%s", text)
	}
	if n := strings.Count(text, "Index Scan Backward using sensor_readings_p"); n < 12 {
		t.Errorf("%d backward index probes of month partitions, want one per partition:\n%s", n, text)
	}
	if !strings.Contains(text, "Limit") {
		t.Errorf("no LIMIT per metric:\n%s", text)
	}
}
