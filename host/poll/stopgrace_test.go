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
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/host/store"
)

// graceEnv is one account of the faulty plugin, run as its own process, whose tokens
// rotate like Ondilo's (a poll answers "t" + its new cursor, and a later poll with any
// other token is refused as reauth), and whose polls wait while hold exists.
type graceEnv struct {
	clk     *ingesttest.Clock
	s       *store.Store
	mgr     *pluginmgr.Manager
	cfg     *config.Config
	account int64
	hold    string
}

const graceInterval = 10 * time.Minute

func newGraceEnv(t *testing.T, eng ingesttest.Engine) *graceEnv {
	t.Helper()
	clk := ingesttest.NewClock()
	s := eng.Open(t, store.WithClock(clk.Now))
	at := clk.Now().Add(-time.Minute).Format(time.RFC3339)
	w := ingesttest.Seed(t, s, "faulty", "held@example.com", map[string]string{
		"device_id": "probe", "rotating": "yes", "token": "t0",
		"readings": fmt.Sprintf(`[{"metric": "ph", "value": "7.4", "recorded_at": %q}, {"metric": "orp", "value": "650", "recorded_at": %q}]`, at, at),
	}, []string{"probe"}, nil)
	hold := filepath.Join(t.TempDir(), "hold")
	cfg := ingesttest.Config(t, pluginDir, fmt.Sprintf(`poll = true
  poll_interval = "10m"
  settings = { hold_file = %q }`, hold))
	return &graceEnv{clk: clk, s: s, mgr: ingesttest.StartManager(t, cfg, hclog.NewNullLogger()), cfg: cfg, account: w.Account.ID, hold: hold}
}

// worker is a poll worker of owner through the plugin process, with grace as its
// StopGrace.
func (e *graceEnv) worker(owner string, grace time.Duration) *poll.Worker {
	return poll.New(poll.Deps{
		Store: e.s, Ingest: ingest.New(e.s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil),
		Plugins: e.mgr, Providers: func() []config.Provider { return e.cfg.Providers },
	}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: owner, Now: e.clk.Now, Rand: func() float64 { return 0.5 },
		StopGrace: func() time.Duration { return grace }})
}

// heldTick runs one tick of w whose poll the plugin holds, stops the worker once the
// plugin is in the call, then lets the plugin answer if answer, and returns the tick's
// stats.
func (e *graceEnv) heldTick(t *testing.T, w *poll.Worker, answer bool) poll.Stats {
	t.Helper()
	if err := os.WriteFile(e.hold, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan poll.Stats, 1)
	go func() {
		st, _ := w.Tick(ctx) // a stopped tick's error is its context's
		done <- st
	}()
	deadline := time.Now().Add(30 * time.Second)
	for _, err := os.Stat(e.hold + ".polling"); err != nil; _, err = os.Stat(e.hold + ".polling") {
		if time.Now().After(deadline) {
			t.Fatal("the plugin was not polled within 30 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop() // SIGTERM, with the call in flight at the plugin
	if answer {
		if err := os.Remove(e.hold); err != nil {
			t.Fatal(err)
		}
	}
	st := <-done
	if !answer {
		if err := os.Remove(e.hold); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(e.hold + ".polling"); err != nil {
		t.Fatal(err)
	}
	return st
}

func (e *graceEnv) state(t *testing.T) (store.PollState, string) {
	t.Helper()
	ps, err := e.s.GetPollState(context.Background(), e.account)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := e.s.AccountCredentials(context.Background(), e.account)
	if err != nil {
		t.Fatal(err)
	}
	return ps, creds["token"]
}

// tick runs one tick of w that must poll the account successfully.
func (e *graceEnv) tick(t *testing.T, w *poll.Worker) {
	t.Helper()
	if st, err := w.Tick(context.Background()); err != nil || st != (poll.Stats{Claimed: 1, Succeeded: 1}) {
		t.Fatalf("tick of %s: %+v, %v; want 1 claimed and succeeded", w.Owner(), st, err)
	}
}

// TestStoppedPollCallAnswers: over the plugin's gRPC, a poll call in flight when the
// worker stops (SIGTERM, a reload) is let answer within its grace, and its answer is
// stored as any other: the rotated token, the readings once, the new cursor. Cut short
// at the stop, as it was, the call answered nothing, and the token the plugin rotated in
// it was lost: the account stayed on a dead refresh token. A call that outlives its
// grace is cut short and the account handed back, with what earlier polls stored
// intact; the next owner polls it from the same cursor, storing no reading twice.
func TestStoppedPollCallAnswers(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			t.Run("answers within its grace: stored as usual", func(t *testing.T) {
				e := newGraceEnv(t, eng)
				if st := e.heldTick(t, e.worker("poller-a", time.Hour), true); st != (poll.Stats{Claimed: 1, Succeeded: 1}) {
					t.Fatalf("stopped tick: %+v, want the held poll answered and stored", st)
				}
				ps, token := e.state(t)
				if token != "t1" || ps.Cursor != "1" || ps.LeaseToken != "" || ps.ConsecutiveErrors != 0 ||
					!ps.NextPollAt.Equal(e.clk.Now().Add(graceInterval)) {
					t.Fatalf("after the stopped poll: token %q, state %+v; want the rotated t1 and cursor 1", token, ps)
				}
				if n := ingesttest.CountReadings(t, e.s); n != 2 {
					t.Fatalf("%d readings, want 2", n)
				}
				// The next owner polls with the rotated token (any other is refused as
				// reauth) and stores no reading twice.
				e.clk.Add(graceInterval)
				e.tick(t, e.worker("poller-b", time.Hour))
				if ps, token := e.state(t); token != "t2" || ps.Cursor != "2" {
					t.Fatalf("after the next poll: token %q, cursor %q; want t2, 2", token, ps.Cursor)
				}
				if n := ingesttest.CountReadings(t, e.s); n != 2 {
					t.Fatalf("%d readings after the next poll, want 2", n)
				}
			})

			t.Run("hangs past its grace: handed back, nothing stored lost", func(t *testing.T) {
				e := newGraceEnv(t, eng)
				e.tick(t, e.worker("poller-a", time.Hour))
				e.clk.Add(graceInterval)
				before, _ := e.state(t)
				if st := e.heldTick(t, e.worker("poller-a", time.Millisecond), false); st != (poll.Stats{Claimed: 1, Released: 1}) {
					t.Fatalf("stopped tick: %+v, want the held poll cut short and handed back", st)
				}
				ps, token := e.state(t)
				if token != "t1" || ps.Cursor != "1" || ps.LeaseToken != "" || ps.ConsecutiveErrors != 0 || !ps.NextPollAt.Equal(before.NextPollAt) {
					t.Fatalf("after the cut-short poll: token %q, state %+v; want t1 and cursor 1 as the first poll stored, due", token, ps)
				}
				if n := ingesttest.CountReadings(t, e.s); n != 2 {
					t.Fatalf("%d readings, want the first poll's 2", n)
				}
				// Due at once, the clock unmoved: the next owner polls from cursor 1.
				e.tick(t, e.worker("poller-b", time.Hour))
				if ps, token := e.state(t); token != "t2" || ps.Cursor != "2" {
					t.Fatalf("after the next poll: token %q, cursor %q; want t2, 2", token, ps.Cursor)
				}
				if n := ingesttest.CountReadings(t, e.s); n != 2 {
					t.Fatalf("%d readings after the next poll, want 2", n)
				}
			})
		})
	}
}

// TestStopGraceIsTheShutdownBudget: a poll in flight at a stop gets the replica's
// shutdown budget, drain_grace + shutdown_timeout, and a worker built without one the
// default http settings' budget.
func TestStopGraceIsTheShutdownBudget(t *testing.T) {
	if got := poll.StopGrace(config.HTTP{DrainGrace: 5 * time.Second, ShutdownTimeout: 20 * time.Second}); got != 25*time.Second {
		t.Errorf("StopGrace = %v, want 25s", got)
	}
	if got := poll.StopGrace(config.DefaultHTTP); got != poll.DefaultStopGrace {
		t.Errorf("StopGrace of the default http settings = %v, DefaultStopGrace %v", got, poll.DefaultStopGrace)
	}
}
