// Package worker is what the host's background workers (host/retry, host/poll) share:
// the Start/Close lifecycle of a ticking loop, the lease owner id that names a worker in
// the rows it claims, claiming no more rows than free slots (Drain), the typed outcome
// of one row, the backoff schedule and the bound on a stored error message. The workers
// keep their own config, metrics and log lines.
package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"
)

// Loop runs a tick at once and then every interval in one goroutine. The zero Loop is
// ready to use.
type Loop struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// Start runs tick until ctx ends or Close and reports whether it started; a Loop runs
// at most once, so a second Start (even after Close) does nothing and returns false.
// Ticks never overlap: a slow tick delays the next one rather than stacking up.
func (l *Loop) Start(ctx context.Context, interval time.Duration, tick func(ctx context.Context)) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel != nil {
		return false
	}
	ctx, l.cancel = context.WithCancel(ctx)
	l.done = make(chan struct{})
	go func() {
		defer close(l.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			tick(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return true
}

// Close stops the loop and waits for the tick in progress, whose ctx it cancels. It is
// safe without Start and more than once.
func (l *Loop) Close() {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// OwnerID returns a lease owner id unique to this process: kind, host, pid and a random
// suffix, so two processes on one host (or a restarted one) never share leases.
func OwnerID(kind string) string {
	hostname, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s-%d-%s", kind, hostname, os.Getpid(), hex.EncodeToString(b[:]))
}
