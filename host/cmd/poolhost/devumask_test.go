package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDevConfigUnderUmask002: a checkout built under umask 002 — the default of Debian's
// and Ubuntu's users, each in a group of their own — has group-writable directories and
// binaries, which plugin_dir's checks refuse unless plugins { allow_group_writable } trusts
// the group. With examples/dev.hcl as it was, make run served with every plugin failed
// ("is group-writable … chmod g-w it"); the development config trusts the group
// (production.hcl does not), and world-writable is still refused.
func TestDevConfigUnderUmask002(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin")
	}
	dir := t.TempDir()
	b := e2eBuild{dir: dir, pluginDir: filepath.Join(dir, "bin", "plugins")}
	bin := filepath.Join(b.pluginDir, "poolhost-provider-generic")
	goBuild(t, "-o", bin, "./plugins/generic/cmd/poolhost-provider-generic")
	for _, p := range []string{dir, filepath.Join(dir, "bin"), b.pluginDir, bin} {
		if err := os.Chmod(p, 0o775); err != nil { // as made under umask 002
			t.Fatal(err)
		}
	}
	c := writeE2EConfig(t, b, nil)
	_, out, stderr := cli(t, "plugins", "check", "--config", c.path)
	if got := checkTable(t, out)["generic"]; got != "running" {
		t.Fatalf("generic under umask 002 with examples/dev.hcl: %s\n%s\n%s", got, out, stderr)
	}
	if err := os.Chmod(bin, 0o777); err != nil {
		t.Fatal(err)
	}
	_, out, _ = cli(t, "plugins", "check", "--config", c.path)
	if got := checkTable(t, out)["generic"]; got != "failed" || !strings.Contains(out, "world-writable") {
		t.Errorf("a world-writable binary with examples/dev.hcl: %s\n%s", got, out)
	}
}
