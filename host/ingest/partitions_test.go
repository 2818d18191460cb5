package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/sdk"
)

// With the ingest windows widened, a reading of two years ago and one of next month are
// both stored through the ingest path, on PostgreSQL's month partitions as on SQLite:
// next month's partition is kept ahead, and the old month, which has none, lands in the
// default partition rather than being refused. Their replay is still a duplicate.
func TestIngestStoresAnyMonth(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			s := eng.Open(t)
			w := ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"probe"}, nil)
			svc := ingest.New(s, ingest.Config{MaxFutureSkew: 62 * 24 * time.Hour, MaxPastAge: 3 * 365 * 24 * time.Hour}, nil, nil)
			// The wall clock: the migration kept partitions ahead of the real month.
			now := time.Now().UTC().Truncate(time.Second)
			old, next := now.AddDate(-2, 0, 0), now.AddDate(0, 1, 0)
			req := ingest.Request{Provider: "generic", AccountID: w.Account.ID, ReceivedAt: now, Readings: []sdk.Reading{
				{ProviderDeviceID: "probe", Metric: "ph", Value: 7.2, RecordedAt: old},
				{ProviderDeviceID: "probe", Metric: "ph", Value: 7.3, RecordedAt: next},
			}}
			res, err := svc.Ingest(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Accepted != 2 || res.DroppedTotal() != 0 {
				t.Fatalf("result %+v, want both readings accepted", res)
			}
			if n := ingesttest.CountReadings(t, s); n != 2 {
				t.Fatalf("%d readings stored, want 2", n)
			}
			if eng.Name == "postgres" {
				for at, want := range map[time.Time]string{old: "sensor_readings_default", next: "sensor_readings_p" + next.Format("200601")} {
					var got string
					if err := s.DB().Get(&got, `SELECT tableoid::regclass::text FROM sensor_readings WHERE recorded_at = $1`, at); err != nil || got != want {
						t.Errorf("reading at %v is in %q (%v), want %s", at, got, err, want)
					}
				}
			}
			if res, err := svc.Ingest(ctx, req); err != nil || res.Accepted != 0 || res.Duplicates != 2 {
				t.Errorf("replay = %+v, %v; want 2 duplicates", res, err)
			}
		})
	}
}
