package poll_test

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/host/store"
)

// BenchmarkIdlePollTick is the measurement behind issue 24: a poll worker over many
// connected accounts of a polled provider, none of them due. It used to make every
// account's poll state on every tick (667 commits/s and 3.7 s of host CPU a minute with
// 20,000 accounts on PostgreSQL); now a tick only claims due rows through an index, so
// both figures must be near zero and flat from 1,000 to 100,000 accounts.
//
// commits/s and host-cpu-ms/min are per replica at the default 15 s tick interval:
// commits are the database's (pg_stat_database.xact_commit, flushed by closing the
// worker's connections; SQLite has no such counter and reports none), host CPU is this
// process's user+system time.
//
//	go test -run '^$' -bench IdlePollTick ./host/poll/
func BenchmarkIdlePollTick(b *testing.B) {
	sizes := []int{1000, 20000, 100000}
	if testing.Short() {
		sizes = sizes[:2]
	}
	for _, eng := range []string{"postgres", "sqlite"} {
		for _, n := range sizes {
			b.Run(fmt.Sprintf("%s/accounts=%d", eng, n), func(b *testing.B) {
				benchIdleTick(b, eng, n)
			})
		}
	}
}

func benchIdleTick(b *testing.B, eng string, accounts int) {
	ctx := context.Background()
	var url string
	if eng == "postgres" {
		url = pgtest.NewDatabase(b)
	} else {
		url = "sqlite:" + b.TempDir() + "/poolhost.db"
	}
	s, err := store.Open(ctx, url, store.WithCipher(ingesttest.NewCipher()))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	seedIdleAccounts(b, s, accounts)

	tick := config.DefaultPollWorker.Interval
	providers := []config.Provider{{ID: "iopool", Enabled: true, Poll: true}}
	w := poll.New(poll.Deps{
		Store: s,
		Pollers: func(string) (poll.Poller, error) {
			b.Fatal("no account is due; nothing may be polled")
			return nil, nil
		},
		Providers: func() []config.Provider { return providers },
	}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: "bench"})

	var before int64
	if eng == "postgres" {
		before = xactCommits(b, url, s)
	}
	cpu0 := selfCPU(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, err := w.Tick(ctx)
		if err != nil || st.Claimed != 0 {
			b.Fatalf("tick: %+v, %v", st, err)
		}
	}
	b.StopTimer()
	cpu := selfCPU(b) - cpu0
	perTick := float64(cpu) / float64(b.N)
	b.ReportMetric(perTick*float64(time.Minute/tick)/float64(time.Millisecond), "host-cpu-ms/min")
	if eng == "postgres" {
		commits := xactCommits(b, url, s) - before
		b.ReportMetric(float64(commits)/float64(b.N)/tick.Seconds(), "commits/s")
	}
}

// seedIdleAccounts inserts accounts of provider iopool, each with a poll state due in a
// day, in a few statements (linking them one by one would take minutes at 100,000).
func seedIdleAccounts(b *testing.B, s *store.Store, n int) {
	ctx := context.Background()
	u, err := s.CreateUser(ctx, "bench@example.com", false)
	if err != nil {
		b.Fatal(err)
	}
	db := s.DB()
	series := `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?) SELECT i FROM seq`
	if s.Dialect() == "postgres" {
		series = `SELECT i FROM generate_series(1, CAST(? AS INTEGER)) AS i`
	}
	now := time.Now().UTC()
	if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO integration_accounts
			(user_id, provider, external_account_id, display_name, status, created_at, updated_at)
		SELECT ?, 'iopool', 'ext-' || CAST(i AS TEXT), 'bench', 'active', ?, ? FROM (`+series+`) AS g`),
		u.ID, now, now, n); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO poll_state (account_id, provider, next_poll_at, updated_at)
		SELECT id, provider, ?, ? FROM integration_accounts WHERE provider = 'iopool'
		ON CONFLICT (account_id) DO UPDATE SET next_poll_at = excluded.next_poll_at`), now.Add(24*time.Hour), now); err != nil {
		b.Fatal(err)
	}
	if s.Dialect() == "postgres" {
		if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
			b.Fatal(err)
		}
	}
}

// xactCommits is the database's committed transactions so far. Backends report their
// counts when they exit (or idle for seconds), so the store's connections are closed
// first and the count read once the server has seen them go.
func xactCommits(b *testing.B, url string, s *store.Store) int64 {
	ctx := context.Background()
	s.DB().SetMaxIdleConns(0)
	s.DB().SetMaxIdleConns(2)
	reader, err := store.Open(ctx, url, store.WithMaxOpenConns(1))
	if err != nil {
		b.Fatal(err)
	}
	defer reader.Close()
	db := reader.DB()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var others int
		if err := db.GetContext(ctx, &others, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
			b.Fatal(err)
		}
		if others == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var n int64
	if err := db.GetContext(ctx, &n, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`); err != nil {
		b.Fatal(err)
	}
	return n
}

func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Skipf("getrusage: %v (%s)", err, os.Args[0])
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
