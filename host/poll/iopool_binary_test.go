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
	"github.com/poolhost/poolhost/plugins/iopool/iopooltest"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// iopoolSoakHours is how long the soak polls, in simulated hours.
const iopoolSoakHours = 12

// One iopool account through the real plugin binary over twelve simulated hours, polled
// every five minutes: its EcO measures once an hour, so eleven polls in twelve find
// nothing new, and its second pool's sensor has never measured (no latestMeasure, as the
// documentation allows). Every poll succeeds and is recorded as such, each hourly
// measure is stored exactly once, and the quiet polls store nothing, fail nothing and
// leave the cursor where the last measure put it.
func TestIopoolBinaryQuietSoak(t *testing.T) {
	bin := sdktest.BuildBinary(t, "github.com/poolhost/poolhost/plugins/iopool/cmd/poolhost-provider-iopool")
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := ingesttest.NewClock()
			clk.Add(clk.Now().Truncate(time.Hour).Add(time.Hour).Sub(clk.Now()))
			start := clk.Now()
			s := eng.Open(t, store.WithClock(clk.Now))

			fake := iopooltest.NewServer(t)
			sample := fake.Pools()[0]
			fresh := iopooltest.Pool{ID: "5e1f3b7a-0c4d-4e8f-9a2b-6c7d8e9f0a1b", Title: "Spa", Mode: "INITIALIZATION"}
			measure := func(k int) {
				m := *sample.LatestMeasure
				m.Temperature, m.PH, m.ORP = iopooltest.Float(24+float64(k)/10), iopooltest.Float(7.2+float64(k%5)/100), iopooltest.Float(650+float64(k))
				m.Mode, m.MeasuredAt = "standard", start.Add(time.Duration(k)*time.Hour+33*time.Minute).Format("2006-01-02T15:04:05.000Z")
				p := sample
				p.LatestMeasure = &m
				fake.SetPools([]iopooltest.Pool{p, fresh})
			}
			measure(-1)

			w := ingesttest.Seed(t, s, "iopool", "eco@example.com", map[string]string{"api_key": iopooltest.APIKey},
				[]string{sample.ID, fresh.ID}, nil)
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "creds.key"), []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse(filepath.Join(dir, "poolhost.hcl"), []byte(fmt.Sprintf(`
database_url    = "sqlite:unused.db"
credentials_key = file("creds.key")
plugin_dir      = %q
provider "iopool" {
  binary        = %q
  poll          = true
  poll_interval = "5m"
  settings      = { base_url = %q }
}
`, filepath.Dir(bin), bin, fake.URL)))
			if err != nil {
				t.Fatal(err)
			}
			mgr := ingesttest.StartManager(t, cfg, hclog.NewNullLogger())
			ing := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 7 * 24 * time.Hour}, nil, nil)
			worker := poll.New(poll.Deps{
				Store: s, Ingest: ing, Plugins: mgr, Providers: func() []config.Provider { return cfg.Providers },
			}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: "poller", Now: clk.Now, Rand: func() float64 { return 0.5 }})

			polls, cursorMoves := 0, 0
			var lastCursor string
			for m := 0; m < iopoolSoakHours*60; m++ {
				if m%60 == 33 {
					measure(m / 60)
				}
				st, err := worker.Tick(ctx)
				if err != nil || st.Failed+st.Reauth+st.LeaseLost+st.StoreErrors > 0 {
					ps, _ := s.GetPollState(ctx, w.Account.ID)
					t.Fatalf("minute %d: %+v %v (last error %q)", m, st, err, ps.LastError)
				}
				if st.Succeeded > 0 {
					polls++
					ps, err := s.GetPollState(ctx, w.Account.ID)
					if err != nil {
						t.Fatal(err)
					}
					if ps.LeaseOwner != "" || ps.ConsecutiveErrors != 0 || ps.LastError != "" ||
						!ps.NextPollAt.Equal(clk.Now().Add(5*time.Minute)) || ps.LastPolledAt == nil || !ps.LastPolledAt.Equal(clk.Now()) {
						t.Fatalf("minute %d: poll not recorded as a success: %+v", m, ps)
					}
					if ps.Cursor != lastCursor {
						cursorMoves++
						lastCursor = ps.Cursor
					}
				}
				clk.Add(time.Minute)
			}
			if want := iopoolSoakHours * 12; polls != want {
				t.Errorf("%d polls, want %d (one every 5 minutes)", polls, want)
			}
			// The first poll returns the measure taken before the soak; each hour adds one.
			if want := iopoolSoakHours + 1; cursorMoves != want {
				t.Errorf("cursor moved %d times, want %d (once per new measure)", cursorMoves, want)
			}
			if n, want := ingesttest.CountReadings(t, s), 3*(iopoolSoakHours+1); n != want {
				t.Errorf("%d readings stored, want %d (3 metrics of each hourly measure, once)", n, want)
			}
			acc, err := s.GetAccount(ctx, w.Account.ID)
			if err != nil || acc.Status != store.AccountActive {
				t.Fatalf("account %q (%v), want active", acc.Status, err)
			}
		})
	}
}
