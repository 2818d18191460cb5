package poll_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/host/store"
)

// TestPolledTestSessions: a plugin's PollResult.TestSessions (the faulty plugin lists
// the same water test on every poll) become one test session of the device's pool,
// whatever the number of polls, and never sensor readings.
func TestPolledTestSessions(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := ingesttest.NewClock()
			s := eng.Open(t, store.WithClock(clk.Now))
			at := clk.Now().Add(-time.Hour).UTC()
			w := ingesttest.Seed(t, s, "faulty", "lab@example.com", map[string]string{
				"device_id": "probe",
				"test_sessions": fmt.Sprintf(`[{"ProviderDeviceID": "probe", "TakenAt": %q, "Method": "lab",
					"Results": [{"Metric": "calcium_hardness", "Value": 250, "Unit": "ppm"}, {"Metric": "ph", "Value": 99}]}]`, at.Format(time.RFC3339)),
			}, []string{"probe"}, nil)
			cfg := ingesttest.Config(t, pluginDir, `poll = true
  poll_interval = "15m"`)
			mgr := ingesttest.StartManager(t, cfg, hclog.NewNullLogger())
			ing := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil)
			worker := poll.New(poll.Deps{
				Store: s, Ingest: ing, Plugins: mgr, Providers: func() []config.Provider { return cfg.Providers },
			}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: "poller", Now: clk.Now, Rand: func() float64 { return 0.5 }})
			for i := 1; i <= 2; i++ {
				if st, err := worker.Tick(ctx); err != nil || st != (poll.Stats{Claimed: 1, Succeeded: 1}) {
					t.Fatalf("poll %d: %+v %v", i, st, err)
				}
				clk.Add(15 * time.Minute)
			}
			ss, _, err := s.ListTestSessions(ctx, w.Pool.ID, nil, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(ss) != 1 || ss[0].Provider != "faulty" || ss[0].Method != "lab" || !ss[0].TakenAt.Equal(at) ||
				len(ss[0].Results) != 1 || ss[0].Results[0].Metric != "calcium_hardness" {
				t.Fatalf("sessions after two polls: %+v, want the one lab test with its calcium hardness", ss)
			}
			if n := ingesttest.CountReadings(t, s); n != 0 {
				t.Fatalf("%d sensor readings from test sessions", n)
			}
		})
	}
}
