package poll_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// heldPoller is an in-process plugin of provider "held": a poll it holds waits for the
// worker's context to end (a replica's drain, a reload) and fails with it, handing back
// the tokens it refreshed meanwhile; any other poll answers one reading and moves the
// cursor on by a "+", refreshing the token the same way.
type heldPoller struct {
	clk  *ingesttest.Clock
	held chan struct{} // one send per poll held

	mu     sync.Mutex
	hold   int      // polls still to hold
	tokens []string // the token each poll started with
}

func (p *heldPoller) Description() (sdk.Description, bool) { return sdk.Description{}, false }

func (p *heldPoller) PollReadings(ctx context.Context, req sdk.PollRequest) (sdk.PollResult, error) {
	token := req.Account.Credentials["token"]
	fresh := sdk.Credentials{"token": token + "+"}
	p.mu.Lock()
	p.tokens = append(p.tokens, token)
	hold := p.hold > 0
	p.hold--
	p.mu.Unlock()
	if hold {
		p.held <- struct{}{}
		<-ctx.Done()
		return sdk.PollResult{}, sdk.WithRefreshedCredentials(ctx.Err(), fresh)
	}
	return sdk.PollResult{
		Readings:             []sdk.Reading{{ProviderDeviceID: "probe", Metric: "ph", Value: 7.4, RecordedAt: p.clk.Now().Add(-time.Minute)}},
		NextCursor:           req.Cursor + "+",
		RefreshedCredentials: fresh,
	}, nil
}

// cutInTx stops the worker (cancels its context) when ingestion opens its transaction,
// then runs the transaction (how), or fails it: not run at all (the store did not take
// the write within its bound), or run and committed, its reply lost.
type cutInTx struct {
	ingest.Store
	cancel context.CancelFunc
	how    txAfterStop
}

type txAfterStop int

const (
	txRuns txAfterStop = iota
	txNotRun
	txReplyLost
)

func (s cutInTx) InTx(ctx context.Context, fn func(tx *store.Tx) error) error {
	s.cancel()
	switch s.how {
	case txNotRun:
		return context.DeadlineExceeded
	case txReplyLost:
		if err := s.Store.InTx(ctx, fn); err != nil {
			return err
		}
		return context.DeadlineExceeded
	}
	return s.Store.InTx(ctx, fn)
}

type releaseEnv struct {
	clk     *ingesttest.Clock
	s       *store.Store
	account int64
	poller  *heldPoller
	reg     *prometheus.Registry
	// grace is the workers' StopGrace: none unless a test gives some, so a held poll
	// is cut short at the stop.
	grace time.Duration
}

const releaseInterval = 10 * time.Minute

func newReleaseEnv(t *testing.T, eng ingesttest.Engine) *releaseEnv {
	t.Helper()
	clk := ingesttest.NewClock()
	s := eng.Open(t, store.WithClock(clk.Now))
	w := ingesttest.Seed(t, s, "held", "held@example.com", map[string]string{"token": "t"}, []string{"probe"}, nil)
	return &releaseEnv{clk: clk, s: s, account: w.Account.ID, reg: prometheus.NewRegistry(),
		poller: &heldPoller{clk: clk, held: make(chan struct{}, 1)}}
}

// worker is a poll worker of owner on e's store, polling through e's poller; wrap, when
// set, wraps the store its ingestion writes through.
func (e *releaseEnv) worker(owner string, wrap func(ingest.Store) ingest.Store) *poll.Worker {
	return e.workerOn(e.s, owner, wrap)
}

// workerOn is worker with st as the worker's own store.
func (e *releaseEnv) workerOn(st poll.Store, owner string, wrap func(ingest.Store) ingest.Store) *poll.Worker {
	var is ingest.Store = e.s
	if wrap != nil {
		is = wrap(is)
	}
	providers := []config.Provider{{ID: "held", Enabled: true, Poll: true, PollInterval: releaseInterval}}
	return poll.New(poll.Deps{
		Store:      st,
		Ingest:     ingest.New(is, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil),
		Pollers:    func(string) (poll.Poller, error) { return e.poller, nil },
		Providers:  func() []config.Provider { return providers },
		Registerer: e.reg,
	}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: owner, Now: e.clk.Now, Rand: func() float64 { return 0.5 },
		StopGrace: func() time.Duration { return e.grace }})
}

func (e *releaseEnv) state(t *testing.T) store.PollState {
	t.Helper()
	ps, err := e.s.GetPollState(context.Background(), e.account)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func (e *releaseEnv) token(t *testing.T) string {
	t.Helper()
	creds, err := e.s.AccountCredentials(context.Background(), e.account)
	if err != nil {
		t.Fatal(err)
	}
	return creds["token"]
}

// cutShortPoll runs one tick of w that stops while e's poller holds its poll, after
// during has run, and returns its stats.
func (e *releaseEnv) cutShortPoll(t *testing.T, w *poll.Worker, during func()) poll.Stats {
	t.Helper()
	e.poller.mu.Lock()
	e.poller.hold = 1
	e.poller.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan poll.Stats)
	go func() {
		st, _ := w.Tick(ctx) // a stopped tick's error is its context's
		done <- st
	}()
	select {
	case <-e.poller.held:
	case <-time.After(30 * time.Second):
		t.Fatal("no poll began within 30 s")
	}
	during()
	cancel()
	return <-done
}

// TestStoppedPollWorkerReleases: a poll worker stopped mid-poll, whose plugin call
// outlives its grace or whose answer the store does not take, hands the account back at
// once, with the tokens the plugin refreshed stored, and another worker polls it from
// the same cursor without waiting for the lease; a worker whose lease another took over
// meanwhile hands back nothing; a poll whose transaction committed is not handed back,
// its cursor not moved back. A poll whose answer arrived is stored past the stop.
func TestStoppedPollWorkerReleases(t *testing.T) {
	ctx := context.Background()
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			t.Run("plugin call outlives its grace: handed back at once, refreshed tokens kept", func(t *testing.T) {
				e := newReleaseEnv(t, eng)
				before := e.state(t)
				st := e.cutShortPoll(t, e.worker("poller-a", nil), func() {
					if got := e.state(t); got.LeaseOwner != "poller-a" {
						t.Errorf("while the poll is held: lease of %q", got.LeaseOwner)
					}
				})
				if st != (poll.Stats{Claimed: 1, Released: 1}) {
					t.Fatalf("stopped tick: %+v, want 1 claimed and released", st)
				}
				if v := pollEventsTotal(t, e.reg, "released"); v != 1 {
					t.Errorf("released events = %v, want 1", v)
				}
				got := e.state(t)
				if got.LeaseOwner != "" || got.LeaseToken != "" || got.LeaseExpiresAt != nil || got.Cursor != before.Cursor ||
					!got.NextPollAt.Equal(before.NextPollAt) || got.ConsecutiveErrors != 0 || got.LastError != "" {
					t.Fatalf("released state = %+v, want it as before the claim: %+v", got, before)
				}
				if tok := e.token(t); tok != "t+" {
					t.Fatalf("stored token %q, want the one refreshed by the cut-short poll", tok)
				}
				// Another replica polls it on its next tick, the clock (and so the lease)
				// unmoved, from the same cursor, with the refreshed token.
				if st, err := e.worker("poller-b", nil).Tick(ctx); err != nil || st != (poll.Stats{Claimed: 1, Succeeded: 1}) {
					t.Fatalf("next worker's tick: %+v, %v; want 1 claimed and succeeded", st, err)
				}
				if got := e.state(t); got.Cursor != before.Cursor+"+" || !got.NextPollAt.Equal(e.clk.Now().Add(releaseInterval)) {
					t.Fatalf("state after b's poll = %+v", got)
				}
				if n := ingesttest.CountReadings(t, e.s); n != 1 {
					t.Fatalf("%d readings, want 1", n)
				}
				if e.poller.tokens[1] != "t+" || e.token(t) != "t++" {
					t.Fatalf("b polled with %q, stored %q; want t+, then t++", e.poller.tokens[1], e.token(t))
				}
			})

			t.Run("stopped as the answer is stored: stored all the same", func(t *testing.T) {
				e := newReleaseEnv(t, eng)
				before := e.state(t)
				stop, cancel := context.WithCancel(ctx)
				defer cancel()
				w := e.worker("poller-a", func(s ingest.Store) ingest.Store { return cutInTx{Store: s, cancel: cancel, how: txRuns} })
				if st, _ := w.Tick(stop); st != (poll.Stats{Claimed: 1, Succeeded: 1}) {
					t.Fatalf("stopped tick: %+v, want 1 claimed and succeeded", st)
				}
				if got := e.state(t); got.LeaseToken != "" || got.Cursor != before.Cursor+"+" || got.ConsecutiveErrors != 0 {
					t.Fatalf("state = %+v, want the poll committed", got)
				}
				if n := ingesttest.CountReadings(t, e.s); n != 1 {
					t.Fatalf("%d readings, want 1", n)
				}
				if tok := e.token(t); tok != "t+" {
					t.Fatalf("stored token %q, want t+", tok)
				}
			})

			t.Run("store does not take the answer after the stop: handed back at once, refreshed tokens kept", func(t *testing.T) {
				e := newReleaseEnv(t, eng)
				before := e.state(t)
				stop, cancel := context.WithCancel(ctx)
				defer cancel()
				w := e.worker("poller-a", func(s ingest.Store) ingest.Store { return cutInTx{Store: s, cancel: cancel, how: txNotRun} })
				if st, _ := w.Tick(stop); st != (poll.Stats{Claimed: 1, Released: 1}) {
					t.Fatalf("stopped tick: %+v, want 1 claimed and released", st)
				}
				if got := e.state(t); got.LeaseToken != "" || got.Cursor != before.Cursor || !got.NextPollAt.Equal(before.NextPollAt) ||
					got.ConsecutiveErrors != 0 {
					t.Fatalf("released state = %+v, want it as before the claim: %+v", got, before)
				}
				if n := ingesttest.CountReadings(t, e.s); n != 0 {
					t.Fatalf("%d readings stored by a cut-short write", n)
				}
				if tok := e.token(t); tok != "t+" {
					t.Fatalf("stored token %q, want the one refreshed by the cut-short poll", tok)
				}
				if st, err := e.worker("poller-b", nil).Tick(ctx); err != nil || st != (poll.Stats{Claimed: 1, Succeeded: 1}) {
					t.Fatalf("next worker's tick: %+v, %v; want 1 claimed and succeeded", st, err)
				}
			})

			t.Run("stopped before the plugin call: not called, handed back", func(t *testing.T) {
				e := newReleaseEnv(t, eng)
				e.grace = time.Hour
				before := e.state(t)
				stop, cancel := context.WithCancel(ctx)
				defer cancel()
				w := e.workerOn(stopAtCredentials{Store: e.s, cancel: cancel}, "poller-a", nil)
				if st, _ := w.Tick(stop); st != (poll.Stats{Claimed: 1, Released: 1}) {
					t.Fatalf("stopped tick: %+v, want 1 claimed and released", st)
				}
				if len(e.poller.tokens) != 0 {
					t.Fatalf("the plugin was called %d times after the stop", len(e.poller.tokens))
				}
				if got := e.state(t); got.LeaseToken != "" || got.Cursor != before.Cursor || !got.NextPollAt.Equal(before.NextPollAt) {
					t.Fatalf("released state = %+v, want it as before the claim: %+v", got, before)
				}
			})

			t.Run("lease taken over: nothing handed back", func(t *testing.T) {
				e := newReleaseEnv(t, eng)
				var taken store.PollState
				st := e.cutShortPoll(t, e.worker("poller-a", nil), func() {
					// a stalls past its lease: b claims the account.
					e.clk.Add(config.DefaultPollWorker.Lease + time.Second)
					c, err := e.s.ClaimDuePolls(ctx, []string{"held"}, "poller-b", 1, time.Minute)
					if err != nil || len(c) != 1 {
						t.Fatalf("b's claim: %+v, %v", c, err)
					}
					taken = c[0]
				})
				if st != (poll.Stats{Claimed: 1}) {
					t.Fatalf("stopped tick: %+v, want 1 claimed, nothing released", st)
				}
				got := e.state(t)
				if got.LeaseOwner != "poller-b" || got.LeaseToken != taken.LeaseToken || got.LeaseExpiresAt == nil ||
					!got.LeaseExpiresAt.Equal(*taken.LeaseExpiresAt) {
					t.Fatalf("state after a's release = %+v, want b's claim untouched: %+v", got, taken)
				}
				if err := e.s.CompletePoll(ctx, e.account, taken.Lease(), "b", e.clk.Now().Add(releaseInterval)); err != nil {
					t.Fatalf("b completes: %v", err)
				}
			})

			t.Run("committed poll: not handed back, cursor kept", func(t *testing.T) {
				e := newReleaseEnv(t, eng)
				before := e.state(t)
				stop, cancel := context.WithCancel(ctx)
				defer cancel()
				w := e.worker("poller-a", func(s ingest.Store) ingest.Store {
					return cutInTx{Store: s, cancel: cancel, how: txReplyLost}
				})
				if st, _ := w.Tick(stop); st != (poll.Stats{Claimed: 1}) {
					t.Fatalf("stopped tick: %+v, want 1 claimed, nothing released", st)
				}
				got := e.state(t)
				if got.LeaseToken != "" || got.Cursor != before.Cursor+"+" || !got.NextPollAt.Equal(e.clk.Now().Add(releaseInterval)) ||
					got.ConsecutiveErrors != 0 {
					t.Fatalf("state = %+v, want the committed poll's cursor and next poll", got)
				}
				if n := ingesttest.CountReadings(t, e.s); n != 1 {
					t.Fatalf("%d readings, want the committed one", n)
				}
				if tok := e.token(t); tok != "t+" {
					t.Fatalf("stored token %q, want t+", tok)
				}
				// Not due again: nobody polls it before its interval.
				if st, err := e.worker("poller-b", nil).Tick(ctx); err != nil || st != (poll.Stats{}) {
					t.Fatalf("next worker's tick: %+v, %v; want nothing due", st, err)
				}
			})
		})
	}
}

// stopAtCredentials stops the worker (cancels its context) once the account's
// credentials are read: just before the plugin call.
type stopAtCredentials struct {
	poll.Store
	cancel context.CancelFunc
}

func (s stopAtCredentials) AccountCallCredentials(ctx context.Context, accountID int64) (store.CallCredentials, error) {
	creds, err := s.Store.AccountCallCredentials(ctx, accountID)
	s.cancel()
	return creds, err
}

// pollEventsTotal is the poll worker's events counter of one event.
func pollEventsTotal(t *testing.T, reg *prometheus.Registry, event string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != "poolhost_poll_worker_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "event" && l.GetValue() == event {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no poolhost_poll_worker_events_total{event=%q}", event)
	return 0
}
