package replicas_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/replicas"
	"github.com/poolhost/poolhost/host/store"
)

// TestHeartbeat: a replica's beat records its readiness and the checks not ok; it is
// gone once not seen for the configured gone-after, unless it said it stopped; and no beat lands
// after its stop. On a real SQLite store (store's tests run both engines).
func TestHeartbeat(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	status, checks := "degraded", map[string]string{"database": "ok", "plugins": "degraded", "serving": "ok"}
	ready := func(context.Context) (string, map[string]string) { return status, checks }
	started := time.Now().Add(-time.Minute)
	h := replicas.New(st, "serve-h1-42-ab", "h1", "1.2.0", started, time.Second, ready, nil)
	if err := h.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	one := func() store.Replica {
		t.Helper()
		rs, err := st.Replicas(ctx, started)
		if err != nil || len(rs) != 1 {
			t.Fatalf("replicas %+v %v, want one", rs, err)
		}
		return rs[0]
	}
	r := one()
	if r.ID != "serve-h1-42-ab" || r.Hostname != "h1" || r.Version != "1.2.0" || r.Status != "degraded" || r.Problem != "plugins degraded" {
		t.Errorf("after a beat: %+v", r)
	}
	now := r.LastSeenAt
	const goneAfter = 45 * time.Second
	if s := replicas.State(r, now.Add(goneAfter), goneAfter); s != "degraded" || !replicas.Trouble(s) {
		t.Errorf("seen goneAfter ago: %s", s)
	}
	if s := replicas.State(r, now.Add(goneAfter+time.Second), goneAfter); s != replicas.Gone || !replicas.Trouble(s) {
		t.Errorf("not seen for longer than goneAfter: %s, want gone", s)
	}
	status, checks = "ready", map[string]string{"database": "ok"}
	if err := h.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	if r := one(); r.Status != "ready" || r.Problem != "" || replicas.Trouble(replicas.State(r, r.LastSeenAt, goneAfter)) {
		t.Errorf("ready again: %+v", r)
	}

	if err := h.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Beat(ctx); err != nil { // one in flight when the process stopped
		t.Fatal(err)
	}
	r = one()
	if s := replicas.State(r, r.LastSeenAt.Add(24*time.Hour), goneAfter); r.Status != store.ReplicaStopped || s != store.ReplicaStopped || replicas.Trouble(s) {
		t.Errorf("after Stop and a late beat: %+v, state %s; want stopped, never gone", r, s)
	}
}
