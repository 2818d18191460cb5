package retry_test

import (
	"context"
	"testing"

	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/retry"
	"github.com/poolhost/poolhost/host/store"
)

// A queued delivery can parse into nothing to store: no readings at all, or only
// readings already stored. Either is a success, resolved on its first attempt and
// audited like any other — not retried until it is dead.
func TestRetryWithNothingToStoreResolves(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, eng)
			empty, err := e.s.EnqueueFailure(ctx, store.NewFailure{
				Provider: "faulty", Payload: []byte(`{"device_id": "probe", "readings": []}`),
				Headers: map[string][]string{"Webhook-Id": {"msg-empty"}}, ReceivedAt: e.clk.Now(), MaxAttempts: 8,
				Error: "parse: plugin crashed",
			})
			if err != nil {
				t.Fatal(err)
			}
			// Two copies of one delivery: the first stores its reading, the second
			// finds only duplicates.
			first, second := e.enqueue(t, 1), e.enqueue(t, 1)

			w := e.worker(enabled(8))
			if st := tick(t, w); st.Claimed != 3 || st.Succeeded != 3 {
				t.Fatalf("tick: %+v, want 3 claimed and 3 succeeded", st)
			}
			for _, id := range []int64{empty.ID, first.ID, second.ID} {
				if f := e.get(t, id); f.Status != store.FailureResolved || f.Attempts != 1 {
					t.Errorf("failure %d: %s after %d attempts, want resolved after 1", id, f.Status, f.Attempts)
				}
			}
			if n := ingesttest.CountReadings(t, e.s); n != 1 {
				t.Fatalf("%d readings, want 1", n)
			}
			evs := ingesttest.Audit(t, e.s, retry.ActionRetrySucceeded)
			if len(evs) != 3 {
				t.Fatalf("%d %s audit rows, want 3", len(evs), retry.ActionRetrySucceeded)
			}
			accepted := 0
			for _, ev := range evs {
				accepted += num(ev.Details["accepted"])
			}
			if accepted != 1 {
				t.Fatalf("audited %d accepted in all, want 1", accepted)
			}
			if st := tick(t, w); st.Claimed != 0 {
				t.Fatalf("claimed %d after all resolved", st.Claimed)
			}
		})
	}
}

func num(v any) int {
	switch n := v.(type) {
	case float64:
		return int(n)
	case int:
		return n
	}
	return 0
}
