package worker_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/poolhost/poolhost/host/internal/worker"
)

// waitFor polls cond with a deadline generous enough for a loaded CI box.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLoop(t *testing.T) {
	t.Run("ticks at once, then every interval, until Close", func(t *testing.T) {
		var l worker.Loop
		var n atomic.Int64
		if !l.Start(context.Background(), time.Millisecond, func(context.Context) { n.Add(1) }) {
			t.Fatal("Start = false on a fresh loop")
		}
		waitFor(t, "three ticks", func() bool { return n.Load() >= 3 })
		l.Close()
		after := n.Load()
		time.Sleep(20 * time.Millisecond)
		if n.Load() != after {
			t.Errorf("ticked after Close: %d then %d", after, n.Load())
		}
	})

	t.Run("first tick does not wait for the interval", func(t *testing.T) {
		var l worker.Loop
		ticked := make(chan struct{}, 1)
		l.Start(context.Background(), time.Hour, func(context.Context) {
			select {
			case ticked <- struct{}{}:
			default:
			}
		})
		defer l.Close()
		select {
		case <-ticked:
		case <-time.After(30 * time.Second):
			t.Fatal("no tick before the first interval")
		}
	})

	t.Run("Close cancels and waits for the tick in progress", func(t *testing.T) {
		var l worker.Loop
		started := make(chan struct{})
		var finished atomic.Bool
		l.Start(context.Background(), time.Hour, func(ctx context.Context) {
			close(started)
			<-ctx.Done()
			finished.Store(true)
		})
		<-started
		l.Close()
		if !finished.Load() {
			t.Fatal("Close returned before the tick in progress finished")
		}
	})

	t.Run("parent ctx ends the loop", func(t *testing.T) {
		var l worker.Loop
		ctx, cancel := context.WithCancel(context.Background())
		var n atomic.Int64
		l.Start(ctx, time.Millisecond, func(context.Context) { n.Add(1) })
		waitFor(t, "a tick", func() bool { return n.Load() >= 1 })
		cancel()
		l.Close() // returns only once the goroutine is gone
	})

	t.Run("starts once; Close without Start and twice is fine", func(t *testing.T) {
		var idle worker.Loop
		idle.Close()
		var l worker.Loop
		l.Start(context.Background(), time.Hour, func(context.Context) {})
		if l.Start(context.Background(), time.Hour, func(context.Context) { t.Error("second loop ran") }) {
			t.Error("second Start = true")
		}
		l.Close()
		l.Close()
		if l.Start(context.Background(), time.Hour, func(context.Context) { t.Error("restarted loop ran") }) {
			t.Error("Start after Close = true")
		}
	})
}

func TestOwnerID(t *testing.T) {
	a, b := worker.OwnerID("poll"), worker.OwnerID("poll")
	if a == b {
		t.Errorf("two owner ids in one process are equal: %q", a)
	}
	if !strings.HasPrefix(a, "poll-") {
		t.Errorf("OwnerID(poll) = %q, want the kind first", a)
	}
}

// Drain never holds more claimed rows than slots: a row is claimed only when a slot is
// free to work it at once, so its lease covers one unit of work, not a wave of others.
func TestDrainClaimsNoMoreThanFreeSlots(t *testing.T) {
	const slots, total = 3, 20
	var mu sync.Mutex
	queue := total
	inFlight, most, worked := 0, 0, 0
	var asked []int
	release := make(chan struct{})
	go func() {
		for range total {
			release <- struct{}{}
		}
	}()
	n, err := worker.Drain(context.Background(), slots, func(_ context.Context, n int) ([]int, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, n)
		k := min(n, queue)
		queue -= k
		inFlight += k
		most = max(most, inFlight)
		return make([]int, k), nil
	}, func(context.Context, int) {
		<-release
		mu.Lock()
		defer mu.Unlock()
		inFlight--
		worked++
	})
	if err != nil || n != total || worked != total {
		t.Fatalf("claimed %d, worked %d, %v; want %d", n, worked, err, total)
	}
	if most > slots {
		t.Errorf("%d rows held at once with %d slots", most, slots)
	}
	for _, a := range asked {
		if a < 1 || a > slots {
			t.Errorf("asked for %d rows with %d slots: %v", a, slots, asked)
		}
	}
}

func TestDrainStopsWhenAClaimComesShort(t *testing.T) {
	claims := 0
	n, err := worker.Drain(context.Background(), 4, func(_ context.Context, n int) ([]string, error) {
		claims++
		if claims == 1 {
			return []string{"a", "b", "c", "d"}, nil
		}
		return nil, nil
	}, func(context.Context, string) {})
	if err != nil || n != 4 || claims != 2 {
		t.Fatalf("claimed %d rows in %d claims, %v; want 4 in 2", n, claims, err)
	}
}

func TestTruncateError(t *testing.T) {
	if got := worker.TruncateError("short"); got != "short" {
		t.Errorf("short message changed: %q", got)
	}
	long := strings.Repeat("é", worker.MaxErrorBytes) // 2 bytes each
	got := worker.TruncateError(long)
	if !strings.HasSuffix(got, "…") || len(got) > worker.MaxErrorBytes+len("…") || !utf8.ValidString(got) {
		t.Errorf("truncated to %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
}

func TestOutcomeLabels(t *testing.T) {
	if worker.LeaseLost.String() == worker.StoreError.String() {
		t.Fatal("a lost lease and a database error share a label")
	}
}

func TestAfterStop(t *testing.T) {
	t.Run("outlives the stop within its grace; cancel ends it", func(t *testing.T) {
		ctx, stop := context.WithCancel(context.Background())
		after, cancel := worker.AfterStop(ctx, time.Hour)
		stop()
		time.Sleep(10 * time.Millisecond) // time for a wrongly armed timer to fire (a slow box only weakens the check)
		if err := after.Err(); err != nil {
			t.Fatalf("ended %v after the stop, within its grace", err)
		}
		cancel()
		if after.Err() == nil {
			t.Fatal("cancel did not end it")
		}
	})

	t.Run("ends grace after the stop", func(t *testing.T) {
		ctx, stop := context.WithCancel(context.Background())
		after, cancel := worker.AfterStop(ctx, time.Millisecond)
		defer cancel()
		if after.Err() != nil {
			t.Fatal("ended before the stop")
		}
		stop()
		select {
		case <-after.Done():
		case <-time.After(30 * time.Second):
			t.Fatal("still running 30 s after a stop with 1 ms of grace")
		}
	})
}
