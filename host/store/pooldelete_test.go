package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// rowsOf counts the rows of table whose pool_id is poolID.
func rowsOf(t *testing.T, e *env, table string, poolID int64) int {
	t.Helper()
	var n int
	if err := e.s.DB().QueryRowContext(context.Background(), fmt.Sprintf(`SELECT COUNT(*) FROM %s WHERE pool_id = %d`, table, poolID)).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// TestDeletePool: a pool goes with everything that is its alone — members (so its
// owner's cap has room again), equipment, device links, test sessions, readings,
// rollups, measured metrics — while another pool keeps all of its own, the devices stay
// with their account, the queued command is canceled (and never claimed) and the sent
// one keeps its history. A second delete is ErrNotFound.
func TestDeletePool(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f, g := newFixture(t, e, "dora@x.io"), newFixture(t, e, "gus@x.io")
		base := e.clock.Now().Add(-time.Hour)
		if _, err := e.s.WriteDeliveries(ctx, []store.DeliveryWrite{
			ingestDelivery(f, 1, base, time.Minute, e.clock.Now()), ingestDelivery(g, 2, base, time.Minute, e.clock.Now()),
		}); err != nil {
			t.Fatal(err)
		}
		for _, fx := range []fixture{f, g} {
			if _, _, err := e.s.InsertTestSession(ctx, store.TestSession{PoolID: fx.pool.ID, TakenAt: base, Method: "strips",
				Results: []store.TestResult{{Metric: "ph", Value: 7.4, Unit: "pH"}}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := e.s.AdvanceRollups(ctx); err != nil {
			t.Fatal(err)
		}
		editor, err := e.s.CreateUser(ctx, "ed@x.io", false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.SetPoolMember(ctx, f.pool.ID, editor.ID, store.RoleEditor); err != nil {
			t.Fatal(err)
		}
		eq, err := e.s.CreateEquipment(ctx, f.pool.ID, "pump", "main pump", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.BindEquipment(ctx, f.pool.ID, eq.ID, f.device.ID, ""); err != nil {
			t.Fatal(err)
		}
		cmd := func(key string) store.NewCommand { c := newCommand(f, key, key); c.EquipmentID = eq.ID; return c }
		sent, _, err := e.s.CreateCommand(ctx, cmd("sent"))
		if err != nil {
			t.Fatal(err)
		}
		claimed, err := e.s.ClaimCommands(ctx, "w1", 10, time.Minute, 0)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim = %+v, %v", claimed, err)
		}
		queued, _, err := e.s.CreateCommand(ctx, cmd("queued"))
		if err != nil {
			t.Fatal(err)
		}
		// Being sent: the pool cannot go under it.
		if _, err := e.s.DeletePool(ctx, f.pool.ID); !errors.Is(err, store.ErrPoolBusy) {
			t.Fatalf("delete while a command is being sent = %v, want ErrPoolBusy", err)
		}
		if _, err := e.s.GetCommand(ctx, f.pool.ID, queued.PublicID); err != nil {
			t.Fatalf("the refused delete canceled nothing: %v", err)
		}
		if _, err := e.s.FinishCommand(ctx, claimed[0].ID, claimed[0].Lease(), store.CommandOutcome{Status: store.CommandSent}); err != nil {
			t.Fatal(err)
		}

		tables := []string{"sensor_readings", "test_results", "test_sessions", "reading_rollups", "reading_rollups_daily",
			"pool_members", "equipment", "device_pool_links"}
		if e.s.Dialect() == "postgres" {
			tables = append(tables, "measured_metrics")
		}
		for _, table := range tables {
			if rowsOf(t, e, table, f.pool.ID) == 0 {
				t.Fatalf("fixture: no %s of the pool to delete", table)
			}
		}
		gBefore := map[string]int{}
		for _, table := range tables {
			gBefore[table] = rowsOf(t, e, table, g.pool.ID)
		}

		del, err := e.s.DeletePool(ctx, f.pool.ID)
		if err != nil {
			t.Fatal(err)
		}
		if del.Readings != int64(len(deliveryMetrics)) || del.TestSessions != 1 || del.UnlinkedDevices != 1 ||
			len(del.Canceled) != 1 || del.Canceled[0].PublicID != queued.PublicID || del.Canceled[0].Status != store.CommandCanceled {
			t.Fatalf("deletion = %+v", del)
		}
		for _, table := range tables {
			if n := rowsOf(t, e, table, f.pool.ID); n != 0 {
				t.Errorf("%s: %d rows of the deleted pool left", table, n)
			}
			if n := rowsOf(t, e, table, g.pool.ID); n != gBefore[table] {
				t.Errorf("%s: the other pool has %d rows, had %d", table, n, gBefore[table])
			}
		}
		if _, err := e.s.GetPool(ctx, f.pool.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetPool after delete = %v", err)
		}
		// The device stays with its account, linked to no pool, free to be linked again.
		d, err := e.s.GetDevice(ctx, f.device.ID)
		if err != nil || d.PoolID != 0 || d.AccountID != f.account.ID {
			t.Fatalf("device after delete = %+v, %v", d, err)
		}
		// Commands keep their history: sent stays sent, queued is canceled, and
		// nothing is left to claim.
		for want, id := range map[store.CommandStatus]string{store.CommandSent: sent.PublicID, store.CommandCanceled: queued.PublicID} {
			c, err := e.s.CommandByPublicID(ctx, id)
			if err != nil || c.Status != want || c.PoolID != f.pool.ID {
				t.Errorf("command %s after delete = %+v, %v; want %s", id, c, err, want)
			}
		}
		if more, err := e.s.ClaimCommands(ctx, "w2", 10, time.Minute, 0); err != nil || len(more) != 0 {
			t.Errorf("claimed after delete: %+v, %v", more, err)
		}
		// Nothing new for the deleted pool: a command, a member, equipment, a link.
		if _, _, err := e.s.CreateCommand(ctx, newCommand(f, "late", "late")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("command for a deleted pool = %v, want ErrNotFound", err)
		}
		if _, err := e.s.SetPoolMember(ctx, f.pool.ID, editor.ID, store.RoleOwner); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("member of a deleted pool = %v, want ErrNotFound", err)
		}
		if _, err := e.s.CreateEquipment(ctx, f.pool.ID, "pump", "late", nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("equipment of a deleted pool = %v, want ErrNotFound", err)
		}
		if _, err := e.s.LinkDevice(ctx, f.device.ID, f.pool.ID, f.user.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("link to a deleted pool = %v, want ErrNotFound", err)
		}
		if _, err := e.s.LinkDevice(ctx, f.device.ID, g.pool.ID, g.user.ID); err != nil {
			t.Errorf("the device linked elsewhere: %v", err)
		}
		if _, err := e.s.DeletePool(ctx, f.pool.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second delete = %v, want ErrNotFound", err)
		}
	})
}

// TestDeletePoolFreesTheCap: the deleted pool no longer counts toward its owner's
// max_pools_per_user.
func TestDeletePoolFreesTheCap(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u, err := e.s.CreateUser(ctx, "cap@x.io", false)
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.s.CreateOwnedPool(ctx, "one", u.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.CreateOwnedPool(ctx, "two", u.ID, 1); !errors.Is(err, store.ErrPoolLimit) {
			t.Fatalf("second pool at cap 1 = %v", err)
		}
		if _, err := e.s.DeletePool(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.CreateOwnedPool(ctx, "two", u.ID, 1); err != nil {
			t.Fatalf("a pool after deleting the one: %v", err)
		}
	})
}

// TestWriteAfterDeletePoolWritesNothing: a group commit whose devices were resolved
// before their pool was deleted writes nothing — no reading, replay key or audit row,
// even of the batch's other deliveries — and says ErrPoolGone, so that ingest resolves
// them again; a batch of live pools is written as before.
func TestWriteAfterDeletePoolWritesNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f, g := newFixture(t, e, "wd@x.io"), newFixture(t, e, "wg@x.io")
		if _, err := e.s.DeletePool(ctx, f.pool.ID); err != nil {
			t.Fatal(err)
		}
		base := e.clock.Now().Add(-time.Hour)
		batch := []store.DeliveryWrite{ingestDelivery(f, 1, base, time.Minute, e.clock.Now()), ingestDelivery(g, 2, base, time.Minute, e.clock.Now())}
		if _, err := e.s.WriteDeliveries(ctx, batch); !errors.Is(err, store.ErrPoolGone) {
			t.Fatalf("write to a deleted pool = %v, want ErrPoolGone", err)
		}
		if n := rowsOf(t, e, "sensor_readings", f.pool.ID) + rowsOf(t, e, "sensor_readings", g.pool.ID); n != 0 {
			t.Fatalf("%d readings written", n)
		}
		var keys int
		if err := e.s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries`).Scan(&keys); err != nil || keys != 0 {
			t.Fatalf("replay keys recorded: %d, %v", keys, err)
		}
		err := e.s.InTx(ctx, func(tx *store.Tx) error { return tx.HoldPools(ctx, []int64{g.pool.ID, f.pool.ID}) })
		if !errors.Is(err, store.ErrPoolGone) {
			t.Fatalf("HoldPools with a deleted pool = %v", err)
		}
		if got, err := e.s.WriteDeliveries(ctx, batch[1:]); err != nil || got[0] != len(deliveryMetrics) {
			t.Fatalf("the live pool's delivery alone = %v, %v", got, err)
		}
		// A delivery whose readings were all dropped still writes its audit row: no
		// pool to hold.
		empty := ingestDelivery(g, 3, base, time.Minute, e.clock.Now())
		empty.Readings = nil
		if got, err := e.s.WriteDeliveries(ctx, []store.DeliveryWrite{empty}); err != nil || got[0] != 0 {
			t.Fatalf("a delivery without readings = %v, %v", got, err)
		}
	})
}

// TestDeletePoolWaitsForAWriteInFlight: a write that held its pool before the delete
// began (ingest's transaction, HoldPools) commits first, and its readings go with the
// pool: none is left behind for a pool that no longer is.
func TestDeletePoolWaitsForAWriteInFlight(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "wf@x.io")
		held, release := make(chan struct{}), make(chan struct{})
		wrote := make(chan error, 1)
		go func() {
			wrote <- e.s.InTx(ctx, func(tx *store.Tx) error {
				if err := tx.HoldPools(ctx, []int64{f.pool.ID}); err != nil {
					return err
				}
				d := ingestDelivery(f, 1, e.clock.Now().Add(-time.Hour), time.Minute, e.clock.Now())
				if _, err := tx.InsertReadings(ctx, d.Readings); err != nil {
					return err
				}
				close(held)
				<-release
				return nil
			})
		}()
		<-held
		deleted := make(chan error, 1)
		go func() { _, err := e.s.DeletePool(ctx, f.pool.ID); deleted <- err }()
		select {
		case err := <-deleted:
			t.Fatalf("the delete did not wait for the write in flight: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		close(release)
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
		if err := <-deleted; err != nil {
			t.Fatal(err)
		}
		if n := rowsOf(t, e, "sensor_readings", f.pool.ID); n != 0 {
			t.Fatalf("%d readings of the deleted pool left", n)
		}
	})
}

// TestGroupCommitWaitingOnADeleteWritesNothing (PostgreSQL): a group commit whose
// statement began while a DeletePool was in flight — its snapshot still shows the pool
// — waits for the delete's lock, then finds the pool gone and writes nothing
// (ErrPoolGone); it does not write readings for a pool whose delete has committed.
func TestGroupCommitWaitingOnADeleteWritesNothing(t *testing.T) {
	e := onEngine(t, "postgres", true)
	ctx := context.Background()
	f := newFixture(t, e, "race@x.io")
	// DeletePool's first steps, held open: the pool's lock, the pool gone.
	tx, err := e.s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(1886351212, $1::INT)`, f.pool.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM pools WHERE id = $1`, f.pool.ID); err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := e.s.WriteDeliveries(ctx, []store.DeliveryWrite{ingestDelivery(f, 1, e.clock.Now().Add(-time.Hour), time.Minute, e.clock.Now())})
		wrote <- err
	}()
	// The write waits for the pool's lock.
	for {
		var waiting int
		if err := e.s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-wrote:
			t.Fatalf("the write did not wait for the delete: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; !errors.Is(err, store.ErrPoolGone) {
		t.Fatalf("write after the delete committed = %v, want ErrPoolGone", err)
	}
	if n := rowsOf(t, e, "sensor_readings", f.pool.ID); n != 0 {
		t.Fatalf("%d readings written to the deleted pool", n)
	}
}

// 00039 drops commands.pool_id's foreign key (rebuilding the table on SQLite): the
// commands keep their rows and ids both ways, no id is handed out twice (SQLite's
// AUTOINCREMENT sequence survives the rebuild), and going down drops only the commands
// of deleted pools, which the foreign key cannot hold.
func TestPoolDeletionMigration(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f, g := newFixture(t, e, "m1@x.io"), newFixture(t, e, "m2@x.io")
		var ids []int64
		for _, c := range []store.NewCommand{newCommand(f, "a", "a"), newCommand(g, "b", "b"), newCommand(g, "c", "c")} {
			got, _, err := e.s.CreateCommand(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, got.ID)
		}
		// The newest command goes: its id must not come back.
		if _, err := e.s.DB().ExecContext(ctx, fmt.Sprintf(`DELETE FROM commands WHERE id = %d`, ids[2])); err != nil {
			t.Fatal(err)
		}
		commandIDs := func() []int64 {
			t.Helper()
			var got []int64
			if err := e.s.DB().SelectContext(ctx, &got, `SELECT id FROM commands ORDER BY id`); err != nil {
				t.Fatal(err)
			}
			return got
		}
		for _, step := range []func(context.Context) error{
			func(ctx context.Context) error { return e.s.MigrateDownTo(ctx, 38) },
			func(ctx context.Context) error { _, err := e.s.Migrate(ctx); return err },
		} {
			if err := step(ctx); err != nil {
				t.Fatal(err)
			}
			if got := commandIDs(); len(got) != 2 || got[0] != ids[0] || got[1] != ids[1] {
				t.Fatalf("commands after a step: %v, want %v", got, ids[:2])
			}
		}
		next, _, err := e.s.CreateCommand(ctx, newCommand(g, "d", "d"))
		if err != nil || next.ID <= ids[2] {
			t.Fatalf("a new command's id %d (deleted one's %d), %v", next.ID, ids[2], err)
		}
		if _, err := e.s.DeletePool(ctx, f.pool.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.s.MigrateDownTo(ctx, 38); err != nil {
			t.Fatal(err)
		}
		if got := commandIDs(); len(got) != 2 || got[0] != ids[1] || got[1] != next.ID {
			t.Fatalf("commands after down with a deleted pool: %v, want %v", got, []int64{ids[1], next.ID})
		}
		if _, err := e.s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDeletePoolEndsAnExpiredSend: a send whose lease ran out (its host died mid-send)
// does not hold the pool forever: the delete makes it unknown, as the dispatcher's
// rescue would, and goes on.
func TestDeletePoolEndsAnExpiredSend(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "lease@x.io")
		c, _, err := e.s.CreateCommand(ctx, newCommand(f, "k", "k"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := e.s.ClaimCommands(ctx, "gone-host", 10, time.Minute, 0); err != nil || len(got) != 1 {
			t.Fatalf("claim = %+v, %v", got, err)
		}
		if _, err := e.s.DeletePool(ctx, f.pool.ID); !errors.Is(err, store.ErrPoolBusy) {
			t.Fatalf("delete within the lease = %v, want ErrPoolBusy", err)
		}
		e.clock.Advance(2 * time.Minute)
		del, err := e.s.DeletePool(ctx, f.pool.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(del.Interrupted) != 1 || del.Interrupted[0].PublicID != c.PublicID || del.Interrupted[0].Status != store.CommandUnknown {
			t.Fatalf("interrupted = %+v", del.Interrupted)
		}
		if got, err := e.s.CommandByPublicID(ctx, c.PublicID); err != nil || got.Status != store.CommandUnknown || got.LeaseToken != "" {
			t.Fatalf("the command after the delete = %+v, %v", got, err)
		}
	})
}
