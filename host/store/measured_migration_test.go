package store_test

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// Migration 00027 fills measured_metrics from the rows already there without blocking
// inserts: the triggers are committed first, then the rows are read in batches each
// committed on its own. Here it is held mid-way, the readings done and test_results'
// trigger waiting for a lock this test holds on one of its partitions: the readings'
// pairs are already committed, an insert of a reading from another connection goes
// through at once (before, the migration's one transaction held sensor_readings'
// trigger lock and that insert waited for its end), and this binary is not ready (its
// migration is pending), so no status reads the half-filled table. Once it ends, the
// table holds exactly the pairs a single pass finds, and the status is exact, the
// reading inserted mid-way included.
func TestMeasuredMetricsBackfillDoesNotBlockInserts(t *testing.T) {
	e := onEngine(t, "postgres", true)
	ctx := context.Background()
	db := e.s.DB()
	f := newFixture(t, e, "backfill@x.io")
	if err := e.s.MigrateDownTo(ctx, 26); err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	var rs []store.Reading
	for _, m := range []string{"ph", "orp", "temperature"} {
		rs = append(rs, readingsFor(f, now.Add(-time.Hour), 3, m)...)
	}
	if _, err := e.s.InsertReadings(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.InsertTestSession(ctx, store.TestSession{PoolID: f.pool.ID, TakenAt: now.Add(-30 * time.Minute),
		Method: "strips", Results: []store.TestResult{{Metric: "ph", Value: 7.4}, {Metric: "free_chlorine", Value: 1.5}}}); err != nil {
		t.Fatal(err)
	}
	// Pools whose ids are hundreds apart: batches of their own.
	for i, pool := range []int64{f.pool.ID + 250, f.pool.ID + 1000} {
		at := now.Add(-time.Duration(2+i) * time.Hour)
		if _, err := db.Exec(`INSERT INTO sensor_readings (device_id, pool_id, metric, value, recorded_at, received_at)
			VALUES ($1, $2, 'salt', 3200, $3, $3)`, f.device.ID, pool, at); err != nil {
			t.Fatal(err)
		}
	}

	hold, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback()
	if _, err := hold.Exec(`LOCK TABLE test_results_default IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	migrated := make(chan error, 1)
	go func() { migrated <- e.s.MigrateUpTo(ctx, 27) }()
	// Mid-way: the migration waits for the lock on test_results_default.
	waitFor(t, "the migration waiting for test_results_default", func() bool {
		var waiting int
		if err := db.Get(&waiting, `SELECT COUNT(*) FROM pg_locks WHERE NOT granted AND relation = 'test_results_default'::regclass`); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-migrated:
			t.Fatalf("the migration ended (%v) while test_results_default was locked", err)
		default:
		}
		return waiting > 0
	})

	pairs := func() []string {
		t.Helper()
		var ps []string
		if err := db.Select(&ps, `SELECT DISTINCT pool_id || '/' || source || '/' || metric FROM measured_metrics ORDER BY 1`); err != nil {
			t.Errorf("measured_metrics: %v", err)
		}
		return ps
	}
	key := func(pool int64, source, metric string) string {
		return strconv.FormatInt(pool, 10) + "/" + source + "/" + metric
	}
	want := []string{key(f.pool.ID, "sensor", "orp"), key(f.pool.ID, "sensor", "ph"), key(f.pool.ID, "sensor", "temperature"),
		key(f.pool.ID+250, "sensor", "salt"), key(f.pool.ID+1000, "sensor", "salt")}
	slices.Sort(want)
	if got := pairs(); !slices.Equal(got, want) {
		t.Errorf("mid-way, measured_metrics = %v, want the readings' pairs committed: %v", got, want)
	}
	// An insert now: it must not wait for the migration. Were it held, lock_timeout
	// turns the wait into an error rather than a hung test.
	conn, err := db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET lock_timeout = '10s'`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO sensor_readings (device_id, pool_id, metric, value, recorded_at, received_at)
		VALUES ($1, $2, 'alkalinity', 90, $3, $3)`, f.device.ID, f.pool.ID, now.Add(-time.Minute)); err != nil {
		t.Fatalf("an insert while the migration is mid-way: %v", err)
	}
	// goose records the migration only once it ends: until then a binary that has it is
	// not ready (a migration of its own pending). The schema's state is read without
	// the migrations' lock, which the migration holds: readiness answers meanwhile (the
	// deadline only turns a wait for that lock into a failure rather than a hung test).
	readyCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if st, err := e.s.SchemaState(readyCtx); err != nil || !slices.Contains(st.Pending, 27) || st.Problem() == "" {
		t.Errorf("mid-way, the schema state = %+v, %v; want migration 27 pending, this binary not ready", st, err)
	}

	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-migrated; err != nil {
		t.Fatalf("migrate up to 27: %v", err)
	}
	if _, err := e.s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	want = append(want, key(f.pool.ID, "sensor", "alkalinity"), key(f.pool.ID, "test_session", "free_chlorine"), key(f.pool.ID, "test_session", "ph"))
	slices.Sort(want)
	var single []string // what the former single pass read
	if err := db.Select(&single, `SELECT pool_id || '/sensor/' || metric FROM sensor_readings
		UNION SELECT pool_id || '/test_session/' || metric FROM test_results ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if got := pairs(); !slices.Equal(got, want) || !slices.Equal(got, single) {
		t.Errorf("after, measured_metrics = %v, want %v (a single pass reads %v)", got, want, single)
	}
	latest, err := e.s.LatestMeasurements(ctx, f.pool.ID, []string{"ph", "orp", "temperature", "alkalinity", "free_chlorine", "salt"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, l := range latest {
		got[l.Metric+"/"+l.Source] = l.Value
	}
	wantValues := map[string]float64{"ph/sensor": 7.002, "orp/sensor": 7.002, "temperature/sensor": 7.002,
		"alkalinity/sensor": 90, "ph/test_session": 7.4, "free_chlorine/test_session": 1.5}
	if !maps.Equal(got, wantValues) {
		t.Errorf("status after the migration = %v, want %v", got, wantValues)
	}
}
