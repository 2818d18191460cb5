package webhook

import (
	"strconv"
	"testing"
	"time"
)

func TestInFlight(t *testing.T) {
	c := newInFlight()

	if _, replay, claim := c.claim("k"); replay {
		t.Fatal("first copy taken for a replay")
	} else {
		// A copy arriving while the first is in flight waits for its outcome.
		got := make(chan Outcome)
		go func() {
			out, replay, _ := c.claim("k")
			if !replay {
				t.Error("second copy not taken for a replay")
			}
			got <- out
		}()
		time.Sleep(10 * time.Millisecond) // let it wait; either order is correct
		claim.finish(Outcome{Status: OutcomeAccepted, FailureID: 7}, true)
		if out := <-got; out.FailureID != 7 {
			t.Fatalf("replay answered %+v, want the first's outcome", out)
		}
	}
	// A first copy that stored nothing leaves the key free for the next.
	_, _, claim := c.claim("gone")
	claim.finish(Outcome{}, false)
	if _, replay, claim := c.claim("gone"); replay {
		t.Fatal("a failed delivery's copy was taken for a replay")
	} else {
		claim.finish(Outcome{}, true)
	}
	// Memory is the deliveries in flight: a finished one is the database's to judge.
	for i := 0; i < 1000; i++ {
		_, _, claim := c.claim(strconv.Itoa(i))
		claim.finish(Outcome{}, true)
	}
	if _, replay, claim := c.claim("k"); replay {
		t.Fatal("a finished delivery's copy was taken for a replay in process")
	} else {
		claim.finish(Outcome{}, true)
	}
	if n := c.len(); n != 0 {
		t.Fatalf("%d entries kept with nothing in flight, want 0", n)
	}
}
