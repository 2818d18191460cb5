package store_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

func readingsFor(f fixture, start time.Time, n int, metric string) []store.Reading {
	rs := make([]store.Reading, n)
	for i := range rs {
		rs[i] = store.Reading{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: metric, Value: 7 + float64(i)/1000,
			Unit: "pH", RecordedAt: start.Add(time.Duration(i) * time.Second), Quality: "good", RawPayload: []byte(`{"v":1}`)}
	}
	return rs
}

func TestReadingsDuplicatesCountedNotInserted(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "hal@x.io")
		start := e.clock.Now().Add(-time.Hour)
		rs := readingsFor(f, start, 1200, "ph") // more than one multi-row batch
		n, err := e.s.InsertReadings(ctx, rs)
		if err != nil || n != 1200 {
			t.Fatalf("first insert = %d, %v", n, err)
		}
		// A replay of the same delivery, plus 5 new ones and a duplicate inside the batch.
		replay := append(readingsFor(f, start, 1205, "ph"), rs[0])
		n, err = e.s.InsertReadings(ctx, replay)
		if err != nil {
			t.Fatal(err)
		}
		if n != 5 || len(replay)-n != 1201 {
			t.Fatalf("replay inserted %d (duplicates %d), want 5 (1201)", n, len(replay)-n)
		}
		if c, _ := e.s.CountReadings(ctx, f.pool.ID); c != 1205 {
			t.Fatalf("stored %d readings, want 1205", c)
		}
		// Same instant, another metric: not a duplicate.
		if n, _ := e.s.InsertReadings(ctx, readingsFor(f, start, 1, "orp")); n != 1 {
			t.Fatalf("other metric inserted %d", n)
		}
		// Nanoseconds beyond the stored microsecond precision still deduplicate.
		jitter := readingsFor(f, start, 1, "ph")
		jitter[0].RecordedAt = jitter[0].RecordedAt.Add(300 * time.Nanosecond)
		if n, _ := e.s.InsertReadings(ctx, jitter); n != 0 {
			t.Fatalf("sub-microsecond replay inserted %d", n)
		}
		// A failing batch inserts nothing, even when its rows span several statements:
		// one transaction.
		bad := readingsFor(f, start.Add(-time.Hour), 1100, "ph")
		bad[1099].Metric = ""
		if _, err := e.s.InsertReadings(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("reading without a metric: %v", err)
		}
		if c, _ := e.s.CountReadings(ctx, f.pool.ID); c != 1206 {
			t.Fatalf("a failed batch left %d rows behind", c-1206)
		}
	})
}

func TestListReadingsKeyset(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "ivy@x.io")
		start := e.clock.Now().Add(-time.Hour)
		if _, err := e.s.InsertReadings(ctx, readingsFor(f, start, 250, "ph")); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.InsertReadings(ctx, readingsFor(f, start, 50, "orp")); err != nil {
			t.Fatal(err)
		}
		// Two devices with the same timestamp: the id breaks the tie across pages.
		twin, _ := e.s.UpsertDevices(ctx, f.account.ID, []store.NewDevice{{ProviderDeviceID: "twin"}})
		if _, err := e.s.LinkDevice(ctx, twin[0].ID, f.pool.ID, f.user.ID); err != nil {
			t.Fatal(err)
		}
		tf := f
		tf.device = twin[0].Device
		if _, err := e.s.InsertReadings(ctx, readingsFor(tf, start, 250, "ph")); err != nil {
			t.Fatal(err)
		}

		var got []store.Reading
		q := store.ReadingQuery{PoolID: f.pool.ID, Metric: "ph", Limit: 33}
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatal("pagination does not end")
			}
			page, next, err := e.s.ListReadings(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			if next == nil {
				break
			}
			q.After = next
		}
		if len(got) != 500 {
			t.Fatalf("paged %d readings, want 500", len(got))
		}
		seen := map[int64]bool{}
		for i, r := range got {
			if seen[r.ID] {
				t.Fatalf("reading %d returned twice", r.ID)
			}
			seen[r.ID] = true
			if r.Metric != "ph" || r.PoolID != f.pool.ID {
				t.Fatalf("wrong reading %+v", r)
			}
			if i > 0 && r.RecordedAt.Before(got[i-1].RecordedAt) {
				t.Fatal("not ordered by time")
			}
		}
		if got[0].Unit != "pH" || string(got[0].RawPayload) != `{"v":1}` || got[0].Quality != "good" || got[0].ReceivedAt.IsZero() {
			t.Fatalf("reading fields = %+v", got[0])
		}
		rng, next, err := e.s.ListReadings(ctx, store.ReadingQuery{PoolID: f.pool.ID, Metric: "ph",
			From: start.Add(10 * time.Second), To: start.Add(20 * time.Second), Limit: 1000})
		if err != nil || next != nil || len(rng) != 20 {
			t.Fatalf("range = %d next=%v %v, want 20 (2 devices x 10 s)", len(rng), next, err)
		}
		other, _, _ := e.s.ListReadings(ctx, store.ReadingQuery{PoolID: f.pool.ID + 1000})
		if len(other) != 0 {
			t.Fatal("readings of another pool returned")
		}
	})
}

func TestInTxReadingsAndAuditAtomic(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "jo@x.io")
		err := e.s.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.InsertReadings(ctx, readingsFor(f, e.clock.Now(), 3, "ph")); err != nil {
				return err
			}
			if _, err := tx.AppendAudit(ctx, store.AuditEvent{Action: "webhook.received", Actor: "provider:acme"}); err != nil {
				return err
			}
			return errors.New("boom")
		})
		if err == nil || err.Error() != "boom" {
			t.Fatalf("InTx = %v", err)
		}
		if c, _ := e.s.CountReadings(ctx, f.pool.ID); c != 0 {
			t.Fatal("rolled-back readings are visible")
		}
		if a, _ := e.s.ListAudit(ctx, store.AuditFilter{}); len(a) != 0 {
			t.Fatal("rolled-back audit is visible")
		}
		err = e.s.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.InsertReadings(ctx, readingsFor(f, e.clock.Now(), 3, "ph")); err != nil {
				return err
			}
			_, err := tx.AppendAudit(ctx, store.AuditEvent{Action: "webhook.received", Actor: "provider:acme"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := e.s.CountReadings(ctx, f.pool.ID); c != 3 {
			t.Fatalf("committed readings = %d", c)
		}
	})
}

func enqueue(t testing.TB, e *env, n int, maxAttempts int) []store.Failure {
	t.Helper()
	out := make([]store.Failure, n)
	for i := range out {
		f, err := e.s.EnqueueFailure(context.Background(), store.NewFailure{
			Provider: "acme", Payload: []byte(fmt.Sprintf(`{"delivery":%d}`, i)),
			Headers: map[string][]string{"Webhook-Id": {fmt.Sprint(i)}}, DeliveryID: fmt.Sprint(i),
			MaxAttempts: maxAttempts, Error: "plugin unavailable",
		})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = f
	}
	return out
}

func TestFailureLifecycle(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		fs := enqueue(t, e, 3, 2)
		if fs[0].Status != store.FailurePending || fs[0].Headers["Webhook-Id"][0] != "0" || len(fs[0].ErrorHistory) != 1 {
			t.Fatalf("enqueued = %+v", fs[0])
		}
		claimed, err := e.s.ClaimFailures(ctx, "w1", 2, time.Minute)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("claim = %d, %v", len(claimed), err)
		}
		c0 := claimed[0]
		if c0.Status != store.FailureProcessing || c0.Attempts != 1 || c0.LeaseOwner != "w1" || c0.LeaseToken == "" ||
			c0.LeaseExpiresAt == nil || !c0.LeaseExpiresAt.Equal(e.clock.Now().Add(time.Minute)) || string(c0.Payload) != `{"delivery":0}` {
			t.Fatalf("claimed = %+v", c0)
		}
		if more, _ := e.s.ClaimFailures(ctx, "w2", 10, time.Minute); len(more) != 1 || more[0].ID != fs[2].ID {
			t.Fatalf("second claimer got %+v", more)
		}
		if err := e.s.CompleteFailure(ctx, c0.ID, c0.Lease()); err != nil {
			t.Fatal(err)
		}
		if err := e.s.CompleteFailure(ctx, c0.ID, c0.Lease()); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("complete twice: %v", err)
		}
		if err := e.s.CompleteFailure(ctx, claimed[1].ID, store.Lease{Owner: "w1", Token: "forged"}); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("complete with a forged token: %v", err)
		}
		// Retry: back to pending, not due before RetryAt.
		c1 := claimed[1]
		st, err := e.s.FailFailure(ctx, c1.ID, c1.Lease(), store.FailureOutcome{Error: "timeout", RetryAt: e.clock.Now().Add(time.Minute)})
		if err != nil || st != store.FailurePending {
			t.Fatalf("fail = %s, %v", st, err)
		}
		if age, _ := e.s.OldestDueFailureAge(ctx); age != 0 {
			t.Fatalf("nothing is due yet, age = %v", age)
		}
		if got, _ := e.s.ClaimFailures(ctx, "w1", 10, time.Minute); len(got) != 0 {
			t.Fatalf("claimed before its retry time: %+v", got)
		}
		e.clock.Advance(90 * time.Second)
		if age, _ := e.s.OldestDueFailureAge(ctx); age != 30*time.Second {
			t.Fatalf("oldest due age = %v, want 30s", age)
		}
		again, _ := e.s.ClaimFailures(ctx, "w1", 10, time.Minute)
		if len(again) != 1 || again[0].Attempts != 2 {
			t.Fatalf("re-claim = %+v", again)
		}
		// Attempts used up (max 2): dead.
		st, err = e.s.FailFailure(ctx, again[0].ID, again[0].Lease(), store.FailureOutcome{Error: "timeout again", RetryAt: e.clock.Now()})
		if err != nil || st != store.FailureDead {
			t.Fatalf("fail at max attempts = %s, %v", st, err)
		}
		dead, _ := e.s.GetFailure(ctx, again[0].ID)
		if dead.LastError != "timeout again" || len(dead.ErrorHistory) != 3 || dead.ErrorHistory[2].Attempt != 2 || dead.LeaseToken != "" {
			t.Fatalf("dead row = %+v", dead)
		}
		// Requeue: fresh budget, history kept; only dead rows.
		if _, err := e.s.RequeueFailure(ctx, c0.ID); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("requeue resolved: %v", err)
		}
		if _, err := e.s.RequeueFailure(ctx, 424242); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("requeue missing: %v", err)
		}
		rq, err := e.s.RequeueFailure(ctx, dead.ID)
		if err != nil || rq.Status != store.FailurePending || rq.Attempts != 0 || len(rq.ErrorHistory) != 3 {
			t.Fatalf("requeue = %+v, %v", rq, err)
		}
		// Permanent: dead at once, whatever the attempts.
		p, _ := e.s.ClaimFailures(ctx, "w1", 1, time.Minute)
		if st, _ := e.s.FailFailure(ctx, p[0].ID, p[0].Lease(), store.FailureOutcome{Error: "malformed", Permanent: true}); st != store.FailureDead {
			t.Fatalf("permanent = %s", st)
		}
		direct, err := e.s.EnqueueFailure(ctx, store.NewFailure{Provider: "other", Payload: []byte("x"), MaxAttempts: 8, Dead: true, Error: "parse"})
		if err != nil || direct.Status != store.FailureDead {
			t.Fatalf("enqueue dead = %+v %v", direct, err)
		}
		counts, err := e.s.FailureCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, c := range counts {
			got[c.Provider+"/"+string(c.Status)] = c.Count
		}
		want := map[string]int64{"acme/resolved": 1, "acme/dead": 1, "acme/processing": 1, "other/dead": 1}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("counts = %v, want %v", got, want)
		}
		// Bulk requeue by provider and time range.
		e.clock.Advance(time.Hour)
		ids, err := e.s.RequeueFailures(ctx, store.RequeueFilter{Provider: "acme", To: e.clock.Now()})
		if err != nil || len(ids) != 1 {
			t.Fatalf("bulk requeue = %v, %v", ids, err)
		}
		if ids, _ := e.s.RequeueFailures(ctx, store.RequeueFilter{Provider: "other", From: e.clock.Now()}); len(ids) != 0 {
			t.Fatalf("bulk requeue outside the range = %v", ids)
		}
		// Discard: not while processing.
		if _, err := e.s.DiscardFailure(ctx, fs[2].ID); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("discard processing: %v", err)
		}
		if _, err := e.s.DiscardFailure(ctx, direct.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.GetFailure(ctx, direct.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("discarded row still there: %v", err)
		}
		list, err := e.s.ListFailures(ctx, store.FailureFilter{Provider: "acme"})
		if err != nil || len(list) != 3 || list[0].ID < list[1].ID {
			t.Fatalf("list = %d %v", len(list), err)
		}
		if l, _ := e.s.ListFailures(ctx, store.FailureFilter{Status: store.FailurePending}); len(l) != 1 {
			t.Fatalf("pending = %d", len(l))
		}
	})
}

func TestFailureLeaseRescue(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		enqueue(t, e, 3, 2)
		cl, _ := e.s.ClaimFailures(ctx, "w1", 3, time.Minute)
		if len(cl) != 3 {
			t.Fatalf("claimed %d", len(cl))
		}
		finished, slow, lastTry := cl[0], cl[1], cl[2]
		if err := e.s.CompleteFailure(ctx, finished.ID, finished.Lease()); err != nil {
			t.Fatal(err)
		}
		if r, _ := e.s.RescueExpiredFailures(ctx, 100); len(r) != 0 {
			t.Fatalf("rescued live leases: %+v", r)
		}
		e.clock.Advance(2 * time.Minute)
		// lastTry gets one more attempt on record before its lease runs out.
		if _, err := e.s.DB().ExecContext(ctx, e.s.DB().Rebind("UPDATE integration_ingestion_failures SET attempts = 2 WHERE id = ?"), lastTry.ID); err != nil {
			t.Fatal(err)
		}
		rescued, err := e.s.RescueExpiredFailures(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(rescued, func(i, j int) bool { return rescued[i].ID < rescued[j].ID })
		if len(rescued) != 2 || rescued[0].ID != slow.ID || rescued[0].Status != store.FailurePending ||
			rescued[1].Status != store.FailureDead || !strings.Contains(rescued[0].LastError, "w1") {
			t.Fatalf("rescued = %+v", rescued)
		}
		// The row finished by its owner is untouched by the late rescue.
		done, _ := e.s.GetFailure(ctx, finished.ID)
		if done.Status != store.FailureResolved || done.ResolvedAt == nil {
			t.Fatalf("finished row after rescue = %+v", done)
		}
		// The late original owner cannot finish or fail the rescued row...
		if err := e.s.CompleteFailure(ctx, slow.ID, slow.Lease()); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("late complete: %v", err)
		}
		if _, err := e.s.FailFailure(ctx, slow.ID, slow.Lease(), store.FailureOutcome{Error: "late"}); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("late fail: %v", err)
		}
		// ...not even after the same owner name re-claimed it: the token differs.
		re, _ := e.s.ClaimFailures(ctx, "w1", 1, time.Minute)
		if len(re) != 1 || re[0].ID != slow.ID || re[0].Attempts != 2 {
			t.Fatalf("re-claim = %+v", re)
		}
		if err := e.s.CompleteFailure(ctx, slow.ID, slow.Lease()); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("stale lease completed a re-claimed row: %v", err)
		}
		if err := e.s.ExtendFailureLease(ctx, slow.ID, re[0].Lease(), 5*time.Minute); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(2 * time.Minute)
		if r, _ := e.s.RescueExpiredFailures(ctx, 100); len(r) != 0 {
			t.Fatalf("rescued an extended lease: %+v", r)
		}
		if err := e.s.CompleteFailure(ctx, slow.ID, re[0].Lease()); err != nil {
			t.Fatal(err)
		}
		// A rescue racing a completion: whichever commits first wins, the other is a no-op.
		e.clock.Advance(time.Hour)
		if r, _ := e.s.RescueExpiredFailures(ctx, 100); len(r) != 0 {
			t.Fatalf("rescue after completion touched %+v", r)
		}
		if got, _ := e.s.GetFailure(ctx, slow.ID); got.Status != store.FailureResolved {
			t.Fatalf("completed row = %s", got.Status)
		}
	})
}

// TestFailureRelease: a worker cut short hands its row back as if unclaimed (pending,
// the attempt not spent, due as before), and another claims it at once; a release
// under a lease the row no longer has — taken over after it expired, or the attempt's
// transaction committed after all — changes nothing.
func TestFailureRelease(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		fs := enqueue(t, e, 2, 8)
		claim := func(owner string, want store.Failure, attempts int) store.Failure {
			t.Helper()
			got, err := e.s.ClaimFailures(ctx, owner, 1, time.Minute)
			if err != nil || len(got) != 1 || got[0].ID != want.ID || got[0].Attempts != attempts {
				t.Fatalf("%s claims %+v, %v; want failure %d at attempt %d", owner, got, err, want.ID, attempts)
			}
			return got[0]
		}
		released := func(id int64, l store.Lease) {
			t.Helper()
			if err := e.s.ReleaseFailure(ctx, id, l); err != nil {
				t.Fatalf("release %d under %s: %v", id, l.Owner, err)
			}
		}
		notReleased := func(id int64, l store.Lease) {
			t.Helper()
			if err := e.s.ReleaseFailure(ctx, id, l); !errors.Is(err, store.ErrLeaseLost) {
				t.Fatalf("release %d under %s: %v, want ErrLeaseLost", id, l.Owner, err)
			}
		}
		get := func(id int64) store.Failure {
			t.Helper()
			f, err := e.s.GetFailure(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}

		// Released: the row as it was before the claim, first in line again.
		first := claim("w1", fs[0], 1)
		released(first.ID, first.Lease())
		got := get(first.ID)
		if got.Status != store.FailurePending || got.Attempts != 0 || got.LeaseOwner != "" || got.LeaseToken != "" ||
			got.LeaseExpiresAt != nil || !got.NextAttemptAt.Equal(fs[0].NextAttemptAt) ||
			got.LastError != fs[0].LastError || len(got.ErrorHistory) != len(fs[0].ErrorHistory) {
			t.Fatalf("released row = %+v, want it as enqueued: %+v", got, fs[0])
		}
		// Taken at once by another worker, the clock unmoved, on attempt 1 again.
		second := claim("w2", fs[0], 1)
		notReleased(first.ID, first.Lease()) // the old claim's token: nothing
		notReleased(second.ID, store.Lease{Owner: "w2", Token: "forged"})
		if got := get(second.ID); got.Status != store.FailureProcessing || got.LeaseToken != second.LeaseToken || got.Attempts != 1 {
			t.Fatalf("row after stale releases = %+v", got)
		}
		// Its attempt committed after all (the worker's context ended during its
		// commit): the release finds the row resolved and leaves it so.
		if err := e.s.CompleteFailure(ctx, second.ID, second.Lease()); err != nil {
			t.Fatal(err)
		}
		notReleased(second.ID, second.Lease())
		if got := get(second.ID); got.Status != store.FailureResolved || got.Attempts != 1 || got.ResolvedAt == nil {
			t.Fatalf("resolved row after a release = %+v", got)
		}

		// Taken over: w1's lease expired, the rescue brought the row back and w2 holds
		// it now. w1's late release changes nothing; w2 still finishes it.
		stale := claim("w1", fs[1], 1)
		e.clock.Advance(2 * time.Minute)
		if r, err := e.s.RescueExpiredFailures(ctx, 10); err != nil || len(r) != 1 {
			t.Fatalf("rescue = %+v, %v", r, err)
		}
		owner := claim("w2", fs[1], 2)
		notReleased(stale.ID, stale.Lease())
		if got := get(owner.ID); got.Status != store.FailureProcessing || got.LeaseOwner != "w2" ||
			got.LeaseToken != owner.LeaseToken || got.Attempts != 2 || got.LeaseExpiresAt == nil {
			t.Fatalf("row taken over, after the old owner's release = %+v", got)
		}
		// An expired lease nobody took yet is still its owner's to release.
		e.clock.Advance(2 * time.Minute)
		released(owner.ID, owner.Lease())
		if got := get(owner.ID); got.Status != store.FailurePending || got.Attempts != 1 {
			t.Fatalf("row released after its lease expired = %+v", got)
		}
		if r, _ := e.s.RescueExpiredFailures(ctx, 10); len(r) != 0 {
			t.Fatalf("rescued a released row: %+v", r)
		}
	})
}

// TestConcurrentClaimsExactlyOnce: 8 stores — 8 separate connection pools, as 8 host
// replicas would have — claim 1,000 due failures at once. Every row is claimed by
// exactly one of them.
func TestConcurrentClaimsExactlyOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const total, workers = 1000, 8
		err := e.s.InTx(ctx, func(tx *store.Tx) error {
			for i := 0; i < total; i++ {
				if _, err := tx.EnqueueFailure(ctx, store.NewFailure{Provider: "acme", Payload: []byte("p"), MaxAttempts: 8}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		stores := make([]*store.Store, workers)
		for i := range stores {
			stores[i] = e.open(t)
		}
		var mu sync.Mutex
		claims := map[int64][]string{}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				<-start
				owner := fmt.Sprintf("w%d", w)
				for {
					got, err := stores[w].ClaimFailures(ctx, owner, 7, time.Minute)
					if err != nil {
						t.Errorf("%s: claim: %v", owner, err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, f := range got {
						claims[f.ID] = append(claims[f.ID], owner)
					}
					mu.Unlock()
					for _, f := range got {
						if err := stores[w].CompleteFailure(ctx, f.ID, f.Lease()); err != nil {
							t.Errorf("%s: complete %d: %v", owner, f.ID, err)
						}
					}
				}
			}(w)
		}
		close(start)
		wg.Wait()
		if len(claims) != total {
			t.Fatalf("%d rows claimed, want %d", len(claims), total)
		}
		perOwner := map[string]int{}
		for id, owners := range claims {
			if len(owners) != 1 {
				t.Fatalf("row %d claimed %d times: %v", id, len(owners), owners)
			}
			perOwner[owners[0]]++
		}
		t.Logf("claims per worker: %v", perOwner)
		counts, _ := e.s.FailureCounts(ctx)
		if len(counts) != 1 || counts[0].Status != store.FailureResolved || counts[0].Count != total {
			t.Fatalf("final counts = %+v", counts)
		}
	})
}

func TestPollState(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "kim@x.io")
		g := newFixture(t, e, "lou@x.io")
		now := e.clock.Now()
		for _, a := range []store.Account{f.account, g.account} {
			if err := e.s.EnsurePollState(ctx, a.ID, "acme", now); err != nil {
				t.Fatal(err)
			}
		}
		// Ensure again does not reset anything.
		if err := e.s.EnsurePollState(ctx, f.account.ID, "acme", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if ps, _ := e.s.GetPollState(ctx, f.account.ID); !ps.NextPollAt.Equal(now) {
			t.Fatalf("ensure moved next poll to %v", ps.NextPollAt)
		}
		if _, err := e.s.DisconnectAccount(ctx, g.account.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.s.EnsurePollState(ctx, g.account.ID, "acme", now); err != nil {
			t.Fatal(err)
		}
		got, err := e.s.ClaimDuePolls(ctx, []string{"acme", "other"}, "p1", 10, time.Minute)
		if err != nil || len(got) != 1 || got[0].AccountID != f.account.ID || got[0].LeaseOwner != "p1" {
			t.Fatalf("claim = %+v, %v (the disconnected account must not be polled)", got, err)
		}
		if again, _ := e.s.ClaimDuePolls(ctx, []string{"acme"}, "p2", 10, time.Minute); len(again) != 0 {
			t.Fatalf("leased account claimed twice: %+v", again)
		}
		if err := e.s.FailPoll(ctx, f.account.ID, got[0].Lease(), "503", now.Add(30*time.Second), nil); err != nil {
			t.Fatal(err)
		}
		if err := e.s.FailPoll(ctx, f.account.ID, got[0].Lease(), "503", now, nil); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("fail twice: %v", err)
		}
		ps, _ := e.s.GetPollState(ctx, f.account.ID)
		if ps.ConsecutiveErrors != 1 || ps.LastError != "503" || ps.LeaseToken != "" {
			t.Fatalf("after failure = %+v", ps)
		}
		e.clock.Advance(30 * time.Second)
		c2, _ := e.s.ClaimDuePolls(ctx, []string{"acme"}, "p1", 10, time.Minute)
		if len(c2) != 1 || c2[0].ConsecutiveErrors != 1 {
			t.Fatalf("claim after backoff = %+v", c2)
		}
		// The poller dies; its lease expires and another takes over.
		e.clock.Advance(2 * time.Minute)
		c3, _ := e.s.ClaimDuePolls(ctx, []string{"acme"}, "p2", 10, time.Minute)
		if len(c3) != 1 || c3[0].LeaseOwner != "p2" {
			t.Fatalf("takeover = %+v", c3)
		}
		if err := e.s.CompletePoll(ctx, f.account.ID, c2[0].Lease(), "stale", now); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("stale poller completed: %v", err)
		}
		next := e.clock.Now().Add(5 * time.Minute)
		if err := e.s.CompletePoll(ctx, f.account.ID, c3[0].Lease(), "cursor-2", next); err != nil {
			t.Fatal(err)
		}
		ps, _ = e.s.GetPollState(ctx, f.account.ID)
		if ps.Cursor != "cursor-2" || ps.ConsecutiveErrors != 0 || !ps.NextPollAt.Equal(next) || ps.LastPolledAt == nil {
			t.Fatalf("after completion = %+v", ps)
		}
		if c, _ := e.s.ClaimDuePolls(ctx, []string{"acme"}, "p1", 10, time.Minute); len(c) != 0 {
			t.Fatalf("claimed before next poll: %+v", c)
		}
	})
}

// An attempt that never reached the plugin (FailureOutcome.NotAttempted) gives its
// attempt back and leaves the row pending at its budget, due at RetryAt; a permanent
// error still kills it.
func TestFailureNotAttempted(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		fs := enqueue(t, e, 2, 1)
		claimed := map[int64]store.Failure{}
		claim := func(id int64) store.Failure {
			t.Helper()
			cs, err := e.s.ClaimFailures(ctx, "w1", 10, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cs {
				claimed[c.ID] = c
			}
			c, ok := claimed[id]
			if !ok {
				t.Fatalf("failure %d not claimed", id)
			}
			delete(claimed, id)
			return c
		}
		for range 3 {
			c := claim(fs[0].ID)
			if c.Attempts != 1 {
				t.Fatalf("claimed with %d attempts, want 1", c.Attempts)
			}
			st, err := e.s.FailFailure(ctx, c.ID, c.Lease(), store.FailureOutcome{
				Error: "plugin not running", RetryAt: e.clock.Now().Add(time.Minute), NotAttempted: true,
			})
			if err != nil || st != store.FailurePending {
				t.Fatalf("not attempted at the budget = %s, %v; want pending", st, err)
			}
			got, _ := e.s.GetFailure(ctx, c.ID)
			if got.Attempts != 0 || got.LastError != "plugin not running" || !got.NextAttemptAt.Equal(e.clock.Now().Add(time.Minute)) {
				t.Fatalf("row after a not-attempted failure = %+v", got)
			}
			e.clock.Advance(time.Minute)
		}
		c := claim(fs[1].ID)
		if st, _ := e.s.FailFailure(ctx, c.ID, c.Lease(), store.FailureOutcome{Error: "malformed", Permanent: true, NotAttempted: true}); st != store.FailureDead {
			t.Fatalf("permanent and not attempted = %s, want dead", st)
		}
	})
}
