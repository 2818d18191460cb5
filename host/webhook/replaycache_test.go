package webhook

import (
	"strconv"
	"testing"
	"time"
)

func TestReplayCache(t *testing.T) {
	c := newReplayCache()
	t0 := time.Unix(1_700_000_000, 0)

	if _, replay, finish := c.claim("k", t0); replay {
		t.Fatal("first copy taken for a replay")
	} else {
		// A copy arriving while the first is in flight waits for its outcome.
		got := make(chan Outcome)
		go func() {
			out, replay, _ := c.claim("k", t0)
			if !replay {
				t.Error("second copy not taken for a replay")
			}
			got <- out
		}()
		time.Sleep(10 * time.Millisecond) // let it wait; either order is correct
		finish(Outcome{Status: OutcomeAccepted, FailureID: 7}, true)
		if out := <-got; out.FailureID != 7 {
			t.Fatalf("replay answered %+v, want the first's outcome", out)
		}
	}
	// A first copy that stored nothing leaves the key free for the next.
	_, _, finish := c.claim("gone", t0)
	finish(Outcome{}, false)
	if _, replay, finish := c.claim("gone", t0); replay {
		t.Fatal("a failed delivery's copy was taken for a replay")
	} else {
		finish(Outcome{}, true)
	}
	// After the TTL a copy is a delivery of its own.
	if _, replay, _ := c.claim("k", t0.Add(replayTTL+time.Second)); replay {
		t.Fatal("copy after the TTL taken for a replay")
	}
	// The cache stays bounded.
	for i := 0; i < replayMaxEntries+10; i++ {
		_, _, finish := c.claim(strconv.Itoa(i), t0)
		finish(Outcome{}, true)
	}
	if len(c.entries) > replayMaxEntries || len(c.order) > 2*replayMaxEntries {
		t.Fatalf("cache holds %d entries (%d keys queued), bound %d", len(c.entries), len(c.order), replayMaxEntries)
	}
}
