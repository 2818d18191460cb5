package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// 00003 drops sensor_readings' foreign keys (rebuilding the table on SQLite): readings
// stored before it keep their rows and ids, both ways, and the table then takes what the foreign
// keys refused while refusing an empty metric.
func TestReadingsWithoutForeignKeysMigration(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			// The fixture (user, pool, account, device) is made by today's code on today's
			// schema, then the schema goes back to version 2 under it: later migrations
			// add device columns that version 2 does not have.
			e := newEnv(t, eng, true)
			f := newFixture(t, e, "mig@x.io")
			if err := e.s.MigrateDownTo(ctx, 2); err != nil {
				t.Fatal(err)
			}
			start := e.clock.Now().Add(-time.Hour)
			// Written as the code of that schema wrote them (no qualifier column yet).
			if _, err := e.s.InsertReadingsBeforeQualifier(ctx, readingsFor(f, start, 3, "ph")); err != nil {
				t.Fatal(err)
			}
			before, err := e.s.ListReadingsBeforeQualifier(ctx, f.pool.ID)
			if err != nil || len(before) != 3 {
				t.Fatalf("before: %d readings, %v", len(before), err)
			}
			orphan := readingsFor(f, start, 1, "orp")
			orphan[0].DeviceID = 987654
			if _, err := e.s.InsertReadingsBeforeQualifier(ctx, orphan); err == nil {
				t.Fatal("before 00003 the foreign key should refuse an unknown device")
			}

			// Up, down (the foreign keys come back over the same rows) and up again.
			for _, step := range []func(context.Context) error{
				func(ctx context.Context) error { _, err := e.s.Migrate(ctx); return err },
				func(ctx context.Context) error { return e.s.MigrateDownTo(ctx, 2) },
				func(ctx context.Context) error { _, err := e.s.Migrate(ctx); return err },
			} {
				if err := step(ctx); err != nil {
					t.Fatal(err)
				}
			}
			after, _, err := e.s.ListReadings(ctx, store.ReadingQuery{PoolID: f.pool.ID})
			if err != nil || len(after) != 3 {
				t.Fatalf("after: %d readings, %v", len(after), err)
			}
			for i := range before {
				if before[i].ID != after[i].ID || before[i].Value != after[i].Value || !before[i].RecordedAt.Equal(after[i].RecordedAt) {
					t.Errorf("reading %d changed: %+v -> %+v", i, before[i], after[i])
				}
			}
			if n, err := e.s.InsertReadings(ctx, orphan); err != nil || n != 1 {
				t.Errorf("after 00003, a reading of an unknown device: %d, %v", n, err)
			}
			empty := readingsFor(f, start, 1, "")
			if _, err := e.s.InsertReadings(ctx, empty); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("empty metric: %v, want ErrInvalid", err)
			}
			if err := e.s.Verify(ctx); err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
}
