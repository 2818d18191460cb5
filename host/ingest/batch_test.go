package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// gatedStore counts transactions and holds the ones a test gates until it opens them,
// so requests pile up behind a transaction in flight exactly as they do under load.
type gatedStore struct {
	*store.Store
	// writers, when set, is how many group commits the store says it takes at once
	// (else the store's own GroupCommitWriters).
	writers int
	mu      sync.Mutex
	txs     int
	gates   map[int]chan struct{} // transaction number (1-based) → gate
}

func newGatedStore(s *store.Store) *gatedStore {
	// One write at a time by default, so that every request queues behind a held one
	// however many the store would take at once (the tests of concurrent writes set
	// their own number, or 0 for the store's).
	return &gatedStore{Store: s, writers: 1, gates: map[int]chan struct{}{}}
}

// gate makes transaction n wait until the returned function is called.
func (g *gatedStore) gate(n int) func() {
	ch := make(chan struct{})
	g.mu.Lock()
	g.gates[n] = ch
	g.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

func (g *gatedStore) InTx(ctx context.Context, fn func(tx *store.Tx) error) error {
	g.enter()
	return g.Store.InTx(ctx, fn)
}

func (g *gatedStore) GroupCommitWriters() int {
	if g.writers > 0 {
		return g.writers
	}
	return g.Store.GroupCommitWriters()
}

// WriteDeliveries is a group commit's write: a transaction too (one statement on
// PostgreSQL).
func (g *gatedStore) WriteDeliveries(ctx context.Context, ds []store.DeliveryWrite) ([]int, error) {
	g.enter()
	return g.Store.WriteDeliveries(ctx, ds)
}

// enter counts a transaction and waits at its gate, if any.
func (g *gatedStore) enter() {
	g.mu.Lock()
	g.txs++
	gate := g.gates[g.txs]
	g.mu.Unlock()
	if gate != nil {
		<-gate
	}
}

func (g *gatedStore) transactions() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.txs
}

// waitQueued polls until n requests wait behind the transaction in flight.
func waitQueued(t *testing.T, svc *ingest.Service, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for svc.Queued() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", svc.Queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// delivery is a webhook-like request: timed readings of one device and an audit row.
func delivery(i int, device string, at time.Time) ingest.Request {
	rs := make([]sdk.Reading, 0, 3)
	for _, m := range []string{"ph", "orp", "temperature"} {
		rs = append(rs, sdk.Reading{ProviderDeviceID: device, Metric: m, Value: 7, RecordedAt: at})
	}
	return ingest.Request{Provider: "generic", Readings: rs, ReceivedAt: received, Audit: auditOf(i)}
}

func auditOf(i int) func(ingest.Result) store.AuditEvent {
	return func(res ingest.Result) store.AuditEvent {
		return store.AuditEvent{Action: "webhook.received", Actor: "provider:generic", Provider: "generic",
			RequestID: fmt.Sprintf("req-%d", i),
			Details:   store.Details{"accepted": res.Accepted, "duplicates": res.Duplicates}}
	}
}

type outcome struct {
	res ingest.Result
	err error
}

// ingestAll runs reqs concurrently while the leader's transaction (the first) is held,
// then lets everything through; it returns each request's outcome.
func ingestAll(t *testing.T, g *gatedStore, svc *ingest.Service, ctxs []context.Context, reqs []ingest.Request) []outcome {
	t.Helper()
	release := g.gate(1)
	defer release()
	out := make([]outcome, len(reqs))
	var wg sync.WaitGroup
	start := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			if ctxs != nil && ctxs[i] != nil {
				ctx = ctxs[i]
			}
			out[i].res, out[i].err = svc.Ingest(ctx, reqs[i])
		}()
	}
	// The first request leads alone and is held in its transaction; the others queue.
	start(0)
	for g.transactions() < 1 {
		time.Sleep(time.Millisecond)
	}
	for i := 1; i < len(reqs); i++ {
		start(i)
	}
	waitQueued(t, svc, len(reqs)-1)
	release()
	wg.Wait()
	return out
}

func TestGroupCommitSharesOneTransaction(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s := eng.Open(t)
			ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"a", "b"}, []string{"loose"})
			g := newGatedStore(s)
			reg := prometheus.NewRegistry()
			svc := ingest.New(g, ingest.Config{MaxFutureSkew: time.Hour, MaxPastAge: 48 * time.Hour}, nil, reg)

			const n = 9
			reqs := make([]ingest.Request, n)
			for i := range reqs {
				reqs[i] = delivery(i, []string{"a", "b"}[i%2], received.Add(-time.Duration(i)*time.Minute))
			}
			// One request with a drop of each kind the batch resolves itself.
			reqs[n-1].Readings = append(reqs[n-1].Readings,
				sdk.Reading{ProviderDeviceID: "loose", Metric: "ph", Value: 7, RecordedAt: received},
				sdk.Reading{ProviderDeviceID: "nobody", Metric: "ph", Value: 7, RecordedAt: received},
				sdk.Reading{ProviderDeviceID: "a", Metric: "turbidity", Value: 7, RecordedAt: received})
			out := ingestAll(t, g, svc, nil, reqs)

			for i, o := range out {
				if o.err != nil {
					t.Fatalf("request %d: %v", i, o.err)
				}
				if o.res.Accepted != 3 || o.res.Duplicates != 0 {
					t.Errorf("request %d: %+v, want 3 accepted", i, o.res)
				}
			}
			want := map[string]int{ingest.DropUnlinkedDevice: 1, ingest.DropUnknownDevice: 1, ingest.DropUnknownMetric: 1}
			if got := out[n-1].res.Dropped; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("dropped %v, want %v", got, want)
			}
			if got := g.transactions(); got != 2 {
				t.Errorf("%d transactions for %d requests, want 2 (the leader alone, then the rest together)", got, n)
			}
			if got := groupCommits(t, reg); got != 1 {
				t.Errorf("group commits metric %v, want 1", got)
			}
			// Where the time went: every request's wait for a write to take it (the
			// eight that queued behind the held write waited for it), and both writes'
			// device lookups and statements.
			count, sum := phases(t, reg)
			if count["queue"] != n || count["write"] != 2 || count["lookup"] != 2 || sum["queue"] <= 0 {
				t.Errorf("group commit phases: counts %v, seconds %v; want %d queued, 2 writes, 2 lookups, and time queued",
					count, sum, n)
			}
			if got := ingesttest.CountReadings(t, s); got != 3*n {
				t.Errorf("stored %d readings, want %d", got, 3*n)
			}
			// One audit row per delivery, each with its own request id and counts.
			seen := map[string]bool{}
			for _, e := range ingesttest.Audit(t, s, "webhook.received") {
				seen[e.RequestID] = true
				if fmt.Sprint(e.Details["accepted"]) != "3" {
					t.Errorf("audit %s details %v, want accepted 3", e.RequestID, e.Details)
				}
			}
			if len(seen) != n {
				t.Errorf("audit rows for %d requests, want %d: %v", len(seen), n, seen)
			}
		})
	}
}

// groupCommits reads the group-commit counter from reg.
func groupCommits(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "poolhost_ingest_group_commits_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// phases reads the group-commit phase histogram from reg: observations and seconds by
// phase.
func phases(t *testing.T, reg *prometheus.Registry) (count map[string]int, sum map[string]float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	count, sum = map[string]int{}, map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "poolhost_ingest_group_commit_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "phase" {
					count[l.GetValue()] = int(m.GetHistogram().GetSampleCount())
					sum[l.GetValue()] = m.GetHistogram().GetSampleSum()
				}
			}
		}
	}
	return count, sum
}

func TestGroupCommitReplaysWithinOneBatch(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s := eng.Open(t)
			ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"a"}, nil)
			g := newGatedStore(s)
			svc := ingest.New(g, ingest.Config{MaxFutureSkew: time.Hour, MaxPastAge: 48 * time.Hour}, nil, nil)

			untimed := func(i int) ingest.Request {
				return ingest.Request{Provider: "generic", DeliveryID: "msg_1", ReceivedAt: received.Add(time.Duration(i) * time.Second),
					Readings: []sdk.Reading{{ProviderDeviceID: "a", Metric: "salt", Value: 3000}}, Audit: auditOf(i)}
			}
			reqs := []ingest.Request{
				delivery(0, "a", received.Add(-time.Hour)), // the leader, alone
				delivery(1, "a", received.Add(-time.Minute)),
				delivery(2, "a", received.Add(-time.Minute)), // a replay of 1
			}
			out := ingestAll(t, g, svc, nil, reqs)
			// Readings without a timestamp take their delivery's first receipt time, which
			// each request records in a transaction of its own: a concurrent replay by
			// delivery id waits on the first and lands on the same key.
			var wg sync.WaitGroup
			out = append(out, outcome{}, outcome{})
			for _, i := range []int{3, 4} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					out[i].res, out[i].err = svc.Ingest(context.Background(), untimed(i))
				}()
			}
			wg.Wait()
			for i, o := range out {
				if o.err != nil {
					t.Fatalf("request %d: %v", i, o.err)
				}
			}
			pair := func(a, b int, rows int) {
				t.Helper()
				x, y := out[a].res, out[b].res
				if x.Accepted+y.Accepted != rows || x.Duplicates+y.Duplicates != rows ||
					(x.Accepted != 0 && y.Accepted != 0) {
					t.Errorf("requests %d and %d: %+v and %+v; want one to store %d, the other %d duplicates", a, b, x, y, rows, rows)
				}
			}
			pair(1, 2, 3)
			pair(3, 4, 1)
			if got := ingesttest.CountReadings(t, s); got != 3+3+1 {
				t.Errorf("stored %d readings, want 7", got)
			}
			if got := g.transactions(); got != 2+2 {
				t.Errorf("%d transactions, want 4 (the leader, the batch, each untimed delivery)", got)
			}
		})
	}
}

func TestGroupCommitFailingRequestFailsAlone(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s := eng.Open(t)
			ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"a", "b"}, nil)
			g := newGatedStore(s)
			svc := ingest.New(g, ingest.Config{MaxFutureSkew: time.Hour, MaxPastAge: 48 * time.Hour}, nil, nil)
			reqs := make([]ingest.Request, 6)
			for i := range reqs {
				reqs[i] = delivery(i, []string{"a", "b"}[i%2], received.Add(-time.Duration(i)*time.Minute))
			}
			// An audit row the store refuses: its transaction rolls back.
			reqs[3].Audit = func(ingest.Result) store.AuditEvent { return store.AuditEvent{} }
			out := ingestAll(t, g, svc, nil, reqs)
			for i, o := range out {
				switch {
				case i == 3 && o.err == nil:
					t.Errorf("request 3 succeeded: %+v", o.res)
				case i != 3 && (o.err != nil || o.res.Accepted != 3):
					t.Errorf("request %d: %+v, %v; want 3 accepted", i, o.res, o.err)
				}
			}
			if got := ingesttest.CountReadings(t, s); got != 3*5 {
				t.Errorf("stored %d readings, want 15 (all but the failed request's)", got)
			}
			// Leader, the failed batch, then one each for the five it held.
			if got := g.transactions(); got != 1+1+5 {
				t.Errorf("%d transactions, want 7", got)
			}
		})
	}
}

func TestGroupCommitCancelledWhileQueued(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s := eng.Open(t)
			ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"a"}, nil)
			g := newGatedStore(s)
			svc := ingest.New(g, ingest.Config{MaxFutureSkew: time.Hour, MaxPastAge: 48 * time.Hour}, nil, nil)
			release := g.gate(1)
			defer release()

			lead := make(chan outcome, 1)
			go func() {
				res, err := svc.Ingest(context.Background(), delivery(0, "a", received.Add(-time.Hour)))
				lead <- outcome{res, err}
			}()
			for g.transactions() < 1 {
				time.Sleep(time.Millisecond)
			}
			ctx, cancel := context.WithCancel(context.Background())
			queued := make(chan outcome, 1)
			go func() {
				res, err := svc.Ingest(ctx, delivery(1, "a", received.Add(-time.Minute)))
				queued <- outcome{res, err}
			}()
			waitQueued(t, svc, 1)
			cancel()
			o := <-queued
			if !errors.Is(o.err, context.Canceled) {
				t.Fatalf("cancelled while queued: %+v, %v; want context.Canceled", o.res, o.err)
			}
			release()
			if o := <-lead; o.err != nil || o.res.Accepted != 3 {
				t.Fatalf("leader: %+v, %v", o.res, o.err)
			}
			if got := ingesttest.CountReadings(t, s); got != 3 {
				t.Errorf("stored %d readings, want only the leader's 3: a request refused must not be stored", got)
			}
		})
	}
}

func TestGroupCommitCancelledInFlightReportsTheCommit(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s := eng.Open(t)
			ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"a"}, nil)
			g := newGatedStore(s)
			svc := ingest.New(g, ingest.Config{MaxFutureSkew: time.Hour, MaxPastAge: 48 * time.Hour}, nil, nil)
			releaseBatch := g.gate(2) // the shared transaction

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ctxs := []context.Context{nil, nil, ctx}
			reqs := []ingest.Request{
				delivery(0, "a", received.Add(-time.Hour)),
				delivery(1, "a", received.Add(-2*time.Hour)),
				delivery(2, "a", received.Add(-3*time.Hour)),
			}
			done := make(chan []outcome, 1)
			go func() { done <- ingestAll(t, g, svc, ctxs, reqs) }()
			// The shared transaction has begun (held at its gate): its members are taken.
			for g.transactions() < 2 {
				time.Sleep(time.Millisecond)
			}
			cancel()
			time.Sleep(20 * time.Millisecond) // give a wrong early return its chance
			releaseBatch()
			out := <-done
			for i, o := range out {
				if o.err != nil || o.res.Accepted != 3 {
					t.Errorf("request %d: %+v, %v; want 3 accepted (committed, so said)", i, o.res, o.err)
				}
			}
			if got := ingesttest.CountReadings(t, s); got != 9 {
				t.Errorf("stored %d readings, want 9", got)
			}
		})
	}
}

// waitTransactions polls until n transactions have begun.
func waitTransactions(t *testing.T, g *gatedStore, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for g.transactions() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d transactions begun, want %d", g.transactions(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// A store that takes two group commits at once gets a second one while the first is in
// flight — but only once as many requests wait as the largest write in flight carries,
// never fewer than ingest.MinSharedFloor (here the first write is a lone request);
// fewer wait for the write in flight. A store of one writer never gets a second.
func TestGroupCommitSecondWriteInFlight(t *testing.T) {
	// 16 senders: about 8 in a write, 8 waiting for the next; with 16 needed, a second
	// write never started (issue 23).
	const enough = 8
	for _, eng := range ingesttest.Engines {
		for _, writers := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/%d", eng.Name, writers), func(t *testing.T) {
				s := eng.Open(t)
				ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"a", "b"}, nil)
				g := newGatedStore(s)
				g.writers = writers
				svc := ingest.New(g, ingest.Config{MaxFutureSkew: time.Hour, MaxPastAge: 48 * time.Hour}, nil, nil)
				release1, release2 := g.gate(1), g.gate(2)
				defer release1()
				defer release2()

				var wg sync.WaitGroup
				n := 0
				out := make([]outcome, 64)
				done := make([]chan struct{}, 64)
				start := func() {
					i := n
					n++
					done[i] = make(chan struct{})
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer close(done[i])
						out[i].res, out[i].err = svc.Ingest(context.Background(),
							delivery(i, []string{"a", "b"}[i%2], received.Add(-time.Duration(i)*time.Minute)))
					}()
				}
				start() // leads alone; held in its write
				waitTransactions(t, g, 1)
				for range enough - 1 {
					start()
				}
				waitQueued(t, svc, enough-1)
				if got := g.transactions(); got != 1 {
					t.Fatalf("%d writes with %d requests waiting, want 1", got, enough-1)
				}
				start() // the 8th waiting
				if writers == 1 {
					waitQueued(t, svc, enough)
					release1()
					release2()
					wg.Wait()
					if got := g.transactions(); got != 2 {
						t.Errorf("%d writes, want 2 (the leader, then the 8 waiting)", got)
					}
				} else {
					// It leads the 7 into a second write, beside the first still in flight.
					waitTransactions(t, g, 2)
					if got := svc.Queued(); got != 0 {
						t.Fatalf("%d requests still queued, want 0", got)
					}
					// A few more arrive: too few for a third write of their own (and
					// no room for one); they wait.
					for range 3 {
						start()
					}
					waitQueued(t, svc, 3)
					// The second write ends first: the first is still in flight and will
					// take the three, so they stay queued.
					release2()
					for i := 1; i <= enough; i++ {
						<-done[i]
					}
					if got, q := g.transactions(), svc.Queued(); got != 2 || q != 3 {
						t.Fatalf("after the second write: %d writes, %d queued; want 2 and 3", got, q)
					}
					release1()
					wg.Wait()
					if got := g.transactions(); got != 3 {
						t.Errorf("%d writes, want 3 (the leader, the 8, then the 3)", got)
					}
				}
				for i, o := range out[:n] {
					if o.err != nil || o.res.Accepted != 3 {
						t.Errorf("request %d: %+v, %v; want 3 accepted", i, o.res, o.err)
					}
				}
				if got := ingesttest.CountReadings(t, s); got != 3*n {
					t.Errorf("stored %d readings, want %d", got, 3*n)
				}
			})
		}
	}
}

// The store says how many group commits it takes at once: on PostgreSQL, with its
// default pool of 20 connections, five. At 64 senders that lets four full batches of 16
// overlap, where with two writes at most a delivery queued for a turn while the box had
// idle CPU (issue 23). Each batch still waits for its share of requests (here
// ingest.MinSharedFloor: the largest write in flight is smaller than ingest.MinShared),
// and past the store's number (SQLite's two, on a file) requests queue.
func TestGroupCommitWritesFollowThePool(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s := eng.Open(t)
			ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"a", "b"}, nil)
			g := newGatedStore(s)
			g.writers = 0 // the store's own GroupCommitWriters
			want := 4     // SQLite: a file, so with its readers (store.GroupCommitWriters)
			if eng.Name == "postgres" {
				want = 5
			}
			svc := ingest.New(g, ingest.Config{MaxFutureSkew: time.Hour, MaxPastAge: 48 * time.Hour}, nil, nil)
			var releases []func()
			for i := 1; i <= want+1; i++ {
				releases = append(releases, g.gate(i))
			}
			releaseAll := func() {
				for _, r := range releases {
					r()
				}
			}
			defer releaseAll()

			var wg sync.WaitGroup
			const total = 1 + 5*ingest.MinSharedFloor
			out := make([]outcome, total)
			n := 0
			start := func() {
				i := n
				n++
				wg.Add(1)
				go func() {
					defer wg.Done()
					out[i].res, out[i].err = svc.Ingest(context.Background(),
						delivery(i, []string{"a", "b"}[i%2], received.Add(-time.Duration(i)*time.Minute)))
				}()
			}
			start() // leads alone; held in its write
			waitTransactions(t, g, 1)
			// Each 8 arrivals lead themselves into a write of their own while there is
			// room for one; past the store's number they queue.
			writes, queued := 1, 0
			for range 5 {
				for range ingest.MinSharedFloor - 1 {
					start()
				}
				waitQueued(t, svc, queued+ingest.MinSharedFloor-1)
				if got := g.transactions(); got != writes {
					t.Fatalf("%d writes with %d requests waiting, want %d", got, queued+ingest.MinSharedFloor-1, writes)
				}
				start() // the 8th
				if writes < want {
					writes++
					waitTransactions(t, g, writes)
				} else {
					queued += ingest.MinSharedFloor
					waitQueued(t, svc, queued)
				}
			}
			if got, q := g.transactions(), svc.Queued(); got != want || q != queued {
				t.Fatalf("%d writes in flight, %d requests queued; want %d and %d", got, q, want, queued)
			}
			releaseAll()
			wg.Wait()
			for i, o := range out {
				if o.err != nil || o.res.Accepted != 3 {
					t.Errorf("request %d: %+v, %v; want 3 accepted", i, o.res, o.err)
				}
			}
			if got := ingesttest.CountReadings(t, s); got != 3*total {
				t.Errorf("stored %d readings, want %d", got, 3*total)
			}
		})
	}
}

// A delivery that finds the service idle is written alone, by the group commit's one
// write (store.WriteDeliveries: one statement on PostgreSQL), not by a transaction of
// its own (InTx: BEGIN, the replay key, the readings, the audit row and COMMIT, each a
// round trip). Its counts, its audit row and its replay key are as in a shared write.
func TestLoneDeliveryIsOneWrite(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			s := eng.Open(t)
			ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"a"}, nil)
			w := &writeCounter{Store: s}
			svc := ingest.New(w, ingest.Config{MaxFutureSkew: time.Hour, MaxPastAge: 48 * time.Hour}, nil, nil)
			req := delivery(0, "a", received.Add(-time.Minute))
			req.DeliveryID, req.Once = "msg_lone", true
			req.Readings = append(req.Readings, sdk.Reading{ProviderDeviceID: "nobody", Metric: "ph", Value: 7, RecordedAt: received})

			res, err := svc.Ingest(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Accepted != 3 || res.Duplicates != 0 || res.Dropped[ingest.DropUnknownDevice] != 1 || res.Replay {
				t.Errorf("lone delivery: %+v, want 3 accepted, 1 unknown_device", res)
			}
			// The same delivery again, alone: a replay, nothing written.
			again, err := svc.Ingest(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if !again.Replay || again.Accepted != 0 || again.Duplicates != 3 {
				t.Errorf("its replay: %+v, want a replay of 3 duplicates", again)
			}
			if w.inTx != 0 || w.writes != 2 {
				t.Errorf("%d transactions and %d group-commit writes for two lone deliveries, want 0 and 2", w.inTx, w.writes)
			}
			if got := ingesttest.CountReadings(t, s); got != 3 {
				t.Errorf("stored %d readings, want 3", got)
			}
			audits := ingesttest.Audit(t, s, "webhook.received")
			if len(audits) != 1 || fmt.Sprint(audits[0].Details["accepted"]) != "3" || fmt.Sprint(audits[0].Details["duplicates"]) != "0" {
				t.Errorf("audit rows %+v, want one with 3 accepted and 0 duplicates", audits)
			}
		})
	}
}

// writeCounter counts a store's transactions (InTx) and group-commit writes.
type writeCounter struct {
	*store.Store
	inTx, writes int // ingested one at a time: no lock
}

func (w *writeCounter) InTx(ctx context.Context, fn func(tx *store.Tx) error) error {
	w.inTx++
	return w.Store.InTx(ctx, fn)
}

func (w *writeCounter) WriteDeliveries(ctx context.Context, ds []store.DeliveryWrite) ([]int, error) {
	w.writes++
	return w.Store.WriteDeliveries(ctx, ds)
}
