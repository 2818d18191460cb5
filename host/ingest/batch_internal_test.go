package ingest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestWakeChannelsComeBackEmpty: the pooled wake channels of queued calls go back to
// the pool empty, whether a call was taken into a batch, appointed to lead one, or
// left the queue when its context ended; every call hears its own batch's outcome.
func TestWakeChannelsComeBackEmpty(t *testing.T) {
	var committed sync.Map // *pending → its batch's error
	b := &batcher{max: 4, writers: 2, queued: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "q"}),
		commit: func(ctx context.Context, batch []*call) {
			time.Sleep(200 * time.Microsecond)
			err := errors.New("batch") // a distinct error per batch
			for _, c := range batch {
				c.err = err
				committed.Store(c.p, err)
			}
		}}
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if i%3 == 0 {
				ctx, cancel = context.WithTimeout(ctx, time.Duration(i%7)*100*time.Microsecond)
				defer cancel()
			}
			p := &pending{}
			err := b.do(ctx, p)
			got, stored := committed.Load(p)
			switch {
			case stored && err != got:
				t.Errorf("call %d: error %v, its batch's %v", i, err, got)
			case !stored && !errors.Is(err, context.DeadlineExceeded):
				t.Errorf("call %d: not stored, error %v", i, err)
			}
		}()
	}
	wg.Wait()
	for range 64 {
		if w := wakes.Get().(chan struct{}); len(w) != 0 {
			t.Fatal("a wake channel came back to the pool with a wake-up in it")
		}
	}
}

// TestLeadKeepsTheQueuesArray: a leader taking calls from the queue, and passing the
// lead on, leaves the rest at the front of the queue's own array, in order, and clears
// the slots it vacated.
func TestLeadKeepsTheQueuesArray(t *testing.T) {
	b := &batcher{max: 3, writers: 1, running: 1, queued: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "q"}),
		commit: func(context.Context, []*call) {}}
	calls := make([]*call, 8)
	for i := range calls {
		calls[i] = &call{wake: make(chan struct{}, 1)}
	}
	backing := make([]*call, 8, 16)
	copy(backing, calls)
	b.queue = backing
	b.lead(&call{}) // takes 2, then appoints calls[2] to lead
	if len(b.queue) != 5 || &b.queue[:1][0] != &backing[0] {
		t.Fatalf("queue: %d calls, in its own array %v; want 5 in it", len(b.queue), &b.queue[:1][0] == &backing[0])
	}
	for i, c := range b.queue {
		if c != calls[3+i] {
			t.Errorf("queue[%d] is not the call queued %d-th", i, 3+i)
		}
	}
	for i, c := range backing[5:8] {
		if c != nil {
			t.Errorf("vacated slot %d still holds a call", 5+i)
		}
	}
	if !calls[2].lead || len(calls[2].wake) != 1 || len(calls[0].wake) != 1 {
		t.Error("the taken calls and the next leader were not woken")
	}
}
