package drill_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/credentials"
	"github.com/poolhost/poolhost/host/internal/loadtest"
	"github.com/poolhost/poolhost/host/internal/worker"
	"github.com/poolhost/poolhost/host/retry"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/plugins/iopool/iopooltest"
	"github.com/poolhost/poolhost/plugins/ttn/ttntest"
)

// The replica drill's work besides webhooks, with the real plugins against fakes of
// their providers' APIs (written from the public docs, see PROVIDERS.md):
//
//   - iopool accounts to poll: the iopool plugin against iopooltest, behind a proxy
//     that logs every request (its x-api-key names the account) and can hold them;
//   - commands to The Things Stack: the ttn plugin's downlink pushes to ttntest, whose
//     own log names each command (its correlation id);
//   - dead letters, queued straight into the failures table as phase 1's are.
//
// Every lease-taking worker runs with batch_size 1, so that while the upstreams hold
// their requests (and the database a few dead letters' readings, see blockDeadLetters)
// each replica holds at most one poll, one send and one dead letter, and the third due
// one is certainly taken by the replica the drill is about to kill.

const (
	// pollInterval is iopool's MinPollInterval, below which the host never polls.
	pollInterval = 5 * time.Minute
	// workLease is every worker's lease in the drill: at least twice the call it covers
	// (timeouts below), short so that what the SIGKILLed replica held comes back soon.
	workLease     = "20s"
	drillAPIKey   = "NNSXS.DRILL-DOWNLINK-KEY"
	relays        = 6
	deadLetterSeq = 500_000 // seqs of the dead letters queued after phase 1
)

var (
	buildProvidersOnce sync.Once
	buildProvidersErr  error
)

// buildProviders adds the iopool and ttn plugin binaries to binDir, once: only the
// replica drill needs them.
func buildProviders(t *testing.T) {
	t.Helper()
	buildProvidersOnce.Do(func() {
		for id, pkg := range map[string]string{
			"iopool": "./plugins/iopool/cmd/poolhost-provider-iopool",
			"ttn":    "./plugins/ttn/cmd/poolhost-provider-ttn",
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, config.BinaryPrefix+id), pkg)
			cmd.Dir = filepath.Join("..", "..")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildProvidersErr = fmt.Errorf("build %s: %v\n%s", id, err, out)
				return
			}
		}
	})
	if buildProvidersErr != nil {
		t.Fatal(buildProvidersErr)
	}
}

// upstreamCall is one request the proxy passed on.
type upstreamCall struct {
	Key string // x-api-key: the account
	At  time.Time
}

// upstreamLog is a reverse proxy in front of a fake provider API that logs each request
// before anything else, and holds it (after logging) while held: a request the
// provider received whose answer has not come back.
type upstreamLog struct {
	URL   string
	mu    sync.Mutex
	calls []upstreamCall
	hold  chan struct{}
}

func newUpstreamLog(t *testing.T, target string) *upstreamLog {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	l := &upstreamLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.calls = append(l.calls, upstreamCall{Key: r.Header.Get("x-api-key"), At: time.Now()})
		hold := l.hold
		l.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done(): // the caller died or gave up
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	l.URL = srv.URL
	return l
}

// Hold holds every request from now until release is called.
func (l *upstreamLog) Hold() (release func()) {
	ch := make(chan struct{})
	l.mu.Lock()
	l.hold = ch
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.hold = nil
			l.mu.Unlock()
			close(ch)
		})
	}
}

// byKey returns the logged request times by API key, in order.
func (l *upstreamLog) byKey() map[string][]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]time.Time{}
	for _, c := range l.calls {
		out[c.Key] = append(out[c.Key], c.At)
	}
	return out
}

// drillWork seeds and then checks the polls, commands and dead letters.
type drillWork struct {
	r        *replicaSetup
	seed     *store.Store // opened with the replicas' credentials key
	iopool   *iopooltest.Server
	upstream *upstreamLog
	stack    *ttntest.Server
	ttn      store.Account
	relays   []store.Device

	accounts    map[string]int64 // API key → account id
	commands    []string         // public ids, in queue order
	deadLetters []int64          // seqs queued after phase 1
	batch       int              // batches added so far
	settledAt   time.Time        // when settled last found nothing left to do
}

func newDrillWork(t *testing.T, r *replicaSetup) *drillWork {
	t.Helper()
	buildProviders(t)
	cfg, err := config.Load(writeConfig(t, r.url, ""))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := credentials.NewKeyringWithIDs(credentials.Key{ID: cfg.CredentialsKey.ID, Bytes: cfg.CredentialsKey.Bytes})
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(context.Background(), r.url, store.WithCipher(ring))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w := &drillWork{r: r, seed: s, iopool: iopooltest.NewServer(t), stack: ttntest.NewServer(drillAPIKey), accounts: map[string]int64{}}
	t.Cleanup(w.stack.Close)
	w.upstream = newUpstreamLog(t, w.iopool.URL)

	ctx := context.Background()
	w.ttn, _, err = s.UpsertAccount(ctx, store.NewAccount{UserID: r.world.User.ID, Provider: "ttn", ExternalAccountID: "ttn_drill",
		DisplayName: "drill relays", Credentials: map[string]string{
			"application_id": "pool-app", "webhook_id": "poolhost", "downlink_api_key": drillAPIKey,
		}})
	if err != nil {
		t.Fatal(err)
	}
	var nds []store.NewDevice
	for i := range relays {
		nds = append(nds, store.NewDevice{ProviderDeviceID: fmt.Sprintf("relay-%02d", i), Name: "pump relay", Verified: true})
	}
	ups, err := s.UpsertDevices(ctx, w.ttn.ID, nds)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ups {
		// Linked to the pool the commands are for: the dispatcher sends only to a device
		// that still feeds the command's pool, as Submit requires.
		if _, err := s.LinkDevice(ctx, d.ID, r.world.Pool.ID, r.world.User.ID); err != nil {
			t.Fatal(err)
		}
		w.relays = append(w.relays, d.Device)
	}
	return w
}

// config is the replicas' configuration for the work.
func (w *drillWork) config() []string {
	return []string{fmt.Sprintf(`
provider "iopool" {
  poll          = true
  poll_interval = "5m"
  settings = {
    base_url = %q
  }
  timeouts {
    poll = "10s"
  }
}
provider "ttn" {
  access   = "read-write"
  commands = ["pump.set"]
  settings = {
    server_url    = %q
    command_ports = "pump.set:10"
  }
  timeouts {
    send_command = "10s"
  }
}`, w.upstream.URL, w.stack.URL), `poll_worker {
  interval   = "100ms"
  batch_size = 1
  lease      = "` + workLease + `"
}`, `command_worker {
  interval        = "100ms"
  batch_size      = 1
  device_interval = "1ms"
  lease           = "` + workLease + `"
}`, `retry_worker {
  interval     = "100ms"
  batch_size   = 1
  lease        = "` + workLease + `"
  max_attempts = 8
  backoff_base = "1s"
  backoff_cap  = "10s"
}`}
}

// add seeds a batch: iopool accounts (due at once: poll state is made with the
// account), perRelay commands to every relay, and dead letters.
func (w *drillWork) add(t *testing.T, accounts, perRelay, deadLetters int) {
	t.Helper()
	ctx := context.Background()
	w.batch++
	for i := range accounts {
		key := fmt.Sprintf("drill-iopool-%d-%d", w.batch, i)
		w.iopool.AddKey(key)
		acc, _, err := w.seed.UpsertAccount(ctx, store.NewAccount{UserID: w.r.world.User.ID, Provider: "iopool",
			ExternalAccountID: "key:" + key, DisplayName: key, Credentials: map[string]string{"api_key": key}})
		if err != nil {
			t.Fatal(err)
		}
		w.accounts[key] = acc.ID
	}
	for i := range perRelay {
		for _, d := range w.relays {
			c, _, err := w.seed.CreateCommand(ctx, store.NewCommand{PoolID: w.r.world.Pool.ID, DeviceID: d.ID, AccountID: w.ttn.ID,
				Provider: "ttn", ProviderDeviceID: d.ProviderDeviceID, Command: "pump.set", Params: store.Details{"on": i%2 == 0},
				RequestedBy: w.r.world.User.ID, ExpiresAt: time.Now().Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			w.commands = append(w.commands, c.PublicID)
		}
	}
	w.enqueue(t, deadLetters)
}

// enqueue queues n dead letters of new deliveries and returns their failure ids.
func (w *drillWork) enqueue(t *testing.T, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	var ids []int64
	err := w.seed.InTx(ctx, func(tx *store.Tx) error {
		for range n {
			seq := int64(deadLetterSeq + len(w.deadLetters))
			f, err := tx.EnqueueFailure(ctx, store.NewFailure{
				Provider: provider, Payload: w.r.payloads.Body(seq),
				Headers:    map[string][]string{"Content-Type": {"application/json"}, "Webhook-Id": {loadtest.DeliveryID(seq)}},
				DeliveryID: loadtest.DeliveryID(seq), ReceivedAt: time.Now(), MaxAttempts: 8, Error: "drill: queued by the test",
			})
			if err != nil {
				return err
			}
			w.deadLetters = append(w.deadLetters, seq)
			ids = append(ids, f.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("enqueue failures: %v", err)
	}
	return ids
}

// blockDeadLetters queues n dead letters whose retries cannot commit until release: a
// transaction of the test's has inserted, uncommitted, the first reading of each, so
// a retry's insert of that reading waits for it (a unique key). A retry worker holding
// one is in flight, as a poll or a send held by an upstream. release rolls back.
func (w *drillWork) blockDeadLetters(t *testing.T, n int) (ids []int64, release func()) {
	t.Helper()
	db := w.r.store.DB()
	tx, err := db.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	p := w.r.payloads
	for i := range n {
		seq := int64(deadLetterSeq + len(w.deadLetters) + i)
		d := w.r.world.Devices[p.Devices[int(seq)%len(p.Devices)]]
		// The first reading of loadtest's payloads is ph 7.4 pH.
		if _, err := tx.Exec(`INSERT INTO sensor_readings (device_id, pool_id, metric, value, unit, recorded_at, received_at)
			VALUES ($1, $2, 'ph', 7.4, 'pH', $3, now())`, d.ID, w.r.world.Pool.ID, p.RecordedAt(seq)); err != nil {
			_ = tx.Rollback()
			t.Fatal(err)
		}
	}
	var once sync.Once
	release = func() { once.Do(func() { _ = tx.Rollback() }) }
	t.Cleanup(release)
	return w.enqueue(t, n), release
}

// heldLeases is what one replica held when it was killed.
type heldLeases struct {
	commands map[string]time.Time // public id → lease expiry, sending
	polls    map[int64]time.Time  // account id → lease expiry
	failures map[int64]bool       // failure ids, processing
}

// with adds before's sends and polls to h.
func (h heldLeases) with(before heldLeases) heldLeases {
	for id, at := range before.commands {
		if _, ok := h.commands[id]; !ok {
			h.commands[id] = at
		}
	}
	for id, at := range before.polls {
		if _, ok := h.polls[id]; !ok {
			h.polls[id] = at
		}
	}
	return h
}

// ownerLike matches the lease owners of p's workers (worker.OwnerID: kind-host-pid-…).
func ownerLike(kind string, p *serveProc) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%s-%d-%%", kind, host, p.cmd.Process.Pid)
}

// heldBy reads the leases p holds now.
func (w *drillWork) heldBy(t *testing.T, p *serveProc) heldLeases {
	t.Helper()
	db := w.r.store.DB()
	h := heldLeases{commands: map[string]time.Time{}, polls: map[int64]time.Time{}, failures: map[int64]bool{}}
	var cs []struct {
		ID string    `db:"public_id"`
		At time.Time `db:"lease_expires_at"`
	}
	if err := db.Select(&cs, `SELECT public_id, lease_expires_at FROM commands WHERE status = 'sending' AND lease_owner LIKE $1`,
		ownerLike("commands", p)); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		h.commands[c.ID] = c.At
	}
	var ps []struct {
		ID int64     `db:"account_id"`
		At time.Time `db:"lease_expires_at"`
	}
	if err := db.Select(&ps, `SELECT account_id, lease_expires_at FROM poll_state WHERE lease_owner LIKE $1 AND lease_expires_at > now()`,
		ownerLike("poll", p)); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		h.polls[p.ID] = p.At
	}
	var fs []int64
	if err := db.Select(&fs, `SELECT id FROM integration_ingestion_failures WHERE status = 'processing' AND lease_owner LIKE $1`,
		ownerLike("retry", p)); err != nil {
		t.Fatal(err)
	}
	for _, id := range fs {
		h.failures[id] = true
	}
	return h
}

// upstreamMark is how many requests the upstreams had logged, per command and account.
type upstreamMark struct {
	pushes map[string]int
	polls  map[int64]int
}

func (w *drillWork) mark() upstreamMark {
	m := upstreamMark{pushes: w.pushes(), polls: map[int64]int{}}
	calls := w.upstream.byKey()
	for key, id := range w.accounts {
		m.polls[id] = len(calls[key])
	}
	return m
}

// stuck is what of h has reached the upstreams since since was marked, while they
// hold every request: sends and polls whose answers cannot come back (but by the
// caller's timeout). The dead letters are h's.
func (w *drillWork) stuck(h heldLeases, since upstreamMark) heldLeases {
	now := w.mark()
	out := heldLeases{commands: map[string]time.Time{}, polls: map[int64]time.Time{}, failures: h.failures}
	for id, at := range h.commands {
		if now.pushes[id] > since.pushes[id] {
			out.commands[id] = at
		}
	}
	for id, at := range h.polls {
		if now.polls[id] > since.polls[id] {
			out.polls[id] = at
		}
	}
	return out
}

// reached reports whether h has a send and a poll and holds one of the blocked dead
// letters.
func (h heldLeases) reached(blocked []int64) bool {
	return len(h.commands) > 0 && len(h.polls) > 0 && h.holdsOneOf(blocked)
}

// failureStates says each of the failures ids' status, attempts and lease owner.
func failureStates(t *testing.T, s *store.Store, ids []int64) string {
	t.Helper()
	var out []string
	for _, id := range ids {
		f, err := s.GetFailure(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		st := fmt.Sprintf("%d %s after %d attempts", id, f.Status, f.Attempts)
		if f.LeaseOwner != "" {
			st += " (" + f.LeaseOwner + ")"
		}
		out = append(out, st)
	}
	return strings.Join(out, ", ")
}

// holdsOneOf reports whether h holds one of the dead letters ids.
func (h heldLeases) holdsOneOf(ids []int64) bool {
	return slices.ContainsFunc(ids, func(id int64) bool { return h.failures[id] })
}

// pushes counts the stack's accepted pushes by command public id.
func (w *drillWork) pushes() map[string]int {
	out := map[string]int{}
	for _, p := range w.stack.Pushes() {
		for _, d := range p.Downlinks {
			for _, c := range d.CorrelationIDs {
				if id, ok := strings.CutPrefix(c, "poolhost:cmd:"); ok {
					out[id]++
				}
			}
		}
	}
	return out
}

// settled reports whether every command, poll and dead letter has come to rest: no
// command queued or sending, every account polled with no lease held and none due again
// (a run longer than the poll interval has accounts due a second time), nothing pending.
func (w *drillWork) settled(t *testing.T) bool {
	t.Helper()
	db := w.r.store.DB()
	now := time.Now()
	var busy int
	if err := db.Get(&busy, `SELECT
		(SELECT COUNT(*) FROM commands WHERE status IN ('queued', 'sending')) +
		(SELECT COUNT(*) FROM poll_state WHERE provider = 'iopool' AND (last_polled_at IS NULL OR lease_owner IS NOT NULL)) +
		(SELECT COUNT(*) FROM poll_state p JOIN integration_accounts a ON a.id = p.account_id AND a.status = 'active'
			WHERE p.provider = 'iopool' AND p.next_poll_at <= $1) +
		(SELECT COUNT(*) FROM integration_ingestion_failures WHERE status IN ('pending', 'processing'))`, now); err != nil {
		t.Fatal(err)
	}
	if busy == 0 {
		w.settledAt = now
	}
	return busy == 0
}

// pollCheck is what checkPolls found.
type pollCheck struct {
	polls, repolled, again int
	errs                   []string
}

// checkPolls holds the polls the upstream logged (by API key, in order) against the
// accounts (API key → id), the poll leases the killed replica held (id → lease expiry),
// and each account's next poll as the database has it once the work settled at
// settledAt:
//   - each account polled at least once;
//   - never twice within its interval (no two replicas took one poll slot), except an
//     account killed's lease held at its kill, polled again once, only after that lease
//     expired (repolled);
//   - a poll at least the interval after the one before is the account due again
//     (again): a run longer than the interval must have them, for each account whose
//     next poll came before the work settled — settled waits for those, so one found
//     here was never polled again.
func checkPolls(calls map[string][]time.Time, accounts map[string]int64, held, next map[int64]time.Time, settledAt time.Time) pollCheck {
	var pc pollCheck
	// The earliest a poll may come again: the interval after a success, its jittered
	// backoff after a failure (the held polls of the survivors may time out).
	minGap := time.Duration(float64(pollInterval) * (1 - worker.Jitter))
	for key, id := range accounts {
		at := calls[key]
		pc.polls += len(at)
		if len(at) == 0 {
			pc.errs = append(pc.errs, fmt.Sprintf("account %d (%s) never polled", id, key))
			continue
		}
		expiry, wasHeld := held[id]
		for i := 1; i < len(at); i++ {
			gap := at[i].Sub(at[i-1])
			switch {
			case gap >= minGap:
				pc.again++
			case wasHeld && i == 1 && !at[1].Before(expiry):
				pc.repolled++ // the killed replica's slot, taken over after its lease
			default:
				pc.errs = append(pc.errs, fmt.Sprintf("account %d polled twice %s apart (poll %d of %d), under its interval %s: two replicas took one slot",
					id, gap.Round(time.Millisecond), i+1, len(at), pollInterval))
			}
		}
		if due, ok := next[id]; !ok {
			pc.errs = append(pc.errs, fmt.Sprintf("account %d (%s) has no poll state", id, key))
		} else if !due.After(settledAt) {
			pc.errs = append(pc.errs, fmt.Sprintf("account %d was due again at %s, before the work settled at %s, and not polled again (last poll %s)",
				id, due.Format(time.RFC3339Nano), settledAt.Format(time.RFC3339Nano), at[len(at)-1].Format(time.RFC3339Nano)))
		}
	}
	return pc
}

// workCounts is what the checks found, for the drill's printout.
type workCounts struct {
	accounts, polls, repolled int
	again                     int // polls of an account due again after its interval
	commands, pushes          int
	byStatus                  map[string]int
	deadLetters, secondTries  int
}

// check holds the work against the upstreams' own logs and the database:
//   - polls: checkPolls;
//   - commands: each pushed to the stack at most once, and a sent one exactly once;
//     killed's send in flight at its kill is unknown (its push reached the stack, its
//     answer never came back: whether it was sent cannot be known), never resent;
//   - dead letters queued after phase 1: each resolved, one success audit row each, on
//     its first attempt unless killed held it (then its second); one the drained
//     replica's drain cut short was handed back unattempted (first attempt).
func (w *drillWork) check(t *testing.T, killed heldLeases) workCounts {
	t.Helper()
	db := w.r.store.DB()
	n := workCounts{accounts: len(w.accounts), commands: len(w.commands), deadLetters: len(w.deadLetters), byStatus: map[string]int{}}

	var states []struct {
		AccountID int64     `db:"account_id"`
		NextPoll  time.Time `db:"next_poll_at"`
	}
	if err := db.Select(&states, `SELECT account_id, next_poll_at FROM poll_state WHERE provider = 'iopool'`); err != nil {
		t.Fatal(err)
	}
	next := map[int64]time.Time{}
	for _, ps := range states {
		next[ps.AccountID] = ps.NextPoll
	}
	pc := checkPolls(w.upstream.byKey(), w.accounts, killed.polls, next, w.settledAt)
	n.polls, n.repolled, n.again = pc.polls, pc.repolled, pc.again
	for _, e := range pc.errs {
		t.Error(e)
	}

	pushes := w.pushes()
	known := map[string]bool{}
	var cs []struct {
		ID     string `db:"public_id"`
		Status string `db:"status"`
	}
	if err := db.Select(&cs, `SELECT public_id, status FROM commands WHERE provider = 'ttn'`); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		known[c.ID] = true
		n.byStatus[c.Status]++
		p := pushes[c.ID]
		n.pushes += p
		switch {
		case p > 1:
			t.Errorf("command %s (%s) pushed to the stack %d times", c.ID, c.Status, p)
		case c.Status == string(store.CommandSent) && p != 1:
			t.Errorf("command %s is sent but the stack has %d pushes of it", c.ID, p)
		case c.Status != string(store.CommandSent) && c.Status != string(store.CommandUnknown):
			t.Errorf("command %s ended %s, want sent (or unknown if its send was cut)", c.ID, c.Status)
		}
		if _, ok := killed.commands[c.ID]; ok && c.Status != string(store.CommandUnknown) {
			t.Errorf("command %s, in flight on the killed replica: %s with %d pushes, want unknown (never resent)", c.ID, c.Status, p)
		}
	}
	if len(cs) != len(w.commands) {
		t.Errorf("%d commands in the database, %d queued", len(cs), len(w.commands))
	}
	for id := range pushes {
		if !known[id] {
			t.Errorf("the stack got a push for %s, which is no command", id)
		}
	}

	mine := map[string]bool{}
	for _, seq := range w.deadLetters {
		mine[loadtest.DeliveryID(seq)] = true
	}
	var fs []struct {
		ID         int64  `db:"id"`
		DeliveryID string `db:"delivery_id"`
		Status     string `db:"status"`
		Attempts   int    `db:"attempts"`
		Successes  int    `db:"successes"`
	}
	if err := db.Select(&fs, `SELECT f.id, f.delivery_id, f.status, f.attempts,
		(SELECT COUNT(*) FROM audit_events a WHERE a.action = $1 AND a.target_id = CAST(f.id AS TEXT)) AS successes
		FROM integration_ingestion_failures f WHERE f.provider = $2`, retry.ActionRetrySucceeded, provider); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, f := range fs {
		if !mine[f.DeliveryID] {
			continue
		}
		seen++
		want := 1
		if killed.failures[f.ID] {
			want = 2
			n.secondTries++
		}
		if f.Status != string(store.FailureResolved) || f.Successes != 1 || f.Attempts != want {
			t.Errorf("dead letter %d: %s after %d attempts with %d success rows, want resolved after %d with 1", f.ID, f.Status, f.Attempts, f.Successes, want)
		}
	}
	if seen != len(w.deadLetters) {
		t.Errorf("%d of %d queued dead letters found", seen, len(w.deadLetters))
	}
	return n
}

// scrapeWork reads a replica's work counters: polls it made (succeeded or failed),
// commands it sent (sent or unknown), dead letters it claimed.
func (p *serveProc) scrapeWork(t *testing.T) map[string]float64 {
	t.Helper()
	_, _, body := p.get(t, "", "/metrics")
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		name, labels, v, ok := parseSample(line)
		switch {
		case !ok:
		case name == "poolhost_poll_worker_events_total" && (labels["event"] == "succeeded" || labels["event"] == "failed"):
			out["polls"] += v
		case name == "poolhost_commands_total" && (labels["outcome"] == "sent" || labels["outcome"] == "unknown"):
			out["sends"] += v
		case name == "poolhost_retry_worker_events_total" && labels["event"] == "claimed":
			out["dead letters"] += v
		}
	}
	return out
}
