package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/pluginmgr/bundle"
)

// listDir names everything under dir (hidden files too), for "nothing was left".
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func copyFileT(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

// TestSignedReleases is PLUGINS.md's release path through the built poolhost binary and
// a real plugin: keygen, sign, install into plugin_dir, and plugins check under
// require_signature. A release signed by an untrusted key, or changed after signing,
// is refused with the reason and leaves nothing in plugin_dir; an installed plugin
// whose signature is missing or untrusted does not launch, and plugins check says why.
func TestSignedReleases(t *testing.T) {
	if testing.Short() {
		t.Skip("builds poolhost and a plugin")
	}
	dir := t.TempDir()
	b := e2eBuild{dir: dir, poolhost: filepath.Join(dir, "poolhost"), pluginDir: filepath.Join(dir, "plugins")}
	if err := os.Mkdir(b.pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join(dir, "release") // what a provider team ships, outside plugin_dir
	goBuild(t, "-o", b.poolhost, "./host/cmd/poolhost")
	goBuild(t, "-o", filepath.Join(rel, "poolhost-provider-generic"), "./plugins/generic/cmd/poolhost-provider-generic")
	release := filepath.Join(rel, "poolhost-provider-generic")

	run := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		code, out, errs := runCLI(t, b, args...)
		if code != wantCode {
			t.Fatalf("poolhost %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, out, errs)
		}
		return out, errs
	}

	out, _ := run(0, "plugins", "keygen", filepath.Join(rel, "acme"))
	trusted := strings.TrimSpace(out)
	if _, err := bundle.ParsePublicKey(trusted); err != nil {
		t.Fatalf("keygen printed %q: %v", out, err)
	}
	if fi, err := os.Stat(filepath.Join(rel, "acme.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("acme.key: %v %v", fi, err)
	}
	if _, errs := run(1, "plugins", "keygen", filepath.Join(rel, "acme")); !strings.Contains(errs, "exists") {
		t.Errorf("keygen over an existing key: %s", errs)
	}
	run(0, "plugins", "keygen", filepath.Join(dir, "mallory"))

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	if err := os.WriteFile(filepath.Join(dir, "webhook.secret"), []byte("whsec_"+base64.StdEncoding.EncodeToString(secret)), 0o600); err != nil {
		t.Fatal(err)
	}
	writeConfig := func(name, block string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		text := fmt.Sprintf(`plugin_dir = %q
plugins {
  trusted_keys      = [%q]
  require_signature = true
}
provider "generic" {
  webhooks = true
  secrets  = { webhook_secret = file("webhook.secret") }
%s}
`, b.pluginDir, trusted, block)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := writeConfig("binary.hcl", "")
	installed := filepath.Join(b.pluginDir, config.BinaryPrefix+"generic")

	refused := func(t *testing.T, cfg string, want string, args ...string) {
		t.Helper()
		before := listDir(t, b.pluginDir)
		_, errs := run(1, append([]string{"plugins", "install", "--config", cfg}, args...)...)
		if !strings.Contains(errs, "poolhost plugins install: refused: ") || !strings.Contains(errs, want) {
			t.Errorf("install %v: stderr %q, want the reason %q", args, errs, want)
		}
		if after := listDir(t, b.pluginDir); !slices.Equal(before, after) {
			t.Errorf("a refused install changed plugin_dir: %v, was %v", after, before)
		}
	}

	t.Run("binary", func(t *testing.T) {
		pin, errs := run(0, "plugins", "sign", "--key", filepath.Join(dir, "mallory.key"), release)
		if strings.TrimSpace(pin) != fileSHA256(t, release) || !strings.Contains(errs, release+".sig") {
			t.Fatalf("sign printed %q %q, want the binary's sha256", pin, errs)
		}
		refused(t, cfg, "(untrusted_key): signed by ed25519:", release)

		run(0, "plugins", "sign", "--key", filepath.Join(rel, "acme.key"), release)
		tampered := filepath.Join(dir, "tampered", config.BinaryPrefix+"generic")
		copyFileT(t, release, tampered, 0o755)
		copyFileT(t, release+".sig", tampered+".sig", 0o644)
		f, err := os.OpenFile(tampered, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.Write([]byte{0})
		f.Close()
		refused(t, cfg, "(wrong_sha256): it signs sha256 ", tampered)
		refused(t, cfg, "sha256 mismatch: ", "--sha256", strings.Repeat("0", 64), release)
		if err := os.Remove(tampered + ".sig"); err != nil {
			t.Fatal(err)
		}
		refused(t, cfg, "unsigned: no signature file "+tampered+".sig", tampered)

		out, _ := run(0, "plugins", "install", "--config", cfg, release)
		if !strings.Contains(out, "installed "+installed+" (sha256 "+fileSHA256(t, release)+", signed by "+trusted+")") {
			t.Errorf("install said %q", out)
		}
		if got := listDir(t, b.pluginDir); !slices.Equal(got, []string{".", "poolhost-provider-generic", "poolhost-provider-generic.sig"}) {
			t.Errorf("plugin_dir after install: %v", got)
		}
		out, errs = run(0, "plugins", "check", "--config", cfg)
		if checkTable(t, out)["generic"] != "running" {
			t.Errorf("installed signed plugin not running:\n%s\n%s", out, errs)
		}

		// At launch: an untrusted signature, then none, and the plugin does not start.
		copyFileT(t, filepath.Join(rel, "poolhost-provider-generic.sig"), installed+".sig", 0o644)
		run(0, "plugins", "sign", "--key", filepath.Join(dir, "mallory.key"), installed)
		out, _ = run(1, "plugins", "check", "--config", cfg)
		if row := tableRow(out, "generic"); !strings.Contains(row, "failed") || !strings.Contains(row, "plugins.require_signature is set: signature "+installed+".sig refused (untrusted_key)") {
			t.Errorf("untrusted signature at launch: %q", row)
		}
		if err := os.Remove(installed + ".sig"); err != nil {
			t.Fatal(err)
		}
		out, _ = run(1, "plugins", "check", "--config", cfg)
		if row := tableRow(out, "generic"); !strings.Contains(row, "plugins.require_signature is set: unsigned: no signature file "+installed+".sig") {
			t.Errorf("unsigned at launch: %q", row)
		}
		for _, p := range []string{installed} {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("bundle", func(t *testing.T) {
		src := filepath.Join(rel, "generic-bundle")
		copyFileT(t, release, filepath.Join(src, "bin", "plugin"), 0o755)
		copyFileT(t, filepath.Join(rel, "acme.pub"), filepath.Join(src, "data", "notes.txt"), 0o644)
		pinOut, _ := run(0, "plugins", "pin", "--write", "--command", "bin/plugin", src)
		pin := strings.TrimSpace(pinOut)
		if signed, _ := run(0, "plugins", "sign", "--key", filepath.Join(rel, "acme.key"), src); strings.TrimSpace(signed) != pin {
			t.Fatalf("sign printed %q, pin is %s", signed, pin)
		}
		if again, _ := run(0, "plugins", "pin", src); strings.TrimSpace(again) != pin {
			t.Fatalf("signing changed the bundle's pin: %s, was %s", again, pin)
		}
		bcfg := writeConfig("bundle.hcl", fmt.Sprintf("  binary = \"generic-bundle\"\n  sha256 = %q\n", pin))
		target := filepath.Join(b.pluginDir, "generic-bundle")

		// A file changed after signing: the copy does not match the manifest.
		tampered := filepath.Join(dir, "tampered-bundle")
		if err := os.CopyFS(tampered, os.DirFS(src)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tampered, "data", "notes.txt"), []byte("changed\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		refused(t, bcfg, "does not match its poolhost-plugin.json: data/notes.txt has sha256 ", "--provider", "generic", tampered)

		// The same bundle signed by a key the host does not trust.
		untrusted := filepath.Join(dir, "untrusted-bundle")
		if err := os.CopyFS(untrusted, os.DirFS(src)); err != nil {
			t.Fatal(err)
		}
		run(0, "plugins", "sign", "--key", filepath.Join(dir, "mallory.key"), untrusted)
		refused(t, bcfg, "poolhost-plugin.sig refused (untrusted_key): signed by ed25519:", "--provider", "generic", untrusted)

		out, _ := run(0, "plugins", "install", "--config", bcfg, "--provider", "generic", src)
		if !strings.Contains(out, "installed "+target+" (sha256 "+pin+", signed by "+trusted+")") {
			t.Errorf("install said %q", out)
		}
		out, errs := run(0, "plugins", "check", "--config", bcfg)
		if row := tableRow(out, "generic"); !strings.Contains(row, pin) || checkTable(t, out)["generic"] != "running" {
			t.Errorf("installed bundle not running:\n%s\n%s", out, errs)
		}

		// A new signed release replaces the installed bundle whole; the config still pins
		// the old one, so its pin is given, and install says to update the block.
		if err := os.WriteFile(filepath.Join(src, "data", "notes.txt"), []byte("v2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		pinOut, _ = run(0, "plugins", "pin", "--write", src)
		pin2 := strings.TrimSpace(pinOut)
		run(0, "plugins", "sign", "--key", filepath.Join(rel, "acme.key"), src)
		refused(t, bcfg, "sha256 mismatch: "+src+" has sha256 "+pin2+", the expected pin is "+pin, "--provider", "generic", src)
		out, _ = run(0, "plugins", "install", "--config", bcfg, "--provider", "generic", "--sha256", pin2, src)
		if !strings.Contains(out, fmt.Sprintf("set provider \"generic\"'s sha256 = %q", pin2)) {
			t.Errorf("install over the old bundle said %q", out)
		}
		if got, _ := os.ReadFile(filepath.Join(target, "data", "notes.txt")); string(got) != "v2\n" {
			t.Errorf("installed bundle holds %q, want the new release", got)
		}
		if got := listDir(t, b.pluginDir); slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, ".poolhost-install") }) {
			t.Errorf("install left its staging behind: %v", got)
		}
	})
}

// TestPluginsInstallSameRelease: installing the release plugin_dir already holds (a
// deploy step run twice) says nothing changed and leaves the file alone; it said
// "reload the host to run it", though a reload restarts a plugin only for a new hash
// and the host ran that build already. The same build with a new signature is
// installed, and needs no reload either; a new build still asks for one, and one
// refused for its pin is told where that pin comes from.
func TestPluginsInstallSameRelease(t *testing.T) {
	dir := t.TempDir()
	rel, pluginDir := filepath.Join(dir, "release"), filepath.Join(dir, "plugins")
	for _, d := range []string{rel, pluginDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func(wantCode int, args ...string) string {
		t.Helper()
		code, out, errs := cli(t, args...)
		if code != wantCode {
			t.Fatalf("poolhost %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, out, errs)
		}
		return out
	}
	acme := strings.TrimSpace(run(0, "plugins", "keygen", filepath.Join(dir, "acme")))
	other := strings.TrimSpace(run(0, "plugins", "keygen", filepath.Join(dir, "other")))
	release := filepath.Join(rel, config.BinaryPrefix+"acme")
	build := func(content string) string {
		t.Helper()
		if err := os.WriteFile(release, []byte("#!/bin/sh\n# "+content+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(run(0, "plugins", "sign", "--key", filepath.Join(dir, "acme.key"), release))
	}
	pin := build("v1")
	cfg := filepath.Join(dir, "poolhost.hcl")
	writeTestFile(t, cfg, fmt.Sprintf(`plugin_dir = %q
plugins {
  trusted_keys = [%q, %q]
}
provider "acme" {
  sha256 = %q
}
`, pluginDir, acme, other, pin))
	installed := filepath.Join(pluginDir, config.BinaryPrefix+"acme")

	if out := run(0, "plugins", "install", "--config", cfg, release); out != "installed "+installed+" (sha256 "+pin+", signed by "+acme+")\nreload the host to run it (poolhost reload)\n" {
		t.Fatalf("first install said %q", out)
	}
	before, err := os.Stat(installed)
	if err != nil {
		t.Fatal(err)
	}
	if out := run(0, "plugins", "install", "--config", cfg, release); out != installed+" is this release already (sha256 "+pin+", signed by "+acme+"): nothing changed\nthe same build as before: no reload needed\n" {
		t.Errorf("installing the same release again said %q", out)
	}
	if after, err := os.Stat(installed); err != nil || !os.SameFile(before, after) {
		t.Errorf("installing the same release again replaced the file (%v)", err)
	}

	// The same build, signed by another trusted key: the new signature is put in place.
	run(0, "plugins", "sign", "--key", filepath.Join(dir, "other.key"), release)
	if out := run(0, "plugins", "install", "--config", cfg, release); out != "installed "+installed+" (sha256 "+pin+", signed by "+other+")\nthe same build as before: no reload needed\n" {
		t.Errorf("installing a new signature of the same build said %q", out)
	}
	if sig, err := bundle.ReadSignature(installed + ".sig"); err != nil || sig.Key != other {
		t.Errorf("installed signature after re-signing: %+v %v", sig, err)
	}

	// A new build, installed before its pin is in the block: refused, saying where the
	// pin it was checked against comes from (it said only "the expected pin is …", the
	// installed build's, which an operator took for the release's).
	pin2 := build("v2")
	if code, out, errs := cli(t, "plugins", "install", "--config", cfg, release); code != 1 || out != "" ||
		errs != "poolhost plugins install: refused: sha256 mismatch: "+release+" has sha256 "+pin2+", the expected pin is "+pin+
			", provider \"acme\"'s sha256 in "+cfg+": to install a new build, put its published pin there first (or pass it as --sha256)\n" {
		t.Errorf("installing a new build under the old pin = %d %q %q", code, out, errs)
	}
	if code, _, errs := cli(t, "plugins", "install", "--config", cfg, "--sha256", pin, release); code != 1 ||
		!strings.HasSuffix(errs, "the expected pin is "+pin+", the --sha256 given\n") {
		t.Errorf("installing a new build under a wrong --sha256 = %d %q", code, errs)
	}

	// Pinned: installed, and reload.
	if out := run(0, "plugins", "install", "--config", cfg, "--sha256", pin2, release); out != "installed "+installed+" (sha256 "+pin2+", signed by "+acme+")\nset provider \"acme\"'s sha256 = \""+pin2+"\", then reload the host (poolhost reload)\n" {
		t.Errorf("installing a new build said %q", out)
	}
}
