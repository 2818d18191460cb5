package rollup_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/rollup"
	"github.com/poolhost/poolhost/host/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Two replicas' workers over one database: one rolls up, the other stands by, and the
// summary then reads what the leader rolled up.
func TestRollupOnOneReplica(t *testing.T) {
	engines := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "r.db") },
		"postgres": func(t *testing.T) string { return pgtest.NewDatabase(t) },
	}
	for name, url := range engines {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dbURL := url(t)
			open := func() *store.Store {
				st, err := store.Open(ctx, dbURL)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
			a := open()
			if _, err := a.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			b := open()
			u, err := a.CreateUser(ctx, "ana@example.com", false)
			if err != nil {
				t.Fatal(err)
			}
			p, err := a.CreatePool(ctx, "pool", u.ID)
			if err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
			if _, err := a.InsertReadings(ctx, []store.Reading{
				{DeviceID: 1, PoolID: p.ID, Metric: "ph", Value: 7, RecordedAt: at},
				{DeviceID: 1, PoolID: p.ID, Metric: "ph", Value: 8, RecordedAt: at.Add(time.Minute)},
			}); err != nil {
				t.Fatal(err)
			}
			wa, wb := rollup.New(a, nil), rollup.New(b, nil)
			la, na, err := wa.Tick(ctx)
			if err != nil {
				t.Fatal(err)
			}
			lb, nb, err := wb.Tick(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !la || lb || na != 2 || nb != 0 {
				t.Fatalf("first replica leader %v (merged %d), second %v (merged %d); want only the first, with both readings", la, na, lb, nb)
			}
			if w, err := b.RollupWatermark(ctx); err != nil || w == 0 {
				t.Fatalf("watermark %d, %v", w, err)
			}
			var n int
			if err := a.DB().Get(&n, `SELECT COUNT(*) FROM reading_rollups`); err != nil || n != 1 {
				t.Fatalf("%d rollup rows (%v), want the one hour", n, err)
			}
		})
	}
}
