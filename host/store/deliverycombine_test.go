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
