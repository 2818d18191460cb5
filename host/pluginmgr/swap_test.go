package pluginmgr_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/sdk"
)

// swapEnv runs provider alpha taking webhooks, whose Configure waits while the returned
// gate file exists: a test holds a new process in starting for as long as it needs.
// The deadlines are generous, so that only a refusal, never a slow box, fails a call.
func swapEnv(t *testing.T) (e *env, bin, gate, conf string) {
	t.Helper()
	e = newEnv(t)
	bin = e.installID("alpha")
	gate = filepath.Join(e.dir, "gate")
	t.Setenv("POOLHOST_TEST_WEBHOOK_SECRET", "whsec-test")
	conf = fmt.Sprintf(`
provider "alpha" {
  webhooks = true
  secrets  = { webhook_secret = env("POOLHOST_TEST_WEBHOOK_SECRET") }
  settings = { configure_gate = %q }
  timeouts {
    configure      = "1m"
    verify_webhook = "25s"
    webhook        = "25s"
  }
}`, gate)
	return e, bin, gate, conf
}

func swapHook() sdk.WebhookRequest {
	return sdk.WebhookRequest{Headers: http.Header{"X-Secret": {"whsec-test"}}, Body: []byte(`{"device":"dev-1","ph":7.2}`), ReceivedAt: time.Now()}
}

// An upgrade (a rebuilt binary, then a reload) answers every delivery: the calls that
// arrive while the old process is gone and the new one starts wait for it instead of
// being refused (they were, 503 to the webhook sender, for the 0.26 s the swap took).
// The new process is held in Configure until four steady senders all wait on it.
func TestPlannedRestartHoldsCalls(t *testing.T) {
	e, bin, gate, conf := swapEnv(t)
	cfg := e.config(conf)
	m, _, err := e.manager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := mustGet(t, m, "alpha")
	before := status(t, m, "alpha")

	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout) // a hang guard only
	defer cancel()
	var (
		calls, refused atomic.Int64
		errMu          sync.Mutex
		errs           []error
		wg             sync.WaitGroup
	)
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := p.IngestWebhook(ctx, swapHook())
				calls.Add(1)
				if err != nil {
					refused.Add(1)
					errMu.Lock()
					errs = append(errs, err)
					errMu.Unlock()
					if ctx.Err() != nil {
						return
					}
				}
			}
		})
	}
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer halt()

	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := rebuild(t, bin, "2")
	reloaded := make(chan error, 1)
	go func() { reloaded <- m.Reload(ctx, cfg) }()
	// Every sender waits on the new process, or (before waiting) one was refused.
	waitFor(t, "four calls waiting for the new process", func() bool {
		return pluginmgr.WaitingCalls(p) == 4 || refused.Load() > 0
	})
	if err := os.Remove(gate); err != nil {
		t.Fatal(err)
	}
	if err := <-reloaded; err != nil {
		t.Fatalf("reload: %v", err)
	}
	after := status(t, m, "alpha")
	if after.PID == before.PID || after.SHA256 != sum {
		t.Fatalf("not restarted on the rebuilt binary: pid %d -> %d, sha256 %s", before.PID, after.PID, after.SHA256)
	}
	// A few more calls on the new process, then stop the senders.
	for n := calls.Load(); calls.Load() < n+8 && refused.Load() == 0; {
		time.Sleep(10 * time.Millisecond)
	}
	halt()

	if n := refused.Load(); n > 0 {
		t.Errorf("%d of %d calls failed during a planned restart, want none; first: %v", n, calls.Load(), errs[0])
	}
	if pluginmgr.WaitingCalls(p) != 0 {
		t.Errorf("%d calls still counted as waiting", pluginmgr.WaitingCalls(p))
	}
}

// A planned restart whose new process fails to start refuses the calls waiting for it
// at once (ErrUnavailable: webhooks get 503 and are redelivered), not at their deadline.
func TestPlannedRestartThatFailsReleasesWaiters(t *testing.T) {
	e, bin, gate, conf := swapEnv(t)
	m, _, err := e.manager(e.config(conf))
	if err != nil {
		t.Fatal(err)
	}
	p := mustGet(t, m, "alpha")

	// The method deadline (50 s, verify and parse) outlasts this context: a call left hanging ends with
	// DeadlineExceeded here, not with ErrUnavailable.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rebuild(t, bin, "2")
	// The new process is refused once the gate opens: a permanent Configure failure.
	cfg := e.config(strings.Replace(conf, "configure_gate =", `fail_configure = "permanent", configure_gate =`, 1))
	reloaded := make(chan error, 1)
	go func() { reloaded <- m.Reload(ctx, cfg) }()

	results := make(chan error, 4)
	for range 4 {
		go func() {
			// Until the old process is gone, calls are answered by it.
			for {
				if _, err := p.IngestWebhook(ctx, swapHook()); err != nil {
					results <- err
					return
				}
			}
		}()
	}
	waitFor(t, "four calls waiting for the new process", func() bool { return pluginmgr.WaitingCalls(p) == 4 })
	if err := os.Remove(gate); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		err := <-results
		if !errors.Is(err, pluginmgr.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "alpha is failed") {
			t.Errorf("a call waiting on a restart that failed: %v, want ErrUnavailable saying alpha is failed", err)
		}
	}
	if err := <-reloaded; err == nil || !strings.Contains(err.Error(), "configure refused") {
		t.Errorf("reload = %v, want the new process's start failure", err)
	}
}

// A crash is not a planned restart: while its replacement starts, calls are refused at
// once, as before (nothing says when, or whether, it will serve). The replacement is
// held in Configure; the call's deadline (50 s) outlasts the test's context, so a call
// that waited would end with DeadlineExceeded instead.
func TestCrashRestartRefusesAtOnce(t *testing.T) {
	e, _, gate, conf := swapEnv(t)
	m, _, err := e.manager(e.config(conf))
	if err != nil {
		t.Fatal(err)
	}
	p := mustGet(t, m, "alpha")
	before := status(t, m, "alpha")
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the crashed plugin's replacement starting", func() bool {
		s := status(t, m, "alpha")
		return s.State == pluginmgr.StateStarting && s.Restarts == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = p.IngestWebhook(ctx, swapHook())
	if !errors.Is(err, pluginmgr.ErrUnavailable) || !errors.Is(err, pluginmgr.ErrNotCalled) || !strings.Contains(err.Error(), "alpha is starting") {
		t.Errorf("a webhook while a crashed plugin restarts: %v, want ErrUnavailable saying alpha is starting", err)
	}
	if err := os.Remove(gate); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replacement running", func() bool { return status(t, m, "alpha").State == pluginmgr.StateRunning })
	if _, err := p.IngestWebhook(ctx, swapHook()); err != nil {
		t.Errorf("a webhook after the restart: %v", err)
	}
}

// Closing the manager (the host stopping) releases the calls waiting on a planned
// restart: they end with ErrNotFound, as any call after Close, not at their deadline.
// The reload's context ends first, so Close does not wait for the reload.
func TestCloseReleasesCallsWaitingOnARestart(t *testing.T) {
	e, bin, gate, conf := swapEnv(t)
	cfg := e.config(conf)
	m, _, err := e.manager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := mustGet(t, m, "alpha")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // under the 50 s deadline
	defer cancel()
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rebuild(t, bin, "2")
	rctx, rcancel := context.WithCancel(ctx)
	reloaded := make(chan error, 1)
	go func() { reloaded <- m.Reload(rctx, cfg) }()
	results := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				if _, err := p.IngestWebhook(ctx, swapHook()); err != nil {
					results <- err
					return
				}
			}
		}()
	}
	waitFor(t, "four calls waiting for the new process", func() bool { return pluginmgr.WaitingCalls(p) == 4 })
	rcancel()
	if err := <-reloaded; !errors.Is(err, context.Canceled) {
		t.Fatalf("reload = %v, want its context's end", err)
	}
	m.Close()
	for range 4 {
		if err := <-results; !errors.Is(err, pluginmgr.ErrNotFound) {
			t.Errorf("a call waiting on a restart when the manager closed: %v, want ErrNotFound", err)
		}
	}
}
