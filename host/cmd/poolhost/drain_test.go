package main

import (
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestDrain: senders post continuously through SIGTERM. /readyz answers 503 at once,
// the senders see no connection error within the grace period, and every delivery
// answered 200 is stored.
func TestDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary; skipped in -short mode")
	}
	const grace = 6 * time.Second
	b := buildE2E(t)
	c := writeE2EConfig(t, b, func(s string) string {
		// The drill is one account sending as fast as it can: the per-account webhook
		// limit (a defence for real deployments) is lifted so every send reaches the drain.
		return strings.Replace(s, "http {\n", "http {\n  drain_grace = \""+grace.String()+"\"\n"+
			"  rate_limit {\n    per_webhook_account = 1000000\n    webhook_account_burst = 1000000\n  }\n", 1)
	})
	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	snd, _ := newSender(t, b, c, c.baseURL)

	var (
		mu      sync.Mutex
		acked   []float64
		errs    []string
		signal  time.Time
		stopped = make(chan struct{})
		wg      sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stopped:
					return
				default:
				}
				v, status, err := snd.post(t, c.baseURL)
				mu.Lock()
				switch {
				case err != nil:
					errs = append(errs, err.Error())
				case status == http.StatusOK:
					acked = append(acked, v)
				default:
					errs = append(errs, http.StatusText(status))
				}
				mu.Unlock()
			}
		}()
	}
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 20 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	signal = time.Now()
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// /readyz turns 503 well within the grace.
	for {
		status, body, err := tryGet(c.baseURL+"/readyz", "")
		if err != nil {
			t.Fatalf("/readyz while draining: %v", err)
		}
		if status == http.StatusServiceUnavailable {
			if !strings.Contains(string(body), `"serving":"failing"`) {
				t.Errorf("draining /readyz body: %s", body)
			}
			break
		}
		if time.Since(signal) > grace/2 {
			t.Fatalf("/readyz still %d %s half a grace period after SIGTERM", status, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Keep sending for a part of the grace period only: within it nothing may fail.
	// The signal was sent before signal was read back, so the host's own grace ends
	// later than ours, however slow the machine.
	time.Sleep(time.Until(signal.Add(grace / 2)))
	close(stopped)
	wg.Wait()
	mu.Lock()
	if len(errs) > 0 {
		t.Errorf("%d sends failed within the grace period, first: %s", len(errs), errs[0])
	}
	ackedAfter := len(acked)
	mu.Unlock()
	if code := srv.wait(t); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	stored := storedValues(t, c.dbURL)
	for _, v := range acked {
		if !stored[v] {
			t.Errorf("reading %g answered 200 is not stored", v)
		}
	}
	if !strings.Contains(srv.out.String(), "draining") {
		t.Errorf("no drain line in the log:\n%s", srv.out.String())
	}
	t.Logf("%d deliveries answered 200, all stored", ackedAfter)
}
