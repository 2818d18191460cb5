package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// A claim takes no more rows than asked, on both engines: each claimed row is a lease a
// worker slot must work before it ends (the poll worker asks for its free slots only).
func TestClaimDuePollsTakesNoMoreThanAsked(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		now := e.clock.Now()
		for i := range 5 {
			f := newFixture(t, e, fmt.Sprintf("u%d@x.io", i))
			if err := e.s.EnsurePollState(ctx, f.account.ID, "acme", now); err != nil {
				t.Fatal(err)
			}
		}
		first, err := e.s.ClaimDuePolls(ctx, []string{"acme"}, "p1", 2, time.Minute)
		if err != nil || len(first) != 2 {
			t.Fatalf("claim of 2 took %d (%v)", len(first), err)
		}
		rest, err := e.s.ClaimDuePolls(ctx, []string{"acme"}, "p2", 10, time.Minute)
		if err != nil || len(rest) != 3 {
			t.Fatalf("the next claim took %d, want the 3 left (%v)", len(rest), err)
		}
	})
}
