package poll_test

import (
	"context"
	"fmt"
	"net/http"
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
			worker := iopoolWorker(t, bin, fake.URL, s, clk)

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

// iopoolWorker is a poll worker on clk polling iopool every 5 minutes through the real
// plugin binary bin, pointed at the fake at baseURL.
func iopoolWorker(t *testing.T, bin, baseURL string, s *store.Store, clk *ingesttest.Clock) *poll.Worker {
	t.Helper()
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
`, filepath.Dir(bin), bin, baseURL)))
	if err != nil {
		t.Fatal(err)
	}
	mgr := ingesttest.StartManager(t, cfg, hclog.NewNullLogger())
	ing := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 7 * 24 * time.Hour}, nil, nil)
	return poll.New(poll.Deps{
		Store: s, Ingest: ing, Plugins: mgr, Providers: func() []config.Provider { return cfg.Providers },
	}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: "poller", Now: clk.Now, Rand: func() float64 { return 0.5 }})
}

// An iopool answering 429 with a Retry-After of an hour, through the real plugin binary:
// the account is not polled again before that hour is over (the error backoff alone would
// have come back after 5 minutes, to be refused again), then polls as usual.
func TestIopoolBinaryHonoursRetryAfter(t *testing.T) {
	bin := sdktest.BuildBinary(t, "github.com/poolhost/poolhost/plugins/iopool/cmd/poolhost-provider-iopool")
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := ingesttest.NewClock()
			s := eng.Open(t, store.WithClock(clk.Now))
			fake := iopooltest.NewServer(t)
			m := *fake.Pools()[0].LatestMeasure
			m.MeasuredAt = clk.Now().Add(-10 * time.Minute).Format("2006-01-02T15:04:05.000Z")
			fake.SetLatestMeasure(iopooltest.SamplePoolID, &m)
			w := ingesttest.Seed(t, s, "iopool", "quota@example.com", map[string]string{"api_key": iopooltest.APIKey},
				[]string{iopooltest.SamplePoolID}, nil)
			worker := iopoolWorker(t, bin, fake.URL, s, clk)

			fake.SetStatus(http.StatusTooManyRequests)
			fake.SetRetryAfter("3600")
			if st, err := worker.Tick(ctx); err != nil || st != (poll.Stats{Claimed: 1, Failed: 1}) {
				t.Fatalf("refused poll: %+v %v", st, err)
			}
			ps, err := s.GetPollState(ctx, w.Account.ID)
			if err != nil {
				t.Fatal(err)
			}
			if wait := ps.NextPollAt.Sub(clk.Now()); wait < time.Hour {
				t.Fatalf("next poll in %v after a Retry-After of 1h (last error %q)", wait, ps.LastError)
			}
			fake.SetStatus(0)
			for range 11 { // every 5 minutes, within the hour: not due
				clk.Add(5 * time.Minute)
				if st, err := worker.Tick(ctx); err != nil || st.Claimed != 0 {
					t.Fatalf("polled again %v after the refusal: %+v %v", clk.Now().Sub(ps.UpdatedAt), st, err)
				}
			}
			clk.Add(5 * time.Minute)
			if st, err := worker.Tick(ctx); err != nil || st != (poll.Stats{Claimed: 1, Succeeded: 1}) {
				t.Fatalf("poll after the hour: %+v %v", st, err)
			}
			if n := ingesttest.CountReadings(t, s); n != 3 {
				t.Fatalf("%d readings, want the measure's 3", n)
			}
			if got := len(fake.Requests()); got != 2 {
				t.Errorf("%d requests to iopool, want 2 (the refused one and the next)", got)
			}
		})
	}
}
