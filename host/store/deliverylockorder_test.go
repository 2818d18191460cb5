package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/poolhost/poolhost/host/store"
)

// On PostgreSQL every variant of the group commit's statement — readings and replay keys
// inserted plain or with ON CONFLICT, the measured_metrics trigger skipped or not —
// takes its keys in one order: the replay keys (webhook_deliveries), then the
// readings, then the audit rows. Two replicas writing copies of one delivery at once,
// one with the plain statement and one with ON CONFLICT (readingConflicts chooses per
// process), each wait for the key the other took first if the orders differ: a
// deadlock PostgreSQL breaks after deadlock_timeout (1 s) by failing one of the writes.
//
// Each case holds one of a delivery's three keys in an open transaction, runs the
// statement until it waits for that transaction, and then asks, by inserting each other
// key on a third connection with a lock_timeout, which the statement already holds:
// exactly those before the held one in that order. The audit rows have no key of their
// own to wait on (an identity); this throwaway database gives them one.
func TestWriteDeliveriesTakeReplayKeysThenReadingsThenAudits(t *testing.T) {
	e := onEngine(t, "postgres", true)
	ctx := context.Background()
	f := newFixture(t, e, "lockorder@x.io")
	db := e.s.DB().DB
	if _, err := db.ExecContext(ctx, `CREATE UNIQUE INDEX audit_events_request_test ON audit_events (request_id, at)`); err != nil {
		t.Fatal(err)
	}
	start := e.clock.Now().Add(-time.Hour).Truncate(time.Second)
	at := e.clock.Now().Truncate(time.Second)
	order := []string{"replay key", "reading", "audit row"}
	n := 0
	for _, v := range []struct {
		name        string
		fast, plain bool
	}{{"plain", false, true}, {"plain fast", true, true}, {"on conflict", false, false}, {"on conflict fast", true, false}} {
		for h, held := range order {
			n++
			id := fmt.Sprintf("lock-%d", n)
			rs := readingsFor(f, start.Add(time.Duration(n)*time.Minute), 3, "ph")
			d := store.DeliveryWrite{Readings: rs,
				Once:  &store.DeliveryKey{Provider: "acme", AccountID: f.account.ID, DeliveryID: id},
				Audit: &store.AuditEvent{Action: "webhook.received", Actor: "provider:acme", Provider: "acme", RequestID: id, At: at}}
			// insert stores the delivery's key of that kind (its first reading) in tx.
			insert := func(tx *sql.Tx, kind string) error {
				var err error
				switch kind {
				case "replay key":
					_, err = tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (provider, account_id, delivery_id, first_received_at)
						VALUES ($1, $2, $3, $4)`, d.Once.Provider, d.Once.AccountID, d.Once.DeliveryID, at)
				case "reading":
					_, err = tx.ExecContext(ctx, `INSERT INTO sensor_readings (device_id, pool_id, metric, value, recorded_at, received_at)
						VALUES ($1, $2, $3, 0, $4, $4)`, rs[0].DeviceID, rs[0].PoolID, rs[0].Metric, rs[0].RecordedAt)
				case "audit row":
					_, err = tx.ExecContext(ctx, `INSERT INTO audit_events (at, action, actor, request_id)
						VALUES ($1, 'webhook.received', 'provider:acme', $2)`, at, id)
				}
				return err
			}
			t.Run(v.name+"/"+held+" held", func(t *testing.T) {
				holder, err := db.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer holder.Rollback()
				if err := insert(holder, held); err != nil {
					t.Fatal(err)
				}
				var pid int
				if err := holder.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
					t.Fatal(err)
				}
				type result struct {
					n   []int
					err error
				}
				done := make(chan result, 1)
				go func() {
					n, err := e.s.WriteDeliveriesAs(ctx, []store.DeliveryWrite{d}, v.fast, v.plain)
					done <- result{n, err}
				}()
				// Until the statement waits for the holder (generous: it waits at once).
				for deadline := time.Now().Add(30 * time.Second); ; {
					var waiting int
					if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
						WHERE $1 = ANY(pg_blocking_pids(pid))`, pid).Scan(&waiting); err != nil {
						t.Fatal(err)
					}
					if waiting == 1 {
						break
					}
					select {
					case r := <-done:
						t.Fatalf("the statement ended (%v, %v) without waiting for the held %s", r.n, r.err, held)
					default:
					}
					if time.Now().After(deadline) {
						t.Fatalf("the statement is not waiting for the held %s", held)
					}
					time.Sleep(time.Millisecond)
				}
				// The statement waits for the holder and takes nothing more meanwhile: a
				// probe of a key it holds waits for it (and gives up), one of a key it has
				// not reached yet is inserted at once (and rolled back).
				for p, probed := range order {
					if p == h {
						continue
					}
					probe, err := db.BeginTx(ctx, nil)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := probe.ExecContext(ctx, `SET LOCAL lock_timeout = '100ms'`); err != nil {
						t.Fatal(err)
					}
					err = insert(probe, probed)
					probe.Rollback()
					var pqErr *pq.Error
					taken := errors.As(err, &pqErr) && pqErr.Code == "55P03" // lock_not_available
					if err != nil && !taken {
						t.Fatalf("probing the %s: %v", probed, err)
					}
					if want := p < h; taken != want {
						t.Errorf("waiting for the %s, the statement holds the %s: %v, want %v (order: %v)", held, probed, taken, want, order)
					}
				}
				if err := holder.Rollback(); err != nil {
					t.Fatal(err)
				}
				if r := <-done; r.err != nil || fmt.Sprint(r.n) != "[3]" {
					t.Fatalf("the statement, once the holder rolled back: %v, %v; want [3]", r.n, r.err)
				}
			})
		}
	}
}
