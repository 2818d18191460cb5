package store

import (
	"strings"
	"sync"
)

// measuredPairs remembers the (pool, metric) pairs this process has seen committed in
// measured_metrics (PostgreSQL; migration 00027), so that a group commit whose
// readings are all of known pairs skips the table's upkeep.
//
// measured_metrics is kept by a statement-level trigger on sensor_readings, which for
// every INSERT captures the new rows in a transition table, takes their distinct pairs
// and probes the table for each. Measured by the backend's CPU time (interleaved
// batch by batch on one durable cluster, 8 devices of one pool, 10 readings a
// delivery): 110 µs of a lone delivery's 870 µs, and 13 µs a delivery at 20 deliveries a
// statement — for pairs that, past a pool's first readings, are always there already.
// Keeping the pairs in the group commit's own statement instead cost as much as the
// trigger. So the trigger stays, for every writer (InsertReadings, test sessions, a
// bulk load, the previous binary), and since migration 00029 it does nothing in a
// transaction that set poolhost.measured_kept: the group commit's statement sets it
// (writeDeliveriesFastSQL) when every pair of its readings is in here.
//
// A pair enters only after a statement that inserted readings of it committed, its
// trigger having run: the pair is then in measured_metrics for good. Its rows are
// deleted only with their pool (DeletePool), which takes no reading afterwards (the
// group commit's guard refuses a deleted pool, whatever this map says) and whose id is
// never handed out again: a pair of a deleted pool left here, as in another replica's
// map, is never asked about again. DeletePool forgets its own process's anyway.
type measuredPairs struct {
	mu    sync.Mutex
	known map[measuredPair]struct{}
}

type measuredPair struct {
	pool   int64
	metric string
}

// maxMeasuredPairs bounds the memory: about 100 bytes a pair, 10 MB. Past it, pairs
// not yet known take the trigger's path, as before.
const maxMeasuredPairs = 100_000

// allKnown reports whether every reading of rows is of a known pair.
func (m *measuredPairs) allKnown(rows []Reading) bool {
	if m == nil || len(rows) == 0 {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rows {
		if _, ok := m.known[measuredPair{r.PoolID, r.Metric}]; !ok {
			return false
		}
	}
	return true
}

// add records the pairs of rows[i] for every i with inserted(i), after their
// statement committed.
func (m *measuredPairs) add(rows []Reading, inserted func(i int) bool) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.known == nil {
		m.known = map[measuredPair]struct{}{}
	}
	for i, r := range rows {
		if len(m.known) >= maxMeasuredPairs {
			return
		}
		if !inserted(i) {
			continue
		}
		if _, ok := m.known[measuredPair{r.PoolID, r.Metric}]; !ok {
			// A copy: the reading's string may share memory with a request's buffer,
			// which this map would otherwise keep (or see reused).
			m.known[measuredPair{r.PoolID, strings.Clone(r.Metric)}] = struct{}{}
		}
	}
}

// forget drops the pairs of a deleted pool.
func (m *measuredPairs) forget(poolID int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := range m.known {
		if p.pool == poolID {
			delete(m.known, p)
		}
	}
}
