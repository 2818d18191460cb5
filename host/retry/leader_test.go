package retry_test

import (
	"context"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/retry"
	"github.com/poolhost/poolhost/host/store"
)

// TestRescueRunsOnOneReplica: three replicas tick over one database; only the elected
// one rescues failures whose lease expired (every replica still claims and works rows).
// When the leader stops (killed: it never ticks again), another replica takes the rescue
// over once the leader's lease has run out, and not before — within one lease.
func TestRescueRunsOnOneReplica(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnv(t, eng)
			ctx := context.Background()
			cfg := enabled(8)
			var replicas []*retry.Worker
			for _, owner := range []string{"replica-1", "replica-2", "replica-3"} {
				c := cfg
				c.Owner = owner
				replicas = append(replicas, e.worker(c))
			}
			// A row claimed by a host that crashed, its lease long gone.
			stranded := func() store.Failure {
				t.Helper()
				f := e.enqueue(t, 1)
				if c, err := e.s.ClaimFailures(ctx, "crashed-host", 1, 10*time.Second); err != nil || len(c) != 1 || c[0].ID != f.ID {
					t.Fatalf("claim: %v %+v", err, c)
				}
				return f
			}
			leader := func() string {
				t.Helper()
				l, err := e.s.Leader(ctx, retry.RescueLeader)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}

			first := stranded()
			e.clk.Add(time.Minute)
			rescued := 0
			for i, w := range replicas {
				st := tick(t, w)
				if i > 0 && st.Rescued != 0 {
					t.Errorf("replica-%d rescued %d rows; only the leader rescues", i+1, st.Rescued)
				}
				rescued += st.Rescued
			}
			if rescued != 1 || leader() != "replica-1" {
				t.Fatalf("%d rescued, leader %q; want 1 by replica-1", rescued, leader())
			}
			if got := e.get(t, first.ID); got.Status != store.FailureResolved {
				t.Fatalf("rescued row is %s, want resolved", got.Status)
			}

			// replica-1 is killed right after its tick: it never renews. Another row is
			// stranded; while replica-1's lease runs, nobody rescues it.
			second := stranded()
			e.clk.Add(cfg.Lease / 2)
			for _, w := range replicas[1:] {
				if st := tick(t, w); st.Rescued != 0 {
					t.Fatalf("rescued %d rows while the leader's lease still ran", st.Rescued)
				}
			}
			if got := e.get(t, second.ID); got.Status != store.FailureProcessing {
				t.Fatalf("row is %s before the takeover, want processing", got.Status)
			}
			// Once one lease has passed since replica-1 last renewed, the next replica
			// to tick takes over.
			e.clk.Add(cfg.Lease/2 + time.Second)
			st := tick(t, replicas[1])
			if st.Rescued != 1 || leader() != "replica-2" {
				t.Fatalf("after one lease: replica-2 rescued %d, leader %q; want 1 and replica-2", st.Rescued, leader())
			}
			if st := tick(t, replicas[2]); st.Rescued != 0 {
				t.Fatalf("replica-3 rescued %d rows beside the new leader", st.Rescued)
			}
			if got := e.get(t, second.ID); got.Status != store.FailureResolved {
				t.Fatalf("row is %s after the takeover, want resolved", got.Status)
			}
		})
	}
}
