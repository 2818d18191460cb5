package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/store"
)

// The end-to-end tests run the real poolhost binary and the real plugin binaries, as an
// operator would: built with `go build` into a temp dir, a copy of examples/dev.hcl
// pointing at a temp SQLite file, real HTTP on a free port, real signals.

// repoRoot is the module root, relative to this package's directory (where go test runs).
const repoRoot = "../../.."

// e2eProviders are the providers examples/dev.hcl enables.
var e2eProviders = []string{"template", "generic", "ttn", "ondilo", "iopool"}

// e2eWait bounds every "wait until" in these tests. Generous: CI is a loaded 2-core box,
// and each poll returns as soon as the condition holds.
const e2eWait = 3 * time.Minute

type e2eBuild struct {
	dir       string // poolhost and every poolhost-provider-<id>
	poolhost  string
	pluginDir string
}

// buildE2E builds poolhost and every plugin under plugins/*/cmd and examples/*/cmd, the
// same set `make build` builds, into a temp dir.
func buildE2E(t *testing.T) e2eBuild {
	t.Helper()
	dir := t.TempDir()
	b := e2eBuild{dir: dir, poolhost: filepath.Join(dir, "poolhost"), pluginDir: filepath.Join(dir, "plugins")}
	if err := os.MkdirAll(b.pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var pkgs []string
	for _, pattern := range []string{"plugins/*/cmd/poolhost-provider-*", "examples/*/cmd/poolhost-provider-*"} {
		m, err := filepath.Glob(filepath.Join(repoRoot, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			rel, err := filepath.Rel(repoRoot, p)
			if err != nil {
				t.Fatal(err)
			}
			pkgs = append(pkgs, "./"+filepath.ToSlash(rel))
		}
	}
	if len(pkgs) < len(e2eProviders) {
		t.Fatalf("found plugin packages %v, want at least %d", pkgs, len(e2eProviders))
	}
	goBuild(t, append([]string{"-o", b.pluginDir + string(filepath.Separator)}, pkgs...)...)
	goBuild(t, "-o", b.poolhost, "./host/cmd/poolhost")
	for _, id := range e2eProviders {
		if _, err := os.Stat(filepath.Join(b.pluginDir, config.BinaryPrefix+id)); err != nil {
			t.Fatalf("plugin binary for %s: %v", id, err)
		}
	}
	return b
}

func goBuild(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", args, err, out)
	}
}

// e2eConfig is a config file made from examples/dev.hcl with its paths redirected into
// a temp dir.
type e2eConfig struct {
	path    string
	dbURL   string
	baseURL string // http://127.0.0.1:port
}

// writeE2EConfig copies examples/dev.hcl with database_url at a temp SQLite file,
// plugin_dir at the built plugins, listen/public_url at a free port and the secret files
// generated beside it in the shapes `make dev-secrets` makes. edit, when set, changes
// the config text further.
func writeE2EConfig(t *testing.T, b e2eBuild, edit func(string) string) e2eConfig {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot, "examples", "dev.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeSecrets(t, filepath.Join(dir, "data"))
	addr := freeAddr(t)
	c := e2eConfig{
		path:    filepath.Join(dir, "poolhost.hcl"),
		dbURL:   "sqlite:" + filepath.Join(dir, "data", "poolhost.db"),
		baseURL: "http://" + addr,
	}
	text := string(src)
	for _, r := range []struct{ attr, value string }{
		{"listen", addr},
		{"database_url", c.dbURL},
		{"plugin_dir", b.pluginDir},
		{"public_url", c.baseURL},
	} {
		re := regexp.MustCompile(`(?m)^` + r.attr + `\s*=\s*".*"$`)
		if !re.MatchString(text) {
			t.Fatalf("examples/dev.hcl has no top-level %s attribute", r.attr)
		}
		text = re.ReplaceAllLiteralString(text, fmt.Sprintf("%s = %q", r.attr, r.value))
	}
	// The config sits one level above data/ here, not in examples/.
	if !strings.Contains(text, `file("../data/`) {
		t.Fatal(`examples/dev.hcl no longer reads its secrets with file("../data/...")`)
	}
	text = strings.ReplaceAll(text, `file("../data/`, `file("data/`)
	if edit != nil {
		text = edit(text)
	}
	if err := os.WriteFile(c.path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// writeSecrets makes the files the Makefile's dev-secrets target makes, same shapes.
func writeSecrets(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return b
	}
	alnum := strings.NewReplacer("/", "", "+", "", "=", "")
	for name, content := range map[string]string{
		"dev-credentials.key":        base64.StdEncoding.EncodeToString(random(32)),
		"dev-webhook.secret":         "whsec_" + base64.StdEncoding.EncodeToString(random(32)),
		"dev-ttn.secret":             alnum.Replace(base64.StdEncoding.EncodeToString(random(24))),
		"dev-template-client.secret": alnum.Replace(base64.StdEncoding.EncodeToString(random(24))),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// freeAddr returns a 127.0.0.1 address with a port nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runCLI runs a poolhost command to completion and returns its exit code and output.
func runCLI(t *testing.T, b e2eBuild, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.poolhost, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("poolhost %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// checkTable parses `plugins check` output into provider → STATE. The table is
// tabwriter-aligned, so a row's STATE starts under the header's.
func checkTable(t *testing.T, out string) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "PROVIDER") {
		t.Fatalf("plugins check printed no table:\n%s", out)
	}
	col := strings.Index(lines[0], "STATE")
	if col < 0 {
		t.Fatalf("no STATE column in:\n%s", out)
	}
	states := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) == 0 || len(l) <= col {
			t.Fatalf("short row %q in:\n%s", l, out)
		}
		state, _, _ := strings.Cut(l[col:], " ")
		states[f[0]] = state
	}
	return states
}

// TestEndToEnd drives the built binaries. The binaries are built once for all subtests.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every binary; skipped in -short mode")
	}
	b := buildE2E(t)

	t.Run("plugins check", func(t *testing.T) {
		c := writeE2EConfig(t, b, nil)
		code, out, stderr := runCLI(t, b, "plugins", "check", "--config", c.path)
		if code != 0 {
			t.Fatalf("plugins check exited %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
		}
		states := checkTable(t, out)
		for _, id := range e2eProviders {
			if states[id] != "running" {
				t.Errorf("provider %s: state %q, want running\n%s", id, states[id], out)
			}
		}
	})

	t.Run("plugins check with a wrong sha256 pin", func(t *testing.T) {
		good := fileSHA256(t, filepath.Join(b.pluginDir, config.BinaryPrefix+"generic"))
		c := writeE2EConfig(t, b, func(s string) string {
			s = pinProvider(t, s, "iopool", strings.Repeat("0", 64))
			return pinProvider(t, s, "generic", good)
		})
		code, out, stderr := runCLI(t, b, "plugins", "check", "--config", c.path)
		if code == 0 {
			t.Fatalf("plugins check exited 0 with a wrong pin\nstdout:\n%s", out)
		}
		states := checkTable(t, out)
		if states["iopool"] == "running" {
			t.Errorf("iopool runs despite a wrong pin:\n%s", out)
		}
		if row := tableRow(out, "iopool"); !strings.Contains(row, "sha256 mismatch") {
			t.Errorf("iopool's row does not say why: %q", row)
		}
		if row := tableRow(out, "generic"); !strings.Contains(row, good) {
			t.Errorf("generic's row does not show its pinned hash %s: %q", good, row)
		}
		// The correctly pinned and the unpinned providers are unaffected.
		for _, id := range []string{"generic", "template", "ttn", "ondilo"} {
			if states[id] != "running" {
				t.Errorf("provider %s: state %q, want running\n%s\n%s", id, states[id], out, stderr)
			}
		}
	})

	t.Run("rebuild loop: admin version and sha256, stale pin, reload", func(t *testing.T) { testRebuildLoop(t, b) })
	t.Run("refused pin stays visible across a plugin restart", func(t *testing.T) { testRefusedPinStaysVisible(t, b) })

	t.Run("serve, CLI users and tokens, SIGTERM, migrate verify", func(t *testing.T) {
		c := writeE2EConfig(t, b, nil)
		srv := startServe(t, b, c)

		waitHTTP(t, srv, c.baseURL+"/healthz", "")
		waitHTTP(t, srv, c.baseURL+"/readyz", "")
		checkServeGODEBUG(t, srv)

		// Users and tokens made by the CLI against the same database, while serve runs.
		if code, out, stderr := runCLI(t, b, "users", "create", "--email", "admin@example.com", "--admin", "--config", c.path); code != 0 {
			t.Fatalf("users create exited %d: %s %s", code, out, stderr)
		}
		code, out, stderr := runCLI(t, b, "tokens", "create", "--email", "admin@example.com", "--config", c.path)
		token := strings.TrimSpace(out)
		if code != 0 || !strings.HasPrefix(token, store.TokenPrefix) {
			t.Fatalf("tokens create exited %d: %q %s", code, out, stderr)
		}

		if status, body := get(t, c.baseURL+"/v1/pools", ""); status != http.StatusUnauthorized {
			t.Errorf("GET /v1/pools without a token: %d %s", status, body)
		}
		if status, body := get(t, c.baseURL+"/v1/pools", token); status != http.StatusOK {
			t.Fatalf("GET /v1/pools with the CLI token: %d %s", status, body)
		}
		// A header over the limit is refused before any handler, by net/http: still a
		// problem (serve's listener is httpapi.ProblemListener).
		if resp, body := rawExchange(t, strings.TrimPrefix(c.baseURL, "http://"), "GET /v1/pools HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 80<<10)+"\r\n\r\n"); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("an 80 KiB header: %d %q %s, want a 431 problem", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}

		// Every provider runs, as the admin API reports it and as the process table shows.
		status, body := get(t, c.baseURL+"/v1/admin/providers", token)
		if status != http.StatusOK {
			t.Fatalf("GET /v1/admin/providers: %d %s", status, body)
		}
		var provs struct {
			Providers []struct {
				ID    string `json:"id"`
				State string `json:"state"`
			} `json:"providers"`
		}
		if err := json.Unmarshal(body, &provs); err != nil {
			t.Fatalf("decode providers: %v: %s", err, body)
		}
		running := map[string]bool{}
		for _, p := range provs.Providers {
			running[p.ID] = p.State == "running"
		}
		for _, id := range e2eProviders {
			if !running[id] {
				t.Errorf("admin API: provider %s not running: %s", id, body)
			}
		}
		if procs := pluginProcesses(t, b.pluginDir); len(procs) != len(e2eProviders) {
			t.Errorf("plugin processes while serving: %v, want one per provider (%d)", procs, len(e2eProviders))
		}

		// SIGTERM: a clean exit, and no plugin outlives the host.
		if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := srv.wait(t); code != 0 {
			t.Fatalf("serve exited %d after SIGTERM\n%s", code, srv.out.String())
		}
		if !strings.Contains(srv.out.String(), "shutting down") {
			t.Errorf("serve did not log its shutdown:\n%s", srv.out.String())
		}
		if procs := pluginProcesses(t, b.pluginDir); len(procs) != 0 {
			t.Errorf("plugin processes left after serve exited: %v", procs)
		}

		// The database serve migrated verifies; an empty one does not.
		if code, out, stderr := runCLI(t, b, "migrate", "verify", "--config", c.path); code != 0 {
			t.Errorf("migrate verify on the served database exited %d: %s %s", code, out, stderr)
		}
		empty := "sqlite:" + filepath.Join(t.TempDir(), "empty.db")
		if code, out, _ := runCLI(t, b, "migrate", "verify", "--database-url", empty); code == 0 {
			t.Errorf("migrate verify on an empty database exited 0: %s", out)
		}
	})
}

// tableRow returns the `plugins check` row of a provider.
func tableRow(out, id string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == id {
			return l
		}
	}
	return ""
}

// pinProvider adds sha256 = pin to a provider block of the config text.
func pinProvider(t *testing.T, text, id, pin string) string {
	t.Helper()
	open := fmt.Sprintf("provider %q {\n", id)
	if !strings.Contains(text, open) {
		t.Fatalf("config has no provider %q block", id)
	}
	return strings.Replace(text, open, open+fmt.Sprintf("  sha256 = %q\n", pin), 1)
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// served is a running `poolhost serve`.
type served struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // Wait's result, once done is closed
}

func startServe(t *testing.T, b e2eBuild, c e2eConfig) *served {
	t.Helper()
	s := &served{cmd: exec.Command(b.poolhost, "serve", "--config", c.path), out: &syncBuffer{}, done: make(chan struct{})}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("serve output:\n%s", s.out.String())
		}
	})
	return s
}

// checkServeGODEBUG: serve re-executed itself, in the same process, with the host's
// runtime settings (host.TuneSysmon), or kept the GODEBUG this test was given.
func checkServeGODEBUG(t *testing.T, s *served) {
	t.Helper()
	if runtime.GOOS != "linux" {
		return // read from /proc
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	want := "GODEBUG=" + host.GODEBUG
	if v, ok := os.LookupEnv("GODEBUG"); ok {
		want = "GODEBUG=" + v
	}
	var got []string
	for _, kv := range strings.Split(string(b), "\x00") {
		if strings.HasPrefix(kv, "GODEBUG=") {
			got = append(got, kv)
		}
	}
	if len(got) != 1 || got[0] != want {
		t.Errorf("serve's GODEBUG %q, want [%s]", got, want)
	}
}

// wait waits for serve to exit and returns its exit code.
func (s *served) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(e2eWait):
		t.Fatalf("serve did not exit within %v\n%s", e2eWait, s.out.String())
	}
	var exit *exec.ExitError
	switch {
	case s.err == nil:
		return 0
	case errors.As(s.err, &exit):
		return exit.ExitCode()
	}
	t.Fatalf("wait for serve: %v", s.err)
	return -1
}

// waitHTTP polls url until it answers 200, failing early if serve exits.
// rawExchange writes req as it is on a new connection to addr and reads one answer: for
// requests net/http's client would not send.
func rawExchange(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(e2eWait)); err != nil {
		t.Fatal(err)
	}
	go io.WriteString(c, req) // a request refused early may not be read to its end
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to %.40q: %v", req, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func waitHTTP(t *testing.T, s *served, url, token string) {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			t.Fatalf("serve exited while waiting for %s: %v\n%s", url, s.err, s.out.String())
		default:
		}
		status, body, err := tryGet(url, token)
		if err == nil && status == http.StatusOK {
			return
		}
		last = fmt.Sprintf("status %d %s (err %v)", status, body, err)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 within %v; last: %s", url, e2eWait, last)
}

func get(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	status, body, err := tryGet(url, token)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return status, body
}

func tryGet(url, token string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// pluginProcesses lists live processes running a binary from dir (by /proc/PID/exe).
// Zombies have no exe link and are not counted: they are dead.
func pluginProcesses(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc to scan for plugin processes: %v", err)
	}
	var out []string
	for _, e := range entries {
		if strings.Trim(e.Name(), "0123456789") != "" {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		if strings.HasPrefix(exe, dir+string(filepath.Separator)) {
			out = append(out, e.Name()+" "+filepath.Base(exe))
		}
	}
	slices.Sort(out)
	return out
}

// syncBuffer is a bytes.Buffer safe for the child's writers and the test's readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
