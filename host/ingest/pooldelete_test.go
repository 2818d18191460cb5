package ingest_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// deletingStore deletes the pool right after ingest looked its devices up, once: what
// happens when the owner deletes the pool while a delivery for its devices is in
// flight.
type deletingStore struct {
	*store.Store
	once   sync.Once
	poolID int64
	t      *testing.T
}

func (d *deletingStore) LookupDevices(ctx context.Context, l store.DeviceLookup) ([]store.Device, error) {
	ds, err := d.Store.LookupDevices(ctx, l)
	d.once.Do(func() {
		if _, err := d.Store.DeletePool(ctx, d.poolID); err != nil {
			d.t.Errorf("delete pool: %v", err)
		}
	})
	return ds, err
}

// TestDeliveryRacingPoolDeletionIsDropped: a delivery whose devices were resolved to a
// pool that is deleted before its write writes nothing there: its readings are dropped
// as unlinked_device, as for any device that feeds no pool, whether it goes through the
// group commit or a transaction of its own (a request with Finish, as polls and
// retries make), and its audit row still says what became of it.
func TestDeliveryRacingPoolDeletionIsDropped(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		for _, path := range []string{"group commit", "own transaction"} {
			t.Run(eng.Name+"/"+path, func(t *testing.T) {
				s := eng.Open(t)
				w := ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"probe"}, nil)
				ds := &deletingStore{Store: s, poolID: w.Pool.ID, t: t}
				svc := ingest.New(ds, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil)
				svc.SetClock(func() time.Time { return received })
				finished := false
				req := ingest.Request{Provider: "generic", AccountID: w.Account.ID, ReceivedAt: received,
					Readings: []sdk.Reading{
						{ProviderDeviceID: "probe", Metric: "ph", Value: 7.4, RecordedAt: received.Add(-time.Minute)},
						{ProviderDeviceID: "probe", Metric: "orp", Value: 700, RecordedAt: received.Add(-time.Minute)},
					},
					Audit: func(res ingest.Result) store.AuditEvent {
						return store.AuditEvent{Action: "webhook.received", Actor: "provider:generic", Provider: "generic"}
					},
				}
				if path == "own transaction" {
					req.Audit = nil
					req.Finish = func(ctx context.Context, tx *store.Tx, res ingest.Result) error { finished = true; return nil }
				}
				res, err := svc.Ingest(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				if res.Accepted != 0 || res.Dropped[ingest.DropUnlinkedDevice] != 2 {
					t.Fatalf("result = %+v, want both readings dropped as %s", res, ingest.DropUnlinkedDevice)
				}
				if n := ingesttest.CountReadings(t, s); n != 0 {
					t.Fatalf("%d readings stored", n)
				}
				if path == "own transaction" && !finished {
					t.Fatal("Finish was not called")
				}
				if path == "group commit" && len(ingesttest.Audit(t, s, "webhook.received")) != 1 {
					t.Fatal("the delivery's audit row is missing")
				}
			})
		}
	}
}
