package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

func TestWriteDeliveriesCountsEachDelivery(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "wd@x.io")
		start := e.clock.Now().Add(-time.Hour).Truncate(time.Second)
		if _, err := e.s.InsertReadings(ctx, readingsFor(f, start, 2, "ph")); err != nil {
			t.Fatal(err)
		}
		audit := func(req string) *store.AuditEvent {
			return &store.AuditEvent{Action: "webhook.received", Actor: "provider:acme", Provider: "acme",
				RequestID: req, Details: store.Details{"readings": 3, "accepted": 0, "duplicates": 0}}
		}
		bound := readingsFor(f, start, 1, "temperature")
		bound[0].Qualifier = "above" // a bound is written by this path too
		ds := []store.DeliveryWrite{
			// Two already stored, one new.
			{Readings: readingsFor(f, start, 3, "ph"), Audit: audit("a")},
			// A copy of the first delivery's new reading (the first copy wins) and a new one.
			{Readings: append(readingsFor(f, start.Add(2*time.Second), 1, "ph"), readingsFor(f, start, 1, "orp")...),
				Audit: audit("b")},
			// No audit row wanted.
			{Readings: bound},
			// Nothing to store, but accounted for, by an audit row without details.
			{Audit: &store.AuditEvent{Action: "webhook.received", Actor: "provider:acme", RequestID: "d"}},
		}
		accepted, err := e.s.WriteDeliveries(ctx, ds)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(accepted) != "[1 1 1 0]" {
			t.Fatalf("accepted %v, want [1 1 1 0]", accepted)
		}
		if n, _ := e.s.CountReadings(ctx, f.pool.ID); n != 2+3 {
			t.Fatalf("stored %d readings, want 5", n)
		}
		if rs, _, err := e.s.ListReadings(ctx, store.ReadingQuery{PoolID: f.pool.ID, Metric: "temperature"}); err != nil || len(rs) != 1 || rs[0].Qualifier != "above" {
			t.Fatalf("the bound stored as %+v, %v", rs, err)
		}
		events, err := e.s.ListAudit(ctx, store.AuditFilter{Action: "webhook.received"})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, ev := range events {
			got[ev.RequestID] = fmt.Sprintf("%v/%v/%v", ev.Details["accepted"], ev.Details["duplicates"], ev.Details["readings"])
		}
		want := map[string]string{"a": "1/2/3", "b": "1/1/3", "d": "0/0/<nil>"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("audit accepted/duplicates/readings %v, want %v", got, want)
		}
	})
}

func TestWriteDeliveriesIsAtomic(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "wd-atomic@x.io")
		start := e.clock.Now().Add(-time.Hour)
		bad := readingsFor(f, start, 2, "orp")
		bad[1].Metric = "" // refused by the table's CHECK
		_, err := e.s.WriteDeliveries(ctx, []store.DeliveryWrite{
			{Readings: readingsFor(f, start, 3, "ph"),
				Audit: &store.AuditEvent{Action: "webhook.received", Actor: "provider:acme"}},
			{Readings: bad},
		})
		if !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("write with a bad reading: %v, want ErrInvalid", err)
		}
		if n, _ := e.s.CountReadings(ctx, f.pool.ID); n != 0 {
			t.Errorf("a failed write left %d readings", n)
		}
		if events, _ := e.s.ListAudit(ctx, store.AuditFilter{Action: "webhook.received"}); len(events) != 0 {
			t.Errorf("a failed write left %d audit rows", len(events))
		}
		// An audit row without an action is refused before anything is written.
		if _, err := e.s.WriteDeliveries(ctx, []store.DeliveryWrite{{Audit: &store.AuditEvent{Actor: "x"}}}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("audit without action: %v, want ErrInvalid", err)
		}
	})
}

// A delivery written with a Once key records it; a later write of the same key — from
// another replica, in another batch — writes nothing of that delivery (no readings, no
// audit row) and counts it Replayed, while the rest of its batch is written. So does
// ClaimDelivery inside a transaction.
func TestWriteDeliveriesOnceWritesAReplayNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "once@x.io")
		start := e.clock.Now().Add(-time.Hour).Truncate(time.Second)
		key := func(id string) *store.DeliveryKey {
			return &store.DeliveryKey{Provider: "acme", AccountID: 7, DeliveryID: id}
		}
		audit := func(req string) *store.AuditEvent {
			return &store.AuditEvent{Action: "webhook.received", Actor: "provider:acme", Provider: "acme", RequestID: req}
		}
		first, err := e.s.WriteDeliveries(ctx, []store.DeliveryWrite{
			{Readings: readingsFor(f, start, 2, "ph"), Audit: audit("first"), Once: key("msg_1")},
		})
		if err != nil || fmt.Sprint(first) != "[2]" {
			t.Fatalf("first write: %v, %v; want [2]", first, err)
		}
		again, err := e.s.WriteDeliveries(ctx, []store.DeliveryWrite{
			// A copy of msg_1 with a reading the first did not have: still nothing of it.
			{Readings: readingsFor(f, start, 3, "ph"), Audit: audit("copy"), Once: key("msg_1")},
			{Readings: readingsFor(f, start, 1, "orp"), Audit: audit("other"), Once: key("msg_2")},
		})
		if err != nil || fmt.Sprint(again) != fmt.Sprintf("[%d 1]", store.Replayed) {
			t.Fatalf("second write: %v, %v; want [%d 1]", again, err, store.Replayed)
		}
		if n, _ := e.s.CountReadings(ctx, f.pool.ID); n != 3 {
			t.Errorf("stored %d readings, want 3 (the replay's third not among them)", n)
		}
		events, err := e.s.ListAudit(ctx, store.AuditFilter{Action: "webhook.received"})
		if err != nil {
			t.Fatal(err)
		}
		var reqs []string
		for _, ev := range events {
			reqs = append(reqs, ev.RequestID)
		}
		if len(reqs) != 2 {
			t.Errorf("audit rows of requests %v, want first and other", reqs)
		}
		err = e.s.InTx(ctx, func(tx *store.Tx) error {
			for id, want := range map[string]bool{"msg_2": false, "msg_3": true} {
				if got, err := tx.ClaimDelivery(ctx, *key(id), start); err != nil || got != want {
					t.Errorf("ClaimDelivery(%s) = %v, %v; want %v", id, got, err, want)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// A batch as large as a group commit's: its readings, replay keys and audit rows take
// several statements each on SQLite, and every delivery's count is still its own — old
// readings scattered through the batch, deliveries whose rows straddle two statements,
// a key recorded before.
func TestWriteDeliveriesCountsAcrossStatements(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "many@x.io")
		start := e.clock.Now().Add(-time.Hour).Truncate(time.Second)
		old := readingsFor(f, start, 300, "ph")
		var stored []store.Reading
		for i := 0; i < len(old); i += 7 {
			stored = append(stored, old[i])
		}
		if _, err := e.s.InsertReadings(ctx, stored); err != nil {
			t.Fatal(err)
		}
		key := func(id string) *store.DeliveryKey {
			return &store.DeliveryKey{Provider: "acme", AccountID: 3, DeliveryID: id}
		}
		if _, err := e.s.WriteDeliveries(ctx, []store.DeliveryWrite{{Once: key("seen")}}); err != nil {
			t.Fatal(err)
		}
		var ds []store.DeliveryWrite
		want := make([]int, 0, 70)
		for i := range 70 {
			id := fmt.Sprintf("m%d", i)
			d := store.DeliveryWrite{Once: key(id), Audit: &store.AuditEvent{Action: "webhook.received", Actor: "provider:acme", RequestID: id}}
			// 1 to 9 readings each: statements end mid-delivery.
			n := 1 + i%9
			if len(old) >= n {
				d.Readings, old = old[:n], old[n:]
			}
			fresh := 0
			for _, r := range d.Readings {
				if r.RecordedAt.Sub(start)/time.Second%7 != 0 {
					fresh++
				}
			}
			switch i {
			case 20:
				d.Once = key("seen") // recorded by the earlier write
				fresh = store.Replayed
			}
			ds = append(ds, d)
			want = append(want, fresh)
		}
		got, err := e.s.WriteDeliveries(ctx, ds)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("accepted\n%v\nwant\n%v", got, want)
		}
		events, err := e.s.ListAudit(ctx, store.AuditFilter{Action: "webhook.received", Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		byReq := map[string]string{}
		for _, ev := range events {
			byReq[ev.RequestID] = fmt.Sprintf("%v/%v", ev.Details["accepted"], ev.Details["duplicates"])
		}
		if len(byReq) != 69 || byReq["m20"] != "" {
			t.Fatalf("%d audit rows (m20 %q), want 69 and none for the replay", len(byReq), byReq["m20"])
		}
		for i, d := range ds {
			if want[i] == store.Replayed {
				continue
			}
			if w := fmt.Sprintf("%d/%d", want[i], len(d.Readings)-want[i]); byReq[fmt.Sprintf("m%d", i)] != w {
				t.Errorf("m%d's audit counts %s, want %s", i, byReq[fmt.Sprintf("m%d", i)], w)
			}
		}
	})
}
