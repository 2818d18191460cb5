package worker

import (
	"math"
	"time"
)

// Jitter is the ± fraction applied to every backoff so failures queued together (a plugin
// crash fails a whole burst) do not come due together.
const Jitter = 0.2

// Backoff returns the delay before the next attempt after attempt failed (attempt counts
// from 0): min(base·2^attempt, cap), then ±20% jitter. rnd returns a number in [0, 1).
func Backoff(attempt int, base, cap time.Duration, rnd func() float64) time.Duration {
	if attempt < 0 {
		attempt = 0
	}
	d := cap
	// 2^attempt overflows long before it matters; past 62 the cap always wins.
	if attempt < 62 {
		if exp := float64(base) * math.Pow(2, float64(attempt)); exp < float64(cap) {
			d = time.Duration(exp)
		}
	}
	if d <= 0 {
		return 0
	}
	f := 1 - Jitter + 2*Jitter*rnd()
	return time.Duration(float64(d) * f)
}
