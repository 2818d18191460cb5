package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// TestReplicaHeartbeats: each serve process's row — inserted on its first beat, its
// status and last-seen time updated after, listed by when it was last seen, forgotten
// once old — on both engines.
func TestReplicaHeartbeats(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		start := e.clock.Now()
		a := store.Replica{ID: "serve-a-1-aa", Hostname: "a", Version: "1.2.0", StartedAt: start, Status: store.ReplicaReady}
		b := store.Replica{ID: "serve-b-2-bb", Hostname: "b", Version: "1.2.0", StartedAt: start.Add(time.Second), Status: store.ReplicaReady}
		for _, r := range []store.Replica{a, b} {
			if err := e.s.BeatReplica(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		e.clock.Advance(time.Minute)
		a.Status, a.Problem = store.ReplicaDegraded, "plugins degraded"
		a.CredentialsKeyIDs = "6a99d910,3b63b018" // what credentials rewrap checks
		if err := e.s.BeatReplica(ctx, a); err != nil {
			t.Fatal(err)
		}
		if rs, err := e.s.Replicas(ctx, start.Add(time.Second)); err != nil || len(rs) != 1 || rs[0].CredentialsKeyIDs != "6a99d910,3b63b018" {
			t.Errorf("replica a's key ids: %+v %v", rs, err)
		}
		show := func(since time.Time) string {
			t.Helper()
			rs, err := e.s.Replicas(ctx, since)
			if err != nil {
				t.Fatal(err)
			}
			var out string
			for _, r := range rs {
				out += fmt.Sprintf("%s %s %q started +%v seen +%v; ", r.Hostname, r.Status, r.Problem, r.StartedAt.Sub(start), r.LastSeenAt.Sub(start))
			}
			return out
		}
		if got, want := show(start), `a degraded "plugins degraded" started +0s seen +1m0s; b ready "" started +1s seen +0s; `; got != want {
			t.Errorf("replicas:\n got %s\nwant %s", got, want)
		}
		if got, want := show(start.Add(time.Second)), `a degraded "plugins degraded" started +0s seen +1m0s; `; got != want {
			t.Errorf("replicas seen since +1s: %s", got)
		}
		// A row's last-seen time may be given (tests render a replica gone).
		b.Status, b.LastSeenAt = store.ReplicaStopped, start.Add(2*time.Second)
		if err := e.s.BeatReplica(ctx, b); err != nil {
			t.Fatal(err)
		}
		if n, err := e.s.ForgetReplicas(ctx, start.Add(30*time.Second)); err != nil || n != 1 {
			t.Errorf("forget: %d %v, want b forgotten", n, err)
		}
		if got, want := show(start), `a degraded "plugins degraded" started +0s seen +1m0s; `; got != want {
			t.Errorf("after forgetting b: %s", got)
		}
		for _, bad := range []store.Replica{{ID: "x", StartedAt: start, Status: "asleep"}, {StartedAt: start, Status: store.ReplicaReady}, {ID: "x", Status: store.ReplicaReady}} {
			if err := e.s.BeatReplica(ctx, bad); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("beat %+v: %v, want ErrInvalid", bad, err)
			}
		}
	})
}

// TestCommandTrouble: the Overview's commands unknown, failed or expired since a time,
// by provider and status, on both engines.
func TestCommandTrouble(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		since := e.clock.Now()
		var fs []fixture
		for _, who := range []string{"ann@x.io", "bob@x.io", "cat@x.io", "dan@x.io"} {
			f := newFixture(t, e, who)
			if _, _, err := e.s.CreateCommand(ctx, newCommand(f, "", "h")); err != nil {
				t.Fatal(err)
			}
			fs = append(fs, f)
		}
		claimed, err := e.s.ClaimCommands(ctx, "w1", 3, time.Minute, 0)
		if err != nil || len(claimed) != 3 {
			t.Fatalf("claim: %d %v", len(claimed), err)
		}
		if _, err := e.s.FinishCommand(ctx, claimed[0].ID, claimed[0].Lease(), store.CommandOutcome{Status: store.CommandFailed, Reason: "pump offline"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.FinishCommand(ctx, claimed[1].ID, claimed[1].Lease(), store.CommandOutcome{Status: store.CommandSucceeded}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(2 * time.Minute) // the third send's lease ran out: unknown
		if rescued, err := e.s.RescueCommands(ctx); err != nil || len(rescued) != 1 {
			t.Fatalf("rescue: %d %v", len(rescued), err)
		}
		e.clock.Advance(10 * time.Minute) // the fourth, never sent, expired
		if expired, err := e.s.ExpireCommands(ctx); err != nil || len(expired) != 1 {
			t.Fatalf("expire: %d %v", len(expired), err)
		}
		got, err := e.s.CommandTrouble(ctx, since)
		if err != nil || fmt.Sprint(got) != "[{acme expired 1} {acme failed 1} {acme unknown 1}]" {
			t.Errorf("command trouble %v %v, want one expired, one failed, one unknown", got, err)
		}
		if got, err := e.s.CommandTrouble(ctx, e.clock.Now().Add(time.Second)); err != nil || len(got) != 0 {
			t.Errorf("command trouble since now: %v %v, want none", got, err)
		}
	})
}
