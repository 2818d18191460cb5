package drill_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/internal/loadtest"
	"github.com/poolhost/poolhost/host/retry"
	"github.com/poolhost/poolhost/host/store"
)

// TestDrillReplicas: three `poolhost serve` replicas on one PostgreSQL with a streaming
// standby (database_read_url), under webhook load and reads:
//
//  1. a queue of dead letters made due at once is drained by the three retry workers,
//     each row taken by exactly one replica (one success audit row, attempt 1);
//  2. under load, replica a is SIGKILLed, then b drained with SIGTERM (a clean exit)
//     while it retries a dead letter;
//  3. the standby is stopped, then started again, while c keeps answering reads.
//
// Every phase also brings work that takes a lease (replica_work_test.go): iopool
// accounts due for a poll (the real iopool plugin against a fake of its API), a command
// to each of six relays (the real ttn plugin pushing downlinks to a fake of The Things
// Stack) and more dead letters. a is killed while it holds a poll and a command send
// whose requests reached the upstreams, their answers held back, and a dead letter
// whose retry waits on a lock the test holds.
//
// Every acknowledged delivery is stored exactly once (a delivery in flight at a's kill
// may be stored without its answer, but never in part), and every read of c answers
// 200. From the upstreams' own logs and the database: no account is polled twice within
// its interval (a's held poll is taken over only after its lease expired), every
// command is pushed at most once and a sent one exactly once (a's is unknown, never
// resent), and every dead letter is resolved once (a's on its second attempt, by c);
// b, drained in mid-retry, exits holding no dead letter: its drain handed the row back
// unattempted, and it is resolved on attempt 1. Phases advance on what the clients and
// the upstreams see, never on fixed sleeps. The counts are printed.
// POOLHOST_DRILL_LONG=1 (make drill) runs each phase ten times as long, with batches of
// work ten times as large.
func TestDrillReplicas(t *testing.T) {
	per := int64(150) // acknowledged deliveries per phase
	queued := 300
	scale := 1 // of the work batches: accounts, commands, dead letters
	if os.Getenv("POOLHOST_DRILL_LONG") == "1" {
		per, queued, scale = 1500, 3000, 10
	}
	r := newReplicaSetup(t)
	work := newDrillWork(t, r)
	hosts := []*serveProc{r.serve(t, "a", work.config()...), r.serve(t, "b", work.config()...), r.serve(t, "c", work.config()...)}
	a, b, c := hosts[0], hosts[1], hosts[2]

	// 1. Dead letters, all due at once: each is taken by exactly one replica.
	ctx := context.Background()
	err := r.store.InTx(ctx, func(tx *store.Tx) error {
		for seq := int64(0); seq < int64(queued); seq++ {
			_, err := tx.EnqueueFailure(ctx, store.NewFailure{
				Provider: provider, Payload: r.payloads.Body(seq),
				Headers:    map[string][]string{"Content-Type": {"application/json"}, "Webhook-Id": {loadtest.DeliveryID(seq)}},
				DeliveryID: loadtest.DeliveryID(seq), ReceivedAt: time.Now(), MaxAttempts: 8, Error: "drill: queued by the test",
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("enqueue failures: %v", err)
	}
	if !waitFor(2*time.Minute, func() bool { return countFailures(t, r.store, "pending", "processing") == 0 }) {
		t.Fatalf("%d failures still pending or processing after 2 minutes", countFailures(t, r.store, "pending", "processing"))
	}
	claimed := map[string]float64{}
	waitFor(time.Minute, func() bool { // counters are added as a tick ends
		total := 0.0
		for _, h := range hosts {
			claimed[h.name] = h.scrape(t)["claimed"]
			total += claimed[h.name]
		}
		return total >= float64(queued)
	})
	var byAttempt []struct {
		Status   string `db:"status"`
		Attempts int    `db:"attempts"`
		N        int    `db:"n"`
	}
	if err := r.store.DB().Select(&byAttempt, `SELECT status, attempts, COUNT(*) AS n FROM integration_ingestion_failures GROUP BY status, attempts`); err != nil {
		t.Fatal(err)
	}
	if len(byAttempt) != 1 || byAttempt[0].Status != string(store.FailureResolved) || byAttempt[0].Attempts != 1 {
		t.Errorf("dead letters by status and attempts = %+v, want all resolved at attempt 1", byAttempt)
	}
	var succeeded struct {
		N        int `db:"n"`
		Distinct int `db:"d"`
	}
	if err := r.store.DB().Get(&succeeded, `SELECT COUNT(*) AS n, COUNT(DISTINCT target_id) AS d FROM audit_events WHERE action = $1`,
		retry.ActionRetrySucceeded); err != nil {
		t.Fatal(err)
	}
	if succeeded.N != queued || succeeded.Distinct != queued {
		t.Errorf("%s rows: %d for %d failures, want %d for %d", retry.ActionRetrySucceeded, succeeded.N, succeeded.Distinct, queued, queued)
	}

	// 2 and 3: load on every replica, reads on c.
	var (
		mu      sync.Mutex
		results []loadtest.Result
		acked   atomic.Int64
	)
	onResult := func(res loadtest.Result) {
		if res.Acknowledged() {
			acked.Add(1)
		}
	}
	var wg sync.WaitGroup
	stops := map[string]context.CancelFunc{}
	for i, h := range hosts {
		lctx, stop := context.WithCancel(ctx)
		stops[h.name] = stop
		run := &loadtest.Runner{URL: "http://" + h.addr + "/v1/webhooks/" + provider, Payloads: r.payloads,
			Concurrency: 4, FirstSeq: int64(i+1) * 1_000_000, OnResult: onResult}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs := run.Run(lctx, 0)
			mu.Lock()
			results = append(results, rs...)
			mu.Unlock()
		}()
	}
	var reads, readsOK atomic.Int64
	var badReads sync.Map
	readCtx, stopReads := context.WithCancel(ctx)
	readsDone := make(chan struct{})
	go func() {
		defer close(readsDone)
		client := &http.Client{Timeout: 30 * time.Second}
		path := "http://" + c.addr + "/v1/pools/" + strconv.FormatInt(r.world.Pool.ID, 10) + "/readings?limit=10"
		for readCtx.Err() == nil {
			req, _ := http.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("Authorization", "Bearer "+r.token)
			resp, err := client.Do(req)
			reads.Add(1)
			switch {
			case err != nil:
				badReads.Store(err.Error(), true)
			case resp.StatusCode != http.StatusOK:
				badReads.Store(resp.Status, true)
				resp.Body.Close()
			default:
				resp.Body.Close()
				readsOK.Add(1)
			}
			// Ten reads a second, under the host's default per-token rate limit (20/s,
			// burst 50): faster, an idle machine answered 429 and failed the drill.
			time.Sleep(100 * time.Millisecond)
		}
	}()
	// Each phase starts with a batch of work: accounts due for a poll, a command to each
	// relay, dead letters.
	batch := func() { work.add(t, 4*scale, scale, 20*scale) }
	workBy := map[string]map[string]float64{}
	phase := func(name string) {
		t.Helper()
		batch()
		target := acked.Load() + per
		if !waitFor(2*time.Minute, func() bool { return acked.Load() >= target }) {
			t.Fatalf("%s: no %d more acknowledged deliveries within 2 minutes (%d so far)", name, per, acked.Load())
		}
	}

	phase("all three up")
	// a dies holding a command send and a poll whose requests reached the upstreams and
	// whose answers have not come back, and a dead letter whose readings wait on a lock:
	// the upstreams hold every request (the database those readings) while a batch
	// comes due, b and c take one of each (batch_size 1) and wait, and a takes the next.
	releaseStack, releasePolls := work.stack.Hold(), work.upstream.Hold()
	since := work.mark()
	blocked, releaseBlocked := work.blockDeadLetters(t, 4)
	batch()
	// Cumulative: on a very slow machine a held call may time out (its send then ends
	// unknown, its poll backs off past the drill) before a holds the rest.
	var held heldLeases
	if !waitFor(2*time.Minute, func() bool {
		held = work.stuck(work.heldBy(t, a), since).with(held)
		return held.reached(blocked)
	}) {
		releaseStack()
		releasePolls()
		releaseBlocked()
		t.Fatalf("a held no send and poll that reached the upstreams and no blocked dead letter within 2 minutes: %+v", held)
	}
	workBy["a"] = a.scrapeWork(t)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	a.exited = true
	// What a died with: nobody takes it before its lease expires; and what it was stuck
	// on before.
	held = work.heldBy(t, a).with(held)
	releaseStack()
	releasePolls()
	releaseBlocked()
	stops["a"]()
	phase("a killed")
	// b is drained in mid-retry: it holds a dead letter whose readings wait on a lock the
	// test holds (c may hold the other). Its drain cuts the attempt short and hands the
	// row back at once, the attempt not spent: b exits holding no dead letter, and each is
	// resolved on its first attempt.
	blockedB, releaseBlockedB := work.blockDeadLetters(t, 2)
	if !waitFor(2*time.Minute, func() bool { return work.heldBy(t, b).holdsOneOf(blockedB) }) {
		releaseBlockedB()
		t.Fatalf("b held none of the blocked dead letters %v within 2 minutes", blockedB)
	}
	heldB := work.heldBy(t, b)
	var cutShort []int64
	for _, id := range blockedB {
		if heldB.failures[id] {
			cutShort = append(cutShort, id)
		}
	}
	// b's counts before its drain, which finishes its work in flight uncounted.
	workBy["b"] = b.scrapeWork(t)
	b.stop(t) // SIGTERM: drain, clean exit
	stops["b"]()
	if left := work.heldBy(t, b).failures; len(left) > 0 {
		t.Errorf("b exited still holding dead letters %v: its drain did not hand them back", left)
	}
	t.Logf("b drained in mid-retry of dead letter(s) %v; right after its exit: %s", cutShort, failureStates(t, r.store, cutShort))
	releaseBlockedB()
	phase("b drained")
	if err := r.standby.Stop(); err != nil {
		t.Fatal(err)
	}
	readsBefore := readsOK.Load()
	phase("standby stopped")
	if !waitFor(2*time.Minute, func() bool { return readsOK.Load() > readsBefore+10 }) {
		t.Errorf("reads stopped answering with the standby down")
	}
	if err := r.standby.Start(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(2*time.Minute, func() bool { return c.readyCheck(t, "database_read") == "ok" }) {
		t.Errorf("c's read replica not usable again within 2 minutes of the standby's restart")
	}
	phase("standby back")
	stops["c"]()
	wg.Wait()
	stopReads()
	<-readsDone

	// Anything kept meanwhile is resolved by c's retry worker, every command sent and
	// every account polled (what a held at its kill waits for its lease to expire).
	if !waitFor(3*time.Minute, func() bool { return work.settled(t) }) {
		t.Fatalf("work not settled within 3 minutes: %d failures pending or processing; see the checks below",
			countFailures(t, r.store, "pending", "processing"))
	}
	workBy["c"] = c.scrapeWork(t)
	wc := work.check(t, held)
	for seq := int64(0); seq < int64(queued); seq++ {
		results = append(results, loadtest.Result{Seq: seq, Status: http.StatusAccepted})
	}
	for _, seq := range work.deadLetters {
		results = append(results, loadtest.Result{Seq: seq, Status: http.StatusAccepted})
	}
	st := readStored(t, r.store, r.payloads)
	checkExactlyOnce(t, results, st, true)

	byHost := map[string][2]int{} // acknowledged, sent
	for _, res := range results {
		if res.Seq < 1_000_000 {
			continue
		}
		h := string(rune('a' + res.Seq/1_000_000 - 1))
		n := byHost[h]
		n[1]++
		if res.Acknowledged() {
			n[0]++
		}
		byHost[h] = n
	}
	stored := 0
	for _, n := range st.rows {
		stored += n
	}
	fallbacks := c.scrapeFallbacks(t)
	t.Logf("dead letters: %d, taken by a %v, b %v, c %v, each resolved once (%d success rows)",
		queued, claimed["a"], claimed["b"], claimed["c"], succeeded.N)
	t.Logf("deliveries acknowledged/sent: a %d/%d (SIGKILLed), b %d/%d (SIGTERM), c %d/%d; readings stored %d",
		byHost["a"][0], byHost["a"][1], byHost["b"][0], byHost["b"][1], byHost["c"][0], byHost["c"][1], stored)
	t.Logf("reads on c: %d of %d answered 200; read fallbacks to the primary: %v", readsOK.Load(), reads.Load(), fallbacks)
	t.Logf("polls: %d iopool accounts, %d polls logged by the upstream, %d of them an account due again after its interval, %d an account a held at its kill, polled again after its lease; made by a %v (before its kill), b %v, c %v",
		wc.accounts, wc.polls, wc.again, wc.repolled, workBy["a"]["polls"], workBy["b"]["polls"], workBy["c"]["polls"])
	t.Logf("commands: %d queued, %d pushes logged by the stack; ended %v; %d in flight on a at its kill; sent by a %v (before its kill), b %v, c %v",
		wc.commands, wc.pushes, wc.byStatus, len(held.commands), workBy["a"]["sends"], workBy["b"]["sends"], workBy["c"]["sends"])
	t.Logf("dead letters after phase 1: %d, %d of them held by a at its kill; claimed with phase 1's by a %v (before its kill), b %v, c %v",
		wc.deadLetters, wc.secondTries, workBy["a"]["dead letters"], workBy["b"]["dead letters"], workBy["c"]["dead letters"])
	if readsOK.Load() != reads.Load() {
		var bad []string
		badReads.Range(func(k, _ any) bool { bad = append(bad, k.(string)); return true })
		t.Errorf("%d of %d reads did not answer 200: %s", reads.Load()-readsOK.Load(), reads.Load(), strings.Join(bad, "; "))
	}
	for _, name := range []string{"a", "b", "c"} {
		if claimed[name] == 0 {
			t.Errorf("replica %s took no dead letter: the drill did not exercise three replicas", name)
		}
	}
	if fallbacks["down"]+fallbacks["error"] == 0 {
		t.Errorf("no read fell back to the primary while the standby was stopped: %v", fallbacks)
	}
	c.stop(t)
}

// readyCheck is one check of the host's /readyz ("" when it does not answer).
func (p *serveProc) readyCheck(t *testing.T, name string) string {
	t.Helper()
	code, _, body := p.get(t, "", "/readyz")
	if code == 0 {
		return ""
	}
	var v struct {
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return ""
	}
	return v.Checks[name]
}

// scrapeFallbacks reads poolhost_database_read_fallbacks_total by reason.
func (p *serveProc) scrapeFallbacks(t *testing.T) map[string]float64 {
	t.Helper()
	_, _, body := p.get(t, "", "/metrics")
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		name, labels, v, ok := parseSample(line)
		if ok && name == "poolhost_database_read_fallbacks_total" {
			out[labels["reason"]] = v
		}
	}
	return out
}
