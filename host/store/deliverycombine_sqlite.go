package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Combining on SQLite. Every WriteDeliveries is a transaction on the one write
// connection, and each commit needs its own fsync (synchronous=FULL; since
// sqlitesync.go, after the writer is handed on). Calls that arrive while another holds
// the writer would each wait their turn and pay an fsync of their own; instead the calls waiting when the writer frees
// up go into one transaction, one fsync for all of them — what ingest's group commit
// does for requests, done again here for its batches (ingest runs several at once,
// GroupCommitWriters) and for any other concurrent callers. Each call still gets its
// own counts, and a delivery two calls carry is written once (firstCopies), as within
// one call.
//
// A combined transaction that fails is retried call by call, each under its own
// context, so one bad call (or a caller that gave up) cannot fail the others.
type sqliteCombiner struct {
	mu      sync.Mutex
	writing bool // a combined write is in flight, or its leader is being appointed
	queue   []*combineCall
	writes  int // transactions begun, for tests
	// What the writer did (WriterStats): combined writes, their deliveries, and the
	// time it was held by them, retries included.
	stats WriterStats
	// wal: the WAL the combiner syncs after each write, once the writer is handed on
	// (sqlitesync.go); "" when SQLite syncs inside COMMIT.
	wal string
	// ckpt: told of every write, it checkpoints the WAL beside the writer
	// (sqlitecheckpoint.go); nil without a file.
	ckpt *sqliteCheckpointer
}

// WriterStats is what SQLite's one writer has done since the store opened: how many
// combined transactions, how many deliveries they carried, and how long the writer was
// held by them (statements, commit and sync). host/bench reports the share of its time
// the writer was busy: near 1, the writer is the limit, whatever the CPU.
type WriterStats struct {
	Transactions int64
	Deliveries   int64
	Busy         time.Duration
}

// SQLiteWriter returns the SQLite writer's figures so far; ok is false on PostgreSQL.
func (s *Store) SQLiteWriter() (st WriterStats, ok bool) {
	if s.comb == nil {
		return WriterStats{}, false
	}
	s.comb.mu.Lock()
	defer s.comb.mu.Unlock()
	return s.comb.stats, true
}

// combineMax bounds the deliveries of one combined transaction, so that one commit
// does not hold the writer (and its callers) for long: four of ingest's full batches.
const combineMax = 256

type combineCall struct {
	ctx      context.Context
	ds       []DeliveryWrite
	accepted []int
	err      error
	taken    bool          // in a write (or appointed to lead one): its outcome will be set
	lead     bool          // appointed to lead the next write
	wake     chan struct{} // closed when the outcome is set, or when lead is
}

func (c *sqliteCombiner) write(ctx context.Context, q queries, ds []DeliveryWrite) ([]int, error) {
	call := &combineCall{ctx: ctx, ds: ds, wake: make(chan struct{})}
	c.mu.Lock()
	if !c.writing {
		c.writing = true
		call.taken = true
		c.mu.Unlock()
		c.lead(q, call)
		return call.accepted, call.err
	}
	c.queue = append(c.queue, call)
	c.mu.Unlock()
	select {
	case <-call.wake:
	case <-ctx.Done():
		c.mu.Lock()
		if !call.taken {
			for i, w := range c.queue {
				if w == call {
					c.queue = append(c.queue[:i], c.queue[i+1:]...)
					break
				}
			}
			c.mu.Unlock()
			return nil, ctx.Err() // not in any transaction: nothing was written
		}
		c.mu.Unlock()
		<-call.wake // in a transaction already: its outcome is the answer
	}
	if call.lead {
		c.lead(q, call)
	}
	return call.accepted, call.err
}

// lead writes first with the calls queued behind it (up to combineMax deliveries),
// then hands the writer to the oldest call still waiting, or goes idle.
func (c *sqliteCombiner) lead(q queries, first *combineCall) {
	c.mu.Lock()
	batch := []*combineCall{first}
	n := len(first.ds)
	k := 0
	for ; k < len(c.queue) && n+len(c.queue[k].ds) <= combineMax; k++ {
		c.queue[k].taken = true
		batch = append(batch, c.queue[k])
		n += len(c.queue[k].ds)
	}
	c.queue = append(c.queue[:0:0], c.queue[k:]...)
	c.writes++
	c.mu.Unlock()

	start := time.Now()
	if len(batch) == 1 {
		first.accepted, first.err = q.writeDeliveries(first.ctx, first.ds)
	} else {
		all := make([]DeliveryWrite, 0, n)
		for _, b := range batch {
			all = append(all, b.ds...)
		}
		// The first call's context: its values (tracing) and its cancellation, which
		// sends every call to its own retry below.
		accepted, err := q.writeDeliveries(first.ctx, all)
		for _, b := range batch {
			if err != nil {
				b.accepted, b.err = q.writeDeliveries(b.ctx, b.ds)
				continue
			}
			b.accepted, accepted = accepted[:len(b.ds):len(b.ds)], accepted[len(b.ds):]
		}
	}

	busy := time.Since(start)
	c.mu.Lock()
	c.stats.Transactions++
	c.stats.Deliveries += int64(n)
	c.stats.Busy += busy
	if len(c.queue) == 0 {
		c.writing = false
	} else {
		next := c.queue[0]
		c.queue = c.queue[1:]
		next.taken, next.lead = true, true
		close(next.wake)
	}
	c.mu.Unlock()
	// The writer is the next batch's now; this one's commits are synced before any of
	// its calls is answered (sqlitesync.go).
	if c.wal != "" {
		if err := syncWAL(c.wal); err != nil {
			for _, b := range batch {
				if b.err == nil {
					b.accepted, b.err = nil, fmt.Errorf("write deliveries: sync the WAL: %w", err)
				}
			}
		}
	}
	c.ckpt.poke()
	for _, b := range batch[1:] {
		close(b.wake)
	}
}
