package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk/tracing"
)

// Group commit. A delivery's own work in the database is small (a device lookup, one
// INSERT of ten rows, an audit row); what costs is the transaction around it: round
// trips, and on PostgreSQL a WAL flush per COMMIT. So requests that arrive while a write
// is in flight wait for it to end and then share the next one: one device lookup per
// provider, then one store.WriteDeliveries — on PostgreSQL a single statement that
// inserts every delivery's rows, counts each delivery's new ones and inserts the audit
// rows with those counts, committed by itself. Nobody waits on purpose: a request
// arriving at an idle service is stored at once, alone, by the same one write (not
// ingestOne's transaction of four statements and a COMMIT: see commit).
//
// There is no committer goroutine. The first request to find the service idle leads:
// it stores its batch, then hands the lead to the oldest waiting request, which takes
// everything queued so far (up to maxBatch) into the next write. Where the store takes
// several writes at once (Writers), a request that finds enough waiting (minShared, less
// under light load) leads them into another write beside those in flight. Every
// request's Ingest returns only once its write committed or failed.
//
// A failed batch is retried request by request, each in its own transaction under its
// own context, so one bad request cannot fail the deliveries that merely shared its
// write.

// maxBatch bounds the deliveries of one write: 640 readings of webhooks is one
// statement's arrays on PostgreSQL, and SQLite's multi-row INSERTs split at 500 rows.
const maxBatch = 64

// Writers is what a Store may say about how many shared writes it takes at once
// (store.Store.GroupCommitWriters); a Store that says nothing gets one at a time.
type Writers interface {
	GroupCommitWriters() int
}

// minShared is how many requests must be waiting before another write starts beside
// those in flight (where the store takes more than one). One writer leaves PostgreSQL
// idle while the host gathers the next batch and while the COMMIT's WAL flush runs: with
// several, the next batch is built and sent during the previous one's flush. But a write
// started for every few requests split the queue into small batches — each a statement
// and a WAL flush of its own — which cost about a third more CPU per delivery
// (host/bench, an earlier measurement with two writers and no minimum). So another write
// starts only for a batch worth a statement of its own: 16 deliveries, the ceiling's
// batch (host/bench/ceiling_test.go); below that, requests wait for a write in flight
// and share the next one, as with one writer. How many may be in flight is the store's
// to say (Writers): with this minimum, a larger number only lets more full batches
// overlap. At 64 senders the box is still about a tenth idle, but not for this rule:
// with 8 here, or a finishing write always handing on whatever waits, statements carried
// 10-12 deliveries instead of 14, the CPU per delivery rose and the busy share did not
// (README "Capacity and tuning": what idles it is the commits' WAL flush).
//
// Nor larger: the backend's CPU per delivery falls with the statement's size
// (store's BenchmarkGroupCommitStatementCPU: 208 µs at 16, 160 at 32), but with a
// fixed number of senders a write's size is the deliveries in writes divided by the
// writes in flight, so larger statements mean fewer writes overlapping and more
// deliveries parked in the queue. A bar that followed the load (another write once as
// many wait as the writes in flight carry, 8 to 32), tried at 64 senders in eight
// interleaved pairs against this rule (2026-12-07 07:45-08:05 UTC, 20,000 deliveries
// each): statements of 19-21 deliveries instead of 12-15, two writes in flight instead
// of three, the queue wait 2.3-3.4 ms instead of 0.7-1.7; the database's CPU per
// delivery 6-9% lower and the whole box's 5% (each ÷ the load generator's, which the
// change does not touch), but the box's busy share fell from 0.85-0.89 to 0.72-0.83, so
// deliveries/s stayed level with the adapter linked in and fell 7% (mean) through the
// plugin. Two writers that always hand on whatever waits did the same (two pairs: 18
// deliveries a statement, busy share 0.78-0.83).
const minShared = 16

// minSharedFloor lowers minShared under light load: when the largest write in flight,
// and of the last recentWrites to start, carries fewer than minShared deliveries, another
// write starts once as many wait as it carries, but never for fewer than this. At 16 senders a write carried about 8, so a
// second one never started (16 could not wait while 8 were in a write): one write in
// flight, a delivery waiting out a whole write before its own, 0.24-0.37 of the box's
// cores busy (host/bench c16, writes-in-flight 0.99). Taking the largest write in flight,
// not the smallest, keeps batches from shrinking under heavy load: one batch of 16 in
// flight puts the bar back at 16. Not lower than 8: with 4, 16 senders settled into
// writes of 4 and doubled their throughput, but for 20-35% more CPU per delivery; at 8
// they keep the batches of 8 they had, two writes overlapping.
const minSharedFloor = 8

// recentWrites is how many of the last writes to start, besides those in flight, set
// how far minSharedFloor lowers the bar. The writes in flight alone were not enough: at
// 64 senders through the plugin, whose answers arrive in bursts, the writes in flight
// often came down to one small write (a last writer handing on the few that waited),
// the bar fell with it to 8 and the next writes carried 8 each until a full queue at
// the writers' limit raised it again: a quarter of the deliveries went in writes of
// 8-11, against 2-15% with the adapter linked in.
const recentWrites = 4

// enough is how many waiting requests start another write beside those in flight;
// b.mu is held.
func (b *batcher) enough() int {
	largest := 0
	for _, n := range b.inflight {
		largest = max(largest, n)
	}
	for _, n := range b.recent {
		largest = max(largest, n)
	}
	return max(minSharedFloor, min(minShared, largest))
}

// batchTimeout bounds a shared write. It runs under none of its requests'
// contexts — one caller giving up must not roll back the others — so it needs a bound
// of its own for a database that stops answering.
const batchTimeout = 30 * time.Second

// call states, guarded by batcher.mu.
const (
	callQueued = iota // waiting in the queue; may still leave it
	callTaken         // in a batch (or appointed leader): its outcome will be written
)

type call struct {
	ctx   context.Context
	p     *pending
	err   error
	state int
	lead  bool          // appointed to lead the next batch
	wake  chan struct{} // a queued call's: sent once, when err is set or when lead is
	since time.Time     // when it was queued
}

// wakes are calls' wake channels (buffered, 1), kept for the next queued call: each is
// sent on once and received from once, or not at all when its call leaves the queue
// before it is taken, so it comes back empty. A channel made per call was an
// allocation per delivery; a call that leads at once needs none.
var wakes = sync.Pool{New: func() any { return make(chan struct{}, 1) }}

type batcher struct {
	max     int // deliveries per write
	writers int // writes in flight at most
	commit  func(ctx context.Context, batch []*call)
	queued  prometheus.Observer // seconds a call waited for a write to take it

	mu      sync.Mutex
	running int // batches in flight, at most writers
	// inflight is the size of each batch in flight (once its leader took it).
	inflight []int
	// recent is the size of the last recentWrites batches taken, the newest at
	// next%recentWrites.
	recent [recentWrites]int
	next   int
	queue  []*call
}

// do stores p, alone or with others, and returns once that is decided.
func (b *batcher) do(ctx context.Context, p *pending) error {
	// The call lives in p, already on the heap: an allocation fewer per delivery.
	p.call = call{ctx: ctx, p: p, since: time.Now()}
	c := &p.call
	b.mu.Lock()
	// Idle: store c at once, alone. Busy, with room for another write and enough
	// requests waiting for it: c leads them now rather than wait for the write in
	// flight.
	if b.running == 0 || b.running < b.writers && len(b.queue)+1 >= b.enough() {
		b.running++
		c.state = callTaken
		b.mu.Unlock()
		b.lead(c)
		return c.err
	}
	wake := wakes.Get().(chan struct{})
	c.wake = wake
	b.queue = append(b.queue, c)
	b.mu.Unlock()

	select {
	case <-wake:
	case <-ctx.Done():
		b.mu.Lock()
		if c.state == callQueued {
			// Not in any transaction yet: leave, and the caller hears nothing was stored.
			// Nobody will send on wake now.
			b.remove(c)
			b.mu.Unlock()
			wakes.Put(wake)
			return fmt.Errorf("ingest: %w", ctx.Err())
		}
		b.mu.Unlock()
		// Already part of a transaction: its outcome is the answer, committed or not.
		<-wake
	}
	wakes.Put(wake) // received from: empty, and nobody sends on it again
	if c.lead {
		b.lead(c)
	}
	return c.err
}

// remove drops c from the queue; b.mu is held.
func (b *batcher) remove(c *call) {
	for i, q := range b.queue {
		if q == c {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			return
		}
	}
}

// lead commits c with whatever is queued, then passes the lead on (or goes idle).
func (b *batcher) lead(c *call) {
	b.mu.Lock()
	n := min(len(b.queue), b.max-1)
	batch := make([]*call, 0, n+1)
	batch = append(batch, c)
	for _, q := range b.queue[:n] {
		q.state = callTaken
		batch = append(batch, q)
	}
	// The rest moves to the queue's front, in the array the queue has: a new one each
	// time was half an allocation per delivery, do's appends growing it again (host/bench).
	// The taken calls' slots are cleared, not to keep their deliveries alive.
	m := copy(b.queue, b.queue[n:])
	clear(b.queue[m:])
	b.queue = b.queue[:m]
	b.inflight = append(b.inflight, len(batch))
	b.recent[b.next%recentWrites] = len(batch)
	b.next++
	b.mu.Unlock()
	now := time.Now()
	for _, q := range batch {
		b.queued.Observe(now.Sub(q.since).Seconds())
	}

	b.commit(c.ctx, batch)

	b.mu.Lock()
	// The lead passes to the oldest waiting request when this was the only write in
	// flight (nobody else would take the queue) or enough wait for a write of their
	// own; else they wait for another write in flight, which takes them when it ends.
	if i := slices.Index(b.inflight, len(batch)); i >= 0 {
		b.inflight = slices.Delete(b.inflight, i, i+1)
	}
	if len(b.queue) == 0 || b.running > 1 && len(b.queue) < b.enough() {
		b.running--
	} else {
		next := b.queue[0]
		m := copy(b.queue, b.queue[1:]) // in the queue's array, as above
		b.queue[m] = nil
		b.queue = b.queue[:m]
		next.state, next.lead = callTaken, true
		next.wake <- struct{}{}
	}
	b.mu.Unlock()
	for _, q := range batch[1:] {
		q.wake <- struct{}{}
	}
}

// commit stores a batch and sets each call's outcome. ctx is the leader's: only its
// values are used.
func (s *Service) commit(ctx context.Context, batch []*call) {
	ctx, span := startBatchSpan(ctx, batch)
	defer span.End()
	if len(batch) == 1 {
		// Alone, the same write as a shared batch's, under the request's own context
		// (ctx is c.ctx, with the batch's span when tracing is on): nobody shares it, so
		// its caller giving up may roll it back, and its error is the caller's answer.
		// Through ingestOne (five round trips on PostgreSQL) a lone delivery cost twice
		// the database's CPU and 1.7 times the latency at 1 sender (host/bench, README
		// "Capacity and tuning").
		c := batch[0]
		c.err = s.ingestBatch(ctx, batch)
		if errors.Is(c.err, store.ErrPoolGone) {
			// A pool deleted since the lookup: ingestOne looks the devices up again.
			c.err = s.ingestOne(ctx, c.p)
		}
		tracing.Fail(span, c.err)
		return
	}
	s.metrics.batches.Inc()
	s.metrics.batchSize.Observe(float64(len(batch)))
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	err := s.ingestBatch(bctx, batch)
	cancel()
	if err == nil {
		return
	}
	if errors.Is(err, store.ErrPoolGone) {
		// Not a fault: a pool was deleted since the lookup. One by one, each
		// delivery's devices are looked up again (ingestOne).
		s.log.Debug("group commit met a deleted pool; storing its deliveries one by one", "deliveries", len(batch))
	} else {
		tracing.Fail(span, err)
		s.log.Warn("group commit failed; storing its deliveries one by one", "deliveries", len(batch), "error", err)
	}
	var wg sync.WaitGroup
	for _, c := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.err = s.ingestOne(c.ctx, c.p)
		}()
	}
	wg.Wait()
}

// ingestBatch stores one request or several in one write (store.WriteDeliveries: a
// single statement on PostgreSQL). Their devices are looked up first, outside it, as
// ingestOne does; requests whose readings need a delivery's first receipt time never get
// here.
func (s *Service) ingestBatch(ctx context.Context, batch []*call) error {
	// One lookup per provider for the union of the ids; resolve still scopes each
	// request to its own account.
	ids := map[string][]string{}
	seen := map[string]map[string]bool{}
	for _, c := range batch {
		prov := c.p.req.Provider
		if seen[prov] == nil {
			seen[prov] = map[string]bool{}
		}
		for _, id := range c.p.ids {
			if !seen[prov][id] {
				seen[prov][id] = true
				ids[prov] = append(ids[prov], id)
			}
		}
	}
	// Devices by provider, then by provider device id, so that each request is resolved
	// against its own devices only: against the whole batch's, resolve's work and
	// allocations grew with the batch (17 allocations per delivery at 30 deliveries a
	// batch, host/bench).
	start := time.Now()
	devices := make(map[string]map[string][]store.Device, len(ids))
	for prov, list := range ids {
		ds, err := s.store.LookupDevices(ctx, store.DeviceLookup{Provider: prov, ProviderDeviceIDs: list})
		if err != nil {
			return fmt.Errorf("resolve devices: %w", err)
		}
		byID := make(map[string][]store.Device, len(list))
		for _, d := range ds {
			byID[d.ProviderDeviceID] = append(byID[d.ProviderDeviceID], d)
		}
		devices[prov] = byID
	}

	writes := make([]store.DeliveryWrite, len(batch))
	// The audit events in one array: each on the heap of its own was an allocation per
	// delivery.
	audits := make([]store.AuditEvent, len(batch))
	empty := true
	for i, c := range batch {
		c.p.build(ownDevices(devices[c.p.req.Provider], c.p.ids))
		writes[i].Readings = c.p.rows
		writes[i].Once = c.p.onceKey()
		if e, ok := c.p.audit(); ok {
			audits[i] = e
			writes[i].Audit = &audits[i]
		}
		empty = empty && len(writes[i].Readings) == 0 && writes[i].Audit == nil && writes[i].Once == nil
	}
	s.metrics.lookup.Observe(time.Since(start).Seconds())
	if empty {
		return nil // every reading dropped, and nothing to record: no write, as ingestOne
	}
	start = time.Now()
	accepted, err := s.store.WriteDeliveries(ctx, writes)
	s.metrics.statement.Observe(time.Since(start).Seconds())
	if err != nil {
		return err
	}
	for i, c := range batch {
		if accepted[i] == store.Replayed {
			c.p.replayed()
			continue
		}
		c.p.res.Accepted, c.p.res.Duplicates = accepted[i], len(c.p.rows)-accepted[i]
	}
	return nil
}

// ownDevices is the devices of byID that ids name, in lookup order for each id.
func ownDevices(byID map[string][]store.Device, ids []string) []store.Device {
	if len(ids) == 1 {
		return byID[ids[0]] // the common case, no copy: resolve only reads it
	}
	var out []store.Device
	for _, id := range ids {
		out = append(out, byID[id]...)
	}
	return out
}
