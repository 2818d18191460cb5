package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func pinCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(context.Background(), append([]string{"plugins", "pin"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func sumOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestPluginsPin(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "poolhost-provider-acme")
	if err := os.WriteFile(bin, []byte("\x7fELF pretend"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Run("binary", func(t *testing.T) {
		code, out, errs := pinCLI(t, bin)
		if code != 0 || out != sumOf(t, bin)+"\n" {
			t.Errorf("exit %d, stdout %q (stderr %q), want the file's sha256 alone", code, out, errs)
		}
		if code, _, errs := pinCLI(t, "--write", bin); code != 1 || !strings.Contains(errs, "is a file: --write") {
			t.Errorf("--write on a binary: exit %d, %q", code, errs)
		}
	})

	b := filepath.Join(dir, "poolhost-provider-acme-node")
	for rel, content := range map[string]string{"run.sh": "#!/bin/sh\nexec node plugin.js\n", "plugin.js": "1\n", "node_modules/m/index.js": "2\n"} {
		p := filepath.Join(b, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../m/index.js", filepath.Join(b, "node_modules", "m", "link")); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(b, "poolhost-plugin.json")

	t.Run("bundle without a manifest", func(t *testing.T) {
		if code, _, errs := pinCLI(t, b); code != 1 || !strings.Contains(errs, "has no poolhost-plugin.json: write one with `poolhost plugins pin --write --command LAUNCHER") {
			t.Errorf("exit %d, %q", code, errs)
		}
		if code, _, errs := pinCLI(t, "--write", b); code != 1 || !strings.Contains(errs, "name its launcher with --command") {
			t.Errorf("--write without --command: exit %d, %q", code, errs)
		}
	})
	var pin string
	t.Run("bundle --write", func(t *testing.T) {
		code, out, errs := pinCLI(t, "--write", "--command", "run.sh", b)
		pin = strings.TrimSpace(out)
		if code != 0 || pin != sumOf(t, manifest) {
			t.Fatalf("exit %d, stdout %q, stderr %q; want the manifest's sha256", code, out, errs)
		}
		if !strings.Contains(errs, "left out of the manifest (symlinks): node_modules/m/link") || !strings.Contains(errs, "3 files verified, command run.sh") {
			t.Errorf("stderr %q", errs)
		}
		// Refreshing unchanged files keeps the pin, and the command.
		if code, out, _ := pinCLI(t, "--write", b); code != 0 || strings.TrimSpace(out) != pin {
			t.Errorf("refresh: exit %d, %q, want the same pin %s", code, out, pin)
		}
		if code, out, _ := pinCLI(t, b); code != 0 || strings.TrimSpace(out) != pin {
			t.Errorf("verify: exit %d, %q", code, out)
		}
	})
	t.Run("bundle changed", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(b, "plugin.js"), []byte("2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(b, "new.js"), []byte("3\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errs := pinCLI(t, b)
		if code != 1 || out != "" || !strings.Contains(errs, "plugin.js has sha256 ") || !strings.Contains(errs, "run `poolhost plugins pin --write`") {
			t.Errorf("exit %d, stdout %q, stderr %q; want the changed file named and no pin", code, out, errs)
		}
		code, out, errs = pinCLI(t, "--write", b)
		if code != 0 || strings.TrimSpace(out) == pin || strings.TrimSpace(out) != sumOf(t, manifest) {
			t.Errorf("--write after a change: exit %d, %q %q; want a new pin", code, out, errs)
		}
		if err := os.WriteFile(filepath.Join(b, "later.js"), []byte("4\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errs = pinCLI(t, "--format", "json", b)
		var r pinReport
		if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil {
			t.Fatalf("json: exit %d, %v: %q %q", code, err, out, errs)
		}
		if r.Kind != "bundle" || r.SHA256 != sumOf(t, manifest) || r.Files != 4 || r.Command != "run.sh" ||
			strings.Join(r.Unlisted, ",") != "later.js,node_modules/m/link" {
			t.Errorf("json report %+v", r)
		}
	})
}

// TestPluginsCheckWarnsLauncherOnlyPin: a pin of a #! launcher script (a Node.js or
// Python plugin's) pins nothing of the code it loads; plugins check says so.
func TestPluginsCheckWarnsLauncherOnlyPin(t *testing.T) {
	dir := t.TempDir()
	launcher := filepath.Join(dir, "poolhost-provider-nodey")
	script := "#!/bin/sh\nexec node src/main.js\n"
	if err := os.WriteFile(launcher, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(script))
	cfgPath := filepath.Join(dir, "plugins.hcl")
	cfg := fmt.Sprintf("plugin_dir = %q\nprovider \"nodey\" {\n  sha256 = %q\n}\n", dir, hex.EncodeToString(sum[:]))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	runPluginsCheck(t.Context(), cfgPath, "text", &out, &errOut)
	if !strings.Contains(errOut.String(), `warning: provider "nodey" pins `+launcher+`, a #! launcher script: the pin covers the launcher only`) {
		t.Errorf("no launcher-only warning:\n%s", errOut.String())
	}
}
