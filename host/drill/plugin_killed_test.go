package drill_test

import (
	"context"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/internal/loadtest"
	"github.com/poolhost/poolhost/host/internal/pgtest"
)

// TestDrillPluginKilled kills the generic plugin with SIGKILL, again and again, while 50
// clients post signed deliveries (10 s; 3 s with -short), the retry worker running.
// Deliveries in flight at a kill are either refused (503: the plugin could not confirm
// they are authentic, nothing stored) or kept for retry (202) when the restarted plugin
// confirmed them. After the worker drained the failures table, every 200 and 202 is
// stored exactly once and nothing else is.
func TestDrillPluginKilled(t *testing.T) {
	load := 10 * time.Second
	if testing.Short() {
		load = 3 * time.Second
	}
	cluster := pgtest.NewCluster(t)
	h := newInproc(t, cluster.NewDatabase(t))
	h.worker.Start(context.Background())

	var refused atomic.Int64
	run := h.runner(50, func(r loadtest.Result) {
		if r.Status != 200 {
			refused.Add(1)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), load)
	defer cancel()

	// The killer: wait for the plugin to be running, let some load through, kill -9,
	// repeat until the load ends.
	kills := make(chan int, 1)
	go func() {
		n := 0
		defer func() { kills <- n }()
		for ctx.Err() == nil {
			var pid int
			if !waitFor(time.Until(deadlineOf(ctx)), func() bool { pid = h.pluginPID(); return pid != 0 }) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(load / 8):
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Logf("kill %d: %v", pid, err)
				continue
			}
			n++
			// Wait for the supervisor to notice, so the next kill hits the new process.
			waitFor(time.Until(deadlineOf(ctx)), func() bool { return h.pluginPID() != pid })
		}
	}()

	results := run.Run(ctx, 0)
	killed := <-kills
	sum := loadtest.Summarize(results)
	t.Logf("plugin killed %d times; %s", killed, sum)
	if killed == 0 {
		t.Fatal("the plugin was never killed")
	}
	if sum.ByStatus[200] == 0 {
		t.Fatal("no delivery was accepted")
	}
	if refused.Load() == 0 {
		t.Fatal("no delivery was refused or queued: the kills hit nothing in flight")
	}
	for code, n := range sum.ByStatus {
		if code != 200 && code != 202 && code != 503 {
			t.Errorf("%d deliveries answered %d, want only 200, 202 or 503", n, code)
		}
	}

	h.drain(t)
	checkExactlyOnce(t, results, readStored(t, h.store, h.payloads), false)
}

func deadlineOf(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(time.Minute)
	}
	return d
}
