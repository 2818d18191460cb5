package store_test

import (
	"context"
	"testing"
	"time"
)

// ElectLeader: the first caller leads for the ttl and renews it; another caller gets
// nothing until the ttl has run out since the last renewal, and then takes over.
func TestElectLeader(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		elect := func(owner string) bool {
			t.Helper()
			ok, err := e.s.ElectLeader(ctx, "rescue", owner, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !elect("a") || elect("b") {
			t.Fatal("a must lead, b not")
		}
		e.clock.Advance(50 * time.Second)
		if !elect("a") {
			t.Fatal("a could not renew")
		}
		e.clock.Advance(50 * time.Second) // 100 s after a began, 50 s after it renewed
		if elect("b") {
			t.Fatal("b took over a renewed leadership")
		}
		if l, _ := e.s.Leader(ctx, "rescue"); l != "a" {
			t.Fatalf("leader %q, want a", l)
		}
		e.clock.Advance(11 * time.Second)
		if l, _ := e.s.Leader(ctx, "rescue"); l != "" {
			t.Fatalf("expired leader still reported: %q", l)
		}
		if !elect("b") || elect("a") {
			t.Fatal("b must take over the expired leadership, and a lose it")
		}
		if ok, _ := e.s.ElectLeader(ctx, "other", "a", time.Minute); !ok {
			t.Fatal("leaderships of different names are independent")
		}
	})
}

// RescueExpiredFailures rescues one page at a time, oldest lease first.
func TestFailureRescuePaged(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		enqueue(t, e, 5, 8)
		if cl, err := e.s.ClaimFailures(ctx, "gone", 5, time.Minute); err != nil || len(cl) != 5 {
			t.Fatalf("claimed %d, %v", len(cl), err)
		}
		e.clock.Advance(2 * time.Minute)
		var pages []int
		for {
			r, err := e.s.RescueExpiredFailures(ctx, 2)
			if err != nil {
				t.Fatal(err)
			}
			pages = append(pages, len(r))
			if len(r) < 2 {
				break
			}
		}
		if len(pages) != 3 || pages[0] != 2 || pages[1] != 2 || pages[2] != 1 {
			t.Fatalf("pages %v, want [2 2 1]", pages)
		}
	})
}
