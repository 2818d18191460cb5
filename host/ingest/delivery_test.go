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

// storedTimes lists the recorded_at of every stored reading, oldest first.
func storedTimes(t *testing.T, s *store.Store) []time.Time {
	t.Helper()
	var ats []time.Time
	if err := s.DB().Select(&ats, `SELECT recorded_at FROM sensor_readings ORDER BY recorded_at, id`); err != nil {
		t.Fatal(err)
	}
	return ats
}

// TestIngestDeliveryIDDedupesUntimedReadings: readings without recorded_at are stored at
// the delivery's first receipt, so a replay of the same delivery id — received later —
// inserts nothing; without a delivery id each receipt stands alone.
func TestIngestDeliveryIDDedupesUntimedReadings(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s := eng.Open(t)
			w := ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"probe"}, nil)
			svc := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil)
			ctx := context.Background()
			untimed := []sdk.Reading{{ProviderDeviceID: "probe", Metric: "ph", Value: 7.4}}
			req := func(id string, at time.Time) ingest.Request {
				return ingest.Request{Provider: "generic", Readings: untimed, ReceivedAt: at, DeliveryID: id}
			}

			tests := []struct {
				name       string
				first      ingest.Request
				replay     ingest.Request
				duplicates int         // of the replay
				stored     []time.Time // recorded_at of the rows the two deliveries left
			}{
				{
					name:       "replay of one delivery id",
					first:      req("msg_1", received),
					replay:     req("msg_1", received.Add(90*time.Second)),
					duplicates: 1,
					stored:     []time.Time{received},
				},
				{
					// The replay arrives two days later, beyond MaxPastAge: still a duplicate,
					// not a too_old drop, as the first sighting was judged on arrival.
					name:       "replay after the past-age window",
					first:      req("msg_late", received),
					replay:     req("msg_late", received.Add(48*time.Hour)),
					duplicates: 1,
					stored:     []time.Time{received},
				},
				{
					name:  "account-scoped replay",
					first: func() ingest.Request { r := req("msg_acc", received); r.AccountID = w.Account.ID; return r }(),
					replay: func() ingest.Request {
						r := req("msg_acc", received.Add(time.Second))
						r.AccountID = w.Account.ID
						return r
					}(),
					duplicates: 1,
					stored:     []time.Time{received},
				},
				{
					name:       "two delivery ids are two deliveries",
					first:      req("msg_a", received),
					replay:     req("msg_b", received.Add(time.Second)),
					duplicates: 0,
					stored:     []time.Time{received, received.Add(time.Second)},
				},
				{
					name:       "no delivery id: each receipt is its own reading",
					first:      req("", received),
					replay:     req("", received.Add(time.Second)),
					duplicates: 0,
					stored:     []time.Time{received, received.Add(time.Second)},
				},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					if _, err := s.DB().Exec(`DELETE FROM sensor_readings`); err != nil {
						t.Fatal(err)
					}
					res, err := svc.Ingest(ctx, tt.first)
					if err != nil || res.Accepted != 1 {
						t.Fatalf("first delivery: %+v, %v; want 1 accepted", res, err)
					}
					res, err = svc.Ingest(ctx, tt.replay)
					if err != nil {
						t.Fatal(err)
					}
					if res.Duplicates != tt.duplicates || res.Accepted != 1-tt.duplicates || res.DroppedTotal() != 0 {
						t.Fatalf("second delivery: %+v, want %d duplicates", res, tt.duplicates)
					}
					got := storedTimes(t, s)
					if len(got) != len(tt.stored) {
						t.Fatalf("stored %v, want %v", got, tt.stored)
					}
					for i := range got {
						if !got[i].Equal(tt.stored[i]) {
							t.Fatalf("stored %v, want %v", got, tt.stored)
						}
					}
				})
			}
		})
	}
}

// TestIngestDeliveryIDKeepsOwnTimestamps: a reading that carries recorded_at keeps it,
// and in a mixed delivery only the untimed readings take the first receipt time.
func TestIngestDeliveryIDKeepsOwnTimestamps(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s := eng.Open(t)
			ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"probe"}, nil)
			svc := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil)
			own := received.Add(-time.Hour)
			readings := []sdk.Reading{
				{ProviderDeviceID: "probe", Metric: "ph", Value: 7.4, RecordedAt: own},
				{ProviderDeviceID: "probe", Metric: "orp", Value: 700},
			}
			for i, at := range []time.Time{received, received.Add(time.Minute)} {
				res, err := svc.Ingest(context.Background(), ingest.Request{Provider: "generic", Readings: readings, ReceivedAt: at, DeliveryID: "msg_mixed"})
				if err != nil || res.Accepted+res.Duplicates != 2 || res.Duplicates != 2*i {
					t.Fatalf("delivery %d: %+v, %v", i, res, err)
				}
			}
			got := storedTimes(t, s)
			if len(got) != 2 || !got[0].Equal(own) || !got[1].Equal(received) {
				t.Fatalf("stored %v, want [%v %v]", got, own, received)
			}
		})
	}
}

// TestIngestDeliveryIDConcurrentReplays: the same delivery handled at once by several
// goroutines (two replicas, or the route and the retry worker) stores one row.
func TestIngestDeliveryIDConcurrentReplays(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s := eng.Open(t)
			ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"probe"}, nil)
			svc := ingest.New(s, ingest.Config{}, nil, nil)
			const n = 6
			var wg sync.WaitGroup
			results := make([]ingest.Result, n)
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i], errs[i] = svc.Ingest(context.Background(), ingest.Request{
						Provider: "generic", DeliveryID: "msg_race", ReceivedAt: received.Add(time.Duration(i) * time.Millisecond),
						Readings: []sdk.Reading{{ProviderDeviceID: "probe", Metric: "ph", Value: 7.4}},
					})
				}()
			}
			wg.Wait()
			accepted := 0
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("delivery %d: %v", i, errs[i])
				}
				accepted += results[i].Accepted
			}
			if accepted != 1 || ingesttest.CountReadings(t, s) != 1 {
				t.Fatalf("accepted %d, stored %d; want exactly one", accepted, ingesttest.CountReadings(t, s))
			}
		})
	}
}
