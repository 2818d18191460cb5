package ingest_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var received = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestIngestDropsByReason(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s := eng.Open(t)
			mine := ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"probe"}, []string{"loose"})
			// Another user's account of the same provider owns "theirs".
			ingesttest.Seed(t, s, "generic", "other@example.com", nil, []string{"theirs"}, nil)
			svc := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil)

			good := func(metric string, v float64, unit string) sdk.Reading {
				return sdk.Reading{ProviderDeviceID: "probe", Metric: metric, Value: v, Unit: unit, RecordedAt: received.Add(-time.Minute)}
			}
			tests := []struct {
				name    string
				reading sdk.Reading
				account bool // account-scoped request
				reason  string
			}{
				{"unknown metric", good("turbidity", 1, ""), false, ingest.DropUnknownMetric},
				{"NaN", good("ph", math.NaN(), ""), false, ingest.DropNonFinite},
				{"+Inf", good("orp", math.Inf(1), ""), false, ingest.DropNonFinite},
				{"absurd pH", good("ph", 15, ""), false, ingest.DropAbsurdValue},
				{"negative chlorine", good("free_chlorine", -1, "ppm"), false, ingest.DropAbsurdValue},
				{"bad unit", good("temperature", 20, "furlongs"), false, ingest.DropBadUnit},
				{"dBm as percent", good("signal", -80, "dBm"), false, ingest.DropBadUnit},
				{"too far in the future", sdk.Reading{ProviderDeviceID: "probe", Metric: "ph", Value: 7.4, RecordedAt: received.Add(10 * time.Minute)}, false, ingest.DropTooFarFuture},
				{"too old", sdk.Reading{ProviderDeviceID: "probe", Metric: "ph", Value: 7.4, RecordedAt: received.Add(-48 * time.Hour)}, false, ingest.DropTooOld},
				{"unknown device", sdk.Reading{ProviderDeviceID: "nobody", Metric: "ph", Value: 7.4}, false, ingest.DropUnknownDevice},
				{"empty device id", sdk.Reading{Metric: "ph", Value: 7.4}, false, ingest.DropUnknownDevice},
				{"unlinked device", sdk.Reading{ProviderDeviceID: "loose", Metric: "ph", Value: 7.4}, false, ingest.DropUnlinkedDevice},
				{"foreign device", sdk.Reading{ProviderDeviceID: "theirs", Metric: "ph", Value: 7.4}, true, ingest.DropForeignDevice},
				{"unknown device, account-scoped", sdk.Reading{ProviderDeviceID: "nobody", Metric: "ph", Value: 7.4}, true, ingest.DropUnknownDevice},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					req := ingest.Request{Provider: "generic", Readings: []sdk.Reading{tt.reading}, ReceivedAt: received}
					if tt.account {
						req.AccountID = mine.Account.ID
					}
					before := ingesttest.CountReadings(t, s)
					res, err := svc.Ingest(context.Background(), req)
					if err != nil {
						t.Fatalf("Ingest: %v", err)
					}
					if res.Accepted != 0 || res.Dropped[tt.reason] != 1 || res.DroppedTotal() != 1 {
						t.Fatalf("result %+v, want one %s drop", res, tt.reason)
					}
					if after := ingesttest.CountReadings(t, s); after != before {
						t.Fatalf("readings %d -> %d: a dropped reading was stored", before, after)
					}
				})
			}
		})
	}
}

func TestIngestConvertsFlagsAndIsIdempotent(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s := eng.Open(t)
			w := ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"probe"}, nil)
			svc := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil)
			at := received.Add(-time.Hour)
			req := ingest.Request{Provider: "generic", AccountID: w.Account.ID, ReceivedAt: received, Readings: []sdk.Reading{
				{ProviderDeviceID: "probe", Metric: "temperature", Value: 77, Unit: "°F", RecordedAt: at},
				{ProviderDeviceID: "probe", Metric: "ph", Value: 8.4, RecordedAt: at}, // unhealthy: kept, flagged
				{ProviderDeviceID: "probe", Metric: "salt", Value: 3.1, Unit: "g/L"},  // no time: received
			}}
			res, err := svc.Ingest(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Accepted != 3 || res.Duplicates != 0 || res.DroppedTotal() != 0 {
				t.Fatalf("first delivery: %+v", res)
			}
			var rows []store.Reading
			if err := s.DB().Select(&rows, `SELECT metric, value, unit, quality, pool_id, recorded_at FROM sensor_readings ORDER BY metric`); err != nil {
				t.Fatal(err)
			}
			want := map[string]struct {
				value   float64
				unit    string
				quality string
				at      time.Time
			}{
				"ph":          {8.4, "pH", string(sdk.QualitySuspect), at},
				"salt":        {3100, "ppm", "", received},
				"temperature": {25, "C", "", at},
			}
			for _, r := range rows {
				w2 := want[r.Metric]
				if math.Abs(r.Value-w2.value) > 1e-9 || r.Unit != w2.unit || r.Quality != w2.quality || !r.RecordedAt.Equal(w2.at) || r.PoolID != w.Pool.ID {
					t.Errorf("%s stored as %+v, want %+v in pool %d", r.Metric, r, w2, w.Pool.ID)
				}
			}
			// The replay inserts nothing.
			res, err = svc.Ingest(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Accepted != 0 || res.Duplicates != 3 {
				t.Fatalf("replay: %+v, want 3 duplicates", res)
			}
			if n := ingesttest.CountReadings(t, s); n != 3 {
				t.Fatalf("%d readings after replay, want 3", n)
			}
		})
	}
}

func TestIngestFinishRollsBack(t *testing.T) {
	s := ingesttest.OpenSQLite(t)
	ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"probe"}, nil)
	svc := ingest.New(s, ingest.Config{}, nil, nil)
	_, err := svc.Ingest(context.Background(), ingest.Request{
		Provider: "generic", ReceivedAt: received,
		Readings: []sdk.Reading{{ProviderDeviceID: "probe", Metric: "ph", Value: 7.4}},
		Finish:   func(context.Context, *store.Tx, ingest.Result) error { return store.ErrLeaseLost },
	})
	if err == nil {
		t.Fatal("Ingest succeeded although Finish failed")
	}
	if n := ingesttest.CountReadings(t, s); n != 0 {
		t.Fatalf("%d readings stored although Finish failed", n)
	}
}
