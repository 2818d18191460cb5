package retention_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/retention"
	"github.com/poolhost/poolhost/host/store"
)

var engines = map[string]func(t *testing.T) string{
	"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "p.db") },
	"postgres": func(t *testing.T) string { return pgtest.NewDatabase(t) },
}

// history is a database at 2026-03-15 holding readings of January, early February (older
// than 30 days, in February's month) and March, a test session in January and one in
// March, an audit event of early January, and a settled and a pending dead letter of
// December.
type history struct {
	st       *store.Store
	now      *time.Time
	pool     int64
	readings map[string]time.Time
}

func newHistory(t *testing.T, url string) history {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	h := history{now: &now, readings: map[string]time.Time{
		"january":  time.Date(2026, 1, 20, 8, 0, 0, 0, time.UTC),
		"february": time.Date(2026, 2, 5, 8, 0, 0, 0, time.UTC),
		"march":    time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC),
	}}
	st, err := store.Open(ctx, url, store.WithClock(func() time.Time { return *h.now }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h.st = st
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, dead := range []bool{true, false} {
		if _, err := st.EnqueueFailure(ctx, store.NewFailure{Provider: "generic", Payload: []byte("{}"), MaxAttempts: 3, Dead: dead}); err != nil {
			t.Fatal(err)
		}
	}
	now = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	u, err := st.CreateUser(ctx, "ret@example.com", false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.CreatePool(ctx, "pool", u.ID)
	if err != nil {
		t.Fatal(err)
	}
	h.pool = p.ID
	var rs []store.Reading
	for _, at := range h.readings {
		rs = append(rs, store.Reading{DeviceID: 1, PoolID: p.ID, Metric: "ph", Value: 7.2, RecordedAt: at})
	}
	if n, err := st.InsertReadings(ctx, rs); err != nil || n != 3 {
		t.Fatalf("insert readings = %d, %v", n, err)
	}
	for _, at := range []time.Time{h.readings["january"], h.readings["march"]} {
		if _, _, err := st.InsertTestSession(ctx, store.TestSession{PoolID: p.ID, TakenAt: at, Method: "strips",
			Results: []store.TestResult{{Metric: "ph", Value: 7.4}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.AppendAudit(ctx, store.AuditEvent{At: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Action: "test.old", Actor: store.ActorSystem}); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h history) readingTimes(t *testing.T) []time.Time {
	t.Helper()
	var at []time.Time
	if err := h.st.DB().Select(&at, `SELECT recorded_at FROM sensor_readings ORDER BY recorded_at`); err != nil {
		t.Fatal(err)
	}
	for i := range at {
		at[i] = at[i].UTC()
	}
	return at
}

// inherits reports whether partition is still a partition of table, and whether a
// table of its name exists at all.
func inherits(t *testing.T, st *store.Store, table, partition string) (attached, exists bool) {
	t.Helper()
	var n int
	if err := st.DB().Get(&n, `SELECT COUNT(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = $1::regclass AND c.relname = $2`, table, partition); err != nil {
		t.Fatal(err)
	}
	var exist int
	if err := st.DB().Get(&exist, `SELECT COUNT(*) FROM pg_class WHERE relname = $1`, partition); err != nil {
		t.Fatal(err)
	}
	return n == 1, exist == 1
}

// With retention { readings = "30d" audit = "40d" dead_letters = "90d" }: on PostgreSQL
// January's partitions are dropped (gone from pg_inherits and from the catalog: a DROP,
// not a DELETE), February's month is kept whole (its reading is older than 30 days but
// its month is not over by then); on SQLite the rows older than the cutoff are deleted.
// Readings inside the window stay, pending dead letters stay, and each table's expiry is
// audited and counted.
func TestRetentionExpires(t *testing.T) {
	for name, url := range engines {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h := newHistory(t, url(t))
			pg := name == "postgres"
			if pg {
				if _, err := h.st.EnsurePartitions(ctx); err != nil {
					t.Fatal(err)
				}
				for _, table := range []string{"sensor_readings", "test_results", "audit_events"} {
					if attached, _ := inherits(t, h.st, table, table+"_p202601"); !attached {
						t.Fatalf("%s_p202601 is not a partition before retention", table)
					}
				}
			}
			reg := prometheus.NewRegistry()
			p := retention.New(h.st, retention.Config{
				Readings: 30 * 24 * time.Hour, Audit: 40 * 24 * time.Hour, DeadLetters: 90 * 24 * time.Hour,
				Now: func() time.Time { return *h.now }, Registerer: reg,
			}, nil)
			s, err := p.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}

			want := []time.Time{h.readings["february"], h.readings["march"]}
			if !pg {
				want = want[1:]
			}
			if got := h.readingTimes(t); !slices.Equal(got, want) {
				t.Errorf("readings left %v, want %v", got, want)
			}
			var sessions []time.Time
			if err := h.st.DB().Select(&sessions, `SELECT taken_at FROM test_sessions ORDER BY taken_at`); err != nil {
				t.Fatal(err)
			}
			if len(sessions) != 1 || !sessions[0].Equal(h.readings["march"]) {
				t.Errorf("test sessions left %v, want March's", sessions)
			}
			var results int
			if err := h.st.DB().Get(&results, `SELECT COUNT(*) FROM test_results`); err != nil || results != 1 {
				t.Errorf("test results left %d (%v), want 1", results, err)
			}
			var statuses []string
			if err := h.st.DB().Select(&statuses, `SELECT status FROM integration_ingestion_failures`); err != nil || !slices.Equal(statuses, []string{"pending"}) {
				t.Errorf("dead letters left %v (%v), want the pending one", statuses, err)
			}
			var oldAudit int
			if err := h.st.DB().Get(&oldAudit, h.st.DB().Rebind(`SELECT COUNT(*) FROM audit_events WHERE action = ?`), "test.old"); err != nil || oldAudit != 0 {
				t.Errorf("old audit events left %d (%v), want 0", oldAudit, err)
			}

			evs, err := h.st.ListAudit(ctx, store.AuditFilter{Action: retention.ActionExpired})
			if err != nil {
				t.Fatal(err)
			}
			byTable := map[string]store.AuditEvent{}
			for _, ev := range evs {
				byTable[ev.TargetID] = ev
			}
			for _, table := range []string{"sensor_readings", "test_sessions", "audit_events", "integration_ingestion_failures"} {
				if _, ok := byTable[table]; !ok {
					t.Errorf("no %s audit for %s (audited: %v)", retention.ActionExpired, table, evs)
				}
			}
			if pg {
				for _, table := range []string{"sensor_readings", "test_results", "audit_events"} {
					attached, exists := inherits(t, h.st, table, table+"_p202601")
					if attached || exists {
						t.Errorf("%s_p202601: attached %v, exists %v; want dropped", table, attached, exists)
					}
				}
				if attached, _ := inherits(t, h.st, "sensor_readings", "sensor_readings_p202602"); !attached {
					t.Errorf("sensor_readings_p202602 is gone, want February kept whole")
				}
				if s.PartitionsDropped != 3 {
					t.Errorf("stats %+v, want 3 partitions dropped", s)
				}
				if got, _ := byTable["sensor_readings"].Details["partitions_dropped"].([]any); len(got) != 1 || got[0] != "sensor_readings_p202601" {
					t.Errorf("audit of sensor_readings = %v, want the January partition named", byTable["sensor_readings"].Details)
				}
				if v := testutil.ToFloat64(p.Metrics().Partitions.WithLabelValues("sensor_readings")); v != 1 {
					t.Errorf("partitions dropped metric = %v, want 1", v)
				}
			} else {
				if v := byTable["sensor_readings"].Details["rows_deleted"]; v != float64(2) {
					t.Errorf("audit of sensor_readings = %v, want 2 rows deleted", byTable["sensor_readings"].Details)
				}
				if v := testutil.ToFloat64(p.Metrics().Rows.WithLabelValues("sensor_readings")); v != 2 {
					t.Errorf("rows metric = %v, want 2", v)
				}
			}
			// Nothing is left to expire: a second run drops and deletes nothing.
			if s, err := p.Run(ctx); err != nil || s.PartitionsDropped != 0 || s.RowsExpired != 0 {
				t.Errorf("second run = %+v, %v", s, err)
			}
		})
	}
}

// Retention never expires a reading the rollups still need: with the rollup watermark
// before January's end, January's readings stay however old; once it passes, they go.
func TestRetentionWaitsForRollups(t *testing.T) {
	for name, url := range engines {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h := newHistory(t, url(t))
			watermark := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
			p := retention.New(h.st, retention.Config{
				Readings: 30 * 24 * time.Hour, Now: func() time.Time { return *h.now },
				RollupWatermark: func(context.Context, time.Time) (time.Time, error) { return watermark, nil },
			}, nil)
			if _, err := p.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if got := h.readingTimes(t); len(got) != 3 {
				t.Fatalf("readings left %v, want all three: the rollups have not passed January", got)
			}
			watermark = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
			if _, err := p.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if got := h.readingTimes(t); len(got) != 2 && name == "postgres" || len(got) != 1 && name == "sqlite" {
				t.Errorf("readings left %v after the rollups passed the cutoff", got)
			}
		})
	}
}
