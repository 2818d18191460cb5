package pluginmgr_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/pluginmgr/bundle"
)

// installBundle makes plugin_dir/poolhost-provider-<id> a bundle: a shell launcher that
// execs the test plugin (named so that it serves <id>) from the bundle, a data file the
// plugin does not read, and the manifest. It returns the bundle's directory and pin.
func (e *env) installBundle(id string) (dir, pin string) {
	e.t.Helper()
	dir = filepath.Join(e.pluginDir, config.BinaryPrefix+id)
	mustCopy(e.t, filepath.Join(dir, "bin", config.BinaryPrefix+id))
	launcher := "#!/bin/sh\n# the bundle's copy is the working directory\nexec ./bin/" + config.BinaryPrefix + id + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "run.sh"), []byte(launcher), 0o755); err != nil {
		e.t.Fatal(err)
	}
	writeFile(e.t, filepath.Join(dir, "lib", "data.js"), "module.exports = 1\n")
	return dir, e.writeManifest(dir)
}

func (e *env) writeManifest(dir string) string {
	e.t.Helper()
	m, _, err := bundle.Generate(dir, "run.sh", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	pin, err := bundle.Write(dir, m)
	if err != nil {
		e.t.Fatal(err)
	}
	return pin
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A pinned bundle runs from a private copy holding exactly its listed files; the status
// shows the manifest's hash, and the copy is gone once the plugin stops.
func TestBundleRunsFromAVerifiedCopy(t *testing.T) {
	e := newEnv(t)
	dir, pin := e.installBundle("alpha")
	writeFile(t, filepath.Join(dir, "notes.txt"), "not listed: never reaches the plugin\n")
	e.plugins += "  require_pin = true\n"
	m, _, err := e.manager(e.config(fmt.Sprintf(`provider "alpha" { sha256 = %q }`, pin)))
	if err != nil {
		t.Fatal(err)
	}
	st := status(t, m, "alpha")
	if st.State != pluginmgr.StateRunning || st.SHA256 != pin || st.Version != "0.0.1-test" {
		t.Fatalf("status = %+v, want running with sha256 %s and the plugin's version", st, pin)
	}
	if err := mustGet(t, m, "alpha").Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", st.PID))
	if err != nil {
		t.Fatal(err)
	}
	snap := filepath.Dir(filepath.Dir(exe))
	if strings.HasPrefix(exe, dir) || !strings.HasPrefix(filepath.Base(snap), "poolhost-bundle-") {
		t.Fatalf("plugin runs %s, want the binary in a private copy, not in the bundle %s", exe, dir)
	}
	if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", st.PID)); cwd != snap {
		t.Errorf("plugin's working directory %s, want the copy %s", cwd, snap)
	}
	for rel, want := range map[string]bool{"run.sh": true, "lib/data.js": true, bundle.ManifestName: true, "notes.txt": false} {
		if _, err := os.Stat(filepath.Join(snap, rel)); (err == nil) != want {
			t.Errorf("copy has %s: %v, want %v", rel, err == nil, want)
		}
	}
	if fi, err := os.Stat(snap); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("copy's directory mode: %v %v, want 0700", fi.Mode(), err)
	}
	m.Close()
	if _, err := os.Stat(snap); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("copy %s left behind after Close: %v", snap, err)
	}
}

// A bundle whose file changed after its manifest was written does not start, and the
// error names the file; so does a wrong pin, and an unpinned bundle is checked too.
func TestChangedBundleFileIsRefusedAtStart(t *testing.T) {
	e := newEnv(t)
	dir, pin := e.installBundle("alpha")
	_, betaPin := e.installBundle("beta")
	e.installBundle("gamma")
	writeFile(t, filepath.Join(dir, "lib", "data.js"), "module.exports = 2 // edited after pinning\n")
	if err := os.Remove(filepath.Join(e.pluginDir, config.BinaryPrefix+"gamma", "run.sh")); err != nil {
		t.Fatal(err)
	}
	m, _, err := e.manager(e.config(fmt.Sprintf(`
provider "alpha" { sha256 = %q }
provider "beta" { sha256 = %q }
provider "gamma" {}
`, pin, strings.Replace(betaPin, betaPin[:4], "0000", 1))))
	if err == nil {
		t.Fatal("Start succeeded with broken bundles")
	}
	for id, want := range map[string]string{
		"alpha": "does not match its poolhost-plugin.json: lib/data.js has sha256 ",
		"beta":  "sha256 mismatch: bundle " + filepath.Join(e.pluginDir, config.BinaryPrefix+"beta") + " has manifest sha256 " + betaPin,
		"gamma": "run.sh is missing",
	} {
		st := status(t, m, id)
		if st.State != pluginmgr.StateFailed || !strings.Contains(st.LastError, want) || st.PID != 0 {
			t.Errorf("%s = %s %q, want failed with %q", id, st.State, st.LastError, want)
		}
	}
}

// The binary location rules apply to a bundle: no world-writable manifest, no bundle
// outside plugin_dir, and a directory without a manifest is not a plugin.
func TestBundleLocationChecks(t *testing.T) {
	e := newEnv(t)
	dir, _ := e.installBundle("alpha")
	mustChmod(t, filepath.Join(dir, bundle.ManifestName), 0o666)
	e.installBundle("beta")
	if err := os.Remove(filepath.Join(e.pluginDir, config.BinaryPrefix+"beta", bundle.ManifestName)); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(e.dir, "elsewhere")
	mustCopy(t, filepath.Join(outside, "x"))
	m, _, _ := e.manager(e.config(fmt.Sprintf(`
provider "alpha" {}
provider "beta" {}
provider "gamma" { binary = %q }
`, outside)))
	for id, want := range map[string]string{
		"alpha": "poolhost-plugin.json is world-writable",
		"beta":  "has no poolhost-plugin.json: write one with `poolhost plugins pin --write",
		"gamma": "is outside plugin_dir",
	} {
		if st := status(t, m, id); st.State != pluginmgr.StateFailed || !strings.Contains(st.LastError, want) {
			t.Errorf("%s = %s %q, want failed with %q", id, st.State, st.LastError, want)
		}
	}
}

// A binary that is a #! launcher (not a bundle) still runs: its process executes the
// interpreter, so the executed-file check applies to native binaries only.
func TestScriptLauncherBinaryRuns(t *testing.T) {
	e := newEnv(t)
	real := e.install("real/"+config.BinaryPrefix+"alpha", "")
	launcher := filepath.Join(e.pluginDir, config.BinaryPrefix+"alpha")
	if err := os.WriteFile(launcher, []byte("#!/bin/sh\nexec "+real+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	m, _, err := e.manager(e.config(fmt.Sprintf(`provider "alpha" { sha256 = %q }`, sha256File(t, launcher))))
	if err != nil {
		t.Fatal(err)
	}
	if st := status(t, m, "alpha"); st.State != pluginmgr.StateRunning || st.SHA256 != sha256File(t, launcher) {
		t.Errorf("status = %+v, want running with the launcher's sha256", st)
	}
}
