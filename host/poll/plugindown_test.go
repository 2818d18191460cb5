package poll_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// downPoller is a provider's plugin handle while the plugin is not running: each call
// is refused before it reaches a plugin (pluginmgr.ErrNotCalled), until down is false.
type downPoller struct {
	down *atomic.Bool
	now  func() time.Time
}

func (p downPoller) PollReadings(_ context.Context, req sdk.PollRequest) (sdk.PollResult, error) {
	if p.down.Load() {
		return sdk.PollResult{}, fmt.Errorf("%w: acme is failed (%w)", pluginmgr.ErrUnavailable, pluginmgr.ErrNotCalled)
	}
	return sdk.PollResult{
		Readings:   []sdk.Reading{{ProviderDeviceID: "probe", Metric: "ph", Value: 7.3, RecordedAt: p.now().Add(-time.Minute)}},
		NextCursor: req.Cursor + "+",
	}, nil
}

func (downPoller) Description() (sdk.Description, bool) { return sdk.Description{}, false }

// TestPollResumesSoonAfterItsPluginIsBack: a provider's plugin is not running for six
// simulated hours (a crash loop the supervisor gave up on, until an operator's reload).
// Its accounts' polls are refused before they reach any plugin; they are failures (the
// account needs attention) but cost the provider nothing, so they do not back off past
// the poll interval: once the plugin is back, the account is polled within an interval,
// not hours later (the backoff grew to 2 h, and to 6 h for a longer outage), which for a
// provider that keeps only its last measure loses every measure in between.
func TestPollResumesSoonAfterItsPluginIsBack(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := ingesttest.NewClock()
			s := eng.Open(t, store.WithClock(clk.Now))
			w := ingesttest.Seed(t, s, "acme", "down@example.com", map[string]string{"api_key": "k"}, []string{"probe"}, nil)
			var down atomic.Bool
			down.Store(true)
			const iv = 15 * time.Minute
			providers := []config.Provider{{ID: "acme", Enabled: true, Poll: true, PollInterval: iv}}
			ing := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil)
			worker := poll.New(poll.Deps{
				Store: s, Ingest: ing,
				Pollers:   func(string) (poll.Poller, error) { return downPoller{&down, clk.Now}, nil },
				Providers: func() []config.Provider { return providers },
			}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: "poller", Now: clk.Now, Rand: func() float64 { return 0.5 }})

			const backAt = 6 * time.Hour
			var back time.Time
			failed := 0
			for at := time.Duration(0); at < backAt+3*time.Hour; at += time.Minute {
				if at == backAt {
					down.Store(false)
					back = clk.Now()
				}
				st, err := worker.Tick(ctx)
				if err != nil {
					t.Fatal(err)
				}
				failed += st.Failed
				if st.Succeeded > 0 {
					if waited := clk.Now().Sub(back); back.IsZero() || waited > iv {
						t.Fatalf("first poll %v after the plugin was back, want within the %v interval", waited, iv)
					}
					ps, _ := s.GetPollState(ctx, w.Account.ID)
					if ps.ConsecutiveErrors != 0 {
						t.Errorf("consecutive errors %d after a poll succeeded", ps.ConsecutiveErrors)
					}
					t.Logf("%d refused polls in the %v the plugin was down", failed, backAt)
					return
				}
				clk.Add(time.Minute)
			}
			t.Fatal("never polled again after the plugin was back")
		})
	}
}
