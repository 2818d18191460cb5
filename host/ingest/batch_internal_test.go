package ingest

import (
	"context"
	"errors"
	"slices"
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

// TestBarRemembersRecentWrites: a last writer handing on the few that waited leaves one
// small write in flight; the bar for another write beside it stays at the size of the
// writes before (here 16) rather than falling to minSharedFloor with it, and comes back
// down once recentWrites writes in a row were small (light load).
func TestBarRemembersRecentWrites(t *testing.T) {
	var (
		mu      sync.Mutex
		sizes   []int           // each write's size, in the order they started
		release []chan struct{} // closing release[i] ends write i
	)
	b := &batcher{max: maxBatch, writers: 2, queued: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "q"}),
		commit: func(ctx context.Context, batch []*call) {
			mu.Lock()
			sizes = append(sizes, len(batch))
			gate := make(chan struct{})
			release = append(release, gate)
			mu.Unlock()
			<-gate
		}}
	var wg sync.WaitGroup
	arrive := func(n int) {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := b.do(context.Background(), &pending{}); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	// wait waits until writes have started and queued calls wait, and fails if more did.
	wait := func(writes, queued int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Microsecond) {
			mu.Lock()
			w := len(sizes)
			mu.Unlock()
			b.mu.Lock()
			q := len(b.queue)
			b.mu.Unlock()
			if w == writes && q == queued {
				time.Sleep(2 * time.Millisecond) // nothing more happens
				mu.Lock()
				w = len(sizes)
				mu.Unlock()
				b.mu.Lock()
				q = len(b.queue)
				b.mu.Unlock()
				if w == writes && q == queued {
					return
				}
			}
			if w > writes || time.Now().After(deadline) {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("writes %v, %d queued; want %d writes, %d queued", sizes, q, writes, queued)
			}
		}
	}
	end := func(i int) {
		mu.Lock()
		gate := release[i]
		mu.Unlock()
		close(gate)
	}

	arrive(1) // alone: write 0
	wait(1, 0)
	arrive(minSharedFloor) // beside it: write 1, of 8
	wait(2, 0)
	arrive(minShared) // no room for a third: they wait
	wait(2, minShared)
	end(0) // hands the 16 on: write 2, beside write 1
	wait(3, 0)
	end(1)
	arrive(3) // too few for a write beside write 2 (16)
	wait(3, 3)
	end(2) // the last writer hands the 3 on: write 3, alone
	wait(4, 0)
	// The bar is still 16 (write 2), not 8 (write 3 being the largest in flight): 8
	// wait for write 3 and share the next write.
	arrive(minSharedFloor)
	wait(4, minSharedFloor)
	// Light load: small writes one after another bring the bar back to the floor. Up to
	// write 1+recentWrites, write 2 (16) is among the recent: 8 wait.
	for i := 4; i < 2+recentWrites; i++ {
		end(i - 1) // hands the 8 on: write i
		wait(i+1, 0)
		arrive(minSharedFloor)
		wait(i+1, minSharedFloor)
	}
	end(1 + recentWrites) // hands the 8 on; write 2 is no longer among the recent
	wait(3+recentWrites, 0)
	arrive(minSharedFloor) // 8 are enough for a write beside it
	wait(4+recentWrites, 0)
	mu.Lock()
	for _, gate := range release[2+recentWrites:] {
		close(gate)
	}
	mu.Unlock()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	want := []int{1, minSharedFloor, minShared, 3}
	for range recentWrites {
		want = append(want, minSharedFloor)
	}
	if !slices.Equal(sizes, want) {
		t.Errorf("writes %v, want %v", sizes, want)
	}
}
