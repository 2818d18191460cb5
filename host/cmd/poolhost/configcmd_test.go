package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigValidate: a broken file is refused with its position; a well-formed file
// whose ondilo block names a settings key the plugin does not declare (the typo the
// repository's own good.hcl once carried) is refused naming the key, with the real
// ondilo binary consulted; --offline checks the file alone.
func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	pluginDir := filepath.Join(dir, "plugins")
	build := exec.Command("go", "build", "-o", filepath.Join(pluginDir, "poolhost-provider-ondilo"), "./plugins/ondilo/cmd/poolhost-provider-ondilo")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build ondilo: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(name, settings string) string {
		path := filepath.Join(dir, name)
		src := fmt.Sprintf(`
database_url    = "sqlite:%s/never-opened.db"
credentials_key = file("key")
plugin_dir      = %q
provider "ondilo" {
  poll     = true
  settings = { %s }
}
`, dir, pluginDir, settings)
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	broken := filepath.Join(dir, "broken.hcl")
	if err := os.WriteFile(broken, []byte("listen = \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := cli(t, "config", "validate", "--config", broken); code != 1 || !strings.Contains(stderr, "broken.hcl:1") {
		t.Errorf("broken file: exit %d, stderr %q; want 1 with file:line", code, stderr)
	}

	typo := write("typo.hcl", `api_base = "https://interop.ondilo.com"`)
	code, _, stderr := cli(t, "config", "validate", "--config", typo)
	if code != 1 || !strings.Contains(stderr, `provider "ondilo"`) || !strings.Contains(stderr, `settings key "api_base" is not one the plugin declares`) {
		t.Errorf("unknown settings key: exit %d, stderr %q; want 1 naming the key", code, stderr)
	}
	if code, stdout, stderr := cli(t, "config", "validate", "--offline", "--config", typo); code != 0 || !strings.Contains(stdout, "is valid") ||
		!strings.Contains(stdout, "checked the file alone (--offline: no plugin started, settings and secrets keys unchecked)") {
		t.Errorf("--offline: exit %d %q %q; want the file alone to pass", code, stdout, stderr)
	}
	mistyped := write("mistyped.hcl", `base_url = "interop.ondilo.com"`)
	if code, _, stderr := cli(t, "config", "validate", "--config", mistyped); code != 1 || !strings.Contains(stderr, `settings "base_url": "interop.ondilo.com" is not an absolute http or https URL`) {
		t.Errorf("mistyped value: exit %d, stderr %q", code, stderr)
	}
	// A poll lease that one poll (30 s by default) and its transaction can outlast lets
	// two replicas poll one account at once: refused, offline too.
	shortLease := filepath.Join(dir, "short-lease.hcl")
	if err := os.WriteFile(shortLease, []byte(fmt.Sprintf(`
database_url    = "sqlite:%s/never-opened.db"
credentials_key = file("key")
plugin_dir      = %q
poll_worker {
  lease = "50s"
}
provider "ondilo" {
  poll = true
}
`, dir, pluginDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := cli(t, "config", "validate", "--offline", "--config", shortLease); code != 1 ||
		!strings.Contains(stderr, "short-lease.hcl:6") || !strings.Contains(stderr, "poll_worker.lease (50s) must be at least 2 × provider \"ondilo\"'s timeouts.poll (30s)") {
		t.Errorf("short poll lease: exit %d, stderr %q; want 1 naming the lease", code, stderr)
	}
	good := write("good.hcl", `base_url = "https://interop.ondilo.com"`)
	if code, stdout, stderr := cli(t, "config", "validate", "--config", good); code != 0 || !strings.Contains(stdout, "is valid: 1 provider(s), 1 enabled; checked each enabled plugin started, configured and stopped") {
		t.Errorf("good file: exit %d %q %q", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "never-opened.db")); !os.IsNotExist(err) {
		t.Errorf("validate created the database (stat: %v)", err)
	}
}

// TestConfigValidateListsEveryMistake: a file with five mistakes at three levels (two
// unknown top-level attributes, an unknown block, a misspelt plugins setting, a
// misspelt provider flag) is refused listing all five, in file order — not one, then the
// next after each fix.
func TestConfigValidateListsEveryMistake(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "five.hcl")
	src := fmt.Sprintf(`
database_url    = "sqlite:%s/never-opened.db"
credentials_key = file("key")
listne          = "127.0.0.1:8080"
lgo_level       = "debug"

plugins {
  helth_interval = "2s"
}

retry_wokrer {
  interval = "5s"
}

provider "generic" {
  enabeld = true
}
`, dir)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := cli(t, "config", "validate", "--offline", "--config", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, stderr)
	}
	last := -1
	for _, want := range []string{`"listne"`, `"lgo_level"`, `"helth_interval"`, `"retry_wokrer"`, `"enabeld"`} {
		i := strings.Index(stderr, want)
		if i < 0 {
			t.Errorf("the mistake %s is not listed:\n%s", want, stderr)
			continue
		}
		if i < last {
			t.Errorf("%s is listed out of file order:\n%s", want, stderr)
		}
		last = i
	}
}
