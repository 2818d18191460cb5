package drill_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/internal/loadtest"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/outage"
)

// TestDrillPostgresDown stops PostgreSQL (pg_ctl stop -m fast: sessions are cut, as a
// crash looks to clients) while 50 clients post, keeps it down, and starts it again.
// Phases are driven by what the clients see, never by fixed sleeps:
//
//  1. up: until some deliveries were accepted (and at least a while has passed);
//  2. down: until deliveries sent after the stop are being refused (503);
//  3. back: until deliveries sent after the restart are accepted again.
//
// Every delivery sent and answered while the server was down must be a 503; every 200
// or 202 given at any time is stored exactly once after the worker drains. A delivery
// cut mid-commit may be stored without its answer saying so (the host cannot know),
// but never in part.
func TestDrillPostgresDown(t *testing.T) {
	phase := 3 * time.Second
	if testing.Short() {
		phase = time.Second
	}
	cluster := pgtest.NewCluster(t)
	h := newInproc(t, cluster.NewDatabase(t))
	h.worker.Start(context.Background())

	var (
		mu                  sync.Mutex
		stoppedAt, startsAt time.Time // stop finished; start began
		restartedAt         time.Time // start finished
		okBefore, okAfter   int
		refusedWhileDown    int
	)
	run := h.runner(50, func(r loadtest.Result) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case stoppedAt.IsZero() && r.Status == 200:
			okBefore++
		case !restartedAt.IsZero() && r.Start.After(restartedAt) && r.Status == 200:
			okAfter++
		case !stoppedAt.IsZero() && startsAt.IsZero() && r.Start.After(stoppedAt) && r.Status == 503:
			refusedWhileDown++
		}
	})
	count := func(n *int) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return *n >= 50 }
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan []loadtest.Result, 1)
	go func() { done <- run.Run(ctx, 0) }()
	stopLoad := func() []loadtest.Result { cancel(); return <-done }

	began := time.Now()
	mark := func(what string) { t.Logf("%7.2fs %s", time.Since(began).Seconds(), what) }
	// 1. up.
	time.Sleep(phase) // a minimum duration of the phase, not an assertion
	if !waitFor(time.Minute, count(&okBefore)) {
		stopLoad()
		t.Fatal("no deliveries accepted before the stop")
	}
	// 2. down.
	mark("stopping PostgreSQL")
	if err := cluster.Stop(); err != nil {
		stopLoad()
		t.Fatalf("stop PostgreSQL: %v", err)
	}
	mu.Lock()
	stoppedAt = time.Now()
	mu.Unlock()
	mark("PostgreSQL stopped")
	time.Sleep(phase)
	if !waitFor(time.Minute, count(&refusedWhileDown)) {
		stopLoad()
		t.Fatal("deliveries were not refused with 503 while PostgreSQL was down")
	}
	mu.Lock()
	startsAt = time.Now()
	mu.Unlock()
	mark("starting PostgreSQL")
	if err := cluster.Start(); err != nil {
		stopLoad()
		t.Fatalf("start PostgreSQL: %v", err)
	}
	mu.Lock()
	restartedAt = time.Now()
	mu.Unlock()
	mark("PostgreSQL started")
	// 3. back.
	time.Sleep(phase)
	recovered := waitFor(time.Minute, count(&okAfter))
	mark("accepting again")
	results := stopLoad()
	mark("load stopped")

	sum := loadtest.Summarize(results)
	t.Logf("%s; down %v; accepted before %d, refused while down %d, accepted after %d",
		sum, startsAt.Sub(stoppedAt).Round(time.Millisecond), okBefore, refusedWhileDown, okAfter)
	if !recovered {
		t.Fatal("deliveries were not accepted again after PostgreSQL came back")
	}
	for _, r := range results {
		if r.Start.After(stoppedAt) && r.Start.Add(r.Latency).Before(startsAt) && r.Status != 503 {
			t.Errorf("delivery %d sent and answered while PostgreSQL was down: %d (%v), want 503", r.Seq, r.Status, r.Err)
		}
	}
	for code, n := range sum.ByStatus {
		if code != 200 && code != 202 && code != 503 {
			t.Errorf("%d deliveries answered %d, want only 200, 202 or 503", n, code)
		}
	}

	h.drain(t)
	mark("failures drained")
	checkExactlyOnce(t, results, readStored(t, h.store, h.payloads), true)
	mark("checked")

	// The log says the outage once per interval with a count, not once per refused
	// delivery: per request-path logger (webhook, http) a start line, a line per
	// outage.Interval, and an end line naming start and end once the failures stop.
	ended := waitFor(time.Minute, func() bool { return len(h.log.matching("outage over")) >= 1 })
	span := time.Since(stoppedAt)
	perLogger := 2 + int(span/outage.Interval) + 1
	var floods []string
	for _, name := range []string{"drill.http", "drill.webhook"} {
		if lines := h.log.matching("[ERROR]", name+":"); len(lines) > perLogger {
			floods = append(floods, fmt.Sprintf("%s: %d ERROR lines", name, len(lines)))
		}
	}
	if len(floods) > 0 {
		t.Errorf("the outage flooded the log (%d refused deliveries; at most %d lines per logger in %v): %v\n%s",
			refusedWhileDown, perLogger, span.Round(time.Second), floods, strings.Join(h.log.matching("[ERROR]"), "\n"))
	}
	if !ended || len(h.log.matching("outage started")) == 0 {
		t.Errorf("the log does not name the outage's start and end:\n%s", strings.Join(h.log.matching("outage"), "\n"))
	}
	for _, l := range h.log.matching("outage over") {
		if !strings.Contains(l, "started=") || !strings.Contains(l, "ended=") || !strings.Contains(l, "failed_total=") {
			t.Errorf("end line without start, end and count: %s", l)
		}
	}
	mark("log checked")
}
