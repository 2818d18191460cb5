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

// The commonest poll finds nothing new. It must still be recorded like any other: the
// lease released, the next poll a whole interval away, the cursor and last_polled_at
// advanced, and the credentials the plugin refreshed stored — with rotating tokens the
// old pair is dead, so dropping them locks the account out.
func TestQuietPollsAreRecorded(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := ingesttest.NewClock()
			s := eng.Open(t, store.WithClock(clk.Now))
			at := clk.Now().Add(-time.Minute).Format(time.RFC3339)
			w := ingesttest.Seed(t, s, "faulty", "quiet@example.com", map[string]string{
				"device_id": "probe", "rotating": "1", "readings_once": "1", "token": "t0",
				"readings": fmt.Sprintf(`[{"metric": "ph", "value": "7.4", "recorded_at": %q}]`, at),
			}, []string{"probe"}, nil)
			// Another account whose every reading is dropped (a metric outside the
			// vocabulary): nothing to store on any poll, yet each is recorded.
			dropped := ingesttest.Seed(t, s, "faulty", "dropped@example.com", map[string]string{
				"device_id": "probe2", "rotating": "1", "token": "t0",
				"readings": fmt.Sprintf(`[{"metric": "pH", "value": "7.4", "recorded_at": %q}]`, at),
			}, []string{"probe2"}, nil)

			cfg := ingesttest.Config(t, pluginDir, `poll = true
  poll_interval = "15m"`)
			mgr := ingesttest.StartManager(t, cfg, hclog.NewNullLogger())
			ing := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil)
			worker := poll.New(poll.Deps{
				Store: s, Ingest: ing, Plugins: mgr, Providers: func() []config.Provider { return cfg.Providers },
			}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: "poller", Now: clk.Now, Rand: func() float64 { return 0.5 }})

			for i := 1; i <= 3; i++ {
				st, err := worker.Tick(ctx)
				if err != nil {
					t.Fatalf("poll %d: %v", i, err)
				}
				if st != (poll.Stats{Claimed: 2, Succeeded: 2}) {
					t.Fatalf("poll %d: %+v, want two claimed and succeeded", i, st)
				}
				for _, acc := range []int64{w.Account.ID, dropped.Account.ID} {
					ps, err := s.GetPollState(ctx, acc)
					if err != nil {
						t.Fatal(err)
					}
					if ps.LeaseOwner != "" || ps.LeaseExpiresAt != nil {
						t.Errorf("poll %d: lease still held by %q until %v", i, ps.LeaseOwner, ps.LeaseExpiresAt)
					}
					if want := clk.Now().Add(15 * time.Minute); !ps.NextPollAt.Equal(want) {
						t.Errorf("poll %d: next poll in %v, want 15m", i, ps.NextPollAt.Sub(clk.Now()))
					}
					if ps.Cursor != fmt.Sprint(i) {
						t.Errorf("poll %d: cursor %q, want %q", i, ps.Cursor, fmt.Sprint(i))
					}
					if ps.LastPolledAt == nil || !ps.LastPolledAt.Equal(clk.Now()) {
						t.Errorf("poll %d: last_polled_at %v, want %v", i, ps.LastPolledAt, clk.Now())
					}
					creds, err := s.AccountCredentials(ctx, acc)
					if err != nil || creds["token"] != fmt.Sprintf("t%d", i) {
						t.Errorf("poll %d: stored token %q (%v), want the refreshed t%d", i, creds["token"], err, i)
					}
				}
				// Nothing is due again before the interval has passed.
				if st, err := worker.Tick(ctx); err != nil || st.Claimed != 0 {
					t.Fatalf("poll %d: claimed %d before the interval (%v)", i, st.Claimed, err)
				}
				clk.Add(15 * time.Minute)
			}
			for _, id := range []int64{w.Account.ID, dropped.Account.ID} {
				acc, err := s.GetAccount(ctx, id)
				if err != nil || acc.Status != store.AccountActive {
					t.Fatalf("account %d: %q (%v), want active", id, acc.Status, err)
				}
			}
			if n := ingesttest.CountReadings(t, s); n != 1 {
				t.Fatalf("%d readings, want the first poll's 1", n)
			}
		})
	}
}
