package drill_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/internal/loadtest"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/retry"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/webhook"
)

// binDir holds the plugin binaries and bin/poolhost, built once in TestMain.
var binDir string

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "poolhost-drill-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binDir = dir
		if err := ingesttest.BuildPlugins(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// The module root is two levels up from this package's directory.
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "poolhost"), "./host/cmd/poolhost")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build poolhost: %v\n%s", err, out)
			return 1
		}
		// Each drill starts its own cluster (pgtest.NewCluster), so the shared one of
		// pgtest.Main is never needed.
		return m.Run()
	}()
	os.Exit(code)
}

// Drill constants.
const (
	provider = "generic"
	// readingsPerDelivery keeps the drills about faults rather than volume.
	readingsPerDelivery = 3
)

var devices = []string{"d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7"}

// writeConfig writes a poolhost config for the generic provider (webhooks on, the
// provider-level secret) and returns its path. extra is appended at the top level.
func writeConfig(t *testing.T, databaseURL, extra string) string {
	t.Helper()
	dir := t.TempDir()
	for name, v := range map[string]string{
		"generic.secret": ingesttest.GenericSecret,
		"creds.key":      "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src := fmt.Sprintf(`
database_url    = %q
plugin_dir      = %q
credentials_key = file("creds.key")
plugins {
  backoff_base   = "20ms"
  backoff_cap    = "200ms"
  max_restarts   = 1000
  restart_window = "1m"
}
provider "generic" {
  webhooks = true
  secrets  = { webhook_secret = file("generic.secret") }
}
%s
`, databaseURL, binDir, extra)
	path := filepath.Join(dir, "poolhost.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// openStore opens and migrates databaseURL with a throwaway cipher.
func openStore(t *testing.T, databaseURL string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := store.Open(ctx, databaseURL, store.WithCipher(ingesttest.NewCipher()))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

// seed creates an owner, a pool and a generic account whose devices are all linked.
func seed(t *testing.T, s *store.Store) {
	t.Helper()
	ingesttest.Seed(t, s, provider, "drill@example.com", nil, devices, nil)
}

// inproc is a host built in the test process from the real components (store, plugin
// manager launching the real generic binary, ingest, webhook pipeline, HTTP API, retry
// worker), serving over real HTTP.
type inproc struct {
	store    *store.Store
	plugins  *pluginmgr.Manager
	worker   *retry.Worker
	url      string // the provider-level webhook URL
	payloads *loadtest.Payloads
	log      *logLines // everything the host logged
}

// logLines keeps what the host logs, for drills that check the log too.
type logLines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// matching returns the lines containing every one of subs.
func (l *logLines) matching(subs ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
next:
	for _, line := range strings.Split(l.b.String(), "\n") {
		for _, s := range subs {
			if !strings.Contains(line, s) {
				continue next
			}
		}
		out = append(out, line)
	}
	return out
}

func newInproc(t *testing.T, databaseURL string) *inproc {
	t.Helper()
	s := openStore(t, databaseURL)
	seed(t, s)
	cfg, err := config.Load(writeConfig(t, databaseURL, ""))
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	lines := &logLines{}
	var out io.Writer = lines
	if testing.Verbose() && os.Getenv("DRILL_LOG") != "" {
		out = io.MultiWriter(lines, os.Stderr)
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "drill", Output: out, Level: hclog.Info})
	mgr := ingesttest.StartManager(t, cfg, log)
	reg := prometheus.NewRegistry()
	h := ingesttest.ServeWebhooks(t, ingesttest.Webhooks{Store: s, Plugins: mgr, Log: log, Registry: reg,
		Ingest:   ingest.Config{MaxFutureSkew: cfg.Ingest.MaxFutureSkew, MaxPastAge: cfg.Ingest.MaxPastAge},
		Pipeline: webhook.Config{MaxAttempts: 50}, HTTP: cfg.HTTP})
	ing := h.Ingest
	// A generous budget and short backoff: the drill checks that nothing is lost, and a
	// row that went dead would be kept but not stored. A short lease: a row claimed just
	// before PostgreSQL went away, whose failed attempt could not be recorded, waits for
	// its lease to expire before the rescue brings it back.
	w := retry.New(retry.Deps{Store: s, Ingest: ing, Plugins: retry.ManagerPlugins(mgr), Logger: log, Registerer: reg},
		retry.Config{RetryWorker: config.RetryWorker{
			Enabled: true, Interval: 200 * time.Millisecond, BatchSize: 50, Lease: 5 * time.Second,
			MaxAttempts: 50, BackoffBase: 50 * time.Millisecond, BackoffCap: time.Second,
		}})
	t.Cleanup(func() { w.Close() })
	p, err := loadtest.NewPayloads(ingesttest.GenericSecret, devices, readingsPerDelivery)
	if err != nil {
		t.Fatal(err)
	}
	return &inproc{store: s, plugins: mgr, worker: w, url: h.Server.URL + "/v1/webhooks/" + provider, payloads: p, log: lines}
}

// runner returns a load runner of n clients against the host.
func (h *inproc) runner(n int, onResult func(loadtest.Result)) *loadtest.Runner {
	return &loadtest.Runner{URL: h.url, Payloads: h.payloads, Concurrency: n, OnResult: onResult}
}

// pluginPID is the generic plugin's pid while it is running, else 0.
func (h *inproc) pluginPID() int {
	for _, st := range h.plugins.Statuses() {
		if st.Provider == provider && st.State == pluginmgr.StateRunning {
			return st.PID
		}
	}
	return 0
}

// waitFor polls cond every 50ms until it holds or timeout passes, and reports whether it
// held. No drill asserts on elapsed time: every wait is a bounded poll.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// drain runs the retry worker's ticks until no failure is pending or processing, within
// a generous bound. The plugin must be running for rows to succeed; a tick while it is
// not only spends an attempt of a 50-attempt budget.
func (h *inproc) drain(t *testing.T) {
	t.Helper()
	if err := h.worker.Close(); err != nil { // the background loop, if started
		t.Fatalf("stop worker: %v", err)
	}
	if !waitFor(time.Minute, func() bool { return h.pluginPID() != 0 }) {
		t.Fatalf("plugin not running after the load: %+v", h.plugins.Statuses())
	}
	ctx := context.Background()
	ok := waitFor(2*time.Minute, func() bool {
		if _, err := h.worker.Tick(ctx); err != nil {
			t.Logf("retry tick: %v", err)
		}
		return countFailures(t, h.store, "pending", "processing") == 0
	})
	if !ok {
		t.Fatalf("failures still pending or processing after 2 minutes of retry ticks: %d",
			countFailures(t, h.store, "pending", "processing"))
	}
}

func countFailures(t *testing.T, s *store.Store, statuses ...string) int {
	t.Helper()
	q := `SELECT COUNT(*) FROM integration_ingestion_failures WHERE status IN ('` + strings.Join(statuses, "','") + `')`
	var n int
	if err := s.DB().Get(&n, q); err != nil {
		t.Fatalf("count failures: %v", err)
	}
	return n
}

// stored is what the database says became of each delivery.
type stored struct {
	rows map[int64]int // readings by delivery
	// commits are the events that committed a delivery's readings: webhook.received
	// (direct) and ingestion.retry_succeeded (through the failures table), by delivery.
	commits map[int64][]commit
	// kept counts failure rows by delivery.
	kept map[int64]int
	dead int
}

type commit struct {
	via                  string
	accepted, duplicates int
}

func readStored(t *testing.T, s *store.Store, p *loadtest.Payloads) stored {
	t.Helper()
	db := s.DB()
	st := stored{rows: map[int64]int{}, commits: map[int64][]commit{}, kept: map[int64]int{}}

	var byAt []struct {
		At time.Time `db:"recorded_at"`
		N  int       `db:"n"`
	}
	if err := db.Select(&byAt, `SELECT recorded_at, COUNT(*) AS n FROM sensor_readings GROUP BY recorded_at`); err != nil {
		t.Fatalf("count readings: %v", err)
	}
	for _, r := range byAt {
		st.rows[p.Seq(r.At)] += r.N
	}

	type details struct {
		DeliveryID string `json:"delivery_id"`
		Accepted   int    `json:"accepted"`
		Duplicates int    `json:"duplicates"`
	}
	var received []string
	if err := db.Select(&received, db.Rebind(`SELECT details FROM audit_events WHERE action = ?`), webhook.ActionReceived); err != nil {
		t.Fatalf("received audits: %v", err)
	}
	for _, raw := range received {
		var d details
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			t.Fatalf("received details %s: %v", raw, err)
		}
		seq, ok := loadtest.SeqOfDeliveryID(d.DeliveryID)
		if !ok {
			t.Fatalf("received audit without a drill delivery id: %s", raw)
		}
		st.commits[seq] = append(st.commits[seq], commit{"received", d.Accepted, d.Duplicates})
	}

	var retried []struct {
		Details string `db:"details"`
		Payload []byte `db:"payload"`
	}
	if err := db.Select(&retried, db.Rebind(`SELECT a.details, f.payload FROM audit_events a
		JOIN integration_ingestion_failures f ON a.target_id = CAST(f.id AS TEXT)
		WHERE a.action = ?`), retry.ActionRetrySucceeded); err != nil {
		t.Fatalf("retry audits: %v", err)
	}
	for _, r := range retried {
		var d details
		if err := json.Unmarshal([]byte(r.Details), &d); err != nil {
			t.Fatalf("retry details %s: %v", r.Details, err)
		}
		seq, err := loadtest.SeqOfBody(r.Payload)
		if err != nil {
			t.Fatalf("kept payload: %v", err)
		}
		st.commits[seq] = append(st.commits[seq], commit{"retry", d.Accepted, d.Duplicates})
	}

	var kept []struct {
		Status  string `db:"status"`
		Payload []byte `db:"payload"`
	}
	if err := db.Select(&kept, `SELECT status, payload FROM integration_ingestion_failures`); err != nil {
		t.Fatalf("failures: %v", err)
	}
	for _, k := range kept {
		seq, err := loadtest.SeqOfBody(k.Payload)
		if err != nil {
			t.Fatalf("kept payload: %v", err)
		}
		st.kept[seq]++
		if k.Status == string(store.FailureDead) {
			st.dead++
		}
	}
	return st
}

// checkExactlyOnce holds the run's answers against the database:
//   - every acknowledged delivery (200, 202) has all its readings, committed by exactly
//     one event, and a 200 said so (accepted = readings, no duplicates);
//   - a delivery that was not acknowledged has none of its readings — or, when
//     ambiguous is set (the database died mid-commit, so the host could not know), all
//     of them; never some;
//   - no delivery was kept twice, none went dead, and nothing was stored that was not
//     sent.
func checkExactlyOnce(t *testing.T, results []loadtest.Result, st stored, ambiguous bool) {
	t.Helper()
	const want = readingsPerDelivery
	sent := make(map[int64]bool, len(results))
	bad := 0
	fail := func(format string, args ...any) {
		bad++
		if bad <= 20 {
			t.Errorf(format, args...)
		}
	}
	for _, r := range results {
		sent[r.Seq] = true
		rows, commits := st.rows[r.Seq], st.commits[r.Seq]
		stores := 0
		for _, c := range commits {
			if c.accepted > 0 {
				stores++
				if c.accepted != want {
					fail("delivery %d: a %s commit accepted %d of %d readings", r.Seq, c.via, c.accepted, want)
				}
			} else if !ambiguous || c.duplicates != want {
				fail("delivery %d: a %s commit stored nothing new (%+v): processed twice", r.Seq, c.via, c)
			}
		}
		if st.kept[r.Seq] > 1 {
			fail("delivery %d kept %d times", r.Seq, st.kept[r.Seq])
		}
		switch {
		case r.Acknowledged():
			if rows != want || stores != 1 {
				fail("delivery %d answered %d: %d readings stored by %d commits, want %d by 1 (%+v)", r.Seq, r.Status, rows, stores, want, commits)
			}
			if r.Status == 200 && (r.Accepted != want || r.Duplicates != 0) {
				fail("delivery %d: 200 said accepted %d duplicates %d, want %d and 0", r.Seq, r.Accepted, r.Duplicates, want)
			}
		case rows == 0 && stores == 0:
		case ambiguous && rows == want && stores == 1:
		default:
			fail("delivery %d answered %d (%v): %d readings stored by %d commits", r.Seq, r.Status, r.Err, rows, stores)
		}
	}
	for seq, n := range st.rows {
		if !sent[seq] {
			fail("%d readings stored for delivery %d, which was never sent", n, seq)
		}
	}
	if st.dead != 0 {
		fail("%d failures went dead", st.dead)
	}
	if bad > 20 {
		t.Errorf("… %d problems in all", bad)
	}
}
