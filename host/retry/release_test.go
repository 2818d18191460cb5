package retry_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/retry"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// heldPlugins holds the next n parses until the worker's context ends: an attempt in
// flight when its worker stops (a replica's drain, a reload). Later parses go through.
type heldPlugins struct {
	retry.Plugins
	n    atomic.Int32
	held chan struct{} // one send per parse held
}

func (e *env) holdParses(n int) *heldPlugins {
	h := &heldPlugins{Plugins: e.plugins, held: make(chan struct{}, n)}
	h.n.Store(int32(n))
	e.plugins = h
	return h
}

func (h *heldPlugins) Parser(provider string) (retry.Parser, error) {
	p, err := h.Plugins.Parser(provider)
	if err != nil {
		return nil, err
	}
	return heldParser{p, h}, nil
}

type heldParser struct {
	retry.Parser
	h *heldPlugins
}

func (p heldParser) Webhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	if p.h.n.Add(-1) < 0 {
		return p.Parser.Webhook(ctx, req)
	}
	p.h.held <- struct{}{}
	<-ctx.Done()
	return sdk.WebhookResult{}, ctx.Err()
}

// cutShort runs one tick of w that stops (its context cancelled) while a parse is held,
// after during has run, and returns its stats.
func cutShort(t *testing.T, w *retry.Worker, h *heldPlugins, during func()) retry.Stats {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan retry.Stats)
	go func() {
		st, _ := w.Tick(ctx) // a stopped tick's error is its context's
		done <- st
	}()
	select {
	case <-h.held:
	case <-time.After(30 * time.Second):
		t.Fatal("no parse began within 30 s")
	}
	during()
	cancel()
	return <-done
}

// TestStoppedWorkerReleases: a retry worker stopped mid-attempt hands its row back at
// once, the attempt not spent, and another worker resolves it without waiting for the
// lease; a worker whose lease another took over meanwhile hands back nothing; an attempt
// that failed before the worker stopped is recorded, not handed back.
func TestStoppedWorkerReleases(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			t.Run("handed back at once, attempt not spent", func(t *testing.T) {
				e := newEnv(t, eng)
				f := e.enqueue(t, 1)
				h := e.holdParses(1)
				a := e.worker(enabled(8))
				st := cutShort(t, a, h, func() {
					if got := e.get(t, f.ID); got.Status != store.FailureProcessing || got.LeaseOwner != "worker-a" || got.Attempts != 1 {
						t.Errorf("while the parse is held: %s by %q, attempt %d", got.Status, got.LeaseOwner, got.Attempts)
					}
				})
				if st != (retry.Stats{Claimed: 1, Released: 1}) {
					t.Fatalf("stopped tick: %+v, want 1 claimed and released", st)
				}
				if v := eventsTotal(t, e, "released"); v != 1 {
					t.Errorf("released events = %v, want 1", v)
				}
				got := e.get(t, f.ID)
				if got.Status != store.FailurePending || got.Attempts != 0 || got.LeaseOwner != "" || got.LeaseExpiresAt != nil ||
					!got.NextAttemptAt.Equal(f.NextAttemptAt) || len(got.ErrorHistory) != len(f.ErrorHistory) {
					t.Fatalf("released row = %+v, want it as enqueued", got)
				}
				// Another replica takes it on its next tick, the clock (and so the
				// lease) unmoved, and resolves it on attempt 1.
				cfg := enabled(8)
				cfg.Owner = "worker-b"
				if st := tick(t, e.worker(cfg)); st != (retry.Stats{Claimed: 1, Succeeded: 1}) {
					t.Fatalf("next worker's tick: %+v, want 1 claimed and succeeded", st)
				}
				if got := e.get(t, f.ID); got.Status != store.FailureResolved || got.Attempts != 1 {
					t.Fatalf("row = %s after %d attempts, want resolved after 1", got.Status, got.Attempts)
				}
				if n := ingesttest.CountReadings(t, e.s); n != 1 {
					t.Fatalf("%d readings, want 1", n)
				}
				ev := ingesttest.Audit(t, e.s, retry.ActionRetrySucceeded)
				if len(ev) != 1 || fmt.Sprint(ev[0].Details["attempt"]) != "1" {
					t.Fatalf("retry_succeeded audit: %+v, want one at attempt 1", ev)
				}
			})

			t.Run("lease taken over: nothing handed back", func(t *testing.T) {
				e := newEnv(t, eng)
				f := e.enqueue(t, 1)
				h := e.holdParses(1)
				a := e.worker(enabled(8))
				var taken store.Failure
				st := cutShort(t, a, h, func() {
					// a stalls past its lease: the rescue brings the row back and b claims it.
					ctx := context.Background()
					e.clk.Add(2 * time.Minute)
					if r, err := e.s.RescueExpiredFailures(ctx, 10); err != nil || len(r) != 1 {
						t.Fatalf("rescue: %+v, %v", r, err)
					}
					c, err := e.s.ClaimFailures(ctx, "worker-b", 1, time.Minute)
					if err != nil || len(c) != 1 || c[0].Attempts != 2 {
						t.Fatalf("b's claim: %+v, %v", c, err)
					}
					taken = c[0]
				})
				if st != (retry.Stats{Claimed: 1}) {
					t.Fatalf("stopped tick: %+v, want 1 claimed, nothing released", st)
				}
				got := e.get(t, f.ID)
				if got.Status != store.FailureProcessing || got.LeaseOwner != "worker-b" || got.LeaseToken != taken.LeaseToken ||
					got.Attempts != 2 || got.LeaseExpiresAt == nil || !got.LeaseExpiresAt.Equal(*taken.LeaseExpiresAt) {
					t.Fatalf("row after a's release = %+v, want b's claim untouched: %+v", got, taken)
				}
				if err := e.s.CompleteFailure(context.Background(), taken.ID, taken.Lease()); err != nil {
					t.Fatalf("b completes: %v", err)
				}
			})

			t.Run("a failed attempt is recorded though the worker stops meanwhile", func(t *testing.T) {
				e := newEnv(t, eng)
				e.failFileOn(t)
				f := e.enqueue(t, 1)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				cfg := enabled(8)
				cfg.Now, cfg.Rand = e.clk.Now, func() float64 { return 0.5 }
				w := retry.New(retry.Deps{Store: cancelOnTx{e.s, cancel}, Ingest: e.ing, Plugins: e.plugins, Logger: e.log, Registerer: e.reg}, cfg)
				if st, _ := w.Tick(ctx); st != (retry.Stats{Claimed: 1, Retried: 1}) {
					t.Fatalf("tick: %+v, want the failed attempt recorded", st)
				}
				got := e.get(t, f.ID)
				if got.Status != store.FailurePending || got.Attempts != 1 || !got.NextAttemptAt.Equal(e.clk.Now().Add(10*time.Second)) ||
					got.LeaseOwner != "" || len(got.ErrorHistory) != 2 {
					t.Fatalf("row = %+v, want pending after 1 attempt, backing off 10 s", got)
				}
			})
		})
	}
}

// cancelOnTx stops the worker (cancels its context) as it opens a transaction: only to
// record a failed attempt.
type cancelOnTx struct {
	*store.Store
	cancel context.CancelFunc
}

func (s cancelOnTx) InTx(ctx context.Context, fn func(tx *store.Tx) error) error {
	s.cancel()
	return s.Store.InTx(ctx, fn)
}

// eventsTotal is the retry worker's events counter of one event.
func eventsTotal(t *testing.T, e *env, event string) float64 {
	t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != "poolhost_retry_worker_events_total" {
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
	t.Fatalf("no poolhost_retry_worker_events_total{event=%q}", event)
	return 0
}
