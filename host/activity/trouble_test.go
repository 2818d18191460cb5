package activity_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/activity"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/replicas"
	"github.com/poolhost/poolhost/host/store"
)

// TestOverviewReplicas: the Overview lists the replicas seen within ForgetAfter, each
// with its state now — a silent one gone, a cleanly stopped one stopped — and which
// need an operator. (Commands in trouble: store's TestCommandTrouble and the
// console's browser test.)
func TestOverviewReplicas(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, r := range []store.Replica{
		{ID: "a", Status: store.ReplicaReady},
		{ID: "b", Status: store.ReplicaReady, LastSeenAt: now.Add(-time.Minute)},   // silent: gone
		{ID: "c", Status: store.ReplicaStopped, LastSeenAt: now.Add(-time.Minute)}, // stopped cleanly
		{ID: "d", Status: store.ReplicaNotReady, Problem: "database failing"},
		{ID: "e", Status: store.ReplicaReady, LastSeenAt: now.Add(-replicas.ForgetAfter - time.Minute)}, // too old to show
	} {
		r.Hostname, r.StartedAt = "host-"+r.ID, now.Add(-time.Hour)
		if err := st.BeatReplica(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	states := func(goneAfter time.Duration) string {
		t.Helper()
		ov, err := activity.New(st, goneAfter).Overview(ctx, auth.Actor{UserID: 1, Admin: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		for _, r := range ov.Replicas {
			got += r.ID + ":" + r.State
			if r.Trouble {
				got += "!"
			}
			got += " "
		}
		return got
	}
	// The default (http.heartbeat_gone_after, 30s): b, silent for a minute, is gone.
	if got, want := states(0), "a:ready b:gone! c:stopped d:not ready! "; got != want {
		t.Errorf("replicas %q, want %q", got, want)
	}
	// heartbeat_gone_after = "2m": a minute's silence is not gone yet.
	if got, want := states(2*time.Minute), "a:ready b:ready c:stopped d:not ready! "; got != want {
		t.Errorf("with gone after 2m: replicas %q, want %q", got, want)
	}
}
