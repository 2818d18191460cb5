package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// measuredTriggerRuns makes sensor_readings' measured_metrics trigger function also count
// its runs (in measured_trigger_runs), keeping what it does, and returns a reader of
// the count.
func measuredTriggerRuns(t *testing.T, e *env) func() int {
	t.Helper()
	db := e.s.DB()
	for _, q := range []string{
		`CREATE TABLE measured_trigger_runs (n INT)`,
		`CREATE OR REPLACE FUNCTION poolhost_measured_readings() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO measured_trigger_runs VALUES (1);
			INSERT INTO measured_metrics (pool_id, source, metric)
			SELECT n.pool_id, 'sensor', n.metric FROM (SELECT DISTINCT pool_id, metric FROM poolhost_new_rows) AS n
			WHERE (SELECT 1 FROM measured_metrics m
			       WHERE m.pool_id = n.pool_id AND m.source = 'sensor' AND m.metric = n.metric LIMIT 1) IS NULL;
			RETURN NULL;
		END $$`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return func() int {
		var n int
		if err := db.Get(&n, `SELECT COUNT(*) FROM measured_trigger_runs`); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// measuredOf lists a pool's measured_metrics rows (sensor), duplicates included.
func measuredOf(t *testing.T, e *env, poolID int64) []string {
	t.Helper()
	var ms []string
	if err := e.s.DB().Select(&ms, `SELECT metric FROM measured_metrics WHERE pool_id = $1 AND source = 'sensor' ORDER BY metric`, poolID); err != nil {
		t.Fatal(err)
	}
	return ms
}

// A group commit whose readings are all of (pool, metric) pairs its process has seen
// committed in measured_metrics does not run the table's trigger (migration 00029: the
// trigger was 110 of a lone delivery's 870 µs of database CPU); one with a new pair
// does, and so does every other writer — the setting that silences it does not outlive
// the group commit's statement on its connection. measured_metrics and the status stay
// exact, and duplicates are still skipped.
func TestWriteDeliveriesSkipsMeasuredTriggerForKnownPairs(t *testing.T) {
	e := newEnv(t, engines[1], true)
	ctx := context.Background()
	// One connection: the InsertReadings below runs where the group commit ran.
	s := e.open(t, store.WithMaxOpenConns(1))
	f := newFixture(t, e, "kept@x.io")
	runs := measuredTriggerRuns(t, e)
	start := e.clock.Now().Add(-time.Hour).Truncate(time.Second)
	seq := 0
	delivery := func(at time.Time, metrics ...string) store.DeliveryWrite {
		seq++
		var rs []store.Reading
		for _, m := range metrics {
			rs = append(rs, readingsFor(f, at, 1, m)...)
		}
		return store.DeliveryWrite{Readings: rs,
			Once: &store.DeliveryKey{Provider: "acme", AccountID: f.account.ID, DeliveryID: fmt.Sprint("d", seq)}}
	}
	write := func(want string, ds ...store.DeliveryWrite) {
		t.Helper()
		got, err := s.WriteDeliveries(ctx, ds)
		if err != nil || fmt.Sprint(got) != want {
			t.Fatalf("accepted %v, %v; want %s", got, err, want)
		}
	}
	step := func(name string, wantRuns int, wantMeasured ...string) {
		t.Helper()
		if n := runs(); n != wantRuns {
			t.Errorf("%s: trigger ran %d times in all, want %d", name, n, wantRuns)
		}
		if got := measuredOf(t, e, f.pool.ID); !slices.Equal(got, wantMeasured) {
			t.Errorf("%s: measured_metrics %v, want %v", name, got, wantMeasured)
		}
	}

	write("[2]", delivery(start, "ph", "orp"))
	step("new pairs", 1, "orp", "ph")
	write("[2 1]", delivery(start.Add(time.Second), "orp", "ph"), delivery(start.Add(2*time.Second), "ph"))
	step("known pairs", 1, "orp", "ph")
	write("[2]", delivery(start.Add(3*time.Second), "ph", "temperature"))
	step("a new pair among known ones", 2, "orp", "ph", "temperature")
	write("[3]", delivery(start.Add(4*time.Second), "ph", "orp", "temperature"))
	step("all known again", 2, "orp", "ph", "temperature")
	// Known pairs, all duplicates: skipped without the trigger.
	write("[0]", delivery(start.Add(4*time.Second), "ph", "orp", "temperature"))
	step("duplicates", 2, "orp", "ph", "temperature")
	// Another writer, on the same connection, of a known pair: the trigger runs.
	if n, err := s.InsertReadings(ctx, readingsFor(f, start.Add(5*time.Second), 1, "ph")); err != nil || n != 1 {
		t.Fatalf("inserted %d, %v", n, err)
	}
	step("InsertReadings", 3, "orp", "ph", "temperature")

	latest, err := s.LatestMeasurements(ctx, f.pool.ID, []string{"ph", "orp", "temperature", "salt"})
	if err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, l := range latest {
		shown = append(shown, l.Metric)
	}
	slices.Sort(shown)
	if fmt.Sprint(shown) != "[orp ph temperature]" {
		t.Errorf("status shows %v", shown)
	}
}

// A pair is taken as kept only from a delivery all of whose readings were new: of one
// partly duplicate, the duplicate's stored reading may be of another pool (the device
// moved), its pair never kept by the trigger. Taking it as kept would leave the pool's
// next readings of that metric out of measured_metrics, and out of its status.
func TestWriteDeliveriesKnowsOnlyPairsItsRowsKept(t *testing.T) {
	e := newEnv(t, engines[1], true)
	ctx := context.Background()
	f := newFixture(t, e, "moved@x.io")
	other, err := e.s.CreatePool(ctx, "second pool", f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	at := e.clock.Now().Add(-time.Hour).Truncate(time.Second)
	reading := func(pool int64, metric string, at time.Time) store.Reading {
		return store.Reading{DeviceID: f.device.ID, PoolID: pool, Metric: metric, Value: 7, RecordedAt: at}
	}
	write := func(id string, want int, rs ...store.Reading) {
		t.Helper()
		got, err := e.s.WriteDeliveries(ctx, []store.DeliveryWrite{{Readings: rs,
			Once: &store.DeliveryKey{Provider: "acme", AccountID: f.account.ID, DeliveryID: id}}})
		if err != nil || len(got) != 1 || got[0] != want {
			t.Fatalf("%s: accepted %v, %v; want %d", id, got, err, want)
		}
	}
	write("first", 1, reading(f.pool.ID, "ph", at))
	// The device now in the second pool: its ph of that time again (a duplicate, stored
	// in the first pool) and a new orp.
	write("resent", 1, reading(other.ID, "ph", at), reading(other.ID, "orp", at))
	write("next", 1, reading(other.ID, "ph", at.Add(time.Minute)))
	if got := measuredOf(t, e, other.ID); fmt.Sprint(got) != "[orp ph]" {
		t.Fatalf("second pool's measured_metrics %v, want [orp ph]", got)
	}
	latest, err := e.s.LatestMeasurements(ctx, other.ID, []string{"ph", "orp"})
	if err != nil || len(latest) != 2 {
		t.Fatalf("second pool's status %+v, %v", latest, err)
	}
}
