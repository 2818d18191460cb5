package pluginmgr_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/poolhost/poolhost/host/pluginmgr"
)

// rebuild installs a "new build" of the test plugin at path the way PLUGINS.md says:
// write beside it, then rename over it (copying over a running binary fails with "text
// file busy"). The trailing bytes make its hash differ; the ELF loader ignores them.
func rebuild(t *testing.T, path, tag string) string {
	t.Helper()
	tmp := path + ".tmp"
	if err := copyFile(testPluginBin, tmp); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(tmp, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("\x00rebuild " + tag); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return sha256File(t, path)
}

// A reload restarts the plugins whose binary or bundle changed on disk, and only those.
func TestReloadRestartsOnlyChangedPlugins(t *testing.T) {
	e := newEnv(t)
	e.installID("alpha")
	betaBin := e.installID("beta")
	gammaDir, _ := e.installBundle("gamma")
	e.installBundle("delta")
	cfg := e.config(`
provider "alpha" {}
provider "beta" {}
provider "gamma" {}
provider "delta" {}
`)
	m, _, err := e.manager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]pluginmgr.Status{}
	for _, id := range []string{"alpha", "beta", "gamma", "delta"} {
		before[id] = status(t, m, id)
	}

	// Nothing changed: nothing restarts.
	if err := m.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	for id, b := range before {
		if s := status(t, m, id); s.PID != b.PID {
			t.Errorf("%s restarted by a reload that changed nothing", id)
		}
	}

	betaSum := rebuild(t, betaBin, "beta-2")
	writeFile(t, filepath.Join(gammaDir, "lib", "data.js"), "module.exports = 2\n")
	gammaPin := e.writeManifest(gammaDir)
	if err := m.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	for id, b := range before {
		s := status(t, m, id)
		changed := id == "beta" || id == "gamma"
		if s.State != pluginmgr.StateRunning || (s.PID != b.PID) != changed {
			t.Errorf("%s: pid %d -> %d, state %s; want restarted: %v", id, b.PID, s.PID, s.State, changed)
		}
		if changed {
			waitFor(t, id+"'s old process to end", func() bool { return !alive(b.PID) })
		}
	}
	if s := status(t, m, "beta"); s.SHA256 != betaSum {
		t.Errorf("beta runs sha256 %s, want the rebuilt %s", s.SHA256, betaSum)
	}
	if s := status(t, m, "gamma"); s.SHA256 != gammaPin {
		t.Errorf("gamma runs manifest %s, want the rewritten %s", s.SHA256, gammaPin)
	}
}

// A reload after a rebuild whose pin was not updated is reported — in Reload's error,
// the log and the status — and the old process keeps serving instead of the provider
// going down. Updating the pin then restarts it; the same holds for a bundle edited
// without refreshing its manifest.
func TestStalePinIsReportedAndOldPluginKeepsRunning(t *testing.T) {
	e := newEnv(t)
	bin := e.installID("alpha")
	oldSum := sha256File(t, bin)
	bdir, bpin := e.installBundle("beta")
	conf := func(alphaPin string) string {
		return fmt.Sprintf(`
provider "alpha" { sha256 = %q }
provider "beta" { sha256 = %q }
`, alphaPin, bpin)
	}
	m, _, err := e.manager(e.config(conf(oldSum)))
	if err != nil {
		t.Fatal(err)
	}
	alpha, beta := status(t, m, "alpha"), status(t, m, "beta")

	newSum := rebuild(t, bin, "2")
	writeFile(t, filepath.Join(bdir, "lib", "data.js"), "edited, manifest not refreshed\n")
	err = m.Reload(context.Background(), e.config(conf(oldSum)))
	if err == nil || !strings.Contains(err.Error(), "plugins not reloaded") ||
		!strings.Contains(err.Error(), "alpha: reload did not restart the plugin; the running process (sha256 "+oldSum+") keeps serving: sha256 mismatch: "+bin+" is "+newSum+", config pins "+oldSum) ||
		!strings.Contains(err.Error(), "beta: reload did not restart the plugin") || !strings.Contains(err.Error(), "lib/data.js has sha256") {
		t.Fatalf("Reload = %v, want both stale plugins reported", err)
	}
	for id, before := range map[string]pluginmgr.Status{"alpha": alpha, "beta": beta} {
		s := status(t, m, id)
		if s.State != pluginmgr.StateRunning || s.PID != before.PID || !alive(before.PID) || s.SHA256 != before.SHA256 || !strings.Contains(s.Warning, "keeps serving") {
			t.Errorf("%s after a stale reload = %+v, want the old process running with a warning", id, s)
		}
		if err := mustGet(t, m, id).Health(context.Background()); err != nil {
			t.Errorf("%s does not serve: %v", id, err)
		}
	}

	// The operator updates the pins: both restart on the new files, warnings gone.
	bpin = e.writeManifest(bdir)
	if err := m.Reload(context.Background(), e.config(conf(newSum))); err != nil {
		t.Fatalf("Reload with the new pins: %v", err)
	}
	for id, before := range map[string]pluginmgr.Status{"alpha": alpha, "beta": beta} {
		s := status(t, m, id)
		if s.State != pluginmgr.StateRunning || s.PID == before.PID || s.Warning != "" {
			t.Errorf("%s after the pin update = %+v, want a new process and no warning", id, s)
		}
	}
	if s := status(t, m, "alpha"); s.SHA256 != newSum || s.Pinned != newSum {
		t.Errorf("alpha sha256 %s pinned %s, want %s", s.SHA256, s.Pinned, newSum)
	}
	if s := status(t, m, "beta"); s.SHA256 != bpin {
		t.Errorf("beta sha256 %s, want %s", s.SHA256, bpin)
	}

	// A new pin that matches nothing on disk (a typo) does not stop the running plugin
	// either: the new block is not applied.
	cur := status(t, m, "alpha")
	err = m.Reload(context.Background(), e.config(conf(strings.Repeat("ab", 32))))
	if err == nil || !strings.Contains(err.Error(), "the new config block is not applied") {
		t.Errorf("Reload with a wrong pin = %v", err)
	}
	if s := status(t, m, "alpha"); s.PID != cur.PID || s.State != pluginmgr.StateRunning || s.Pinned != newSum {
		t.Errorf("alpha after a wrong new pin = %+v, want the running process and block kept", s)
	}
}

// The warning of a stale reload is about the process it kept: when that process dies and
// the stale file cannot start, the provider is failed with the reason, not "keeps serving".
func TestStalePinWarningEndsWithTheKeptProcess(t *testing.T) {
	e := newEnv(t)
	bin := e.installID("alpha")
	sum := sha256File(t, bin)
	cfg := e.config(fmt.Sprintf(`provider "alpha" { sha256 = %q }`, sum))
	m, _, err := e.manager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rebuild(t, bin, "2")
	if err := m.Reload(context.Background(), cfg); err == nil {
		t.Fatal("Reload with a stale pin reported nothing")
	}
	kept := status(t, m, "alpha")
	if kept.Warning == "" {
		t.Fatalf("no warning: %+v", kept)
	}
	if err := syscall.Kill(kept.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alpha to fail on the stale pin", func() bool { return status(t, m, "alpha").State == pluginmgr.StateFailed })
	if s := status(t, m, "alpha"); s.Warning != "" || !strings.Contains(s.LastError, "sha256 mismatch") {
		t.Errorf("after the kept process died: warning %q, last error %q", s.Warning, s.LastError)
	}
}

// Issue 18's repro: a reload with a wrong pin is refused and the old process keeps
// serving. When that process is SIGKILLed, it restarts from the previous block — and
// the refusal must stay visible (status, Reload's error, the metric) instead of
// vanishing with the process. A reload that fixes the pin clears it.
func TestRefusedBlockOutlivesTheProcess(t *testing.T) {
	e := newEnv(t)
	bin := e.installID("alpha")
	sum := sha256File(t, bin)
	conf := func(pin string) string { return fmt.Sprintf(`provider "alpha" { sha256 = %q }`, pin) }
	m, reg, err := e.manager(e.config(conf(sum)))
	if err != nil {
		t.Fatal(err)
	}
	pending := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "poolhost_plugin_pending_config_refused" {
				continue
			}
			for _, mt := range mf.GetMetric() {
				for _, l := range mt.GetLabel() {
					if l.GetName() == "provider" && l.GetValue() == "alpha" {
						return mt.GetGauge().GetValue()
					}
				}
			}
		}
		t.Fatal("no poolhost_plugin_pending_config_refused{provider=alpha}")
		return 0
	}
	if v := pending(); v != 0 {
		t.Fatalf("pending_config_refused before any reload = %g", v)
	}

	wrong := strings.Repeat("ab", 32)
	if err := m.Reload(context.Background(), e.config(conf(wrong))); err == nil || !strings.Contains(err.Error(), "the new config block is not applied") {
		t.Fatalf("Reload with a wrong pin = %v", err)
	}
	kept := status(t, m, "alpha")
	if kept.State != pluginmgr.StateRunning || !strings.Contains(kept.Refused, "sha256 mismatch") {
		t.Fatalf("after the refused reload: %+v", kept)
	}
	if err := syscall.Kill(kept.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alpha to run again from its previous block", func() bool {
		s := status(t, m, "alpha")
		return s.State == pluginmgr.StateRunning && s.PID != 0 && s.PID != kept.PID
	})
	s := status(t, m, "alpha")
	if s.Refused != kept.Refused || s.SHA256 != sum || s.Pinned != sum {
		t.Errorf("after the restart: refused %q (want %q), sha256 %s pinned %s", s.Refused, kept.Refused, s.SHA256, s.Pinned)
	}
	if v := pending(); v != 1 {
		t.Errorf("pending_config_refused after the restart = %g, want 1", v)
	}
	if err := m.Reload(context.Background(), e.config(conf(wrong))); err == nil || !strings.Contains(err.Error(), "the new config block is not applied") {
		t.Errorf("a second Reload with the wrong pin = %v", err)
	}

	// The pin fixed: in force, nothing pending.
	if err := m.Reload(context.Background(), e.config(conf(sum))); err != nil {
		t.Fatalf("Reload with the right pin: %v", err)
	}
	if s := status(t, m, "alpha"); s.Refused != "" || s.State != pluginmgr.StateRunning {
		t.Errorf("after fixing the pin: %+v", s)
	}
	if v := pending(); v != 0 {
		t.Errorf("pending_config_refused after fixing the pin = %g, want 0", v)
	}
}

// Pinning the binary a plugin runs from (README: pin each binary, require_pin in
// production) is a new pin alone: the running process is the file it pins, so a reload
// keeps it, as it does taking the pin away again. Each used to restart the plugin, its
// webhooks answered 503 while it started again. A new pin with a changed file still
// restarts it (TestStalePinIsReportedAndOldPluginKeepsRunning).
func TestNewPinOfTheRunningBinaryRestartsNothing(t *testing.T) {
	e := newEnv(t)
	bin := e.installID("alpha")
	sum := sha256File(t, bin)
	m, _, err := e.manager(e.config(`provider "alpha" {}`))
	if err != nil {
		t.Fatal(err)
	}
	before := status(t, m, "alpha")
	if before.State != pluginmgr.StateRunning || before.SHA256 != sum {
		t.Fatalf("alpha before = %+v", before)
	}
	for _, step := range []struct{ what, block, pinned string }{
		{"pinned", fmt.Sprintf(`provider "alpha" { sha256 = %q }`, sum), sum},
		{"unpinned again", `provider "alpha" {}`, ""},
	} {
		if err := m.Reload(context.Background(), e.config(step.block)); err != nil {
			t.Fatalf("Reload %s: %v", step.what, err)
		}
		if s := status(t, m, "alpha"); s.PID != before.PID || s.State != pluginmgr.StateRunning || s.Pinned != step.pinned || s.Warning != "" || s.Refused != "" {
			t.Errorf("%s: alpha = %+v, want pid %d kept, running, pinned %q", step.what, s, before.PID, step.pinned)
		}
	}
}
