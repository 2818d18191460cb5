package httpapi

import (
	"strconv"
	"testing"
	"time"
)

// TestBucketsForgetIdle: memory stays bounded. A bucket idle long enough to be full again
// is dropped (nothing is lost: a new one is the same), and a flood of distinct keys
// never holds more than maxBuckets.
func TestBucketsForgetIdle(t *testing.T) {
	b := newBuckets(1, 2) // full again after 2s
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 100 {
		b.take("k"+strconv.Itoa(i), t0)
	}
	if n := b.size(); n != 100 {
		t.Fatalf("size = %d", n)
	}
	if d := b.take("k0", t0); d != 0 {
		t.Fatalf("second take of k0 refused: %v", d)
	}
	if d := b.take("k0", t0); d <= 0 {
		t.Fatal("third take of k0 at once allowed with burst 2")
	}
	b.take("late", t0.Add(3*time.Second))
	if n := b.size(); n != 1 {
		t.Fatalf("after every bucket was idle 3s: size = %d, want 1", n)
	}

	flood := newBuckets(1, 1)
	for i := range maxBuckets + 500 {
		flood.take(strconv.Itoa(i), t0)
	}
	if n := flood.size(); n > maxBuckets {
		t.Fatalf("flood holds %d buckets, more than %d", n, maxBuckets)
	}
}
