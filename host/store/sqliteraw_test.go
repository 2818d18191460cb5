package store_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// The group commit's INSERTs on SQLite run on the driver's statements, with their
// arguments filled into one buffer the writer keeps: through database/sql every
// statement allocated its own copy of them (640 values for 64 readings), and a group
// commit allocated 11.9 KB per delivery in this test's batches instead of 6.1.
func TestSQLiteGroupCommitAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector are not the program's")
	}
	e := onEngine(t, "sqlite", true)
	f := newFixture(t, e, "allocs@x.io")
	ctx := context.Background()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const perCall, calls = 26, 6
	seq := 0
	batch := func() []store.DeliveryWrite {
		ds := make([]store.DeliveryWrite, perCall)
		for i := range ds {
			seq++
			ds[i] = ingestDelivery(f, seq, base, time.Second, base)
		}
		return ds
	}
	write := func(ds []store.DeliveryWrite) {
		got, err := e.s.WriteDeliveries(ctx, ds)
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range got {
			if n != len(deliveryMetrics) {
				t.Fatalf("delivery %d: %d readings stored, want %d", i, n, len(deliveryMetrics))
			}
		}
	}
	write(batch()) // statements prepared
	batches := make([][]store.DeliveryWrite, calls)
	for i := range batches {
		batches[i] = batch()
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for _, ds := range batches {
		write(ds)
	}
	runtime.ReadMemStats(&m1)
	perDelivery := float64(m1.TotalAlloc-m0.TotalAlloc) / (perCall * calls)
	t.Logf("%.0f bytes allocated per delivery", perDelivery)
	if perDelivery > 9_000 {
		t.Errorf("a group commit allocated %.0f bytes per delivery, want at most 9,000", perDelivery)
	}
}

// A group commit of 26 webhook deliveries (260 readings, 26 replay keys, 26 audit rows)
// runs 4 INSERTs: the readings in two (256 and 4 rows), the keys and the audit rows in
// one each (32 rows, 6 of them NULL padding). Each statement has a cost of its own;
// with 64 readings a statement and unpadded keys and audit rows (16, 8 and 2) it ran 11.
func TestSQLiteGroupCommitStatements(t *testing.T) {
	e := onEngine(t, "sqlite", true)
	f := newFixture(t, e, "stmts@x.io")
	ctx := context.Background()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ds := make([]store.DeliveryWrite, 26)
	for i := range ds {
		rs := make([]store.Reading, 10)
		for j := range rs {
			rs[j] = store.Reading{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: fmt.Sprintf("m%d", j), Value: 7.2,
				RecordedAt: base.Add(time.Duration(i) * time.Second), ReceivedAt: base}
		}
		id := fmt.Sprintf("msg_%d", i)
		ds[i] = store.DeliveryWrite{Readings: rs,
			Once:  &store.DeliveryKey{Provider: "generic", AccountID: f.account.ID, DeliveryID: id},
			Audit: &store.AuditEvent{Action: "webhook.received", Actor: "provider:generic", Provider: "generic", RequestID: id}}
	}
	before := e.s.SQLiteInserts()
	if _, err := e.s.WriteDeliveries(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if n := e.s.SQLiteInserts() - before; n != 4 {
		t.Errorf("the group commit ran %d INSERTs, want 4", n)
	}
}

// A chunk of readings with no raw payload and no qualifier binds 8 arguments a reading,
// not 10: the two NULLs are in the statement's text. The group commit of
// TestSQLiteGroupCommitStatements binds 260 readings, 32 padded replay keys (4 each) and
// 32 padded audit rows (8 each). A chunk with a qualifier still binds all ten, and
// stores it.
func TestSQLiteGroupCommitPlainReadings(t *testing.T) {
	e := onEngine(t, "sqlite", true)
	f := newFixture(t, e, "plain@x.io")
	ctx := context.Background()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := func(from int, qualifier string) []store.DeliveryWrite {
		ds := make([]store.DeliveryWrite, 26)
		for i := range ds {
			rs := make([]store.Reading, 10)
			for j := range rs {
				rs[j] = store.Reading{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: fmt.Sprintf("m%d", j), Value: 7.2,
					RecordedAt: base.Add(time.Duration(from+i) * time.Second), ReceivedAt: base}
			}
			if i == 3 {
				rs[0].Qualifier = qualifier
			}
			id := fmt.Sprintf("msg_%d", from+i)
			ds[i] = store.DeliveryWrite{Readings: rs,
				Once:  &store.DeliveryKey{Provider: "generic", AccountID: f.account.ID, DeliveryID: id},
				Audit: &store.AuditEvent{Action: "webhook.received", Actor: "provider:generic", Provider: "generic", RequestID: id}}
		}
		return ds
	}
	before := e.s.SQLiteBound()
	if _, err := e.s.WriteDeliveries(ctx, batch(0, "")); err != nil {
		t.Fatal(err)
	}
	if n, want := e.s.SQLiteBound()-before, 8*260+4*32+8*32; n != want {
		t.Errorf("the group commit bound %d arguments, want %d", n, want)
	}
	before = e.s.SQLiteBound()
	if _, err := e.s.WriteDeliveries(ctx, batch(100, "lt")); err != nil {
		t.Fatal(err)
	}
	if n, want := e.s.SQLiteBound()-before, 8*4+10*256+4*32+8*32; n != want {
		t.Errorf("with a qualifier, the group commit bound %d arguments, want %d", n, want)
	}
	var qual string
	if err := e.s.DB().GetContext(ctx, &qual, `SELECT qualifier FROM sensor_readings WHERE qualifier IS NOT NULL`); err != nil || qual != "lt" {
		t.Errorf("stored qualifier %q, %v; want lt", qual, err)
	}
	if a := testing.AllocsPerRun(10, func() { _ = store.SQLiteStatementText(256) }); a != 0 {
		t.Errorf("the statement's text allocated %v times, want it kept", a)
	}
}
