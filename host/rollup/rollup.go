// Package rollup keeps the hourly rollups of sensor readings (store.AdvanceRollups) up
// to date, on one elected replica: every Interval it merges the readings inserted since
// the last run, late ones included, so summaries read rollups instead of raw rows.
package rollup

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/internal/worker"
)

// Interval is how often the rollups catch up. Readings newer than the last run are read
// raw by the summary, so a shorter interval only makes summaries a little cheaper.
const Interval = time.Minute

// Leader names the rollup's leadership (store.ElectLeader). Two replicas rolling up at
// once would still be correct (the watermark row's lock serializes them) but would
// queue on that lock for nothing. The leadership lasts two intervals, so one slow run
// does not hand it over.
const Leader = "rollups"

// Store is what the worker runs on: *store.Store.
type Store interface {
	AdvanceRollups(ctx context.Context) (merged, watermark int64, err error)
	ElectLeader(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
}

// Worker runs the rollups every Interval.
type Worker struct {
	st    Store
	log   hclog.Logger
	loop  worker.Loop
	owner string
}

// New returns a worker; nothing runs until Start.
func New(st Store, log hclog.Logger) *Worker {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Worker{st: st, log: log.Named("rollup"), owner: worker.OwnerID("rollup")}
}

// Tick rolls up once if this replica is (or becomes) the leader, and reports whether it
// was and how many readings it merged. Exported for tests.
func (w *Worker) Tick(ctx context.Context) (leader bool, merged int64, err error) {
	leader, err = w.st.ElectLeader(ctx, Leader, w.owner, 2*Interval)
	if err != nil || !leader {
		return false, 0, err
	}
	merged, _, err = w.st.AdvanceRollups(ctx)
	return true, merged, err
}

// Start runs the worker now and every Interval until ctx ends or Close.
func (w *Worker) Start(ctx context.Context) {
	w.loop.Start(ctx, Interval, func(ctx context.Context) {
		if _, n, err := w.Tick(ctx); err != nil {
			w.log.Warn("rollup failed; trying again next interval", "error", err)
		} else if n > 0 {
			w.log.Debug("rolled up", "readings", n)
		}
	})
}

// Close stops the worker, waiting for a run in progress.
func (w *Worker) Close() { w.loop.Close() }
