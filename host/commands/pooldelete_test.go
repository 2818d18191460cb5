package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/poolhost/poolhost/host/commands"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/store"
)

// hookedStore runs beforeDevice when the dispatcher reads a claimed command's device:
// after its claim, before its send.
type hookedStore struct {
	*store.Store
	beforeDevice func()
}

func (h hookedStore) GetDevice(ctx context.Context, id int64) (store.Device, error) {
	if h.beforeDevice != nil {
		h.beforeDevice()
	}
	return h.Store.GetDevice(ctx, id)
}

// deletePool is the owner's DELETE /v1/pools/{poolId}: its status and problem type.
func (e *env) deletePool() (int, string) {
	e.t.Helper()
	code, b := e.do("DELETE", fmt.Sprintf("/v1/pools/%d", e.pool), e.owner.token, nil, nil)
	var p struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(b, &p)
	return code, p.Type
}

// TestPoolDeletedCommandsNeverSent: deleting a pool cancels its queued commands, which
// the dispatcher then never sends, each audited as canceled by the owner; a command the
// dispatcher leased before the delete — claimed and being checked, or with the plugin —
// makes the delete a 409 pool-busy until its send is done (an actuator's send cannot be
// called back, and the pool must not go while one may still be made for it); the sent
// command keeps its history.
func TestPoolDeletedCommandsNeverSent(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.bind()
		ctx := context.Background()
		pump := func(on bool) string {
			t.Helper()
			code, c := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": on}}, nil, "")
			if code != 202 {
				t.Fatalf("queue a command: %d %v", code, c)
			}
			return c["id"].(string)
		}
		first, second := pump(true), pump(false)

		var refused []string
		tryDelete := func() {
			code, typ := e.deletePool()
			if code != 409 || typ != httpapi.ProblemTypeBase+"pool-busy" {
				t.Errorf("delete while a command is on its way = %d %s, want 409 pool-busy", code, typ)
			}
			refused = append(refused, typ)
		}
		// Leased, not yet sent: between the claim and the plugin call.
		hooked := hookedStore{Store: e.st, beforeDevice: tryDelete}
		// And with the plugin.
		e.send.during = tryDelete
		d := commands.NewDispatcher(hooked, senders{e.send}, e.rec, nil, nil, commands.DispatcherConfig{
			CommandWorker: config.CommandWorker{Enabled: true, BatchSize: 50}, Owner: "d1"})
		if _, err := d.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if len(refused) != 2 {
			t.Fatalf("delete attempts during the send: %d, want 2", len(refused))
		}
		if got := e.command(first); got.Status != store.CommandSent {
			t.Fatalf("the first command: %s (%s), want sent", got.Status, got.Reason)
		}
		if got := e.command(second); got.Status != store.CommandQueued {
			t.Fatalf("the refused deletes changed the second command: %s", got.Status)
		}

		// Once it is sent, the pool goes, and its queued command with it: canceled.
		hooked.beforeDevice, e.send.during = nil, nil
		if code, typ := e.deletePool(); code != 204 {
			t.Fatalf("delete = %d %s", code, typ)
		}
		st, err := e.dispatcher("d2").Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Claimed != 0 || e.send.total() != 1 {
			t.Fatalf("after the delete: %+v, %d sends, want nothing claimed and the one send", st, e.send.total())
		}
		got := e.command(second)
		if got.Status != store.CommandCanceled || got.Reason != "its pool was deleted" {
			t.Fatalf("the queued command: %s (%s), want canceled", got.Status, got.Reason)
		}
		if got := e.command(first); got.Status != store.CommandSent || got.PoolID != e.pool {
			t.Fatalf("the sent command's history: %+v", got)
		}
		canceled := e.audits(commands.ActionCanceled)
		if len(canceled) != 1 || canceled[0].TargetID != second || canceled[0].Actor != fmt.Sprintf("user:%d", e.owner.id) {
			t.Fatalf("command.canceled audit rows: %+v", canceled)
		}
		if es := e.audits("pool.deleted"); len(es) != 1 || es[0].TargetID != fmt.Sprint(e.pool) {
			t.Fatalf("pool.deleted audit rows: %+v", es)
		}
		// The pool's commands are no one's to list any more.
		if code, _ := e.do("GET", fmt.Sprintf("/v1/pools/%d/commands", e.pool), e.owner.token, nil, nil); code != 404 {
			t.Fatalf("the deleted pool's commands: %d, want 404", code)
		}
	})
}
