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

var pluginDir string

func TestMain(m *testing.M) { ingesttest.Main(m, &pluginDir) }

func TestPollWorker(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := ingesttest.NewClock()
			s := eng.Open(t, store.WithClock(clk.Now))
			at := clk.Now().Add(-time.Minute).Format(time.RFC3339)
			good := ingesttest.Seed(t, s, "faulty", "good@example.com", map[string]string{
				"device_id": "probe", "readings": fmt.Sprintf(`[{"metric": "ph", "value": "7.4", "recorded_at": %q}]`, at),
			}, []string{"probe"}, nil)
			flaky := ingesttest.Seed(t, s, "faulty", "flaky@example.com", map[string]string{"fail": "temporary"}, nil, nil)
			revoked := ingesttest.Seed(t, s, "faulty", "revoked@example.com", map[string]string{"fail": "reauth"}, nil, nil)

			cfg := ingesttest.Config(t, pluginDir, `poll = true
  poll_interval = "10m"`)
			mgr := ingesttest.StartManager(t, cfg, hclog.NewNullLogger())
			ing := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil)
			w := poll.New(poll.Deps{
				Store: s, Ingest: ing, Plugins: mgr, Providers: func() []config.Provider { return cfg.Providers },
			}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: "poller", Now: clk.Now, Rand: func() float64 { return 0.5 }})

			tick := func() poll.Stats {
				t.Helper()
				st, err := w.Tick(ctx)
				if err != nil {
					t.Fatalf("tick: %v", err)
				}
				return st
			}
			state := func(id int64) store.PollState {
				t.Helper()
				ps, err := s.GetPollState(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return ps
			}

			if st := tick(); st != (poll.Stats{Claimed: 3, Succeeded: 1, Failed: 1, Reauth: 1}) {
				t.Fatalf("first tick: %+v", st)
			}
			if n := ingesttest.CountReadings(t, s); n != 1 {
				t.Fatalf("%d readings, want 1", n)
			}
			ps := state(good.Account.ID)
			if ps.Cursor != "1" || !ps.NextPollAt.Equal(clk.Now().Add(10*time.Minute)) {
				t.Fatalf("good account: cursor %q next %v", ps.Cursor, ps.NextPollAt.Sub(clk.Now()))
			}
			creds, err := s.AccountCredentials(ctx, good.Account.ID)
			if err != nil || creds["token"] != "t1" {
				t.Fatalf("refreshed credentials not stored: %v %v", creds["token"], err)
			}
			if ps := state(flaky.Account.ID); ps.ConsecutiveErrors != 1 || ps.LastError == "" {
				t.Fatalf("flaky account: %+v", ps)
			}
			acc, err := s.GetAccount(ctx, revoked.Account.ID)
			if err != nil || acc.Status != store.AccountReauthRequired {
				t.Fatalf("revoked account status %q (%v), want reauth_required", acc.Status, err)
			}
			if ev := ingesttest.Audit(t, s, poll.ActionReauthRequired); len(ev) != 1 {
				t.Fatalf("%d reauth audit rows", len(ev))
			}

			// Nothing is due before the interval.
			if st := tick(); st.Claimed != 0 {
				t.Fatalf("claimed %d before the interval", st.Claimed)
			}
			clk.Add(10 * time.Minute)
			// The good account again (its reading is a duplicate now) and the flaky one;
			// the revoked account is no longer polled.
			if st := tick(); st != (poll.Stats{Claimed: 2, Succeeded: 1, Failed: 1}) {
				t.Fatalf("second round: %+v", st)
			}
			if n := ingesttest.CountReadings(t, s); n != 1 {
				t.Fatalf("%d readings after re-poll, want 1", n)
			}
			if ps := state(good.Account.ID); ps.Cursor != "2" {
				t.Fatalf("cursor %q, want 2", ps.Cursor)
			}
			// The flaky account backs off: 20m after its second error.
			if ps := state(flaky.Account.ID); ps.ConsecutiveErrors != 2 || !ps.NextPollAt.Equal(clk.Now().Add(20*time.Minute)) {
				t.Fatalf("flaky backoff: errors %d next %v", ps.ConsecutiveErrors, ps.NextPollAt.Sub(clk.Now()))
			}
		})
	}
}
