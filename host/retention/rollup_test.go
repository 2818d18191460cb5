package retention_test

import (
	"context"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/retention"
	"github.com/poolhost/poolhost/host/store"
)

// With retention { readings = "30d" } wired to the rollups' horizon (as serve wires it):
// nothing is expired before the rollup worker has run; once it has, January's readings
// are dropped and the summary over January still answers, from the rollups.
func TestExpiredRangeAnswersFromRollups(t *testing.T) {
	for name, url := range engines {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h := newHistory(t, url(t))
			p := retention.New(h.st, retention.Config{
				Readings: 30 * 24 * time.Hour, Now: func() time.Time { return *h.now },
				RollupWatermark: h.st.RollupHorizon,
			}, nil)
			if _, err := p.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if got := h.readingTimes(t); len(got) != 3 {
				t.Fatalf("readings left %v before the rollups ran, want all three", got)
			}
			if _, _, err := h.st.AdvanceRollups(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if got := h.readingTimes(t); len(got) == 3 || got[0].Before(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)) {
				t.Fatalf("readings left %v: January's should be gone", got)
			}
			jan := h.readings["january"]
			bs, err := h.st.SummarizeMeasurements(ctx, store.SummaryQuery{PoolID: h.pool, Metric: "ph", Bucket: 24 * time.Hour,
				From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)})
			if err != nil {
				t.Fatal(err)
			}
			// The sensor reading of January 20 from its rollup; the test session of that
			// day expired with the readings (test results are not rolled up).
			if len(bs) != 1 || !bs[0].Start.Equal(jan.Truncate(24*time.Hour)) || bs[0].Count != 1 || bs[0].Min != 7.2 {
				t.Fatalf("January's summary after expiry = %+v, want January 20's reading from the rollup", bs)
			}
		})
	}
}
