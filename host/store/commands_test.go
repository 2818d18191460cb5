package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

func newCommand(f fixture, key, hash string) store.NewCommand {
	return store.NewCommand{PoolID: f.pool.ID, DeviceID: f.device.ID, AccountID: f.account.ID, Provider: "acme",
		ProviderDeviceID: f.device.ProviderDeviceID, Command: "pump.set", Params: store.Details{"on": true},
		RequestedBy: f.user.ID, IdempotencyKey: key, RequestHash: hash, ExpiresAt: time.Date(2025, 6, 1, 12, 10, 0, 0, time.UTC)}
}

func TestCommandLifecycle(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "cal@x.io")
		eq, err := e.s.CreateEquipment(ctx, f.pool.ID, "pump", "main pump", nil)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := e.s.BindEquipment(ctx, f.pool.ID, eq.ID, f.device.ID, "2"); err != nil || b.DeviceID != f.device.ID || b.Channel != "2" {
			t.Fatalf("bind = %+v, %v", b, err)
		}
		g := newFixture(t, e, "gil@x.io")
		if _, err := e.s.BindEquipment(ctx, f.pool.ID, eq.ID, g.device.ID, ""); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("binding another pool's device = %v, want ErrInvalid", err)
		}

		// Idempotency: same key and hash, same command; other hash, mismatch.
		c1, created, err := e.s.CreateCommand(ctx, newCommand(f, "k1", "h1"))
		if err != nil || !created || c1.Status != store.CommandQueued || c1.Params["on"] != true {
			t.Fatalf("create = %+v %v %v", c1, created, err)
		}
		again, created, err := e.s.CreateCommand(ctx, newCommand(f, "k1", "h1"))
		if err != nil || created || again.PublicID != c1.PublicID {
			t.Fatalf("same key = %+v %v %v", again, created, err)
		}
		if _, _, err := e.s.CreateCommand(ctx, newCommand(f, "k1", "h2")); !errors.Is(err, store.ErrIdempotencyMismatch) {
			t.Fatalf("same key other body = %v", err)
		}
		c2, _, err := e.s.CreateCommand(ctx, newCommand(f, "", "h3"))
		if err != nil {
			t.Fatal(err)
		}

		// One in flight per device, in order: c1 first, c2 only after c1 left sending.
		got, err := e.s.ClaimCommands(ctx, "w1", 10, time.Minute, 0)
		if err != nil || len(got) != 1 || got[0].ID != c1.ID || got[0].Status != store.CommandSending {
			t.Fatalf("claim = %+v, %v", got, err)
		}
		if more, _ := e.s.ClaimCommands(ctx, "w2", 10, time.Minute, 0); len(more) != 0 {
			t.Fatalf("claimed a second command of a device in flight: %+v", more)
		}
		if _, err := e.s.CancelCommand(ctx, f.pool.ID, c1.PublicID); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("cancel while sending = %v, want ErrConflict", err)
		}
		sent, err := e.s.FinishCommand(ctx, got[0].ID, got[0].Lease(), store.CommandOutcome{Status: store.CommandSent, ProviderRef: "ref-1"})
		if err != nil || sent.Status != store.CommandSent {
			t.Fatalf("finish = %+v, %v", sent, err)
		}
		if _, err := e.s.FinishCommand(ctx, got[0].ID, got[0].Lease(), store.CommandOutcome{Status: store.CommandSent}); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("second finish = %v, want ErrLeaseLost", err)
		}

		// Updates: only the owning account, only forward.
		if _, _, err := e.s.ApplyCommandUpdate(ctx, g.account.ID, c1.PublicID, "", store.CommandSucceeded, ""); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another account's update = %v, want ErrNotFound", err)
		}
		if _, after, err := e.s.ApplyCommandUpdate(ctx, f.account.ID, "", "ref-1", store.CommandDelivered, ""); err != nil || after.Status != store.CommandDelivered {
			t.Fatalf("delivered by ref = %+v, %v", after, err)
		}
		if _, after, err := e.s.ApplyCommandUpdate(ctx, f.account.ID, c1.PublicID, "", store.CommandSucceeded, ""); err != nil || after.Status != store.CommandSucceeded || after.FinishedAt == nil {
			t.Fatalf("succeeded = %+v, %v", after, err)
		}
		if _, _, err := e.s.ApplyCommandUpdate(ctx, f.account.ID, c1.PublicID, "", store.CommandFailed, "late"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("failed after succeeded = %v, want ErrNotFound", err)
		}

		// Cancel while queued; a canceled command is never claimed.
		if cc, err := e.s.CancelCommand(ctx, f.pool.ID, c2.PublicID); err != nil || cc.Status != store.CommandCanceled {
			t.Fatalf("cancel = %+v, %v", cc, err)
		}
		if more, _ := e.s.ClaimCommands(ctx, "w1", 10, time.Minute, 0); len(more) != 0 {
			t.Fatalf("claimed a canceled command: %+v", more)
		}

		// Expiry: a queued command past its expiry is expired, never claimed.
		c3, _, _ := e.s.CreateCommand(ctx, newCommand(f, "", "h4"))
		e.clock.Advance(11 * time.Minute)
		if more, _ := e.s.ClaimCommands(ctx, "w1", 10, time.Minute, 0); len(more) != 0 {
			t.Fatalf("claimed an expired command: %+v", more)
		}
		exp, err := e.s.ExpireCommands(ctx)
		if err != nil || len(exp) != 1 || exp[0].ID != c3.ID || exp[0].Status != store.CommandExpired {
			t.Fatalf("expire = %+v, %v", exp, err)
		}

		// A send lease that runs out becomes unknown, never queued.
		n := newCommand(f, "", "h5")
		n.ExpiresAt = e.clock.Now().Add(time.Hour)
		c4, _, _ := e.s.CreateCommand(ctx, n)
		got, _ = e.s.ClaimCommands(ctx, "w1", 10, time.Minute, 0)
		if len(got) != 1 || got[0].ID != c4.ID {
			t.Fatalf("claim c4 = %+v", got)
		}
		e.clock.Advance(2 * time.Minute)
		resc, err := e.s.RescueCommands(ctx)
		if err != nil || len(resc) != 1 || resc[0].Status != store.CommandUnknown {
			t.Fatalf("rescue = %+v, %v", resc, err)
		}
		if more, _ := e.s.ClaimCommands(ctx, "w1", 10, time.Minute, 0); len(more) != 0 {
			t.Fatalf("claimed an unknown command: %+v", more)
		}
		list, err := e.s.ListCommands(ctx, store.CommandFilter{PoolID: f.pool.ID, Statuses: []store.CommandStatus{store.CommandUnknown}})
		if err != nil || len(list) != 1 || list[0].ID != c4.ID {
			t.Fatalf("list unknown = %+v, %v", list, err)
		}
	})
}

func TestCommandRateLimit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "rae@x.io")
		for i := range 2 {
			n := newCommand(f, "", "h")
			n.ExpiresAt = e.clock.Now().Add(time.Hour)
			if _, _, err := e.s.CreateCommand(ctx, n); err != nil {
				t.Fatal(i, err)
			}
		}
		got, _ := e.s.ClaimCommands(ctx, "w", 10, time.Minute, 5*time.Second)
		if len(got) != 1 {
			t.Fatalf("claim = %+v", got)
		}
		if _, err := e.s.FinishCommand(ctx, got[0].ID, got[0].Lease(), store.CommandOutcome{Status: store.CommandSent}); err != nil {
			t.Fatal(err)
		}
		if more, _ := e.s.ClaimCommands(ctx, "w", 10, time.Minute, 5*time.Second); len(more) != 0 {
			t.Fatalf("claimed within the device's rate limit: %+v", more)
		}
		e.clock.Advance(6 * time.Second)
		if more, _ := e.s.ClaimCommands(ctx, "w", 10, time.Minute, 5*time.Second); len(more) != 1 {
			t.Fatalf("claim after the interval = %+v", more)
		}
	})
}

// TestEquipmentPerPoolCapped: a pool holds at most MaxEquipmentPerPool pieces of
// equipment (its list is one answer); another is ErrEquipmentLimit, a 409, until one is
// deleted. Another pool has its own.
func TestEquipmentPerPoolCapped(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "eve@x.io")
		var last store.Equipment
		for i := range store.MaxEquipmentPerPool {
			eq, err := e.s.CreateEquipment(ctx, f.pool.ID, "pump", "pump", nil)
			if err != nil {
				t.Fatalf("equipment %d: %v", i+1, err)
			}
			last = eq
		}
		if _, err := e.s.CreateEquipment(ctx, f.pool.ID, "pump", "one too many", nil); !errors.Is(err, store.ErrEquipmentLimit) {
			t.Fatalf("equipment %d: %v, want ErrEquipmentLimit", store.MaxEquipmentPerPool+1, err)
		}
		if err := e.s.DeleteEquipment(ctx, f.pool.ID, last.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.CreateEquipment(ctx, f.pool.ID, "pump", "in its place", nil); err != nil {
			t.Fatalf("after a deletion: %v", err)
		}
		g := newFixture(t, e, "fay@x.io")
		if _, err := e.s.CreateEquipment(ctx, g.pool.ID, "pump", "another pool's", nil); err != nil {
			t.Fatalf("another pool: %v", err)
		}
	})
}

// TestQueuedCommandsPerDeviceCapped: a device has at most MaxQueuedCommandsPerDevice
// commands waiting to be sent (they go out one at a time, at most one per min interval,
// so a queue past that only piles up actuator orders); another is
// ErrCommandQueueFull, a 409, until one leaves the queue. An idempotent repeat of a queued
// command is still answered, and another device has its own queue.
func TestQueuedCommandsPerDeviceCapped(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "quinn@x.io")
		var first store.Command
		for i := range store.MaxQueuedCommandsPerDevice {
			c, _, err := e.s.CreateCommand(ctx, newCommand(f, fmt.Sprintf("k%d", i), "h"))
			if err != nil {
				t.Fatalf("command %d: %v", i+1, err)
			}
			if i == 0 {
				first = c
			}
		}
		if _, _, err := e.s.CreateCommand(ctx, newCommand(f, "", "h")); !errors.Is(err, store.ErrCommandQueueFull) {
			t.Fatalf("command %d: %v, want ErrCommandQueueFull", store.MaxQueuedCommandsPerDevice+1, err)
		}
		if again, created, err := e.s.CreateCommand(ctx, newCommand(f, "k0", "h")); err != nil || created || again.ID != first.ID {
			t.Fatalf("idempotent repeat in a full queue = %+v %v %v", again, created, err)
		}
		if _, err := e.s.CancelCommand(ctx, f.pool.ID, first.PublicID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.s.CreateCommand(ctx, newCommand(f, "", "h")); err != nil {
			t.Fatalf("after one was canceled: %v", err)
		}
		g := newFixture(t, e, "rory@x.io")
		if _, _, err := e.s.CreateCommand(ctx, newCommand(g, "", "h")); err != nil {
			t.Fatalf("another device: %v", err)
		}
	})
}

// TestCommandForEquipmentNoLongerBound: Submit reads the equipment's binding, then
// queues the command. A rebind, unbind or delete in between must refuse the command, not
// queue it for a device (or channel) the equipment no longer drives: a delete left it
// queued with equipment_id NULL, which the dispatcher's send check takes for a command
// without equipment, and sent.
func TestCommandForEquipmentNoLongerBound(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "eve@x.io")
		forEquipment := func(eq int64, channel string) store.NewCommand {
			n := newCommand(f, "", "h")
			n.EquipmentID, n.Channel = eq, channel
			return n
		}
		eq, err := e.s.CreateEquipment(ctx, f.pool.ID, "pump", "main pump", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.BindEquipment(ctx, f.pool.ID, eq.ID, f.device.ID, "2"); err != nil {
			t.Fatal(err)
		}
		if c, created, err := e.s.CreateCommand(ctx, forEquipment(eq.ID, "2")); err != nil || !created {
			t.Fatalf("command for bound equipment = %+v %v %v", c, created, err)
		} else if _, err := e.s.CancelCommand(ctx, f.pool.ID, c.PublicID); err != nil {
			t.Fatal(err)
		}

		// Rebound to another channel since it was read.
		if _, err := e.s.BindEquipment(ctx, f.pool.ID, eq.ID, f.device.ID, "3"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.s.CreateCommand(ctx, forEquipment(eq.ID, "2")); !errors.Is(err, store.ErrEquipmentRebound) {
			t.Errorf("command for channel 2 of equipment rebound to 3 = %v, want ErrEquipmentRebound", err)
		}
		// Unbound since.
		if _, err := e.s.BindEquipment(ctx, f.pool.ID, eq.ID, 0, ""); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.s.CreateCommand(ctx, forEquipment(eq.ID, "3")); !errors.Is(err, store.ErrEquipmentRebound) {
			t.Errorf("command for unbound equipment = %v, want ErrEquipmentRebound", err)
		}
		// Deleted since.
		if err := e.s.DeleteEquipment(ctx, f.pool.ID, eq.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.s.CreateCommand(ctx, forEquipment(eq.ID, "")); !errors.Is(err, store.ErrEquipmentRebound) {
			t.Errorf("command for deleted equipment = %v, want ErrEquipmentRebound", err)
		}
		queued, err := e.s.ListCommands(ctx, store.CommandFilter{PoolID: f.pool.ID, Statuses: []store.CommandStatus{store.CommandQueued}})
		if err != nil || len(queued) != 0 {
			t.Errorf("queued commands after the refusals: %d %v, want none", len(queued), err)
		}
	})
}

// TestIdempotentRetriesRaceForTheLastPlace: a client's retries of one request (the same
// Idempotency-Key) racing each other into a device queue with one place left all get the
// one command the first made. Each looked the key up before its transaction: those that
// looked before the first committed then counted the first's command and were told the
// queue was full (409), for a request that was queued.
func TestIdempotentRetriesRaceForTheLastPlace(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "rita@x.io")
		for i := range store.MaxQueuedCommandsPerDevice - 1 {
			if _, _, err := e.s.CreateCommand(ctx, newCommand(f, fmt.Sprintf("fill%d", i), "h")); err != nil {
				t.Fatal(err)
			}
		}
		for round := range 8 {
			key := fmt.Sprintf("retry%d", round)
			const n = 6
			var (
				wg      sync.WaitGroup
				start   = make(chan struct{})
				ids     [n]string
				created [n]bool
				errs    [n]error
			)
			for i := range n {
				wg.Go(func() {
					<-start
					var c store.Command
					c, created[i], errs[i] = e.s.CreateCommand(ctx, newCommand(f, key, "h"))
					ids[i] = c.PublicID
				})
			}
			close(start)
			wg.Wait()
			made := 0
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("round %d: retry %d of a request with one place left: %v, want its command", round, i, errs[i])
				}
				if ids[i] != ids[0] {
					t.Fatalf("round %d: retries got commands %v, want one", round, ids)
				}
				if created[i] {
					made++
				}
			}
			if made != 1 {
				t.Fatalf("round %d: %d retries say they created the command, want 1", round, made)
			}
			if _, err := e.s.CancelCommand(ctx, f.pool.ID, ids[0]); err != nil { // the place again
				t.Fatal(err)
			}
		}
	})
}

// TestCommandUpdateByAReusedProviderRef: a provider reference is the provider's, and need
// not be unique among an account's commands. An update naming one applies to the one
// command it may move; naming two such, to neither. It applied to whichever row came
// first: an older finished command with the same reference hid the live one (the
// update was lost), and of two live ones the older was settled with the other's word.
func TestCommandUpdateByAReusedProviderRef(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "ray@x.io")
		send := func(key string, o store.CommandOutcome) store.Command {
			t.Helper()
			c, _, err := e.s.CreateCommand(ctx, newCommand(f, key, "h"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.s.ClaimCommands(ctx, "w1", 10, time.Minute, 0)
			if err != nil || len(got) != 1 || got[0].ID != c.ID {
				t.Fatalf("claim = %+v, %v", got, err)
			}
			done, err := e.s.FinishCommand(ctx, c.ID, got[0].Lease(), o)
			if err != nil {
				t.Fatal(err)
			}
			return done
		}
		// An older command with the reference, settled: the update is the live one's.
		old := send("k1", store.CommandOutcome{Status: store.CommandSent, ProviderRef: "job-1"})
		if _, _, err := e.s.ApplyCommandUpdate(ctx, f.account.ID, old.PublicID, "", store.CommandSucceeded, ""); err != nil {
			t.Fatal(err)
		}
		live := send("k2", store.CommandOutcome{Status: store.CommandSent, ProviderRef: "job-1"})
		if _, after, err := e.s.ApplyCommandUpdate(ctx, f.account.ID, "", "job-1", store.CommandFailed, "jammed"); err != nil ||
			after.ID != live.ID || after.Status != store.CommandFailed {
			t.Fatalf("update by a reference a settled command shares = %+v, %v; want the live command (%d) failed", after, err, live.ID)
		}

		// Two live commands with one reference: it names neither.
		a := send("k3", store.CommandOutcome{Status: store.CommandUnknown, ProviderRef: "job-2"})
		b := send("k4", store.CommandOutcome{Status: store.CommandSent, ProviderRef: "job-2"})
		if _, after, err := e.s.ApplyCommandUpdate(ctx, f.account.ID, "", "job-2", store.CommandSucceeded, ""); err == nil {
			t.Errorf("update by a reference two live commands share applied to %s (%d), want neither", after.PublicID, after.ID)
		}
		for _, c := range []store.Command{a, b} {
			got, err := e.s.CommandByPublicID(ctx, c.PublicID)
			if err != nil || got.Status != c.Status {
				t.Errorf("command %d after an ambiguous update: %s %v, want %s", c.ID, got.Status, err, c.Status)
			}
		}
		// By the host's id, each is still reached.
		if _, after, err := e.s.ApplyCommandUpdate(ctx, f.account.ID, b.PublicID, "", store.CommandSucceeded, ""); err != nil || after.ID != b.ID {
			t.Errorf("update by id = %+v, %v", after, err)
		}
	})
}
