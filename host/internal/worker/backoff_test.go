package worker

import (
	"testing"
	"time"
)

func TestBackoffSchedule(t *testing.T) {
	base, capd := 10*time.Second, time.Hour
	mid := func() float64 { return 0.5 } // no jitter
	want := []time.Duration{
		10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 320 * time.Second, 640 * time.Second, 1280 * time.Second,
		2560 * time.Second, time.Hour, time.Hour,
	}
	for attempt, w := range want {
		if got := Backoff(attempt, base, capd, mid); got != w {
			t.Errorf("Backoff(%d) = %v, want %v", attempt, got, w)
		}
	}
	if got := Backoff(500, base, capd, mid); got != time.Hour {
		t.Errorf("Backoff(500) = %v, want the cap", got)
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	tests := []struct {
		name string
		rnd  float64
		want time.Duration
	}{
		{"lowest", 0, 8 * time.Second},
		{"middle", 0.5, 10 * time.Second},
		{"highest", 0.999999, 12 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Backoff(0, 10*time.Second, time.Hour, func() float64 { return tt.rnd })
			if diff := got - tt.want; diff < -time.Millisecond || diff > time.Millisecond {
				t.Errorf("Backoff = %v, want ≈%v", got, tt.want)
			}
		})
	}
}
