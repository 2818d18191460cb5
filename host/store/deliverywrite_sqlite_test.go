package store_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
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

// The group commit's INSERTs of readings and replay keys cannot abort halfway, so SQLite
// keeps no statement journal for them (a copy of every page they change, for rolling
// back one statement alone): no instruction of theirs halts with an error. What a
// constraint of theirs would have failed on is refused before them
// (TestWriteDeliveriesRefusesWhatTheTableWould).
func TestSQLiteGroupCommitInsertsCannotAbort(t *testing.T) {
	e := newEnv(t, engines[0], true)
	for _, n := range []int{1, 4} {
		for _, text := range store.SQLiteInsertsWithoutJournal(n) {
			for _, in := range explainSQLite(t, e, text) {
				if in.op == "HaltIfNull" || in.op == "Halt" && in.p1 != 0 {
					t.Errorf("%d-row %.40s…: %d %s %d %d: may abort, so SQLite journals it", n, text, in.addr, in.op, in.p1, in.p2)
					break
				}
			}
		}
	}
}

type vdbeOp struct {
	addr   int64
	op     string
	p1, p2 int64
}

// explainSQLite lists the instructions SQLite compiles query to (EXPLAIN).
func explainSQLite(t *testing.T, e *env, query string) []vdbeOp {
	t.Helper()
	rows, err := e.s.DB().QueryContext(context.Background(), "EXPLAIN "+query, make([]any, strings.Count(query, "?"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ops []vdbeOp
	for rows.Next() {
		var in vdbeOp
		var p3, p4, p5, comment any
		if err := rows.Scan(&in.addr, &in.op, &in.p1, &in.p2, &p3, &p4, &p5, &comment); err != nil {
			t.Error(err)
			return nil
		}
		ops = append(ops, in)
	}
	if err := rows.Err(); err != nil {
		t.Error(err)
	}
	return ops
}

// What sensor_readings' and webhook_deliveries' NOT NULL and CHECK constraints refuse is
// refused on SQLite with ErrInvalid, nothing of the call written, though the group
// commit's INSERT OR IGNORE would skip such a row: a reading without a metric, a NaN
// value (SQLite stores NaN as NULL), a replay key without a delivery id. A replayed
// delivery's readings are not written, so not checked either (as before).
func TestWriteDeliveriesRefusesWhatTheTableWould(t *testing.T) {
	e := newEnv(t, engines[0], true)
	ctx := context.Background()
	f := newFixture(t, e, "refuse@x.io")
	start := e.clock.Now().Add(-time.Hour)
	key := func(id string) *store.DeliveryKey {
		return &store.DeliveryKey{Provider: "acme", AccountID: f.account.ID, DeliveryID: id}
	}
	noMetric := readingsFor(f, start, 2, "orp")
	noMetric[1].Metric = ""
	nan := readingsFor(f, start, 2, "ph")
	nan[0].Value = math.NaN()
	for name, d := range map[string]store.DeliveryWrite{
		"no metric":      {Readings: noMetric, Once: key("a")},
		"NaN":            {Readings: nan, Once: key("b")},
		"no delivery id": {Readings: readingsFor(f, start, 2, "temperature"), Once: key("")},
	} {
		good := store.DeliveryWrite{Readings: readingsFor(f, start, 3, "salt"), Once: key("good-" + name),
			Audit: &store.AuditEvent{Action: "webhook.received", Actor: "provider:acme"}}
		_, err := e.s.WriteDeliveries(ctx, []store.DeliveryWrite{good, d})
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if n, _ := e.s.CountReadings(ctx, f.pool.ID); n != 0 {
		t.Errorf("refused writes left %d readings", n)
	}
	// Recorded once, then replayed with a bad reading: the replay writes nothing and
	// fails nothing.
	if _, err := e.s.WriteDeliveries(ctx, []store.DeliveryWrite{{Readings: readingsFor(f, start, 1, "ph"), Once: key("c")}}); err != nil {
		t.Fatal(err)
	}
	got, err := e.s.WriteDeliveries(ctx, []store.DeliveryWrite{{Readings: nan, Once: key("c")}})
	if err != nil || got[0] != store.Replayed {
		t.Fatalf("replay with a NaN reading: %v %v, want Replayed", got, err)
	}
}
