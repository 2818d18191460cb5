package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// A value beyond its method's range ("FC > 10") is stored as a bound: listed and latest
// with its qualifier, and left out of a summary's figures but counted.
func TestQualifiedValues(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "bound@x.io")
		hour := e.clock.Now().Truncate(time.Hour).Add(-time.Hour)
		rs := []store.Reading{
			{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: "free_chlorine", Value: 2, Unit: "ppm", RecordedAt: hour.Add(time.Minute)},
			{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: "free_chlorine", Value: 10, Unit: "ppm", RecordedAt: hour.Add(2 * time.Minute), Qualifier: "above"},
		}
		if n, err := e.s.InsertReadings(ctx, rs); err != nil || n != 2 {
			t.Fatalf("insert: %d, %v", n, err)
		}
		got, _, err := e.s.ListReadings(ctx, store.ReadingQuery{PoolID: f.pool.ID, Metric: "free_chlorine"})
		if err != nil || len(got) != 2 || got[0].Qualifier != "" || got[1].Qualifier != "above" {
			t.Fatalf("listed %+v, %v", got, err)
		}
		if _, _, err := e.s.InsertTestSession(ctx, store.TestSession{PoolID: f.pool.ID, TakenAt: hour.Add(3 * time.Minute), Method: "photometer",
			Results: []store.TestResult{{Metric: "total_chlorine", Value: 0.1, Unit: "ppm", Qualifier: "below"}}}); err != nil {
			t.Fatal(err)
		}
		latest, err := e.s.LatestMeasurements(ctx, f.pool.ID, []string{"free_chlorine", "total_chlorine"})
		if err != nil || len(latest) != 2 {
			t.Fatalf("latest %+v, %v", latest, err)
		}
		for _, l := range latest {
			if want := map[string]string{"free_chlorine": "above", "total_chlorine": "below"}[l.Metric]; l.Qualifier != want {
				t.Errorf("latest %s qualifier %q, want %q", l.Metric, l.Qualifier, want)
			}
		}
		ss, _, err := e.s.ListTestSessions(ctx, f.pool.ID, nil, 10)
		if err != nil || len(ss) != 1 || ss[0].Results[0].Qualifier != "below" {
			t.Fatalf("sessions %+v, %v", ss, err)
		}
		bs, err := e.s.SummarizeMeasurements(ctx, store.SummaryQuery{PoolID: f.pool.ID, Metric: "free_chlorine", Bucket: time.Hour,
			From: hour, To: hour.Add(time.Hour)})
		if err != nil || len(bs) != 1 {
			t.Fatalf("summary %+v, %v", bs, err)
		}
		b := bs[0]
		if b.Count != 1 || b.Bounded != 1 || b.Min != 2 || b.Max != 2 || b.Avg != 2 || b.Last != 2 || !b.LastAt.Equal(hour.Add(time.Minute)) {
			t.Fatalf("bucket %+v: the bound must be counted apart, not in the figures", b)
		}
		// Bounds alone give no figures: the bucket is absent.
		bs, err = e.s.SummarizeMeasurements(ctx, store.SummaryQuery{PoolID: f.pool.ID, Metric: "total_chlorine", Bucket: time.Hour,
			From: hour, To: hour.Add(time.Hour)})
		if err != nil || len(bs) != 0 {
			t.Fatalf("bounds-only summary %+v, %v", bs, err)
		}
	})
}
