package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// On SQLite, WriteDeliveries calls that wait for the writer share one transaction (one
// fsync): with the writer held, a first call takes it alone, and the two that queue
// behind it are written together, each with its own counts; a delivery both carry is
// written once.
func TestSQLiteWriteDeliveriesCallsShareATransaction(t *testing.T) {
	e := onEngine(t, "sqlite", true)
	f := newFixture(t, e, "combine@x.io")
	ctx := context.Background()
	at := e.clock.Now().Add(-time.Hour).Truncate(time.Second)
	delivery := func(id string, n int) store.DeliveryWrite {
		rs := make([]store.Reading, n)
		for i := range rs {
			rs[i] = store.Reading{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: fmt.Sprintf("m%d", i),
				Value: 1, RecordedAt: at.Add(time.Duration(len(id)) * time.Second), ReceivedAt: at}
		}
		for i := range rs { // each delivery its own keys
			rs[i].Metric = id + rs[i].Metric
		}
		return store.DeliveryWrite{Readings: rs, Once: &store.DeliveryKey{Provider: "acme", AccountID: f.account.ID, DeliveryID: id},
			Audit: &store.AuditEvent{Action: "webhook.received", Actor: "provider:acme", Provider: "acme", RequestID: id}}
	}
	calls := [][]store.DeliveryWrite{
		{delivery("a", 2)},
		{delivery("b", 3), delivery("c", 1)},
		{delivery("c", 1), delivery("d", 4)}, // c again: written once, by the call taken first
	}
	got := make([][]int, len(calls))
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	call := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = e.s.WriteDeliveries(ctx, calls[i])
		}()
	}
	hold, held := make(chan struct{}), make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		txDone <- e.s.InTx(ctx, func(tx *store.Tx) error { close(held); <-hold; return nil })
	}()
	<-held
	call(0)
	waitFor(t, "the first call's write", func() bool { return e.s.CombinedWrites() == 1 })
	call(1)
	waitFor(t, "a call queued", func() bool { return e.s.CombineQueued() == 1 })
	call(2)
	waitFor(t, "two calls queued", func() bool { return e.s.CombineQueued() == 2 })
	close(hold)
	if err := <-txDone; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if w := e.s.CombinedWrites(); w != 2 {
		t.Errorf("%d transactions for 3 calls, want 2 (the first alone, then the two waiting)", w)
	}
	want := [][]int{{2}, {3, 1}, {store.Replayed, 4}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("accepted %v, want %v", got, want)
	}
	rs, _, err := e.s.ListReadings(ctx, store.ReadingQuery{PoolID: f.pool.ID, Limit: 100})
	if err != nil || len(rs) != 10 {
		t.Errorf("stored %d readings, want 10; %v", len(rs), err)
	}
}

// SQLite's writer reports what it did (host/bench prints the share of the run it was
// busy): one transaction per call made one at a time, their deliveries, and time held.
func TestSQLiteWriterStats(t *testing.T) {
	e := onEngine(t, "sqlite", true)
	f := newFixture(t, e, "stats@x.io")
	ctx := context.Background()
	at := e.clock.Now().Add(-time.Hour).Truncate(time.Second)
	before, ok := e.s.SQLiteWriter()
	if !ok {
		t.Fatal("a SQLite store reports no writer figures")
	}
	for i, n := range []int{1, 3} {
		var ds []store.DeliveryWrite
		for j := range n {
			id := fmt.Sprintf("stats-%d-%d", i, j)
			ds = append(ds, store.DeliveryWrite{
				Readings: []store.Reading{{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: "ph", Value: 7,
					RecordedAt: at.Add(time.Duration(10*i+j) * time.Second), ReceivedAt: at}},
				Once: &store.DeliveryKey{Provider: "acme", AccountID: f.account.ID, DeliveryID: id}})
		}
		if _, err := e.s.WriteDeliveries(ctx, ds); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := e.s.SQLiteWriter()
	if tx, d := after.Transactions-before.Transactions, after.Deliveries-before.Deliveries; tx != 2 || d != 4 {
		t.Errorf("writer: %d transactions, %d deliveries; want 2, 4", tx, d)
	}
	if after.Busy <= before.Busy {
		t.Errorf("writer busy %v, then %v: no time counted", before.Busy, after.Busy)
	}
}
