package worker

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/store"
)

// StopTimeout bounds what a stopping worker still writes: the release of a row its
// stopping cut short, the record of an attempt that failed on its own, refreshed
// credentials. It runs past the worker's context, and Close (so a replica's shutdown)
// waits for it.
const StopTimeout = 5 * time.Second

// PastStop is ctx without its cancellation, bounded by StopTimeout: for a write that must
// not be lost to the worker stopping meanwhile.
func PastStop(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), StopTimeout)
}

// AfterStop is ctx without its cancellation, ended grace after ctx ends (a stop): for
// work already in flight that is let finish when its worker stops, for at most grace
// longer. The returned cancel ends it at once and frees its resources.
func AfterStop(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	after, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-after.Done():
		}
	})
	return after, func() { stop(); cancel() }
}

// Release hands back a row whose work the worker's stopping cut short, with release (a
// compare-and-set on the row's lease, past the stop), so another replica takes it at
// once instead of when its lease ends: Released. When release finds nothing to hand back
// (the work's transaction committed after all, or the lease was lost: store.ErrLeaseLost)
// or fails, the row is left to its lease: Abandoned. what names the work in the log
// ("poll", "retry"). Never for a command send: one that may have reached the equipment
// is not handed back to be sent again.
func Release(ctx context.Context, log hclog.Logger, what string, release func(context.Context) error) Outcome {
	ctx, cancel := PastStop(ctx)
	defer cancel()
	err := release(ctx)
	switch {
	case errors.Is(err, store.ErrLeaseLost):
		log.Info(what + " cut short; nothing to hand back (stored after all, or the lease was lost)")
		return Abandoned
	case err != nil:
		log.Warn(what+" cut short; not handed back, its lease will bring it back", "error", err)
		return Abandoned
	}
	log.Info(what + " cut short; handed back")
	return Released
}
