package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// 00032: on PostgreSQL sensor_readings' duplicate key is (device_id, recorded_at,
// metric) after `migrate up`, on the table and on every partition (the default one, and
// those EnsurePartitions creates later), and (device_id, metric, recorded_at) again
// after `migrate down`. Readings stored before keep their rows through both, and the
// key still refuses a reading already stored: the group commit's plain statement fails
// and its retry skips it with ON CONFLICT. SQLite's 00032 changes nothing (its key has
// had that order since 00030); the same rows are checked there.
func TestReadingKeyByTimeMigration(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, eng, true)
			f := newFixture(t, e, "keybytime@x.io")
			if err := e.s.MigrateDownTo(ctx, 31); err != nil {
				t.Fatal(err)
			}
			start := e.clock.Now().Add(-time.Hour)
			var before []store.Reading
			for _, m := range []string{"ph", "orp", "temperature"} {
				before = append(before, readingsFor(f, start, 3, m)...)
			}
			if n, err := e.s.InsertReadings(ctx, before); err != nil || n != len(before) {
				t.Fatalf("before 00032: %d readings, %v", n, err)
			}
			check := func(step string, wantByTime bool) {
				t.Helper()
				if eng.name == "postgres" {
					checkReadingKey(t, e, step, wantByTime)
				}
				if n, err := e.s.CountReadings(ctx, f.pool.ID); err != nil || n != int64(len(before)) {
					t.Fatalf("%s: %d readings, %v; want %d", step, n, err, len(before))
				}
				// Every reading again, and one new: only the new one is stored.
				again := slices.Clone(before)
				next := readingsFor(f, start.Add(time.Duration(len(before))*time.Minute), 1, "salt")
				again = append(again, next...)
				var n []int
				var err error
				withHoldPools(t, e, eng, func() { n, err = e.s.WriteDeliveries(ctx, []store.DeliveryWrite{{Readings: again}}) })
				if err != nil || len(n) != 1 || n[0] != 1 {
					t.Fatalf("%s: readings stored again: %v, %v; want [1]", step, n, err)
				}
				before = append(before, next...)
				// The plain path, new readings only: stored, counted.
				fresh := readingsFor(f, start.Add(time.Duration(len(before))*time.Minute), 2, "salt")
				withHoldPools(t, e, eng, func() { n, err = e.s.WriteDeliveries(ctx, []store.DeliveryWrite{{Readings: fresh}}) })
				if err != nil || len(n) != 1 || n[0] != 2 {
					t.Fatalf("%s: new readings: %v, %v; want [2]", step, n, err)
				}
				before = append(before, fresh...)
			}
			check("at 31", false)
			if _, err := e.s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			check("after up", true)
			// Months created after the migration carry the key of the table.
			e.clock.Advance(62 * 24 * time.Hour)
			if _, err := e.s.EnsurePartitions(ctx); err != nil {
				t.Fatal(err)
			}
			check("new partitions", true)
			if err := e.s.MigrateDownTo(ctx, 31); err != nil {
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

// checkReadingKey fails unless sensor_readings and each of its partitions has exactly
// one unique index besides its primary key, over (device_id, recorded_at, metric) when
// wantByTime, else over (device_id, metric, recorded_at).
func checkReadingKey(t *testing.T, e *env, step string, wantByTime bool) {
	t.Helper()
	type key struct {
		Table string `db:"tbl"`
		Def   string `db:"def"`
	}
	var keys []key
	if err := e.s.DB().Select(&keys, `SELECT c.relname AS tbl, pg_get_indexdef(i.indexrelid) AS def
		FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
		WHERE i.indisunique AND NOT i.indisprimary AND c.relnamespace = current_schema()::regnamespace
		  AND (c.relname = 'sensor_readings' OR c.relname LIKE 'sensor\_readings\_%')
		ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	var tables []string
	if err := e.s.DB().Select(&tables, `SELECT relname FROM pg_class
		WHERE relkind IN ('r', 'p') AND relnamespace = current_schema()::regnamespace
		  AND (relname = 'sensor_readings' OR relname LIKE 'sensor\_readings\_%') ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	want := "(device_id, metric, recorded_at)"
	if wantByTime {
		want = "(device_id, recorded_at, metric)"
	}
	var keyed []string
	for _, k := range keys {
		keyed = append(keyed, k.Table)
		if !strings.HasSuffix(k.Def, want) {
			t.Errorf("%s: %s's duplicate key is %s, want %s", step, k.Table, k.Def, want)
		}
	}
	if len(tables) < 3 || !slices.Equal(keyed, tables) {
		t.Errorf("%s: duplicate keys on %v, want one on each of %v", step, keyed, tables)
	}
}
