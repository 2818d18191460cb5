package pluginmgr_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/pluginmgr"
)

// Built once per test binary by TestMain.
var (
	testPluginBin string
	testHostBin   string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pluginmgr-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testPluginBin = filepath.Join(dir, "testplugin")
	testHostBin = filepath.Join(dir, "testhost")
	for bin, pkg := range map[string]string{testPluginBin: "./testdata/testplugin", testHostBin: "./testdata/testhost"} {
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", pkg, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// waitTimeout bounds every wait: generous, because CI is a loaded 2-core box.
const waitTimeout = 20 * time.Second

// env is a scratch directory holding a config, a credentials key and plugin binaries.
type env struct {
	t         *testing.T
	dir       string
	pluginDir string
	// plugins is the body of the plugins {} block.
	plugins string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, pluginDir: filepath.Join(dir, "plugins")}
	e.plugins = `
  start_timeout   = "30s"
  health_interval = "500ms"
  health_timeout  = "5s"
  health_failures = 3
  max_restarts    = 5
  restart_window  = "1m"
  backoff_base    = "50ms"
  backoff_cap     = "500ms"
`
	return e
}

// install puts a copy of the test plugin at plugin_dir/<rel> (default name
// poolhost-provider-<id>), with an optional Describe override.
func (e *env) install(rel string, describe string) string {
	e.t.Helper()
	path := filepath.Join(e.pluginDir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := copyFile(testPluginBin, path); err != nil {
		e.t.Fatal(err)
	}
	if describe != "" {
		if err := os.WriteFile(path+".describe.json", []byte(describe), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	return path
}

func (e *env) installID(id string) string {
	return e.install(config.BinaryPrefix+id, "")
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// config writes a config file with the given provider blocks and loads it.
func (e *env) config(providers string) *config.Config {
	e.t.Helper()
	src := fmt.Sprintf(`
database_url    = "sqlite:%s/db"
credentials_key = file("key")
plugin_dir      = %q
log_level       = "debug"

plugins {%s}

%s
`, e.dir, e.pluginDir, e.plugins, providers)
	path := filepath.Join(e.dir, "poolhost.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		e.t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		e.t.Fatalf("config: %v", err)
	}
	return cfg
}

// manager starts a manager on cfg; Start's error is returned, not fatal, since some
// tests expect a provider to fail.
func (e *env) manager(cfg *config.Config) (*pluginmgr.Manager, *prometheus.Registry, error) {
	e.t.Helper()
	reg := prometheus.NewRegistry()
	logger := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Debug, Output: testWriter{e.t}})
	m := pluginmgr.New(logger, reg, cfg)
	e.t.Cleanup(func() { m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	return m, reg, m.Start(ctx)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func status(t *testing.T, m *pluginmgr.Manager, id string) pluginmgr.Status {
	t.Helper()
	for _, s := range m.Statuses() {
		if s.Provider == id {
			return s
		}
	}
	t.Fatalf("no status for %q", id)
	return pluginmgr.Status{}
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid is a live process (a zombie is dead: it runs nothing).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}
