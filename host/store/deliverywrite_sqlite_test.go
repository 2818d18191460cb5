package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"modernc.org/sqlite"

	"github.com/poolhost/poolhost/host/store"
)

// walFrames checkpoints what SQLite's WAL holds into the database and empties it (mode
// TRUNCATE), or, with mode PASSIVE, reports how many pages (frames) the WAL holds now:
// every page a commit changed is one frame, written, checksummed and later copied into
// the database file.
func walFrames(t *testing.T, e *env, mode string) int {
	t.Helper()
	var busy, log, done int
	if err := e.s.DB().QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(`+mode+`)`).Scan(&busy, &log, &done); err != nil {
		t.Fatal(err)
	}
	return log
}

// A group commit of eight devices' webhooks (ten metrics each, one pool) writes few pages
// beside readings already stored: the readings' unique key (device_id, recorded_at,
// metric) puts a delivery's ten readings side by side at the end of its device's range.
// Under the old key, (device_id, metric, recorded_at), they went to ten places each: the
// commit wrote 131 pages, 93 of them that index's, against 59 (21) now.
func TestGroupCommitWritesFewPages(t *testing.T) {
	e := newEnv(t, engines[0], true)
	f := newFixture(t, e, "pages@x.io")
	ctx := context.Background()
	metrics := []string{"ph", "orp", "temperature", "free_chlorine", "total_chlorine",
		"combined_chlorine", "cyanuric_acid", "total_alkalinity", "calcium_hardness", "salt"}
	const devices, earlier = 8, 500
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// Earlier readings of the same devices and metrics, enough that every (device, metric)
	// range of the old key spans pages of its own: 40,000 rows, inserted in one statement.
	if _, err := e.s.DB().ExecContext(ctx, fmt.Sprintf(`WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < %d),
		m(name) AS (SELECT value FROM json_each(?))
		INSERT INTO sensor_readings (device_id, pool_id, metric, value, recorded_at, received_at)
		SELECT ? + n %% %d, ?, name, 7.2, ? + n * 1000000, ? FROM s, m`, devices*earlier-1, devices),
		`["`+joinQuoted(metrics)+`"]`, f.device.ID, f.pool.ID, base.UnixMicro(), base.UnixMicro()); err != nil {
		t.Fatal(err)
	}
	walFrames(t, e, "TRUNCATE")
	at := base.Add(time.Duration(devices*earlier) * time.Second)
	var ds []store.DeliveryWrite
	for d := range devices {
		rs := make([]store.Reading, len(metrics))
		for i, m := range metrics {
			rs[i] = store.Reading{DeviceID: f.device.ID + int64(d), PoolID: f.pool.ID, Metric: m, Value: 7.3,
				RecordedAt: at, ReceivedAt: at}
		}
		id := fmt.Sprintf("msg_%d", d)
		ds = append(ds, store.DeliveryWrite{Readings: rs,
			Once:  &store.DeliveryKey{Provider: "acme", AccountID: f.account.ID, DeliveryID: id},
			Audit: &store.AuditEvent{Action: "webhook.received", Actor: "provider:acme", Provider: "acme", RequestID: id}})
	}
	got, err := e.s.WriteDeliveries(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range got {
		if n != len(metrics) {
			t.Fatalf("delivery %d: %d readings stored, want %d", i, n, len(metrics))
		}
	}
	if n := walFrames(t, e, "PASSIVE"); n > 80 {
		t.Errorf("the group commit wrote %d pages, want at most 80 (8 deliveries of 10 readings)", n)
	}
}

// A SQLite store syncs its commits with fdatasync(2) on Linux, as SQLite's own builds
// there do; the driver's default, fsync(2), made every group commit wait longer for the
// same durability (store.Open says how much).
func TestSQLiteCommitsWithFdatasync(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("fdatasync is Linux's (and some BSDs')")
	}
	if _, err := sqlite.Fdatasync(false); err != nil { // the driver's default, process-wide
		t.Fatal(err)
	}
	s, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "poolhost.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !sqlite.FdatasyncEnabled() {
		t.Error("after opening a SQLite store, commits still sync with fsync(2)")
	}
}

func joinQuoted(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += `","`
		}
		out += s
	}
	return out
}
