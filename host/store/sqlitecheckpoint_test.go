package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// The group commit's writer leaves the WAL's checkpoints to the store's checkpointer
// (sqlitecheckpoint.go): with the checkpointer held, the WAL grows past the 4,000
// frames at which the writer used to checkpoint in its commit, nothing of it copied;
// released, the checkpointer copies it, and everything written reads back.
func TestSQLiteCheckpointsBesideTheWriter(t *testing.T) {
	e := newEnv(t, engines[0], true)
	if e.s.SQLiteCheckpoints() < 0 {
		t.Fatal("no checkpointer on a SQLite file")
	}
	ctx := context.Background()
	f := newFixture(t, e, "ckpt@x.io")
	release := make(chan struct{})
	e.s.HoldSQLiteCheckpoints(release)
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	now := time.Now()
	seq := 0
	write := func() {
		t.Helper()
		ds := make([]store.DeliveryWrite, 0, 16)
		for range 16 {
			ds = append(ds, ingestDelivery(f, seq, base, time.Millisecond, now))
			seq++
		}
		if _, err := e.s.WriteDeliveries(ctx, ds); err != nil {
			t.Fatal(err)
		}
	}
	for e.s.SQLiteWALPending() < 5000 {
		write()
		if seq > 100000 {
			t.Fatalf("WAL at %d frames after %d deliveries", e.s.SQLiteWALPending(), seq)
		}
	}
	if got := e.s.SQLiteCheckpoints(); got != 0 {
		t.Fatalf("%d checkpoints while held", got)
	}
	close(release)
	write() // wakes the checkpointer
	deadline := time.Now().Add(10 * time.Second)
	for e.s.SQLiteWALPending() >= 4000 {
		if time.Now().After(deadline) {
			t.Fatalf("WAL still at %d frames not copied, %d checkpoints", e.s.SQLiteWALPending(), e.s.SQLiteCheckpoints())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if e.s.SQLiteCheckpoints() == 0 {
		t.Fatal("copied without the checkpointer")
	}
	var n int
	if err := e.s.DB().GetContext(ctx, &n, `SELECT COUNT(*) FROM sensor_readings`); err != nil {
		t.Fatal(err)
	}
	if n != seq*len(deliveryMetrics) {
		t.Fatalf("%d readings, want %d", n, seq*len(deliveryMetrics))
	}
}
