package pluginmgr_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/pluginmgr"
)

// A plugin binary runs with the host's rights, so one that someone other than the
// operator could have put or changed is refused before it is executed: outside
// plugin_dir, reached through a symlink, or world- or group-writable (itself or a
// directory it hangs from).
func TestBinaryFromAnUntrustedPlaceIsRefused(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env) string // returns the provider block's body
		want  string
	}{
		{"missing binary", func(e *env) string {
			return ""
		}, "plugin binary " + "%PLUGINDIR%/poolhost-provider-x does not exist: install the plugin there"},
		{"missing subdirectory", func(e *env) string {
			return `binary = "v2/poolhost-provider-x"`
		}, "%PLUGINDIR%/v2/poolhost-provider-x does not exist: %PLUGINDIR%/v2 is missing"},
		{"missing plugin_dir", func(e *env) string {
			if err := os.Remove(e.pluginDir); err != nil {
				e.t.Fatal(err)
			}
			return ""
		}, "plugin_dir %PLUGINDIR% does not exist: create it"},
		{"absolute path outside plugin_dir", func(e *env) string {
			other := filepath.Join(e.dir, "elsewhere", "poolhost-provider-x")
			mustCopy(e.t, other)
			return fmt.Sprintf("binary = %q", other)
		}, "outside plugin_dir"},
		{"relative path climbing out of plugin_dir", func(e *env) string {
			mustCopy(e.t, filepath.Join(e.dir, "elsewhere", "poolhost-provider-x"))
			return `binary = "../elsewhere/poolhost-provider-x"`
		}, "outside plugin_dir"},
		{"symlinked binary", func(e *env) string {
			mustSymlink(e.t, testPluginBin, filepath.Join(e.pluginDir, "poolhost-provider-x"))
			return ""
		}, "symlink"},
		{"binary under a symlinked subdirectory", func(e *env) string {
			mustCopy(e.t, filepath.Join(e.dir, "elsewhere", "poolhost-provider-x"))
			mustSymlink(e.t, filepath.Join(e.dir, "elsewhere"), filepath.Join(e.pluginDir, "v2"))
			return `binary = "v2/poolhost-provider-x"`
		}, "symlink"},
		{"world-writable binary", func(e *env) string {
			mustChmod(e.t, e.installID("x"), 0o777)
			return ""
		}, "world-writable"},
		{"world-writable subdirectory", func(e *env) string {
			e.install("v2/poolhost-provider-x", "")
			mustChmod(e.t, filepath.Join(e.pluginDir, "v2"), 0o777)
			return `binary = "v2/poolhost-provider-x"`
		}, "world-writable"},
		{"world-writable plugin_dir", func(e *env) string {
			e.installID("x")
			mustChmod(e.t, e.pluginDir, 0o777)
			return ""
		}, "world-writable"},
		{"world-writable plugin_dir, sticky", func(e *env) string {
			e.installID("x")
			mustChmod(e.t, e.pluginDir, 0o777|os.ModeSticky)
			return ""
		}, "world-writable"},
		{"world-writable parent of plugin_dir without the sticky bit", func(e *env) string {
			e.installID("x")
			mustChmod(e.t, e.dir, 0o777)
			return ""
		}, "without the sticky bit"},
		{"group-writable binary", func(e *env) string {
			mustChmod(e.t, e.installID("x"), 0o775)
			return ""
		}, "group-writable"},
		{"group-writable subdirectory", func(e *env) string {
			e.install("v2/poolhost-provider-x", "")
			mustChmod(e.t, filepath.Join(e.pluginDir, "v2"), 0o775)
			return `binary = "v2/poolhost-provider-x"`
		}, "group-writable"},
		{"group-writable plugin_dir", func(e *env) string {
			e.installID("x")
			mustChmod(e.t, e.pluginDir, 0o775)
			return ""
		}, "group-writable"},
		{"group-writable parent of plugin_dir without the sticky bit", func(e *env) string {
			e.installID("x")
			mustChmod(e.t, e.dir, 0o775)
			return ""
		}, "group-writable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if err := os.MkdirAll(e.pluginDir, 0o755); err != nil {
				t.Fatal(err)
			}
			block := tt.setup(e)
			m, _, err := e.manager(e.config(fmt.Sprintf("provider \"x\" {\n%s\n}\n", block)))
			if err == nil {
				t.Fatal("Start succeeded, want provider x refused")
			}
			st := status(t, m, "x")
			want := strings.ReplaceAll(tt.want, "%PLUGINDIR%", e.pluginDir)
			if st.State != pluginmgr.StateFailed || !strings.Contains(st.LastError, want) || st.PID != 0 {
				t.Errorf("status = %+v, want failed with %q and no process", st, want)
			}
		})
	}
}

// The trusted shapes keep working: a plugin_dir reached through a symlink (a release
// directory an operator switches) and a binary in a subdirectory of plugin_dir, both
// under a sticky world-writable ancestor (the test's temporary directory sits in /tmp).
func TestBinaryUnderASymlinkedPluginDirRuns(t *testing.T) {
	e := newEnv(t)
	real := filepath.Join(e.dir, "release-1")
	e.pluginDir = real
	e.install("v2/poolhost-provider-x", "")
	link := filepath.Join(e.dir, "current")
	mustSymlink(t, real, link)
	e.pluginDir = link
	m, _, err := e.manager(e.config(`provider "x" { binary = "v2/poolhost-provider-x" }`))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if st := status(t, m, "x"); st.State != pluginmgr.StateRunning {
		t.Errorf("status = %+v, want running", st)
	}
}

// plugins { allow_group_writable = true } trusts the group: a deploy group may install
// plugins, and the group-writable binary, directories and plugin_dir run. World-writable
// ones are still refused.
func TestAllowGroupWritable(t *testing.T) {
	e := newEnv(t)
	e.install("v2/poolhost-provider-x", "")
	mustChmod(t, filepath.Join(e.pluginDir, "v2", "poolhost-provider-x"), 0o775)
	mustChmod(t, filepath.Join(e.pluginDir, "v2"), 0o775)
	mustChmod(t, e.pluginDir, 0o775)
	e.plugins += "\n  allow_group_writable = true\n"
	m, _, err := e.manager(e.config(`provider "x" { binary = "v2/poolhost-provider-x" }`))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if st := status(t, m, "x"); st.State != pluginmgr.StateRunning {
		t.Errorf("status = %+v, want running", st)
	}
	mustChmod(t, filepath.Join(e.pluginDir, "v2"), 0o777)
	m2, _, err := e.manager(e.config(`provider "x" { binary = "v2/poolhost-provider-x" }`))
	if err == nil || !strings.Contains(status(t, m2, "x").LastError, "world-writable") {
		t.Errorf("world-writable with allow_group_writable: %v", err)
	}
}

// plugins { require_pin = true } refuses an enabled provider without a sha256 at config
// load (with the file and line), and at launch when a config is built in code.
func TestRequirePinRefusesAnUnpinnedBinary(t *testing.T) {
	e := newEnv(t)
	e.installID("pinned")
	e.installID("unpinned")
	sum := sha256File(t, testPluginBin)
	body := fmt.Sprintf(`
database_url    = "sqlite:db"
credentials_key = file("key")
plugin_dir      = %q
plugins { require_pin = true }
provider "pinned" { sha256 = %q }
provider "unpinned" {}
provider "off" { enabled = false }
`, e.pluginDir, sum)
	path := filepath.Join(e.dir, "pin.hcl")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path)
	var cerr *config.Error
	if !errors.As(err, &cerr) || !strings.Contains(err.Error(), "pin.hcl:7") ||
		!strings.Contains(err.Error(), `provider "unpinned" needs sha256`) || strings.Contains(err.Error(), `"off"`) {
		t.Fatalf("Load = %v, want one error at pin.hcl:7 for the unpinned provider only", err)
	}

	cfg := e.config(fmt.Sprintf(`
provider "pinned" { sha256 = %q }
provider "unpinned" {}
`, sum))
	cfg.Plugins.RequirePin = true
	m, _, err := e.manager(cfg)
	if err == nil || !strings.Contains(err.Error(), "unpinned") {
		t.Errorf("Start = %v, want the unpinned provider refused", err)
	}
	if st := status(t, m, "unpinned"); st.State != pluginmgr.StateFailed || !strings.Contains(st.LastError, "require_pin") || st.PID != 0 {
		t.Errorf("unpinned status = %+v", st)
	}
	if st := status(t, m, "pinned"); st.State != pluginmgr.StateRunning {
		t.Errorf("pinned status = %+v, want running", st)
	}
}

func mustCopy(t *testing.T, dst string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(testPluginBin, dst); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func mustChmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// TestStartTimeoutNamesTheSetting: a plugin that never prints its handshake line is
// failed naming plugins.start_timeout and its value (go-plugin says only "timeout while
// waiting for plugin to start"), with what the plugin last wrote to stderr.
func TestStartTimeoutNamesTheSetting(t *testing.T) {
	e := newEnv(t)
	e.plugins = strings.Replace(e.plugins, `start_timeout   = "30s"`, `start_timeout   = "1s"`, 1)
	e.plugins = strings.Replace(e.plugins, `max_restarts    = 5`, `max_restarts    = 0`, 1)
	if err := os.MkdirAll(e.pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho 'waiting for the network' >&2\nexec sleep 60\n"
	if err := os.WriteFile(filepath.Join(e.pluginDir, "poolhost-provider-x"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	m, _, err := e.manager(e.config("provider \"x\" {}\n"))
	if err == nil {
		t.Fatal("Start succeeded, want provider x refused")
	}
	st := status(t, m, "x")
	for _, want := range []string{"no handshake line within plugins.start_timeout (1s)", "stderr ended with:\n  waiting for the network"} {
		if !strings.Contains(st.LastError, want) {
			t.Errorf("last error %q, want %q", st.LastError, want)
		}
	}
}

// TestConfigureTimeoutNamesTheSetting: a plugin whose Configure does not answer in time
// is failed naming the provider's timeouts.configure and its value; it said only
// "configure: temporary: configure: context deadline exceeded".
func TestConfigureTimeoutNamesTheSetting(t *testing.T) {
	e := newEnv(t)
	e.plugins = strings.Replace(e.plugins, `max_restarts    = 5`, `max_restarts    = 0`, 1)
	e.installID("x")
	m, _, err := e.manager(e.config(`provider "x" {
  settings = { configure_delay = "30s" }
  timeouts { configure = "300ms" }
}
`))
	if err == nil {
		t.Fatal("Start succeeded, want provider x refused")
	}
	if st := status(t, m, "x"); !strings.Contains(st.LastError, "configure: no answer within the provider's timeouts.configure (300ms)") {
		t.Errorf("last error %q, want timeouts.configure named", st.LastError)
	}
}
