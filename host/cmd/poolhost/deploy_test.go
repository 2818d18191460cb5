package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/config"
)

// TestVersion runs the built binary as an operator would: `poolhost version` and
// `poolhost --version` both exit 0 and print the same build description.
func TestVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "poolhost")
	goBuild(t, "-o", bin, "./host/cmd/poolhost")
	var first string
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin, arg).Output()
		if err != nil {
			t.Fatalf("poolhost %s: %v", arg, err)
		}
		for _, want := range []string{"poolhost ", "\ncommit: ", "\ndirty: ", "\ngo: go1.", "\nplugin protocols: 1\n"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("poolhost %s lacks %q:\n%s", arg, want, out)
			}
		}
		if first == "" {
			first = string(out)
		} else if string(out) != first {
			t.Errorf("version and --version differ:\n%s\n%s", first, out)
		}
	}
}

// unitFile is deploy/systemd/poolhost.service as key → values (a key may repeat).
func unitFile(t *testing.T) map[string][]string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "systemd", "poolhost.service"))
	if err != nil {
		t.Fatal(err)
	}
	u := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("unit line %q", line)
		}
		u[k] = append(u[k], v)
	}
	return u
}

// TestSystemdUnit checks the unit file against the CLI and examples/production.hcl: the
// commands it runs exist and take --config, the config it names is in its configuration
// directory, its reload is SIGHUP, and the plugin directory it leaves readable is the one
// the production config uses. Where systemd-analyze exists, `systemd-analyze verify`
// must pass on it too (with the binary path pointed at a real build).
func TestSystemdUnit(t *testing.T) {
	u := unitFile(t)
	one := func(k string) string {
		t.Helper()
		if len(u[k]) != 1 {
			t.Fatalf("unit has %d %s lines, want 1", len(u[k]), k)
		}
		return u[k][0]
	}
	const bin, cfgPath = "/usr/local/bin/poolhost", "/etc/poolhost/poolhost.hcl"
	if got := one("ExecStart"); got != bin+" serve --config "+cfgPath {
		t.Errorf("ExecStart = %q", got)
	}
	// Nothing may stop the start for one provider's sake: serve runs the other plugins
	// when one fails to start (serve.go), which a failing ExecStartPre would undo.
	for _, pre := range u["ExecStartPre"] {
		if !strings.HasPrefix(pre, "-") {
			t.Errorf("ExecStartPre=%s: its failure would stop the host, and every provider with it", pre)
		}
	}
	if got := one("ExecReload"); got != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload = %q: serve reloads on SIGHUP", got)
	}
	if got := one("ConfigurationDirectory"); "/etc/"+got+"/poolhost.hcl" != cfgPath {
		t.Errorf("ConfigurationDirectory %q does not hold %s", got, cfgPath)
	}
	if got, wd := one("StateDirectory"), one("WorkingDirectory"); "/var/lib/"+got != wd {
		t.Errorf("WorkingDirectory %q is not the StateDirectory %q", wd, got)
	}
	for k, want := range map[string]string{"ProtectSystem": "strict", "NoNewPrivileges": "yes", "PrivateTmp": "yes", "User": "poolhost"} {
		if got := one(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}

	// The page Documentation= names is one the README's install steps put there.
	if doc := one("Documentation"); !strings.HasPrefix(doc, "file://") {
		t.Errorf("Documentation=%s: want the installed README", doc)
	} else if readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md")); err != nil {
		t.Fatal(err)
	} else if !strings.Contains(string(readme), "install -D -m 0644 README.md "+strings.TrimPrefix(doc, "file://")) {
		t.Errorf("the README's install steps never install %s, the unit's Documentation=", doc)
	}
	if !slices.Contains(u["SystemCallFilter"], "~@resources") {
		t.Errorf("SystemCallFilter %q lacks ~@resources", u["SystemCallFilter"])
	}

	// The subcommands exist and accept --config: with a missing file they fail on
	// loading it (1), not on usage (2).
	missing := filepath.Join(t.TempDir(), "poolhost.hcl")
	for _, args := range [][]string{{"serve", "--config", missing}, {"plugins", "check", "--config", missing}} {
		var out, errb bytes.Buffer
		if code := dispatch(context.Background(), args, &out, &errb); code != 1 || !strings.Contains(errb.String(), "poolhost.hcl") {
			t.Errorf("poolhost %v: exit %d, %s", args, code, errb.String())
		}
	}

	// examples/production.hcl parses with its secrets in place, and its plugin_dir is
	// the directory the unit leaves readable.
	cfg := loadProductionExample(t)
	if got := one("ReadOnlyPaths"); got != cfg.PluginDir {
		t.Errorf("unit ReadOnlyPaths %q, production.hcl plugin_dir %q", got, cfg.PluginDir)
	}
	if !strings.HasPrefix(cfg.PublicURL, "https://") || cfg.AutoMigrate || !strings.HasPrefix(cfg.DatabaseURL, "postgres") {
		t.Errorf("production.hcl: public_url %q, auto_migrate %v, database %q", cfg.PublicURL, cfg.AutoMigrate, cfg.DatabaseURL)
	}
	for _, p := range cfg.Providers {
		if len(p.SHA256) != 64 {
			t.Errorf("production.hcl provider %s is not pinned", p.ID)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Logf("systemd-analyze not installed: checked the unit by hand only")
		return
	}
	dir := t.TempDir()
	built := filepath.Join(dir, "poolhost")
	goBuild(t, "-o", built, "./host/cmd/poolhost")
	src, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "systemd", "poolhost.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, "poolhost.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(src, []byte(bin), []byte(built)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// loadProductionExample parses examples/production.hcl with stand-ins for the secret
// files and environment variables it reads.
func loadProductionExample(t *testing.T) *config.Config {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot, "examples", "production.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	for name, content := range map[string]string{
		"credentials.key":        base64.StdEncoding.EncodeToString(key),
		"generic-webhook.secret": "whsec_" + base64.StdEncoding.EncodeToString(key),
	} {
		if err := os.WriteFile(filepath.Join(dir, "secrets", name), []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("POOLHOST_DATABASE_URL", "postgres://poolhost@db.internal:5432/poolhost?sslmode=verify-full")
	t.Setenv("POOLHOST_TTN_WEBHOOK_SECRET", "ttn-secret")
	cfg, err := config.Parse(filepath.Join(dir, "poolhost.hcl"), src)
	if err != nil {
		t.Fatalf("examples/production.hcl: %v", err)
	}
	return cfg
}

// TestPluginsHelp: `poolhost plugins --help` is help (exit 0, on stdout) naming check;
// `poolhost plugins` alone is a usage mistake (exit 2, on stderr).
func TestPluginsHelp(t *testing.T) {
	for _, args := range [][]string{{"plugins", "--help"}, {"plugins", "-h"}, {"plugins"}} {
		var out, errb bytes.Buffer
		code := dispatch(context.Background(), args, &out, &errb)
		text, wantCode := out.String(), 0
		if len(args) == 1 {
			text, wantCode = errb.String(), 2
		}
		if code != wantCode || !strings.Contains(text, "check") || !strings.Contains(strings.ToLower(text), "usage:") || !strings.HasSuffix(text, "\n") {
			t.Errorf("poolhost %v: exit %d, %q", args, code, text)
		}
	}
}

// TestServeStartsWithoutABrokenPlugin is why the systemd unit runs no `plugins check`
// before the start (TestSystemdUnit): with one provider's binary gone, serve still
// starts, serves the other providers, says in its log which one did not start and why,
// and /readyz answers 200 "degraded" naming it — where the check exits 1 and, run as
// ExecStartPre, kept the host and every provider down.
func TestServeStartsWithoutABrokenPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every plugin and serves")
	}
	b := buildE2E(t)
	gone := filepath.Join(b.pluginDir, config.BinaryPrefix+"iopool")
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	c := writeE2EConfig(t, b, nil)

	out, err := exec.Command(b.poolhost, "plugins", "check", "--config", c.path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "iopool") {
		t.Fatalf("plugins check with iopool's binary gone: %v\n%s", err, out)
	}

	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	_, body := get(t, c.baseURL+"/readyz", "")
	var ready struct {
		Status    string            `json:"status"`
		Providers map[string]string `json:"providers"`
	}
	if err := json.Unmarshal(body, &ready); err != nil {
		t.Fatalf("/readyz: %v: %s", err, body)
	}
	if ready.Status != "degraded" || ready.Providers["iopool"] == "running" || ready.Providers["generic"] != "running" {
		t.Errorf("/readyz = %s, want degraded with iopool not running and generic running", body)
	}
	log := srv.out.String()
	if !strings.Contains(log, "some plugins are not running") || !strings.Contains(log, gone) {
		t.Errorf("serve's log does not say iopool did not start, nor why (%s):\n%s", gone, log)
	}
}
