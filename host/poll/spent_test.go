package poll_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/host/store"
)

// TestPollFailureKeepsSpentCursor: a poll that spent requests of a per-user quota and
// then failed hands back its cursor with the spending recorded (sdk.WithNextCursor);
// the host stores it with the failure — temporary (backoff as usual) or reauth — so the
// next poll counts those requests. A failure without one keeps the cursor as it was,
// and one over the cursor cap is not stored (the failure still is).
func TestPollFailureKeepsSpentCursor(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := ingesttest.NewClock()
			s := eng.Open(t, store.WithClock(clk.Now))
			spent := ingesttest.Seed(t, s, "faulty", "spent@example.com", map[string]string{"fail": "spent_temporary"}, nil, nil)
			plain := ingesttest.Seed(t, s, "faulty", "plain@example.com", map[string]string{"fail": "temporary"}, nil, nil)
			revoked := ingesttest.Seed(t, s, "faulty", "revoked@example.com", map[string]string{"fail": "spent_reauth"}, nil, nil)
			huge := ingesttest.Seed(t, s, "faulty", "huge@example.com", map[string]string{"fail": "spent_temporary", "cursor_bytes": "2000000"}, nil, nil)

			cfg := ingesttest.Config(t, pluginDir, `poll = true
  poll_interval = "10m"`)
			mgr := ingesttest.StartManager(t, cfg, hclog.NewNullLogger())
			ing := ingest.New(s, ingest.Config{}, nil, nil)
			w := poll.New(poll.Deps{
				Store: s, Ingest: ing, Plugins: mgr, Providers: func() []config.Provider { return cfg.Providers },
			}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: "poller", Now: clk.Now, Rand: func() float64 { return 0.5 }})

			state := func(id int64) store.PollState {
				t.Helper()
				ps, err := s.GetPollState(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return ps
			}
			for round, want := range []string{"s", "ss"} {
				st, err := w.Tick(ctx)
				if err != nil {
					t.Fatal(err)
				}
				wantStats := poll.Stats{Claimed: 3, Failed: 3}
				if round == 0 {
					wantStats = poll.Stats{Claimed: 4, Failed: 3, Reauth: 1}
				}
				if st != wantStats {
					t.Fatalf("round %d: %+v, want %+v", round, st, wantStats)
				}
				ps := state(spent.Account.ID)
				if ps.Cursor != want || ps.ConsecutiveErrors != round+1 || !strings.Contains(ps.LastError, "after some requests") || ps.LeaseToken != "" {
					t.Fatalf("round %d: spent account's poll state %+v, want cursor %q, the failure recorded and the lease released", round, ps, want)
				}
				if ps := state(plain.Account.ID); ps.Cursor != "" || ps.ConsecutiveErrors != round+1 {
					t.Fatalf("round %d: plain failure's poll state %+v, want the cursor kept", round, ps)
				}
				if ps := state(huge.Account.ID); ps.Cursor != "" || ps.ConsecutiveErrors != round+1 || ps.LeaseToken != "" {
					t.Fatalf("round %d: oversized cursor's poll state: cursor of %d bytes, %d errors; want none stored, the failure recorded", round, len(ps.Cursor), ps.ConsecutiveErrors)
				}
				clk.Add(time.Hour)
			}
			if ps := state(revoked.Account.ID); ps.Cursor != "s" || ps.LastError == "" {
				t.Fatalf("reauth poll state %+v, want cursor \"s\" and the error", ps)
			}
			if acc, err := s.GetAccount(ctx, revoked.Account.ID); err != nil || acc.Status != store.AccountReauthRequired {
				t.Fatalf("revoked account %q (%v), want reauth_required", acc.Status, err)
			}
		})
	}
}
