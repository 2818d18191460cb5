package poll_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/host/store"
)

// Replicas poll each due account once per interval between them, round after round:
// three poll workers, each with a store and a plugin process of its own on one
// PostgreSQL database (three hosts), tick at once on a shared simulated clock through
// four intervals. In every round each account is polled by exactly one of them — the
// workers' successes add up to the accounts, and the faulty plugin's cursor, which
// counts an account's polls, is the round's number for every account — and a second
// before the interval has passed none is due. The replica drill (host/drill) runs real
// hosts for a minute of wall clock, under iopool's five-minute interval, so it never
// sees an account due a second time; here the interval passes on the clock.
func TestReplicasRepollOncePerInterval(t *testing.T) {
	ctx := context.Background()
	clk := ingesttest.NewClock()
	url := pgtest.NewDatabase(t)
	cipher := ingesttest.NewCipher() // one key: every replica reads the credentials
	open := func() *store.Store {
		t.Helper()
		s, err := store.Open(ctx, url, store.WithCipher(cipher), store.WithClock(clk.Now))
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	first := open()
	if _, err := first.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	const accounts, replicas, interval = 8, 3, 10 * time.Minute
	var ids []int64
	for i := range accounts {
		w := ingesttest.Seed(t, first, "faulty", fmt.Sprintf("a%d@example.com", i), map[string]string{}, nil, nil)
		ids = append(ids, w.Account.ID)
	}
	cfg := ingesttest.Config(t, pluginDir, `poll = true
  poll_interval = "10m"`)
	var workers []*poll.Worker
	for r := range replicas {
		s := first
		if r > 0 {
			s = open()
		}
		mgr := ingesttest.StartManager(t, cfg, hclog.NewNullLogger())
		ing := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil)
		workers = append(workers, poll.New(poll.Deps{
			Store: s, Ingest: ing, Plugins: mgr, Providers: func() []config.Provider { return cfg.Providers },
		}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: fmt.Sprintf("replica-%d", r), Now: clk.Now,
			Rand: func() float64 { return 0.5 }})) // no jitter: the next poll is the interval on
	}
	// tick runs one tick of every replica at once and adds up what they did.
	tick := func() poll.Stats {
		t.Helper()
		stats := make([]poll.Stats, replicas)
		errs := make([]error, replicas)
		var wg sync.WaitGroup
		for r, w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stats[r], errs[r] = w.Tick(ctx)
			}()
		}
		wg.Wait()
		var sum poll.Stats
		for r, st := range stats {
			if errs[r] != nil {
				t.Fatalf("replica %d: tick: %v", r, errs[r])
			}
			sum.Claimed += st.Claimed
			sum.Succeeded += st.Succeeded
			sum.Failed += st.Failed + st.Reauth + st.LeaseLost + st.StoreErrors
		}
		return sum
	}
	for round := 1; round <= 4; round++ {
		if st := tick(); st.Claimed != accounts || st.Succeeded != accounts || st.Failed != 0 {
			t.Fatalf("round %d: the replicas claimed %d and polled %d (%d failed) of %d due accounts, want each once",
				round, st.Claimed, st.Succeeded, st.Failed, accounts)
		}
		for _, id := range ids {
			ps, err := first.GetPollState(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if ps.Cursor != strconv.Itoa(round) || !ps.NextPollAt.Equal(clk.Now().Add(interval)) {
				t.Fatalf("round %d: account %d has cursor %q (its polls) and its next poll in %v, want %d and %v",
					round, id, ps.Cursor, ps.NextPollAt.Sub(clk.Now()), round, interval)
			}
		}
		clk.Add(interval - time.Second)
		if st := tick(); st.Claimed != 0 {
			t.Fatalf("round %d: %d accounts polled again a second before their interval", round, st.Claimed)
		}
		clk.Add(time.Second)
	}
}
