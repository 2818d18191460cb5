package pluginmgr_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/sdk"
)

// TestSendAbortedByAHungPluginIsOutcomeUnknown: a plugin that hangs mid-send (its
// request may already be with the provider) is found unresponsive by its health check
// before the send's own deadline, and the send in flight is aborted. The send's outcome
// is unknown, as after a crash or a timeout: the dispatcher must never send it again.
// The abort once answered only "unavailable", which the dispatcher reads as "nothing
// left the host" and requeues: the command went out twice.
func TestSendAbortedByAHungPluginIsOutcomeUnknown(t *testing.T) {
	e := newEnv(t)
	e.plugins = `
  start_timeout   = "30s"
  health_interval = "200ms"
  health_timeout  = "500ms"
  health_failures = 1
  max_restarts    = 50
  backoff_base    = "50ms"
  backoff_cap     = "200ms"
`
	e.installID("alpha")
	hang := filepath.Join(e.dir, "hang")
	m, _, err := e.manager(e.config(fmt.Sprintf(`provider "alpha" {
  settings = { hang_file = %q }
  timeouts { send_command = "60s" }
}`, hang)))
	if err != nil {
		t.Fatal(err)
	}
	p := mustGet(t, m, "alpha")
	if err := os.WriteFile(hang, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(hang) })
	_, err = p.SendCommand(context.Background(), sdk.CommandRequest{
		ProviderDeviceID: "dev-1", Command: "pump.set", Params: map[string]any{"on": true}, CommandID: "cmd-1",
	})
	if _, serr := os.Stat(hang + ".sending"); serr != nil {
		t.Fatalf("the send never reached the plugin (%v); err %v", serr, err)
	}
	if err == nil || !sdk.IsOutcomeUnknown(err) {
		t.Fatalf("send aborted mid-call by the hung plugin: %v, want an error wrapping sdk.ErrOutcomeUnknown", err)
	}
	if errors.Is(err, pluginmgr.ErrNotCalled) {
		t.Errorf("send aborted mid-call: %v, want no ErrNotCalled (it reached the plugin)", err)
	}
	// While unresponsive, a call is refused before it reaches the plugin: ErrNotCalled.
	if _, err := p.Webhook(context.Background(), sdk.WebhookRequest{Body: []byte(`{}`)}); !errors.Is(err, pluginmgr.ErrNotCalled) ||
		!errors.Is(err, pluginmgr.ErrUnavailable) {
		t.Errorf("a webhook to the unresponsive plugin: %v, want ErrUnavailable and ErrNotCalled", err)
	}
}

// TestSendThePluginCrashedInIsOutcomeUnknown: a plugin that exits in the middle of a
// send may have reached the provider first: the send's outcome is unknown (never sent
// again), and it is not a call refused before it reached the plugin.
func TestSendThePluginCrashedInIsOutcomeUnknown(t *testing.T) {
	e := newEnv(t)
	e.installID("alpha")
	m, _, err := e.manager(e.config(`provider "alpha" { settings = { crash_on = "send_command" } }`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = mustGet(t, m, "alpha").SendCommand(context.Background(), sdk.CommandRequest{
		ProviderDeviceID: "dev-1", Command: "pump.set", Params: map[string]any{"on": true}, CommandID: "cmd-1",
	})
	if !sdk.IsOutcomeUnknown(err) || errors.Is(err, pluginmgr.ErrNotCalled) {
		t.Fatalf("send the plugin crashed in: %v, want outcome unknown and not ErrNotCalled", err)
	}
}

// TestSendCommandIfAsksTheBlockInForceAtTheCall: the operator's approval of a command
// must hold when the command goes out, not only when its sender looked. A reload that
// sets the provider read-only restarts its plugin; a send that began before it (its
// sender approved the command under the read-write block) waits for the new process,
// and is then asked again under the block now in force: refused, ErrNotCalled, the
// plugin never called. It once went out with the new, read-only process.
func TestSendCommandIfAsksTheBlockInForceAtTheCall(t *testing.T) {
	e := newEnv(t)
	e.install(config.BinaryPrefix+"alpha", `{"write": true}`)
	gate := filepath.Join(e.dir, "gate")
	block := func(access string) *config.Config {
		return e.config(fmt.Sprintf(`provider "alpha" {
  access   = %q
  commands = ["pump.set"]
  settings = { configure_gate = %q }
  timeouts {
    configure    = "1m"
    send_command = "25s"
  }
}`, access, gate))
	}
	m, reg, err := e.manager(block("read-write"))
	if err != nil {
		t.Fatal(err)
	}
	p := mustGet(t, m, "alpha")
	if got := p.Config().Access; got != config.AccessReadWrite {
		t.Fatalf("access %q before the reload", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout) // a hang guard only
	defer cancel()
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	reloaded := make(chan error, 1)
	go func() { reloaded <- m.Reload(ctx, block("read-only")) }()
	waitFor(t, "the restart under way", func() bool { return status(t, m, "alpha").State == pluginmgr.StateStarting })

	errReadOnly := errors.New("read-only now")
	var asked []string
	sent := make(chan error, 1)
	go func() {
		_, err := p.SendCommandIf(ctx, sdk.CommandRequest{
			ProviderDeviceID: "dev-1", Command: "pump.set", Params: map[string]any{"on": true}, CommandID: "cmd-1",
		}, func(cfg config.Provider) error {
			asked = append(asked, cfg.Access)
			if cfg.Access != config.AccessReadWrite {
				return errReadOnly
			}
			return nil
		})
		sent <- err
	}()
	waitFor(t, "the send waiting for the new process", func() bool { return pluginmgr.WaitingCalls(p) == 1 })
	if err := os.Remove(gate); err != nil {
		t.Fatal(err)
	}
	if err := <-reloaded; err != nil {
		t.Fatalf("reload: %v", err)
	}
	err = <-sent
	if !errors.Is(err, errReadOnly) || !errors.Is(err, pluginmgr.ErrNotCalled) {
		t.Fatalf("send after a reload to read-only: %v, want the approval's refusal, ErrNotCalled", err)
	}
	if len(asked) != 1 || asked[0] != config.AccessReadOnly {
		t.Errorf("approval asked with access %v, want once with the new block's read-only", asked)
	}
	// The host's refusal, not the plugin's error: its own outcome in the call metrics.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "poolhost_plugin_call_duration_seconds" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["provider"] == "alpha" && labels["method"] == "send_command" {
				outcomes[labels["outcome"]] += mt.GetHistogram().GetSampleCount()
			}
		}
	}
	if len(outcomes) != 1 || outcomes["refused"] != 1 {
		t.Errorf("send_command calls counted %v, want one refused", outcomes)
	}
}
