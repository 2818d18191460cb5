package store

import (
	"errors"
	"sync"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
)

// readingConflicts decides whether the PostgreSQL group commit inserts its readings
// with a plain INSERT (writeDeliveriesStatement's plain) rather than with ON CONFLICT
// DO NOTHING, and learns from the statements that could not.
//
// ON CONFLICT makes every row a speculative insertion: a probe of the unique key before
// the insert, a speculative lock taken and released, and a second WAL record to confirm
// the tuple. Measured by the backend's CPU time on one durable cluster, 16 deliveries of
// 10 readings a statement: the two statements interleaved, 254 against 208 µs per
// delivery (medians of 120 rounds each); BenchmarkGroupCommitStatementCPU before and
// after this change, three interleaved pairs, 349/322/356 against 253/295/235 µs (a
// lone delivery 877/1,021/1,052 against 892/744/863). A plain INSERT still refuses a
// key already stored (the unique index checks it as it inserts, and waits for a writer
// in flight with the same key, as ON CONFLICT does), so nothing is stored twice: the
// statement fails whole with a unique violation and the same batch is written again
// with ON CONFLICT, which skips the duplicates and counts them. The replay keys
// (webhook_deliveries) are inserted the same way, plain first: a replay fails the plain
// statement like a reading stored before, and the statement with ON CONFLICT answers it
// as a replay. Only those two keys can be violated there: the audit rows' and readings'
// primary keys are identities.
//
// Most batches carry only new readings and new delivery ids (a replay reaching the
// database is a provider's retry of a delivery already stored, or a copy in flight on
// another replica). A source that often sends readings or deliveries again would fail
// statements often: each conflict costs the failed statement
// (about one more statement's CPU) and puts one ERROR line in the server's log. So
// after a conflict the next statements use ON CONFLICT — one, then twice as many after
// each further conflict, up to maxConflictSkip — and each plain statement that succeeds
// halves that count again.
type readingConflicts struct {
	mu   sync.Mutex
	skip int // statements still to write with ON CONFLICT
	next int // what the next conflict sets skip to (0: 1)
}

// maxConflictSkip bounds the statements written with ON CONFLICT after a conflict: a
// source that sends every reading twice fails one statement in 1,025.
const maxConflictSkip = 1024

// plain says whether the next statement inserts its readings without ON CONFLICT.
func (c *readingConflicts) plain() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.skip > 0 {
		c.skip--
		return false
	}
	return true
}

// conflicted records that a plain statement met a stored key.
func (c *readingConflicts) conflicted() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skip = max(1, c.next)
	c.next = min(maxConflictSkip, 2*c.skip)
}

// stored records that a plain statement met no stored key.
func (c *readingConflicts) stored() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next /= 2
}

// isUniqueViolation reports whether err is PostgreSQL refusing a duplicate key.
func isUniqueViolation(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == pqerror.UniqueViolation
}
