package poll_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/plugins/ondilo/ondilotest"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// Three polls of one Ondilo account through the real plugin binary: the first stores the
// latest measures; before the second the access token has expired, so the plugin
// refreshes it, and the fake — like a provider with rotating refresh tokens — revokes
// the old pair; the second and third find nothing new. The third poll works only if
// the host stored the pair the quiet second poll brought back.
func TestOndiloBinaryQuietPollsKeepRotatedTokens(t *testing.T) {
	bin := sdktest.BuildBinary(t, "github.com/poolhost/poolhost/plugins/ondilo/cmd/poolhost-provider-ondilo")
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := ingesttest.NewClock()
			s := eng.Open(t, store.WithClock(clk.Now))

			fake := ondilotest.NewServer(t)
			fake.RotateRefreshTokens()
			// Two hours old: the next measure is overdue, so the plugin gives no
			// NotBefore and every poll is due again after the 15-minute interval.
			at := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second).Format("2006-01-02 15:04:05")
			v := func(f float64) *float64 { return &f }
			fake.SetMeasures(234, []ondilotest.Measure{
				{DataType: "ph", Value: v(7.3), ValueTime: at, IsValid: true},
				{DataType: "orp", Value: v(700), ValueTime: at, IsValid: true},
			})
			access, refresh := fake.IssueTokens()
			w := ingesttest.Seed(t, s, "ondilo", "ico@example.com", map[string]string{
				"access_token": access, "refresh_token": refresh,
			}, []string{"111112222233333444445555"}, nil)

			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "creds.key"), []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse(filepath.Join(dir, "poolhost.hcl"), []byte(fmt.Sprintf(`
database_url    = "sqlite:unused.db"
credentials_key = file("creds.key")
plugin_dir      = %q
provider "ondilo" {
  binary        = %q
  poll          = true
  poll_interval = "15m"
  settings      = { base_url = %q }
}
`, filepath.Dir(bin), bin, fake.URL)))
			if err != nil {
				t.Fatal(err)
			}
			mgr := ingesttest.StartManager(t, cfg, hclog.NewNullLogger())
			ing := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil)
			worker := poll.New(poll.Deps{
				Store: s, Ingest: ing, Plugins: mgr, Providers: func() []config.Provider { return cfg.Providers },
			}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: "poller", Now: clk.Now, Rand: func() float64 { return 0.5 }})

			for i := 1; i <= 3; i++ {
				if i == 2 {
					fake.ExpireAccessTokens()
				}
				st, err := worker.Tick(ctx)
				if err != nil || st != (poll.Stats{Claimed: 1, Succeeded: 1}) {
					ps, _ := s.GetPollState(ctx, w.Account.ID)
					t.Fatalf("poll %d: %+v %v (last error %q)", i, st, err, ps.LastError)
				}
				ps, err := s.GetPollState(ctx, w.Account.ID)
				if err != nil {
					t.Fatal(err)
				}
				if ps.LeaseOwner != "" || !ps.NextPollAt.Equal(clk.Now().Add(15*time.Minute)) ||
					ps.LastPolledAt == nil || !ps.LastPolledAt.Equal(clk.Now()) || ps.Cursor == "" {
					t.Fatalf("poll %d not recorded: lease %q, next in %v, last polled %v, cursor %q",
						i, ps.LeaseOwner, ps.NextPollAt.Sub(clk.Now()), ps.LastPolledAt, ps.Cursor)
				}
				if n := ingesttest.CountReadings(t, s); n != 2 {
					t.Fatalf("poll %d: %d readings, want the first poll's 2", i, n)
				}
				clk.Add(15 * time.Minute)
			}
			if fake.TokenRequests("refresh_token") != 1 {
				t.Fatalf("%d refreshes, want 1", fake.TokenRequests("refresh_token"))
			}
			creds, err := s.AccountCredentials(ctx, w.Account.ID)
			if err != nil || creds["refresh_token"] == refresh || creds["access_token"] == access {
				t.Fatalf("stored credentials still the revoked pair (%v)", err)
			}
			acc, err := s.GetAccount(ctx, w.Account.ID)
			if err != nil || acc.Status != store.AccountActive {
				t.Fatalf("account %q (%v), want active", acc.Status, err)
			}
		})
	}
}
