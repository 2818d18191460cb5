package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/commands"
	"github.com/poolhost/poolhost/host/store"
)

// TestCommandInFlightAtACrashEndsUnknown: the host dies while a command is with the
// plugin (claimed, sending, its lease held by the dead dispatcher). The host that
// starts again — a new dispatcher, another owner — does not send it: once the dead
// one's lease is over it becomes unknown, audited, and the device's next command goes
// out after it, in order.
func TestCommandInFlightAtACrashEndsUnknown(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		e := newEnv(t, dbURL)
		e.bind()
		_, c := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, nil, "")
		_, next := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": false}}, nil, "")
		// The dead host's claim, made just before it died mid-send.
		claimed, err := e.st.ClaimCommands(ctx, "dead-host", 10, time.Second, 0)
		if err != nil || len(claimed) != 1 || claimed[0].PublicID != c["id"] {
			t.Fatalf("claim: %+v %v", claimed, err)
		}

		d := e.dispatcher("restarted")
		st, err := d.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Claimed != 0 || e.send.total() != 0 {
			t.Fatalf("while the dead host's lease runs: %+v, %d sends; want nothing sent", st, e.send.total())
		}
		time.Sleep(1100 * time.Millisecond) // the store's clock decides the lease's end
		if st, err = d.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if st.Rescued != 1 {
			t.Fatalf("tick after the lease: %+v, want the interrupted send rescued", st)
		}
		if got := e.command(c["id"].(string)); got.Status != store.CommandUnknown {
			t.Fatalf("interrupted command %s, want unknown", got.Status)
		}
		if n := e.send.sends[c["id"].(string)]; n != 0 {
			t.Fatalf("interrupted command sent %d times by the restarted host, want 0", n)
		}
		if len(e.audits(commands.ActionUnknown)) != 1 {
			t.Errorf("%d %s audit rows, want 1", len(e.audits(commands.ActionUnknown)), commands.ActionUnknown)
		}
		for range 3 {
			if _, err := d.Tick(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.command(next["id"].(string)); got.Status != store.CommandSent || e.send.total() != 1 {
			t.Fatalf("next command %s after %d sends, want sent once", got.Status, e.send.total())
		}
	})
}
