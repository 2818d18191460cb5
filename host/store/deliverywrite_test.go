package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
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
//
// On SQLite a statement whose rows were not all new says which were by reading back the
// rowids (LastInsertId-RowsAffected, LastInsertId] and matching their keys, so the batch
// is built to catch a wrong range or a partial key: every instant has readings of two
// metrics of one device and of a second device, and only some of them are stored, so a
// key without its metric or its device matches a new sibling; the stored readings are
// inserted newest index first, so the row just below the first statement's new rowids
// is one that statement repeats; and one delivery id is new under another account than
// the key recorded before.
func TestWriteDeliveriesCountsAcrossStatements(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "many@x.io")
		start := e.clock.Now().Add(-time.Hour).Truncate(time.Second)
		var all []store.Reading // 100 instants × (device ph, device orp, other device's ph)
		for i := range 100 {
			at := start.Add(time.Duration(i) * time.Second)
			for _, dm := range []struct {
				dev    int64
				metric string
			}{{f.device.ID, "ph"}, {f.device.ID, "orp"}, {f.device.ID + 1000, "ph"}} {
				all = append(all, store.Reading{DeviceID: dm.dev, PoolID: f.pool.ID, Metric: dm.metric, Value: float64(i),
					Unit: "u", RecordedAt: at, Quality: "good"})
			}
		}
		// Every 7th reading is stored before: 7 is prime to 3, so each slot of an
		// instant is stored at some instants and new at others.
		stored := map[int]bool{}
		var before []store.Reading
		for i := len(all) - 1 - (len(all)-1)%7; i >= 0; i -= 7 {
			stored[i] = true
			before = append(before, all[i])
		}
		if _, err := e.s.InsertReadings(ctx, before); err != nil {
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
		next := 0
		for i := range 70 {
			id := fmt.Sprintf("m%d", i)
			d := store.DeliveryWrite{Once: key(id), Audit: &store.AuditEvent{Action: "webhook.received", Actor: "provider:acme", RequestID: id}}
			// 1 to 9 readings each: statements end mid-delivery.
			n := min(1+i%9, len(all)-next)
			d.Readings = all[next : next+n]
			fresh := 0
			for j := next; j < next+n; j++ {
				if !stored[j] {
					fresh++
				}
			}
			next += n
			switch i {
			case 20:
				d.Once = key("seen") // recorded by the earlier write
				fresh = store.Replayed
			case 30:
				d.Once = &store.DeliveryKey{Provider: "acme", AccountID: 4, DeliveryID: "seen"} // another account's: new
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

// Group commits run concurrently (GroupCommitWriters) and may share keys — readings sent
// again under another delivery id, a copy of a delivery on another replica. Whatever the
// interleaving, every key is stored once, counted new by exactly one writer, and a
// delivery id is stored by exactly one copy.
func TestWriteDeliveriesConcurrentWritersAreExact(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "concurrent@x.io")
		start := e.clock.Now().Add(-time.Hour).Truncate(time.Second)
		const writers, rounds, keys = 4, 5, 12
		var wg sync.WaitGroup
		accepted := make([][]int, writers*rounds)
		errs := make([]error, writers*rounds)
		for w := range writers {
			wg.Go(func() {
				for r := range rounds {
					// Each writer's deliveries cover the same keys, in an order of its own:
					// a rotation of them, backwards for odd writers.
					rs := readingsFor(f, start.Add(time.Duration(r)*time.Minute), keys, "ph")
					rot := append(rs[w*3:], rs[:w*3]...)
					if w%2 == 1 {
						slices.Reverse(rot)
					}
					ds := []store.DeliveryWrite{
						{Readings: rot[:keys/2], Audit: &store.AuditEvent{Action: "webhook.received", Actor: "provider:acme"}},
						{Readings: rot[keys/2:], Audit: &store.AuditEvent{Action: "webhook.received", Actor: "provider:acme"}},
						// The same delivery from every writer: one stores it.
						{Readings: readingsFor(f, start.Add(time.Duration(r)*time.Minute), 1, "orp"),
							Once: &store.DeliveryKey{Provider: "acme", DeliveryID: fmt.Sprintf("msg_%d", r)}},
					}
					accepted[w*rounds+r], errs[w*rounds+r] = e.s.WriteDeliveries(ctx, ds)
				}
			})
		}
		wg.Wait()
		newReadings, stored := make([]int, rounds), make([]int, rounds)
		for i, a := range accepted {
			if errs[i] != nil {
				t.Fatalf("writer %d, round %d: %v", i/rounds, i%rounds, errs[i])
			}
			newReadings[i%rounds] += a[0] + a[1]
			if a[2] != store.Replayed {
				stored[i%rounds] += a[2]
			}
		}
		for r := range rounds {
			if newReadings[r] != keys || stored[r] != 1 {
				t.Errorf("round %d: %d readings counted new, %d copies of the delivery stored; want %d and 1",
					r, newReadings[r], stored[r], keys)
			}
		}
		if n, _ := e.s.CountReadings(ctx, f.pool.ID); n != rounds*(keys+1) {
			t.Errorf("stored %d readings, want %d", n, rounds*(keys+1))
		}
	})
}

// Two group commits that share keys, in opposite orders, both waiting on a third
// transaction that holds a key between them: inserting in the order given, each would
// take a key the other needs next, a deadlock PostgreSQL breaks by failing one of them.
// In key order the second waits for the first and both succeed.
func TestWriteDeliveriesSharedKeysDoNotDeadlock(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		if e.s.Dialect() != "postgres" {
			t.Skip("SQLite has one writer at a time")
		}
		ctx := context.Background()
		f := newFixture(t, e, "deadlock@x.io")
		rs := readingsFor(f, e.clock.Now().Add(-time.Hour).Truncate(time.Second), 3, "ph") // keys a < m < b
		a, m, b := rs[0], rs[1], rs[2]
		held, release := make(chan struct{}), make(chan struct{})
		txDone := make(chan error, 1)
		go func() {
			txDone <- e.s.InTx(ctx, func(tx *store.Tx) error {
				if _, err := tx.InsertReadings(ctx, []store.Reading{m}); err != nil {
					return err
				}
				close(held)
				<-release
				return nil
			})
		}()
		<-held
		type result struct {
			n   []int
			err error
		}
		results := make(chan result, 2)
		for _, order := range [][]store.Reading{{a, m, b}, {b, m, a}} {
			go func() {
				n, err := e.s.WriteDeliveries(ctx, []store.DeliveryWrite{{Readings: order}})
				results <- result{n, err}
			}()
		}
		// Both writes wait for a lock (the held key, or each other) before it is let go.
		deadline := time.Now().Add(30 * time.Second)
		for {
			var waiting int
			if err := e.s.DB().GetContext(ctx, &waiting, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'`); err != nil {
				t.Fatal(err)
			}
			if waiting == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d writes waiting for a lock, want 2", waiting)
			}
			time.Sleep(time.Millisecond)
		}
		close(release)
		if err := <-txDone; err != nil {
			t.Fatal(err)
		}
		total := 0
		for range 2 {
			r := <-results
			if r.err != nil {
				t.Fatalf("write: %v", r.err)
			}
			total += r.n[0]
		}
		if total != 2 {
			t.Errorf("%d readings counted new by the two writes, want 2 (a and b)", total)
		}
		if n, _ := e.s.CountReadings(ctx, f.pool.ID); n != 3 {
			t.Errorf("stored %d readings, want 3", n)
		}
	})
}

// On PostgreSQL the group commit's statement is prepared once per connection, not
// parsed and planned for every write (an unnamed statement is never listed in
// pg_prepared_statements), and a prepared write stays exact.
func TestWriteDeliveriesPreparedOnPostgres(t *testing.T) {
	e := onEngine(t, "postgres", true)
	ctx := context.Background()
	f := newFixture(t, e, "prepared@x.io")
	s := e.open(t, store.WithMaxOpenConns(1)) // one session, so its statements can be listed
	start := e.clock.Now().Add(-time.Hour).Truncate(time.Second)
	for i := range 3 {
		n, err := s.WriteDeliveries(ctx, []store.DeliveryWrite{
			{Readings: readingsFor(f, start, 2+i, "ph"), Audit: &store.AuditEvent{Action: "webhook.received", Actor: "provider:acme"}},
		})
		if err != nil || n[0] != 1 && i > 0 || n[0] != 2 && i == 0 {
			t.Fatalf("write %d: %v, %v", i, n, err)
		}
	}
	// The first write's text, of a new (pool, metric) pair, and the next two's, of a
	// pair known kept in measured_metrics (writeDeliveriesFastSQL): the second write
	// meets stored readings, so it runs both the plain text and, after its unique
	// violation, the one with ON CONFLICT, which the third write keeps
	// (readingConflicts).
	var prepared, fast int
	if err := s.DB().QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE statement LIKE '%measured_kept%')
		FROM pg_prepared_statements WHERE statement LIKE '%INSERT INTO audit_events%' AND NOT from_sql`).Scan(&prepared, &fast); err != nil {
		t.Fatal(err)
	}
	if prepared != 3 || fast != 2 {
		t.Errorf("%d prepared group-commit statements in the session (%d for known pairs), want 3 (2)", prepared, fast)
	}
}

// TestWriteDeliveriesRepeatedKeyInOneCall: two copies of one delivery in the same call
// (two requests sharing a group commit) are one delivery: the first is stored, the
// second is a replay that writes nothing, not even readings the first did not carry.
func TestWriteDeliveriesRepeatedKeyInOneCall(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "twice@x.io")
		rs := readingsFor(f, e.clock.Now().Add(-time.Hour).Truncate(time.Second), 3, "ph")
		key := &store.DeliveryKey{Provider: "acme", AccountID: 3, DeliveryID: "twice"}
		audit := func(req string) *store.AuditEvent {
			return &store.AuditEvent{Action: "webhook.received", Actor: "provider:acme", RequestID: req}
		}
		got, err := e.s.WriteDeliveries(ctx, []store.DeliveryWrite{
			{Readings: rs[:2], Once: key, Audit: audit("first")},
			{Readings: rs[1:], Once: key, Audit: audit("second")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint([]int{2, store.Replayed}) {
			t.Fatalf("accepted %v, want [2 %d]", got, store.Replayed)
		}
		stored, _, err := e.s.ListReadings(ctx, store.ReadingQuery{PoolID: f.pool.ID, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != 2 {
			t.Errorf("%d readings stored, want the first copy's 2", len(stored))
		}
		events, err := e.s.ListAudit(ctx, store.AuditFilter{Action: "webhook.received", Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].RequestID != "first" {
			t.Errorf("audit rows %+v, want the first copy's only", events)
		}
	})
}

// How many group commits ingest may have in flight follows the PostgreSQL pool: a
// quarter of it, at least two, one in a pool too small to spare two.
func TestGroupCommitWritersFollowThePool(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		if e.s.Dialect() != "postgres" {
			t.Skip("SQLite's writers do not follow a pool: it has one writing connection")
		}
		for _, tc := range []struct{ conns, want int }{{1, 1}, {3, 1}, {4, 2}, {8, 2}, {20, 5}, {40, 10}} {
			s := e.open(t, store.WithMaxOpenConns(tc.conns))
			if got := s.GroupCommitWriters(); got != tc.want {
				t.Errorf("pool of %d: %d group commits at once, want %d", tc.conns, got, tc.want)
			}
		}
	})
}

// groupCommitRuns is how many times the one-connection store s ran the group commit's
// statement with the readings inserted plain, and with ON CONFLICT (its executions are
// its plans, generic or custom, in pg_prepared_statements).
func groupCommitRuns(t *testing.T, s *store.Store) (plain, onConflict int) {
	t.Helper()
	if err := s.DB().QueryRowContext(context.Background(), `
		SELECT COALESCE(sum(generic_plans + custom_plans) FILTER (WHERE statement NOT LIKE '%ON CONFLICT (device_id, recorded_at, metric)%'), 0),
		       COALESCE(sum(generic_plans + custom_plans) FILTER (WHERE statement LIKE '%ON CONFLICT (device_id, recorded_at, metric)%'), 0)
		FROM pg_prepared_statements WHERE statement LIKE '%INSERT INTO audit_events%' AND NOT from_sql`).Scan(&plain, &onConflict); err != nil {
		t.Fatal(err)
	}
	return plain, onConflict
}

// On PostgreSQL a group commit of new readings inserts them without ON CONFLICT, whose
// speculative insertion cost a sixth of the statement's CPU; one that meets a stored
// reading fails whole and is written again with ON CONFLICT, exact, and the next
// statement then keeps ON CONFLICT before trying without it again.
func TestWriteDeliveriesNewReadingsInsertedPlainOnPostgres(t *testing.T) {
	e := onEngine(t, "postgres", true)
	ctx := context.Background()
	f := newFixture(t, e, "plain@x.io")
	s := e.open(t, store.WithMaxOpenConns(1)) // one session, so its statements can be listed
	start := e.clock.Now().Add(-time.Hour).Truncate(time.Second)
	write := func(rs []store.Reading, id string) int {
		t.Helper()
		n, err := s.WriteDeliveries(ctx, []store.DeliveryWrite{{Readings: rs,
			Once:  &store.DeliveryKey{Provider: "acme", AccountID: f.account.ID, DeliveryID: id},
			Audit: &store.AuditEvent{Action: "webhook.received", Actor: "provider:acme", RequestID: id}}})
		if err != nil {
			t.Fatalf("write %s: %v", id, err)
		}
		return n[0]
	}
	if n := write(readingsFor(f, start, 3, "ph"), "new"); n != 3 {
		t.Fatalf("new readings: accepted %d, want 3", n)
	}
	if plain, onConflict := groupCommitRuns(t, s); plain != 1 || onConflict != 0 {
		t.Fatalf("new readings: %d plain statements, %d with ON CONFLICT; want 1, 0", plain, onConflict)
	}
	// Two stored, two new: the plain statement fails, nothing of it is kept, and the
	// statement with ON CONFLICT stores and counts the two new ones.
	if n := write(readingsFor(f, start.Add(time.Second), 4, "ph"), "again"); n != 2 {
		t.Fatalf("two of four stored before: accepted %d, want 2", n)
	}
	if plain, onConflict := groupCommitRuns(t, s); plain != 2 || onConflict != 1 {
		t.Fatalf("after a duplicate: %d plain statements, %d with ON CONFLICT; want 2, 1", plain, onConflict)
	}
	if n, _ := s.CountReadings(ctx, f.pool.ID); n != 5 {
		t.Fatalf("stored %d readings, want 5", n)
	}
	var keys, audits int
	if err := s.DB().GetContext(ctx, &keys, `SELECT count(*) FROM webhook_deliveries WHERE delivery_id = 'again'`); err != nil || keys != 1 {
		t.Fatalf("replay key of the retried delivery stored %d times (%v), want once", keys, err)
	}
	if err := s.DB().GetContext(ctx, &audits, `SELECT count(*) FROM audit_events WHERE request_id = 'again'`); err != nil || audits != 1 {
		t.Fatalf("audit row of the retried delivery stored %d times (%v), want once", audits, err)
	}
	// The next statement keeps ON CONFLICT; the one after tries without it again.
	write(readingsFor(f, start.Add(time.Minute), 1, "ph"), "next")
	write(readingsFor(f, start.Add(2*time.Minute), 1, "ph"), "after")
	if plain, onConflict := groupCommitRuns(t, s); plain != 3 || onConflict != 2 {
		t.Fatalf("two more writes: %d plain statements, %d with ON CONFLICT; want 3, 2", plain, onConflict)
	}
}

// The replay keys are inserted plain too: a delivery whose key was stored before fails
// the plain statement like a reading stored before, and the statement with ON CONFLICT
// answers it as a replay, writing none of its rows; the delivery beside it is stored.
func TestWriteDeliveriesReplayKeysInsertedPlainOnPostgres(t *testing.T) {
	e := onEngine(t, "postgres", true)
	ctx := context.Background()
	f := newFixture(t, e, "plainkeys@x.io")
	s := e.open(t, store.WithMaxOpenConns(1)) // one session, so its statements can be listed
	start := e.clock.Now().Add(-time.Hour).Truncate(time.Second)
	d := func(rs []store.Reading, id string) store.DeliveryWrite {
		return store.DeliveryWrite{Readings: rs,
			Once:  &store.DeliveryKey{Provider: "acme", AccountID: f.account.ID, DeliveryID: id},
			Audit: &store.AuditEvent{Action: "webhook.received", Actor: "provider:acme", RequestID: id}}
	}
	if n, err := s.WriteDeliveries(ctx, []store.DeliveryWrite{d(readingsFor(f, start, 2, "ph"), "first")}); err != nil || fmt.Sprint(n) != "[2]" {
		t.Fatalf("first: %v, %v; want [2]", n, err)
	}
	// The copy's readings are all new (a reading the first did not have): only its key
	// was stored before.
	n, err := s.WriteDeliveries(ctx, []store.DeliveryWrite{
		d(readingsFor(f, start.Add(time.Minute), 3, "ph"), "first"),
		d(readingsFor(f, start, 1, "orp"), "other"),
	})
	if err != nil || fmt.Sprint(n) != fmt.Sprintf("[%d 1]", store.Replayed) {
		t.Fatalf("replay beside a new delivery: %v, %v; want [%d 1]", n, err, store.Replayed)
	}
	if plain, onConflict := groupCommitRuns(t, s); plain != 2 || onConflict != 1 {
		t.Fatalf("after a replay: %d plain statements, %d with ON CONFLICT; want 2, 1 (the replay failed the plain one)", plain, onConflict)
	}
	var plainKeys int
	if err := s.DB().GetContext(ctx, &plainKeys, `SELECT count(*) FROM pg_prepared_statements
		WHERE statement LIKE '%INSERT INTO audit_events%' AND statement NOT LIKE '%ON CONFLICT%' AND NOT from_sql`); err != nil || plainKeys != 1 {
		t.Fatalf("%d group-commit statements without any ON CONFLICT (%v), want the plain one", plainKeys, err)
	}
	if c, _ := s.CountReadings(ctx, f.pool.ID); c != 3 {
		t.Errorf("stored %d readings, want 3 (none of the replay's)", c)
	}
	var audits int
	if err := s.DB().GetContext(ctx, &audits, `SELECT count(*) FROM audit_events WHERE request_id = 'first'`); err != nil || audits != 1 {
		t.Errorf("%d audit rows of the replayed delivery (%v), want the first's only", audits, err)
	}
}
