package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// scannedMonth is the month (YYYYMM) of table's partition a plan line scans, if it
// scans one.
func scannedMonth(line, table string) (string, bool) {
	_, rest, ok := strings.Cut(line, " on "+table+"_p")
	if !ok || !strings.Contains(line, "Scan") || len(rest) < 6 {
		return "", false
	}
	return rest[:6], true
}

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
	plans, err := e.s.ExplainLatest(ctx, f.pool.ID, []string{"ph", "orp"}, false)
	if err != nil {
		t.Fatal(err)
	}
	plan := slices.Concat(plans...)
	text := strings.Join(plan, "\n")
	for _, line := range plan {
		// The months of the real clock, ahead of the test clock's, are empty: scanning
		// one costs nothing, and the planner knows it.
		name, ok := strings.CutPrefix(line[strings.Index(line, "on ")+3:], "sensor_readings_p")
		if strings.Contains(line, "Seq Scan on sensor_readings") && (!ok || name[:6] <= e.clock.Now().Format("200601")) {
			t.Errorf("the status scans a partition with rows:\n%s", text)
		}
	}
	if n := strings.Count(text, "Index Scan Backward using sensor_readings_p"); n < 12 {
		t.Errorf("%d backward index probes of month partitions, want one per partition:\n%s", n, text)
	}
	if !strings.Contains(text, "Limit") {
		t.Errorf("no LIMIT per metric:\n%s", text)
	}
}

// A pool's status probes only the metrics the pool has measured (measured_metrics),
// each newest month first, stopping at the first month that holds one: the older
// months are never read, however many are kept, and the metrics it never measured are
// not probed at all. It stays exact: a reading dated years ahead or two years back (in
// the default partition, outside the months' span), a late reading, a bound and a test
// result are each shown where they are the newest.
func TestStatusWalksNewestMonthFirst(t *testing.T) {
	e := newEnv(t, engines[1], true)
	ctx := context.Background()
	f := newFixture(t, e, "walk@x.io")
	// The months the migration created are the real clock's: the readings run up to it,
	// and so does the upkeep's clock (no month of the test clock's, years before).
	now := time.Now().UTC().Truncate(time.Hour)
	e.clock.Advance(now.Sub(e.clock.Now()))
	var rs []store.Reading
	for i := range 8 * 30 * 24 {
		at := now.Add(-time.Duration(i) * time.Hour)
		for _, m := range []string{"ph", "orp", "temperature"} {
			rs = append(rs, store.Reading{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: m, Value: float64(i), RecordedAt: at})
		}
	}
	rs[1].Qualifier = "above" // orp's newest
	if _, err := e.s.InsertReadings(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.EnsurePartitions(ctx); err != nil { // the months the readings cover
		t.Fatal(err)
	}
	future, old := now.AddDate(5, 0, 0), now.AddDate(-2, 0, 0)
	late := now.AddDate(0, -3, 0).Add(time.Minute)
	if _, err := e.s.InsertReadings(ctx, []store.Reading{
		{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: "temperature", Value: -1, RecordedAt: future},
		{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: "free_chlorine", Value: -2, RecordedAt: old},
		{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: "ph", Value: -3, RecordedAt: late},
	}); err != nil {
		t.Fatal(err)
	}
	session, _, err := e.s.InsertTestSession(ctx, store.TestSession{PoolID: f.pool.ID, TakenAt: now.Add(-30 * time.Minute),
		Method: "strips", Results: []store.TestResult{{Metric: "ph", Value: 7.2}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"sensor_readings", "test_results"} {
		if _, err := e.s.DB().Exec(`ANALYZE ` + table); err != nil {
			t.Fatal(err)
		}
	}
	if got := partitionOf(t, e, "sensor_readings", "recorded_at = ?", future); got != "sensor_readings_default" {
		t.Fatalf("the reading five years ahead is in %s, want the default partition", got)
	}

	asked := []string{"ph", "orp", "temperature", "free_chlorine", "salt", "cyanuric_acid"}
	latest, err := e.s.LatestMeasurements(ctx, f.pool.ID, asked)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.Latest{}
	for _, l := range latest {
		got[l.Metric+"/"+l.Source] = l
	}
	for key, want := range map[string]struct {
		value     float64
		at        time.Time
		qualifier string
	}{
		"ph/sensor":            {0, now, ""},
		"orp/sensor":           {0, now, "above"},
		"temperature/sensor":   {-1, future, ""},
		"free_chlorine/sensor": {-2, old, ""},
		"ph/test_session":      {7.2, now.Add(-30 * time.Minute), ""},
	} {
		l, ok := got[key]
		if !ok || l.Value != want.value || !l.At.Equal(want.at) || l.Qualifier != want.qualifier {
			t.Errorf("%s = %+v (present %v), want value %v at %v qualifier %q", key, l, ok, want.value, want.at, want.qualifier)
		}
	}
	if len(latest) != 5 {
		t.Errorf("%d latest values, want 5: %+v", len(latest), latest)
	}
	if l := got["ph/test_session"]; l.RefID != session.ID {
		t.Errorf("ph's test result names session %d, want %d", l.RefID, session.ID)
	}

	plans, err := e.s.ExplainLatest(ctx, f.pool.ID, asked, true)
	if err != nil {
		t.Fatal(err)
	}
	// The months kept run from eight months back: the first statement asks from the
	// start of the previous month, the second (a year back, before the first month
	// kept) would bring in the default partition, so it is the whole walk, for
	// free_chlorine alone.
	if len(plans) != 2 {
		t.Fatalf("%d statements, want 2 (the recent months, then every month for free_chlorine)", len(plans))
	}
	thisMonth, lastMonth := now.Format("200601"), now.AddDate(0, 0, -now.Day()).Format("200601")
	probed := false
	for i, plan := range plans {
		text := strings.Join(plan, "\n")
		for _, line := range plan {
			month, ok := scannedMonth(line, "sensor_readings")
			if !ok {
				continue
			}
			switch {
			case i == 0 && month < lastMonth:
				t.Errorf("the first statement's plan holds %s, before the previous month:\n%s", month, text)
			case i == 0 && month == thisMonth:
				// Once per metric the sensor measured (not for salt or cyanuric_acid).
				if !strings.Contains(line, "loops=4)") {
					t.Errorf("the current month is not probed once per measured metric:\n%s\n\n%s", line, text)
				}
				probed = true
			case i == 1 && !strings.Contains(line, "loops=1)") && !strings.Contains(line, "never executed"):
				// Only free_chlorine, whose one reading is two years old, walks on.
				t.Errorf("a month is probed again for metrics the first statement answered:\n%s\n\n%s", line, text)
			}
		}
		if strings.Contains(text, "Seq Scan on sensor_readings_p") {
			t.Errorf("the status scans a month:\n%s", text)
		}
	}
	if !probed {
		t.Errorf("no probe of sensor_readings_p%s:\n%s", thisMonth, strings.Join(plans[0], "\n"))
	}
}

// However many months are kept (four years here), a status plans only the recent ones
// for the metrics measured lately: PostgreSQL opens every partition in a plan when
// the statement starts, so a plan of every month costs with each month kept. The
// metrics not measured lately are asked again, from a year back and then over every
// month, and the answers stay exact: a metric last measured twenty months ago, one
// three years ago, one five years ago (in the default partition: no month is kept
// that far back), a test result of ten months ago, and a reading dated next year.
func TestStatusPlansRecentMonthsFirst(t *testing.T) {
	e := newEnv(t, engines[1], true)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Hour)
	e.clock.Advance(now.Sub(e.clock.Now()))
	f := newFixture(t, e, "recent@x.io")
	other := newFixture(t, e, "history@x.io")
	// Another pool's reading and test in each of the last 48 months: the months kept.
	var history []store.Reading
	for m := range 48 {
		history = append(history, store.Reading{DeviceID: other.device.ID, PoolID: other.pool.ID, Metric: "ph", Value: 7, RecordedAt: now.AddDate(0, -m, 0)})
	}
	if _, err := e.s.InsertReadings(ctx, history); err != nil {
		t.Fatal(err)
	}
	for m := range 48 {
		if _, _, err := e.s.InsertTestSession(ctx, store.TestSession{PoolID: other.pool.ID, TakenAt: now.AddDate(0, -m, 0),
			Method: "strips", Results: []store.TestResult{{Metric: "ph", Value: 7}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.s.EnsurePartitions(ctx); err != nil {
		t.Fatal(err)
	}
	at := map[string]time.Time{
		"ph": now, "orp": now.Add(-time.Hour), "temperature": now.AddDate(1, 0, 0),
		"salt": now.AddDate(0, -20, 0), "cyanuric_acid": now.AddDate(-3, 0, 0), "free_chlorine": now.AddDate(-5, 0, 0),
	}
	var rs []store.Reading
	for m, t := range at {
		rs = append(rs, store.Reading{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: m, Value: float64(t.Year()), RecordedAt: t},
			store.Reading{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: m, Value: -1, RecordedAt: t.Add(-time.Minute)})
	}
	if _, err := e.s.InsertReadings(ctx, rs); err != nil {
		t.Fatal(err)
	}
	for _, taken := range []time.Time{now.AddDate(0, -10, 0), now.AddDate(-2, 0, 0)} {
		if _, _, err := e.s.InsertTestSession(ctx, store.TestSession{PoolID: f.pool.ID, TakenAt: taken,
			Method: "strips", Results: []store.TestResult{{Metric: "ph", Value: float64(taken.Year())}}}); err != nil {
			t.Fatal(err)
		}
	}
	var parts int
	if err := e.s.DB().Get(&parts, `SELECT COUNT(*) FROM pg_inherits WHERE inhparent = 'sensor_readings'::regclass`); err != nil || parts < 50 {
		t.Fatalf("%d partitions of sensor_readings (%v), want four years' and more", parts, err)
	}
	if got := partitionOf(t, e, "sensor_readings", "recorded_at = ?", at["free_chlorine"]); got != "sensor_readings_default" {
		t.Fatalf("the reading five years back is in %s, want the default partition", got)
	}

	asked := []string{"ph", "orp", "temperature", "salt", "cyanuric_acid", "free_chlorine", "alkalinity"}
	latest, err := e.s.LatestMeasurements(ctx, f.pool.ID, asked)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{"ph/test_session": now.AddDate(0, -10, 0)}
	for m, t := range at {
		want[m+"/sensor"] = t
	}
	if len(latest) != len(want) {
		t.Errorf("%d latest values, want %d: %+v", len(latest), len(want), latest)
	}
	for _, l := range latest {
		if w, ok := want[l.Metric+"/"+l.Source]; !ok || !l.At.Equal(w) || l.Value != float64(w.Year()) {
			t.Errorf("%s/%s = %v at %v, want %v at %v", l.Metric, l.Source, l.Value, l.At, w.Year(), w)
		}
	}

	// A pool measuring its metrics lately (the other: a reading and a test result this
	// month): one statement, whose plan holds the months
	// from the previous one on (and those kept ahead), of each table.
	lastMonth := now.AddDate(0, 0, -now.Day()).Format("200601")
	checkFrom := func(plan []string, from string) {
		t.Helper()
		n := map[string]int{}
		for _, table := range []string{"sensor_readings", "test_results"} {
			for _, line := range plan {
				if month, ok := scannedMonth(line, table); ok {
					n[table]++
					if month < from {
						t.Errorf("the plan holds %s_p%s, before %s:\n%s", table, month, from, strings.Join(plan, "\n"))
					}
				}
			}
			if n[table] == 0 || n[table] > store.PartitionsAhead+2 {
				t.Errorf("the plan holds %d months of %s, want 1 to %d:\n%s", n[table], table, store.PartitionsAhead+2, strings.Join(plan, "\n"))
			}
		}
	}
	plans, err := e.s.ExplainLatest(ctx, other.pool.ID, []string{"ph", "orp"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 1 {
		t.Fatalf("%d statements for metrics measured this month, want 1", len(plans))
	}
	checkFrom(plans[0], lastMonth)

	// The metrics not measured lately: asked again from a year back, then over every
	// month, only those found nothing of in the previous window.
	plans, err = e.s.ExplainLatest(ctx, f.pool.ID, asked, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 3 {
		t.Fatalf("%d statements, want 3 (from last month, from a year back, every month)", len(plans))
	}
	checkFrom(plans[0], lastMonth)
	if text := strings.Join(plans[1], "\n"); !strings.Contains(text, "sensor_readings_p"+now.AddDate(-1, 0, 0).Format("200601")) {
		t.Errorf("the second statement does not reach a year back:\n%s", text)
	}
	for _, line := range plans[1] {
		if month, ok := scannedMonth(line, "sensor_readings"); ok && month < now.AddDate(-1, 0, 0).Format("200601") {
			t.Errorf("the second statement's plan holds %s, more than a year back:\n%s", month, strings.Join(plans[1], "\n"))
		}
	}
	// The last: cyanuric_acid and free_chlorine (ph's test result was ten months ago:
	// the year's window found it).
	if text := strings.Join(plans[2], "\n"); !strings.Contains(text, "sensor_readings_p"+at["cyanuric_acid"].Format("200601")) {
		t.Errorf("the last statement does not walk every month:\n%s", text)
	}
}
