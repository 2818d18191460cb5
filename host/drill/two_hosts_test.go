package drill_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/internal/loadtest"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/retry"
	"github.com/poolhost/poolhost/host/store"
)

// TestDrillTwoHosts runs two real `poolhost serve` processes, each with its own plugin
// manager (and generic plugin process) and retry worker, on one PostgreSQL, and queues
// 1,000 failures at once. They must drain them with each failure processed once: the
// plugins' parse calls over both hosts total exactly 1,000, every row is resolved on
// its first attempt, there is exactly one ingestion.retry_succeeded row per failure, no
// lease was lost, and both hosts took a share.
func TestDrillTwoHosts(t *testing.T) {
	const failures = 1000
	cluster := pgtest.NewCluster(t)
	dbURL := cluster.NewDatabase(t)
	s := openStore(t, dbURL)
	seed(t, s)
	p, err := loadtest.NewPayloads(ingesttest.GenericSecret, devices, readingsPerDelivery)
	if err != nil {
		t.Fatal(err)
	}

	hosts := []*serveProc{startServe(t, dbURL, "a"), startServe(t, dbURL, "b")}
	for _, h := range hosts {
		h.waitReady(t)
	}

	// All rows appear at once (one transaction), so both workers find a full queue.
	ctx := context.Background()
	err = s.InTx(ctx, func(tx *store.Tx) error {
		for seq := int64(0); seq < failures; seq++ {
			_, err := tx.EnqueueFailure(ctx, store.NewFailure{
				Provider: provider,
				Payload:  p.Body(seq),
				Headers: map[string][]string{
					"Content-Type": {"application/json"}, "Webhook-Id": {loadtest.DeliveryID(seq)},
				},
				DeliveryID:  loadtest.DeliveryID(seq),
				ReceivedAt:  time.Now(),
				MaxAttempts: 8,
				Error:       "drill: queued by the test",
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

	if !waitFor(2*time.Minute, func() bool { return countFailures(t, s, "pending", "processing") == 0 }) {
		t.Fatalf("%d failures still pending or processing after 2 minutes", countFailures(t, s, "pending", "processing"))
	}
	// The workers add a tick's counters when the tick ends, a moment after its last row.
	var m []map[string]float64
	scraped := waitFor(time.Minute, func() bool {
		m = m[:0]
		total := 0.0
		for _, h := range hosts {
			hm := h.scrape(t)
			m = append(m, hm)
			total += hm["succeeded"]
		}
		return total >= failures
	})

	var claimed, succeeded, parsed float64
	for i, hm := range m {
		t.Logf("host %s: claimed %v succeeded %v retried %v dead %v rescued %v lease_lost %v, parse calls %v",
			hosts[i].name, hm["claimed"], hm["succeeded"], hm["retried"], hm["dead"], hm["rescued"], hm["lease_lost"], hm["parse"])
		claimed += hm["claimed"]
		succeeded += hm["succeeded"]
		parsed += hm["parse"]
		if hm["claimed"] == 0 {
			t.Errorf("host %s claimed nothing: the drill did not exercise two replicas", hosts[i].name)
		}
		for _, ev := range []string{"retried", "dead", "rescued", "lease_lost"} {
			if hm[ev] != 0 {
				t.Errorf("host %s: %s = %v, want 0", hosts[i].name, ev, hm[ev])
			}
		}
	}
	if !scraped || claimed != failures || succeeded != failures || parsed != failures {
		t.Errorf("over both hosts: claimed %v, succeeded %v, parse calls %v; want %d each", claimed, succeeded, parsed, failures)
	}

	var rows []struct {
		Status   string `db:"status"`
		Attempts int    `db:"attempts"`
		N        int    `db:"n"`
	}
	if err := s.DB().Select(&rows, `SELECT status, attempts, COUNT(*) AS n FROM integration_ingestion_failures GROUP BY status, attempts`); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Status != string(store.FailureResolved) || rows[0].Attempts != 1 || rows[0].N != failures {
		t.Errorf("failures by status and attempts = %+v, want all %d resolved at attempt 1", rows, failures)
	}
	var audits struct {
		N        int `db:"n"`
		Distinct int `db:"d"`
	}
	if err := s.DB().Get(&audits, `SELECT COUNT(*) AS n, COUNT(DISTINCT target_id) AS d FROM audit_events WHERE action = $1`,
		retry.ActionRetrySucceeded); err != nil {
		t.Fatal(err)
	}
	if audits.N != failures || audits.Distinct != failures {
		t.Errorf("%s audit rows: %d for %d failures, want %d for %d", retry.ActionRetrySucceeded, audits.N, audits.Distinct, failures, failures)
	}
	results := make([]loadtest.Result, failures)
	for i := range results {
		results[i] = loadtest.Result{Seq: int64(i), Status: http.StatusAccepted}
	}
	checkExactlyOnce(t, results, readStored(t, s, p), false)

	for _, h := range hosts {
		h.stop(t)
	}
}

// serveProc is a `poolhost serve` child process.
type serveProc struct {
	name string
	addr string
	cmd  *exec.Cmd
	log  string
	done chan error
	// exited is set once done was received from (test goroutine only).
	exited bool
}

// startServe starts `poolhost serve` on databaseURL; extra is more top-level config.
func startServe(t *testing.T, databaseURL, name string, extra ...string) *serveProc {
	t.Helper()
	addr := freeAddr(t)
	// Worker blocks an extra begins with replace these defaults (HCL refuses a block
	// given twice).
	blocks := map[string]string{"retry_worker": `retry_worker {
  interval     = "100ms"
  batch_size   = 20
  lease        = "1m"
  max_attempts = 8
  backoff_base = "1s"
  backoff_cap  = "10s"
}`, "poll_worker": `poll_worker {
  enabled = false
}`}
	var rest []string
	for _, e := range extra {
		if name, _, _ := strings.Cut(strings.TrimSpace(e), " "); blocks[name] != "" {
			blocks[name] = e
			continue
		}
		rest = append(rest, e)
	}
	cfg := writeConfig(t, databaseURL, fmt.Sprintf(`
listen       = %q
log_level    = "info"
log_format   = "json"
auto_migrate = false
%s
%s
%s
`, addr, blocks["retry_worker"], blocks["poll_worker"], strings.Join(rest, "\n")))
	p := &serveProc{name: name, addr: addr, log: filepath.Join(t.TempDir(), name+".log"), done: make(chan error, 1)}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(filepath.Join(binDir, "poolhost"), "serve", "--config", cfg)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start poolhost %s: %v", name, err)
	}
	go func() { p.done <- p.cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		if !p.exited {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			p.dumpLog(t)
		}
	})
	return p
}

// waitReady polls /readyz (database, migrations, plugins) until it answers 200.
func (p *serveProc) waitReady(t *testing.T) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	ok := waitFor(time.Minute, func() bool {
		resp, err := client.Get("http://" + p.addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if !ok {
		t.Fatalf("poolhost %s not ready within a minute", p.name)
	}
}

// scrape reads the host's retry worker counters (by event) and its generic plugin's
// parse calls ("parse", every outcome) from /metrics.
func (p *serveProc) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Logf("scrape %s: %v", p.name, err)
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, labels, value, ok := parseSample(line)
		if !ok {
			continue
		}
		switch {
		case name == "poolhost_retry_worker_events_total":
			out[labels["event"]] += value
		case name == "poolhost_plugin_call_duration_seconds_count" && labels["provider"] == provider && labels["method"] == "webhook":
			out["parse"] += value
		}
	}
	return out
}

// parseSample parses one Prometheus text-format sample line.
func parseSample(line string) (name string, labels map[string]string, value float64, ok bool) {
	if line == "" || line[0] == '#' {
		return "", nil, 0, false
	}
	sp := strings.LastIndexByte(line, ' ')
	if sp < 0 {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(line[sp+1:], 64)
	if err != nil {
		return "", nil, 0, false
	}
	head := line[:sp]
	labels = map[string]string{}
	if i := strings.IndexByte(head, '{'); i >= 0 {
		name = head[:i]
		for _, kv := range strings.Split(strings.TrimSuffix(head[i+1:], "}"), ",") {
			k, val, found := strings.Cut(kv, "=")
			if found {
				labels[k] = strings.Trim(val, `"`)
			}
		}
	} else {
		name = head
	}
	return name, labels, v, true
}

// stop sends SIGTERM and expects a clean exit (graceful shutdown) within a minute.
func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("signal poolhost %s: %v", p.name, err)
		return
	}
	select {
	case err := <-p.done:
		p.exited = true
		if err != nil {
			t.Errorf("poolhost %s exited: %v", p.name, err)
		}
	case <-time.After(time.Minute):
		t.Errorf("poolhost %s did not exit within a minute of SIGTERM", p.name)
	}
}

func (p *serveProc) dumpLog(t *testing.T) {
	b, _ := os.ReadFile(p.log)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	t.Logf("poolhost %s log (tail):\n%s", p.name, b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
