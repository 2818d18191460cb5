package store

import "testing"

// After a conflict the group commit keeps ON CONFLICT for one statement, twice as many
// after each further conflict (up to maxConflictSkip), and each plain statement that
// succeeds halves that again.
func TestReadingConflictsBackOff(t *testing.T) {
	var c readingConflicts
	onConflictRun := func() int {
		n := 0
		for !c.plain() {
			n++
		}
		return n
	}
	if n := onConflictRun(); n != 0 {
		t.Fatalf("before any conflict, %d statements with ON CONFLICT, want 0", n)
	}
	for _, want := range []int{1, 2, 4, 8} {
		c.conflicted()
		if n := onConflictRun(); n != want {
			t.Fatalf("after a conflict, %d statements with ON CONFLICT, want %d", n, want)
		}
	}
	for range 20 {
		c.conflicted()
		onConflictRun()
	}
	c.conflicted()
	if n := onConflictRun(); n != maxConflictSkip {
		t.Fatalf("after many conflicts, %d statements with ON CONFLICT, want %d", n, maxConflictSkip)
	}
	// Successes halve it: 1024 → 512 → … → 0.
	for range 11 {
		c.stored()
	}
	c.conflicted()
	if n := onConflictRun(); n != 1 {
		t.Fatalf("after successes, a conflict gave %d statements with ON CONFLICT, want 1", n)
	}
}
