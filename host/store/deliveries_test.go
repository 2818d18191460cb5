package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

func TestRecordDeliveryKeepsFirstSighting(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		t1 := e.clock.Now().Add(123456789 * time.Nanosecond) // sub-microsecond part dropped
		key := store.DeliveryKey{Provider: "generic", DeliveryID: "msg_1"}

		first, err := e.s.RecordDelivery(ctx, key, t1)
		if err != nil || !first.Equal(t1.Truncate(time.Microsecond)) {
			t.Fatalf("first sighting = %v, %v; want %v", first, err, t1.Truncate(time.Microsecond))
		}
		again, err := e.s.RecordDelivery(ctx, key, t1.Add(time.Hour))
		if err != nil || !again.Equal(first) {
			t.Fatalf("replay = %v, %v; want the first sighting %v", again, err, first)
		}

		// Another endpoint's or provider's id of the same spelling is its own delivery.
		for _, other := range []store.DeliveryKey{
			{Provider: "generic", AccountID: 42, DeliveryID: "msg_1"},
			{Provider: "ttn", DeliveryID: "msg_1"},
		} {
			if at, err := e.s.RecordDelivery(ctx, other, t1.Add(time.Minute)); err != nil || !at.Equal(t1.Add(time.Minute).Truncate(time.Microsecond)) {
				t.Fatalf("%+v = %v, %v; want its own first sighting", other, at, err)
			}
		}

		// A sighting whose transaction rolls back is not remembered.
		rollback := errors.New("rollback")
		key2 := store.DeliveryKey{Provider: "generic", DeliveryID: "msg_2"}
		err = e.s.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.RecordDelivery(ctx, key2, t1); err != nil {
				return err
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatal(err)
		}
		if at, _ := e.s.RecordDelivery(ctx, key2, t1.Add(time.Second)); !at.Equal(t1.Add(time.Second).Truncate(time.Microsecond)) {
			t.Fatalf("rolled-back sighting remembered: %v", at)
		}

		if _, err := e.s.RecordDelivery(ctx, store.DeliveryKey{Provider: "generic"}, t1); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("empty delivery id: %v, want ErrInvalid", err)
		}

		// Pruning forgets ids first seen before the cutoff: msg_1 and msg_2 of generic's
		// provider-level URL, not the two seen a minute later.
		n, err := e.s.PruneDeliveries(ctx, t1.Add(30*time.Second))
		if err != nil || n != 2 {
			t.Fatalf("prune = %d, %v; want 2", n, err)
		}
		if at, _ := e.s.RecordDelivery(ctx, key, t1.Add(2*time.Hour)); !at.Equal(t1.Add(2 * time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("pruned id still remembered: %v", at)
		}
	})
}

// TestRecordDeliveryConcurrentFirstSightings: sightings of one id racing in separate
// transactions (two replicas receiving a redelivery at once) all get one time.
func TestRecordDeliveryConcurrentFirstSightings(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		key := store.DeliveryKey{Provider: "generic", AccountID: 7, DeliveryID: "msg_race"}
		base := e.clock.Now()
		const n = 8
		got := make([]time.Time, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = e.s.InTx(ctx, func(tx *store.Tx) error {
					at, err := tx.RecordDelivery(ctx, key, base.Add(time.Duration(i)*time.Second))
					got[i] = at
					return err
				})
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("sighting %d: %v", i, errs[i])
			}
			if !got[i].Equal(got[0]) {
				t.Fatalf("sightings disagree: %v vs %v", got[i], got[0])
			}
		}
	})
}

// TestKeptDeliveryUsesItsIndex: every replay of a delivery that was kept asks which
// failure row holds it (KeptDelivery). The lookup reads
// integration_ingestion_failures_delivery_idx (migration 00026), not every failure of
// the provider: without it SQLite searched the provider index and filtered, and
// PostgreSQL alike. Both engines.
func TestKeptDeliveryUsesItsIndex(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		plan, err := e.s.ExplainKeptDelivery(context.Background(), store.DeliveryKey{Provider: "acme", AccountID: 7, DeliveryID: "msg_1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("plan:\n%s", plan)
		if !strings.Contains(plan, "integration_ingestion_failures_delivery_idx") {
			t.Errorf("the kept-delivery lookup does not read its index:\n%s", plan)
		}
	})
}
