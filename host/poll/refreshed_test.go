package poll_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/host/store"
)

// TestPollFailureKeepsRefreshedCredentials: a poll that rotated the account's tokens and
// then failed (503 after the refresh) stores the rotated tokens, encrypted, and still
// records the failure with its backoff; the next poll uses them.
func TestPollFailureKeepsRefreshedCredentials(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := ingesttest.NewClock()
			s := eng.Open(t, store.WithClock(clk.Now))
			rotating := ingesttest.Seed(t, s, "faulty", "rotating@example.com",
				map[string]string{"fail": "refreshed_temporary", "token": "t"}, nil, nil)

			cfg := ingesttest.Config(t, pluginDir, `poll = true
  poll_interval = "10m"`)
			mgr := ingesttest.StartManager(t, cfg, hclog.NewNullLogger())
			ing := ingest.New(s, ingest.Config{}, nil, nil)
			w := poll.New(poll.Deps{
				Store: s, Ingest: ing, Plugins: mgr, Providers: func() []config.Provider { return cfg.Providers },
			}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: "poller", Now: clk.Now, Rand: func() float64 { return 0.5 }})

			for round, want := range []string{"t+", "t++"} {
				st, err := w.Tick(ctx)
				if err != nil || st != (poll.Stats{Claimed: 1, Failed: 1}) {
					t.Fatalf("round %d: %+v, %v; want one failed poll", round, st, err)
				}
				creds, err := s.AccountCredentials(ctx, rotating.Account.ID)
				if err != nil || creds["token"] != want {
					t.Fatalf("round %d: stored token %q (%v), want the rotated %q", round, creds["token"], err, want)
				}
				ps, err := s.GetPollState(ctx, rotating.Account.ID)
				if err != nil || ps.ConsecutiveErrors != round+1 || ps.LastError == "" || ps.LeaseToken != "" {
					t.Fatalf("round %d: poll state %+v (%v), want the failure recorded and the lease released", round, ps, err)
				}
				clk.Add(time.Hour)
			}
			// Stored sealed, not in clear.
			var raw []byte
			if err := s.DB().Get(&raw, s.DB().Rebind(`SELECT credentials_ciphertext FROM integration_accounts WHERE id = ?`), rotating.Account.ID); err != nil {
				t.Fatal(err)
			}
			if len(raw) == 0 || bytes.Contains(raw, []byte("t++")) {
				t.Fatalf("credentials stored in clear: %q", raw)
			}
		})
	}
}
