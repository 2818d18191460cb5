package poll_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// during is a poller that runs fn while the call is with the plugin, then answers res.
type during struct {
	fn  func()
	res sdk.PollResult
	err error
}

func (d during) PollReadings(context.Context, sdk.PollRequest) (sdk.PollResult, error) {
	d.fn()
	return d.res, d.err
}

func (during) Description() (sdk.Description, bool) { return sdk.Description{}, false }

// TestDisconnectDuringAPoll: the owner disconnects the account while its poll is with
// the plugin, which then answers readings and refreshed tokens (or fails having
// refreshed them). Nothing of the answer outlives the disconnect: no reading, no
// credentials written back over the erased ones, no poll state re-made, and no further
// poll; the worker records it without a store error that would have it retried.
func TestDisconnectDuringAPoll(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		for _, answer := range []string{"readings", "failure"} {
			t.Run(eng.Name+"/"+answer, func(t *testing.T) {
				ctx := context.Background()
				clk := ingesttest.NewClock()
				s := eng.Open(t, store.WithClock(clk.Now))
				w := ingesttest.Seed(t, s, "acme", "gone@example.com", map[string]string{"access_token": "a0", "refresh_token": "r0"},
					[]string{"probe"}, nil)
				fresh := sdk.Credentials{"access_token": "a1", "refresh_token": "r1"}
				p := during{fn: func() {
					if _, err := s.DisconnectAccount(ctx, w.Account.ID); err != nil {
						t.Error(err)
					}
				}}
				if answer == "readings" {
					p.res = sdk.PollResult{
						Readings:             []sdk.Reading{{ProviderDeviceID: "probe", Metric: "ph", Value: 7.3, RecordedAt: clk.Now().Add(-time.Minute)}},
						NextCursor:           "c1",
						RefreshedCredentials: fresh,
					}
				} else {
					p.err = sdk.WithRefreshedCredentials(sdk.Temporary("upstream 503"), fresh)
				}
				providers := []config.Provider{{ID: "acme", Enabled: true, Poll: true, PollInterval: 15 * time.Minute}}
				ing := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil)
				worker := poll.New(poll.Deps{
					Store: s, Ingest: ing,
					Pollers:   func(string) (poll.Poller, error) { return p, nil },
					Providers: func() []config.Provider { return providers },
				}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: "poller", Now: clk.Now, Rand: func() float64 { return 0.5 }})

				st, err := worker.Tick(ctx)
				if err != nil || st.Claimed != 1 || st.StoreErrors != 0 {
					t.Fatalf("tick: %+v %v", st, err)
				}
				if n := ingesttest.CountReadings(t, s); n != 0 {
					t.Errorf("%d readings stored for an account disconnected mid-poll", n)
				}
				acc, err := s.GetAccount(ctx, w.Account.ID)
				if err != nil || acc.Status != store.AccountDisconnected {
					t.Errorf("account %q (%v), want disconnected", acc.Status, err)
				}
				if creds, err := s.AccountCredentials(ctx, w.Account.ID); err == nil && len(creds) > 0 {
					t.Errorf("credentials %v written back after the disconnect", creds)
				}
				if ps, err := s.GetPollState(ctx, w.Account.ID); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("poll state after the disconnect: %+v %v, want none", ps, err)
				}
				for range 4 {
					clk.Add(time.Hour)
					if st, err := worker.Tick(ctx); err != nil || st != (poll.Stats{}) {
						t.Fatalf("tick after the disconnect: %+v %v, want nothing to do", st, err)
					}
				}
			})
		}
	}
}
