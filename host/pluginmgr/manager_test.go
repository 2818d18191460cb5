package pluginmgr_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
)

func TestLaunchDescribeConfigureCall(t *testing.T) {
	e := newEnv(t)
	bin := e.installID("alpha")
	t.Setenv("POOLHOST_TEST_WEBHOOK_SECRET", "whsec-test")
	cfg := e.config(`
provider "alpha" {
  webhooks = true
  poll     = true
  settings = { region = "eu" }
  secrets  = { webhook_secret = env("POOLHOST_TEST_WEBHOOK_SECRET") }
}`)
	m, reg, err := e.manager(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}

	st := status(t, m, "alpha")
	if st.State != pluginmgr.StateRunning || st.PID == 0 || st.Version != "0.0.1-test" ||
		st.ProtocolVersion != sdk.ProtocolVersion || !st.Capabilities.Webhook || st.Binary != bin || len(st.SHA256) != 64 {
		t.Fatalf("status = %+v", st)
	}

	p, err := m.Get("alpha")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if d, err := p.Describe(ctx); err != nil || d.ID != "alpha" {
		t.Errorf("Describe = %+v, %v", d, err)
	}

	res, err := p.Connect(ctx, sdk.ConnectRequest{Input: map[string]string{"api_key": "k1"}})
	if err != nil || res.Linkage == nil || res.Linkage.ExternalAccountID != "acct-k1" || res.Linkage.Credentials["api_key"] != "k1" {
		t.Errorf("Connect = %+v, %v", res, err)
	}
	_, err = p.Connect(ctx, sdk.ConnectRequest{})
	if !sdk.IsKind(err, sdk.KindInvalidInput) {
		t.Errorf("Connect without key: err = %v, want kind invalid_input", err)
	}
	dr, err := p.DiscoverDevices(ctx, sdk.DiscoverRequest{Account: sdk.Account{Credentials: sdk.Credentials{"api_key": "k1"}}})
	if err != nil || len(dr.Devices) != 1 {
		t.Errorf("DiscoverDevices = %+v, %v", dr, err)
	}
	if _, err := p.DiscoverDevices(ctx, sdk.DiscoverRequest{}); !sdk.IsKind(err, sdk.KindReauth) {
		t.Errorf("DiscoverDevices without credentials: %v, want reauth", err)
	}

	hook := sdk.WebhookRequest{Headers: http.Header{"X-Secret": {"whsec-test"}}, Body: []byte(`{"device":"dev-1","ph":7.2}`), ReceivedAt: time.Now()}
	if err := p.VerifyWebhook(ctx, hook); err != nil {
		t.Errorf("VerifyWebhook with the configured secret: %v", err)
	}
	bad := hook
	bad.Headers = http.Header{"X-Secret": {"nope"}}
	if err := p.VerifyWebhook(ctx, bad); !sdk.IsKind(err, sdk.KindRejected) {
		t.Errorf("VerifyWebhook with a wrong secret: %v, want rejected", err)
	}
	if wr, err := p.Webhook(ctx, hook); err != nil || len(wr.Readings) != 1 || wr.Readings[0].Value != 7.2 {
		t.Errorf("Webhook = %+v, %v", wr, err)
	}
	if wr, err := p.IngestWebhook(ctx, hook); err != nil || len(wr.Readings) != 1 {
		t.Errorf("IngestWebhook = %+v, %v", wr, err)
	}
	if _, err := p.IngestWebhook(ctx, bad); !sdk.IsKind(err, sdk.KindRejected) {
		t.Errorf("IngestWebhook with a wrong secret: %v, want rejected", err)
	}
	malformed := hook
	malformed.Body = []byte("{")
	var pe *grpcplugin.ParseError
	if _, err := p.IngestWebhook(ctx, malformed); !errors.As(err, &pe) || !sdk.IsKind(err, sdk.KindPermanent) {
		t.Errorf("IngestWebhook malformed: %v, want a permanent ParseError", err)
	}
	if pr, err := p.PollReadings(ctx, sdk.PollRequest{Cursor: "c"}); err != nil || pr.NextCursor != "c+" {
		t.Errorf("PollReadings = %+v, %v", pr, err)
	}
	if err := p.Health(ctx); err != nil {
		t.Errorf("Health: %v", err)
	}

	if _, err := m.Get("nope"); !errors.Is(err, pluginmgr.ErrNotFound) || host.ErrorCode(err) != host.ENOTFOUND {
		t.Errorf("Get(nope) = %v, want ErrNotFound", err)
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"poolhost_plugin_state", "poolhost_plugin_call_duration_seconds"} {
		if !names[n] {
			t.Errorf("metric %s not registered (have %v)", n, names)
		}
	}
}

func TestKill9RestartsWithinBackoff(t *testing.T) {
	e := newEnv(t)
	e.installID("alpha")
	m, _, err := e.manager(e.config(`provider "alpha" {}`))
	if err != nil {
		t.Fatal(err)
	}
	before := status(t, m, "alpha")
	if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var after pluginmgr.Status
	waitFor(t, "a restarted plugin", func() bool {
		after = status(t, m, "alpha")
		return after.State == pluginmgr.StateRunning && after.PID != before.PID && after.PID != 0
	})
	// How it ended is part of the reason: a panic (exit status 2), the OOM killer's
	// SIGKILL, or an operator's.
	if after.Restarts != 1 || !strings.Contains(after.LastError, "plugin process exited (signal: killed)") {
		t.Errorf("after restart: restarts=%d last_error=%q", after.Restarts, after.LastError)
	}
	p, _ := m.Get("alpha")
	if err := p.Health(context.Background()); err != nil {
		t.Errorf("Health after restart: %v", err)
	}
}

func TestHungPluginIsRestarted(t *testing.T) {
	e := newEnv(t)
	e.plugins = `
  start_timeout   = "30s"
  health_interval = "200ms"
  health_timeout  = "500ms"
  health_failures = 2
  max_restarts    = 50
  backoff_base    = "50ms"
  backoff_cap     = "200ms"
`
	e.installID("alpha")
	hang := filepath.Join(e.dir, "hang")
	m, _, err := e.manager(e.config(fmt.Sprintf(`provider "alpha" { settings = { hang_file = %q } }`, hang)))
	if err != nil {
		t.Fatal(err)
	}
	first := status(t, m, "alpha")
	if err := os.WriteFile(hang, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the hung plugin to be restarted", func() bool {
		s := status(t, m, "alpha")
		return s.Restarts >= 1
	})
	if alive(first.PID) {
		// Its replacement has started, so the hung one must be gone (or about to be reaped).
		waitFor(t, "the hung process to die", func() bool { return !alive(first.PID) })
	}
	if s := status(t, m, "alpha"); !strings.Contains(s.LastError, "health") {
		t.Errorf("last error = %q, want a health failure", s.LastError)
	}
	os.Remove(hang)
	waitFor(t, "the plugin to run again", func() bool {
		s := status(t, m, "alpha")
		return s.State == pluginmgr.StateRunning && s.PID != first.PID
	})
}

func TestWrongSHA256FailsOnlyThatProvider(t *testing.T) {
	e := newEnv(t)
	e.installID("good")
	e.installID("pinned")
	e.installID("rightpin")
	sum := sha256File(t, testPluginBin)
	m, _, err := e.manager(e.config(fmt.Sprintf(`
provider "good" {}
provider "pinned" { sha256 = "%s" }
provider "rightpin" { sha256 = "%s" }
`, strings.Repeat("ab", 32), sum)))
	if err == nil || !strings.Contains(err.Error(), "pinned") {
		t.Errorf("Start error = %v, want one naming the pinned provider", err)
	}
	st := status(t, m, "pinned")
	if st.State != pluginmgr.StateFailed || !strings.Contains(st.LastError, "sha256 mismatch") || st.PID != 0 {
		t.Errorf("pinned status = %+v", st)
	}
	if _, err := mustGet(t, m, "pinned").Connect(context.Background(), sdk.ConnectRequest{}); !errors.Is(err, pluginmgr.ErrUnavailable) {
		t.Errorf("call to failed provider = %v, want ErrUnavailable", err)
	}
	for _, id := range []string{"good", "rightpin"} {
		if s := status(t, m, id); s.State != pluginmgr.StateRunning {
			t.Errorf("%s state = %s (%s), want running", id, s.State, s.LastError)
		}
		if err := mustGet(t, m, id).Health(context.Background()); err != nil {
			t.Errorf("%s Health: %v", id, err)
		}
	}
	if s := status(t, m, "rightpin"); s.SHA256 != sum || s.Pinned != sum {
		t.Errorf("rightpin sha = %s pinned %s, want %s", s.SHA256, s.Pinned, sum)
	}
}

// declaring is a Describe override declaring settings (sdk.Description.Settings).
const declaring = `{"settings":[
	{"key":"base_url","type":"url","required":true,"help":"The API root."},
	{"key":"page_size","type":"int","default":"50"},
	{"key":"settings_dump"},
	{"key":"family.*"},
	{"key":"api_secret","secret":true}]}`

func TestDescribeContradictingConfigFails(t *testing.T) {
	tests := []struct {
		name     string
		describe string
		block    string
		want     string
	}{
		{"wrong id", `{"id":"someone-else"}`, ``, `describes itself as "someone-else"`},
		{"wrong protocol", `{"protocol_version":2}`, ``, "protocol 2"},
		// What sdk.Description.Check refuses, as the conformance kit does (one judge).
		{"unknown connect kind", `{"connect":"oauth"}`, ``, `unknown connect kind "oauth" (want oauth2, api_key, webhook_secret or none)`},
		{"webhooks not offered", `{"webhook":false}`, `webhooks = true`, "webhooks"},
		{"poll not offered", `{"poll":false}`, `poll = true`, "poll"},
		{"no write capability", `{}`, `access = "read-write"`, "write capability"},
		{"missing setting", `{"required_settings":["api_base"]}`, ``, `setting "api_base"`},
		{"missing secret", `{"required_secrets":["client_secret"]}`, ``, `secret "client_secret"`},
		{"configure refused", `{}`, `settings = { fail_configure = "permanent" }`, "configure refused"},
		{"undeclared setting", declaring, `settings = { base_ulr = "https://x.example" }`, `settings key "base_ulr" is not one the plugin declares; did you mean "base_url"?`},
		{"undeclared setting, nothing close", declaring, `settings = { colour = "red" }`, `(declared: base_url, family.*, page_size, settings_dump)`},
		{"undeclared secret", declaring, `secrets = { client_secret = file("key") }`, `secrets key "client_secret" is not one the plugin declares; did you mean "api_secret"?`},
		{"secret in settings", declaring, `settings = { api_secret = "s" }`, `"api_secret" is a secret: move it to secrets {}`},
		{"setting in secrets", declaring, `secrets = { page_size = file("key") }`, `"page_size" is a setting, not a secret`},
		{"setting of the wrong type", declaring, `settings = { base_url = "https://x.example", page_size = "ten" }`, `settings "page_size": "ten" is not an integer`},
		{"declared required setting missing", declaring, ``, `plugin requires setting "base_url"`},
		// What sdk/judge.CheckDescription caps, as the conformance kit does (one judge): a
		// description is shown to operators and users for the plugin's life.
		{"version over its cap", `{"version":"` + strings.Repeat("9", 300) + `"}`, ``, "version is 300 bytes, over 64 (judge.MaxVersionBytes)"},
		{"help over its cap", `{"connect_inputs":[{"key":"api_key","help":"` + strings.Repeat("h", 5000) + `"}]}`, ``,
			`connect input "api_key" help is 5000 bytes, over 512 (judge.MaxHelpBytes)`},
		{"too many connect inputs", `{"connect_inputs":[` + strings.Repeat(`{"key":"x"},`, 100) + `{"key":"y"}]}`, ``, "declares 101 connect inputs, over 16 (judge.MaxConnectInputs)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.install(
				"poolhost-provider-alpha", tt.describe)
			m, _, err := e.manager(e.config(`provider "alpha" {` + tt.block + `}`))
			if err == nil {
				t.Fatal("Start succeeded, want an error")
			}
			st := status(t, m, "alpha")
			if st.State != pluginmgr.StateFailed || !strings.Contains(st.LastError, tt.want) {
				t.Errorf("status = %s %q, want failed with %q", st.State, st.LastError, tt.want)
			}
		})
	}
}

func TestHostSecretNotInPluginEnvironment(t *testing.T) {
	t.Setenv("POOLHOST_TEST_SECRET", "s3cr3t")
	environ := pluginEnviron(t, `secrets = { webhook_secret = env("POOLHOST_TEST_SECRET") }`)
	if all := strings.Join(environ, "\n"); strings.Contains(all, "POOLHOST_TEST_SECRET") || strings.Contains(all, "s3cr3t") {
		t.Errorf("plugin environment carries the host secret: %q", environ)
	}
	if len(environ) == 0 {
		t.Fatal("empty environment dump")
	}
	for _, line := range environ {
		name, _, _ := strings.Cut(line, "=")
		allowed := strings.HasPrefix(name, "PLUGIN_") || name == sdk.MagicCookieKey || name == sdk.LogLevelEnv || name == "GODEBUG"
		for _, a := range pluginmgr.EnvAllowList {
			allowed = allowed || name == a
		}
		if !allowed {
			t.Errorf("plugin inherited %s, which is not on the allow-list", name)
		}
	}
}

// pluginEnviron starts plugin alpha, its block given the extra HCL, with passEnv as
// plugins { pass_env }, and returns the environment it was started with (the test
// plugin's env_dump setting).
func pluginEnviron(t *testing.T, extra string, passEnv ...string) []string {
	t.Helper()
	e := newEnv(t)
	e.installID("alpha")
	dump := filepath.Join(e.dir, "env.txt")
	cfg := e.config(fmt.Sprintf(`
provider "alpha" {
  settings = { env_dump = %q }
  %s
}`, dump, extra))
	cfg.Plugins.PassEnv = passEnv
	if _, _, err := e.manager(cfg); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	var environ []string
	if err := json.Unmarshal(b, &environ); err != nil {
		t.Fatal(err)
	}
	return environ
}

// An operator can pass a named variable (an egress proxy) and only that one.
func TestPassEnvReachesPlugin(t *testing.T) {
	t.Setenv("POOLHOST_TEST_PROXY", "http://proxy.internal:3128")
	t.Setenv("POOLHOST_TEST_OTHER", "not-passed")
	environ := pluginEnviron(t, "", "POOLHOST_TEST_PROXY")
	if !slices.Contains(environ, "POOLHOST_TEST_PROXY=http://proxy.internal:3128") {
		t.Errorf("pass_env variable missing from the plugin environment: %q", environ)
	}
	if strings.Contains(strings.Join(environ, "\n"), "POOLHOST_TEST_OTHER") {
		t.Errorf("a variable not named in pass_env reached the plugin: %q", environ)
	}
}

// A plugin runs with host.GODEBUG (its sysmon backs off instead of waking for
// every message), unless the operator passes the host's GODEBUG, which replaces it.
func TestPluginGODEBUG(t *testing.T) {
	for _, tt := range []struct {
		name, host string // host: the host's GODEBUG, passed; "" not passed
		want       string
	}{
		{"default", "", "GODEBUG=" + host.GODEBUG},
		{"passed", "madvdontneed=1", "GODEBUG=madvdontneed=1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var passEnv []string
			if tt.host != "" {
				t.Setenv("GODEBUG", tt.host)
				passEnv = []string{"GODEBUG"}
			}
			environ := pluginEnviron(t, "", passEnv...)
			var got []string
			for _, kv := range environ {
				if strings.HasPrefix(kv, "GODEBUG=") {
					got = append(got, kv)
				}
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("plugin's GODEBUG %q, want [%s]", got, tt.want)
			}
		})
	}
}

func TestHostSIGKILLLeavesNoPlugin(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux-only")
	}
	e := newEnv(t)
	e.installID("alpha")
	e.installID("beta")
	cfg := e.config(`
provider "alpha" {}
provider "beta" {}
`)
	cmd := exec.Command(testHostBin, cfg.Path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	var pids []int
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(waitTimeout)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("test host exited early")
			}
			if l == "ready" {
				break wait
			}
			var id string
			var pid int
			if _, err := fmt.Sscanf(l, "pid %s %d", &id, &pid); err == nil && pid > 0 {
				pids = append(pids, pid)
			}
		case <-timeout:
			t.Fatal("test host did not get ready")
		}
	}
	if len(pids) != 2 {
		t.Fatalf("pids = %v, want 2", pids)
	}
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("plugin %d not running before the host is killed", pid)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	_ = cmd.Wait()
	// The bound. The kernel delivers the parent-death signal at once, so this
	// does not depend on the machine's speed.
	for time.Since(killed) < 2*time.Second {
		remaining := 0
		for _, pid := range pids {
			if alive(pid) {
				remaining++
			}
		}
		if remaining == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("plugins %v still alive 2s after the host was SIGKILLed", pids)
}

func TestReloadTouchesOnlyWhatChanged(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"alpha", "beta", "gamma", "delta"} {
		e.installID(id)
	}
	e.install("v2/poolhost-provider-delta", "")
	dump1, dump2 := filepath.Join(e.dir, "env1"), filepath.Join(e.dir, "env2")
	m, _, err := e.manager(e.config(fmt.Sprintf(`
provider "alpha" { settings = { env_dump = %q } }
provider "beta" {}
provider "gamma" { enabled = false }
provider "delta" {}
`, dump1)))
	if err != nil {
		t.Fatal(err)
	}
	alpha, beta, delta := status(t, m, "alpha"), status(t, m, "beta"), status(t, m, "delta")
	if s := status(t, m, "gamma"); s.State != pluginmgr.StateDisabled {
		t.Fatalf("gamma = %s, want disabled", s.State)
	}
	if _, err := m.Get("gamma"); !errors.Is(err, pluginmgr.ErrNotFound) {
		t.Errorf("Get(disabled gamma) = %v, want ErrNotFound", err)
	}
	betaHandle := mustGet(t, m, "beta")

	// alpha: settings change only; beta: disabled; gamma: enabled; delta: new binary.
	cfg2 := e.config(fmt.Sprintf(`
provider "alpha" { settings = { env_dump = %q } }
provider "beta" { enabled = false }
provider "gamma" {}
provider "delta" { binary = "v2/poolhost-provider-delta" }
`, dump2))
	if err := m.Reload(context.Background(), cfg2); err != nil {
		t.Fatalf("Reload: %v", err)
	}

	if s := status(t, m, "alpha"); s.PID != alpha.PID || s.State != pluginmgr.StateRunning {
		t.Errorf("alpha was disturbed: pid %d -> %d, state %s", alpha.PID, s.PID, s.State)
	}
	if _, err := os.Stat(dump2); err != nil {
		t.Errorf("alpha was not re-configured with its new settings: %v", err)
	}
	if s := status(t, m, "beta"); s.State != pluginmgr.StateDisabled || s.PID != 0 {
		t.Errorf("beta = %+v, want disabled", s)
	}
	waitFor(t, "beta's process to end", func() bool { return !alive(beta.PID) })
	if err := betaHandle.Health(context.Background()); !errors.Is(err, pluginmgr.ErrNotFound) {
		t.Errorf("old handle to disabled beta = %v, want ErrNotFound", err)
	}
	if s := status(t, m, "gamma"); s.State != pluginmgr.StateRunning {
		t.Errorf("gamma = %s (%s), want running", s.State, s.LastError)
	}
	if s := status(t, m, "delta"); s.State != pluginmgr.StateRunning || s.PID == delta.PID || !strings.Contains(s.Binary, "v2") {
		t.Errorf("delta = %+v, want restarted from v2", s)
	}

	// Re-enabling beta brings the same handle back.
	cfg3 := e.config(fmt.Sprintf(`
provider "alpha" { settings = { env_dump = %q } }
provider "beta" {}
provider "gamma" {}
provider "delta" { binary = "v2/poolhost-provider-delta" }
`, dump2))
	if err := m.Reload(context.Background(), cfg3); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if err := betaHandle.Health(context.Background()); err != nil {
		t.Errorf("re-enabled beta: %v", err)
	}
	if s := status(t, m, "alpha"); s.PID != alpha.PID {
		t.Errorf("alpha restarted by an unrelated reload")
	}
}

func TestFailedAfterTooManyRestartsUntilReload(t *testing.T) {
	e := newEnv(t)
	e.plugins = `
  start_timeout  = "30s"
  max_restarts   = 2
  restart_window = "1m"
  backoff_base   = "20ms"
  backoff_cap    = "100ms"
`
	e.installID("alpha")
	m, _, _ := e.manager(e.config(`provider "alpha" { settings = { exit_after = "100ms" } }`))
	waitFor(t, "alpha to be marked failed", func() bool { return status(t, m, "alpha").State == pluginmgr.StateFailed })
	if s := status(t, m, "alpha"); s.Restarts != 2 {
		t.Errorf("restarts = %d, want 2", s.Restarts)
	}
	if err := m.Reload(context.Background(), e.config(`provider "alpha" {}`)); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if s := status(t, m, "alpha"); s.State != pluginmgr.StateRunning {
		t.Errorf("after reload: %s (%s), want running", s.State, s.LastError)
	}
}

func TestPerMethodDeadline(t *testing.T) {
	e := newEnv(t)
	e.installID("alpha")
	m, _, err := e.manager(e.config(`
provider "alpha" {
  settings = { connect_delay = "30s" }
  timeouts { connect = "200ms" }
}`))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = mustGet(t, m, "alpha").Connect(context.Background(), sdk.ConnectRequest{Input: map[string]string{"api_key": "k"}})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, pluginmgr.ErrUnavailable) {
		t.Errorf("Connect = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Connect took %v; the 200ms deadline was not applied", d)
	}
	if s := status(t, m, "alpha"); s.State != pluginmgr.StateRunning || s.Restarts != 0 {
		t.Errorf("a slow call disturbed the plugin: %+v", s)
	}
}

func TestCallRacingStopFailsCleanly(t *testing.T) {
	old := pluginmgr.StopGrace
	pluginmgr.StopGrace = 100 * time.Millisecond
	t.Cleanup(func() { pluginmgr.StopGrace = old })

	e := newEnv(t)
	e.installID("alpha")
	e.installID("beta")
	m, _, err := e.manager(e.config(`
provider "alpha" { settings = { connect_delay = "30s" } }
provider "beta" {}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := mustGet(t, m, "alpha")

	const callers = 20
	var wg sync.WaitGroup
	errs := make(chan error, callers*2)
	started := make(chan struct{})
	for i := range callers {
		wg.Go(func() {
			if i == 0 {
				close(started)
			}
			_, err := p.Connect(context.Background(), sdk.ConnectRequest{Input: map[string]string{"api_key": "k"}})
			errs <- err
			// And calls that start after the stop.
			errs <- p.Health(context.Background())
		})
	}
	<-started
	time.Sleep(50 * time.Millisecond) // let some calls reach the plugin; not needed for correctness
	if err := m.Reload(context.Background(), e.config(`
provider "alpha" { enabled = false }
provider "beta" {}
`)); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("calls racing a stop hung")
	}
	close(errs)
	for err := range errs {
		if !errors.Is(err, pluginmgr.ErrUnavailable) && !errors.Is(err, pluginmgr.ErrNotFound) {
			t.Errorf("call racing a stop = %v, want ErrUnavailable or ErrNotFound", err)
		}
	}
	if err := mustGet(t, m, "beta").Health(context.Background()); err != nil {
		t.Errorf("beta disturbed: %v", err)
	}

	m.Close()
	if err := mustGetErr(m, "beta"); !errors.Is(err, pluginmgr.ErrNotFound) {
		t.Errorf("Get after Close = %v, want ErrNotFound", err)
	}
}

func TestCrashDuringCall(t *testing.T) {
	e := newEnv(t)
	e.installID("alpha")
	m, _, err := e.manager(e.config(`provider "alpha" { settings = { crash_on = "connect" } }`))
	if err != nil {
		t.Fatal(err)
	}
	before := status(t, m, "alpha")
	_, err = mustGet(t, m, "alpha").Connect(context.Background(), sdk.ConnectRequest{})
	if err == nil || sdk.KindOf(err) != sdk.KindTemporary {
		t.Errorf("Connect to a crashing plugin = %v, want a temporary error", err)
	}
	// The plugin died on this call: it was called (a retry of what crashed it must count).
	if errors.Is(err, pluginmgr.ErrNotCalled) {
		t.Errorf("Connect the plugin crashed in = %v, want no ErrNotCalled", err)
	}
	waitFor(t, "a restart after the crash", func() bool {
		s := status(t, m, "alpha")
		return s.State == pluginmgr.StateRunning && s.PID != before.PID
	})
}

func mustGet(t *testing.T, m *pluginmgr.Manager, id string) *pluginmgr.Plugin {
	t.Helper()
	p, err := m.Get(id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return p
}

func mustGetErr(m *pluginmgr.Manager, id string) error {
	_, err := m.Get(id)
	return err
}

// A declared default reaches Configure when the block leaves the setting out; a reload
// naming an undeclared key is reported on the provider, not silently passed on.
func TestDeclaredSettingsDefaultsAndReload(t *testing.T) {
	e := newEnv(t)
	e.install("poolhost-provider-alpha", declaring)
	dump := filepath.Join(e.dir, "settings.json")
	block := func(extra string) string {
		return fmt.Sprintf(`provider "alpha" {
  settings = { base_url = "https://api.example", "family.a" = "x", settings_dump = %q %s }
}`, dump, extra)
	}
	m, _, err := e.manager(e.config(block("")))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	b, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["page_size"] != "50" || got["base_url"] != "https://api.example" {
		t.Errorf("Configure got %v, want the declared default page_size=50 and base_url", got)
	}

	if err := m.Reload(context.Background(), e.config(block(`, pagesize = "10"`))); err == nil {
		t.Error("Reload with an undeclared key succeeded")
	}
	st := status(t, m, "alpha")
	if st.State != pluginmgr.StateFailed || !strings.Contains(st.LastError, `settings key "pagesize" is not one the plugin declares; did you mean "page_size"?`) {
		t.Errorf("after reload: %s %q, want failed naming the undeclared key", st.State, st.LastError)
	}
}

// TestMalformedPluginLogLineCannotCrashTheHost: a plugin writing a JSON log line whose
// @message is not a string (go-plugin's own relay panics on it, taking the host down)
// is relayed, and the plugin and the host keep running.
func TestMalformedPluginLogLineCannotCrashTheHost(t *testing.T) {
	e := newEnv(t)
	e.installID("alpha")
	m, _, err := e.manager(e.config(`provider "alpha" {
  settings = { stderr_line = "{\"@message\": 5, \"@level\": [1], \"@timestamp\": 7}" }
}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := mustGet(t, m, "alpha").Health(context.Background()); err != nil {
		t.Fatalf("Health after the malformed line: %v", err)
	}
	if st := status(t, m, "alpha"); st.State != pluginmgr.StateRunning || st.Restarts != 0 {
		t.Errorf("status = %+v, want running without restarts", st)
	}
}

// TestStoppedPluginIsUnresponsive: a plugin process stopped with SIGSTOP (hung as far
// as the host can tell) is reported unresponsive after one unanswered health check
// under the default health settings — not after three — its calls are refused at once
// rather than after their deadline, and it is killed and restarted after
// UnresponsiveGrace, the restart reported with the reason.
func TestStoppedPluginIsUnresponsive(t *testing.T) {
	e := newEnv(t)
	e.plugins = `
  start_timeout   = "30s"
  max_restarts    = 5
  backoff_base    = "50ms"
  backoff_cap     = "200ms"
` // health_interval, health_timeout, health_failures: the defaults
	e.installID("alpha")
	m, reg, err := e.manager(e.config(`provider "alpha" {
  webhooks = true
  timeouts { webhook = "20s" }
}`))
	if err != nil {
		t.Fatal(err)
	}
	restarts := make(chan pluginmgr.Restart, 4)
	m.OnRestart(func(r pluginmgr.Restart) { restarts <- r })
	first := status(t, m, "alpha")
	t.Cleanup(func() { _ = syscall.Kill(first.PID, syscall.SIGCONT) })
	if err := syscall.Kill(first.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the plugin process stopped", func() bool { return procState(first.PID) == 'T' })
	stopped := time.Now()
	waitFor(t, "the stopped plugin reported unresponsive", func() bool {
		return status(t, m, "alpha").State == pluginmgr.StateUnresponsive
	})
	// Health interval + health timeout by default: 4 s. Logged, not asserted: a loaded
	// box may take longer, and the logic, not the clock, is what is tested.
	t.Logf("unresponsive %v after SIGSTOP", time.Since(stopped).Round(time.Millisecond))
	if s := status(t, m, "alpha"); !strings.Contains(s.LastError, "unresponsive") || s.PID != first.PID {
		t.Errorf("while unresponsive: %+v", s)
	}
	if v := gaugeValue(t, reg, "poolhost_plugin_state", map[string]string{"provider": "alpha", "state": "unresponsive"}); v != 1 {
		t.Errorf("poolhost_plugin_state{state=unresponsive} = %v", v)
	}

	// A call now is refused before it reaches the plugin: its 20 s deadline is not
	// waited out.
	p, err := m.Get("alpha")
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Webhook(context.Background(), sdk.WebhookRequest{Body: []byte(`{}`)})
	if !errors.Is(err, pluginmgr.ErrUnavailable) || !strings.Contains(err.Error(), "unresponsive") {
		t.Errorf("a webhook while unresponsive: %v, want ErrUnavailable saying unresponsive", err)
	}

	var after pluginmgr.Status
	waitFor(t, "the stopped plugin replaced", func() bool {
		after = status(t, m, "alpha")
		return after.State == pluginmgr.StateRunning && after.PID != first.PID && after.PID != 0
	})
	if after.Restarts != 1 {
		t.Errorf("restarts = %d, want 1", after.Restarts)
	}
	select {
	case r := <-restarts:
		if r.Provider != "alpha" || r.PID != first.PID || r.GaveUp || !strings.Contains(r.Reason, "unresponsive") {
			t.Errorf("restart reported as %+v", r)
		}
	default:
		t.Error("the restart was not reported")
	}
	waitFor(t, "the stopped process killed", func() bool { return !alive(first.PID) })
}

// gaugeValue reads one gauge from reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, mt := range mf.GetMetric() {
			for _, lp := range mt.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return mt.GetGauge().GetValue()
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}

// TestCallDeadlineProbesAtOnce: with health checks far apart, a call that hits its
// deadline on a stopped plugin makes the supervisor probe it at once, and the plugin
// is reported unresponsive without waiting for the next health check. IngestWebhook,
// which applies its deadline itself (grpcplugin.Bounds) on a pooled stream, too.
func TestCallDeadlineProbesAtOnce(t *testing.T) {
	for _, tc := range []struct {
		method, deadline string
		call             func(*pluginmgr.Plugin) error
	}{
		{"webhook", "1s", func(p *pluginmgr.Plugin) error {
			_, err := p.Webhook(context.Background(), sdk.WebhookRequest{Body: []byte(`{}`)})
			return err
		}},
		{"ingest_webhook", "2s", func(p *pluginmgr.Plugin) error { // verify_webhook + webhook
			_, err := p.IngestWebhook(context.Background(), sdk.WebhookRequest{Body: []byte(`{}`)})
			return err
		}},
	} {
		t.Run(tc.method, func(t *testing.T) {
			e := newEnv(t)
			e.plugins = `
  start_timeout   = "30s"
  health_interval = "1h"
  health_timeout  = "1s"
`
			e.installID("alpha")
			m, _, err := e.manager(e.config(`provider "alpha" {
  webhooks = true
  timeouts {
    webhook        = "1s"
    verify_webhook = "1s"
  }
}`))
			if err != nil {
				t.Fatal(err)
			}
			first := status(t, m, "alpha")
			t.Cleanup(func() { _ = syscall.Kill(first.PID, syscall.SIGCONT) })
			p, err := m.Get("alpha")
			if err != nil {
				t.Fatal(err)
			}
			if err := syscall.Kill(first.PID, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the plugin process stopped", func() bool { return procState(first.PID) == 'T' })
			if err := tc.call(p); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("a stopped plugin's call: %v, want its deadline", err)
			}
			waitFor(t, "the plugin reported unresponsive after a call's deadline", func() bool {
				return status(t, m, "alpha").State == pluginmgr.StateUnresponsive
			})
			want := tc.method + " did not answer within its " + tc.deadline + " deadline"
			if s := status(t, m, "alpha"); !strings.Contains(s.LastError, want) {
				t.Errorf("last error %q, want %q", s.LastError, want)
			}
		})
	}
}

// procState is the state letter of /proc/PID/stat (T: stopped), 0 if unreadable.
func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// syncBuffer is a log the manager's goroutines write to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRefusedPluginIsStoppedNotKilled: a plugin that answered but is refused — its
// description contradicts the block, is over a cap, or its Configure refuses — is
// stopped as a stop does (asked to exit), not killed: killed, go-plugin logged its exit
// at ERROR as 'plugin process exited ... error="signal: killed"' right under the
// refusal, in plugins check's output and the host's log, and a new provider team went
// looking for a crash.
func TestRefusedPluginIsStoppedNotKilled(t *testing.T) {
	for _, tc := range []struct{ name, describe, block, want string }{
		{"contradicts its block", `{"id":"someone-else"}`, ``, `describes itself as "someone-else"`},
		{"over a cap", `{"version":"` + strings.Repeat("9", 300) + `"}`, ``, "judge.MaxVersionBytes"},
		{"configure refused", `{}`, `settings = { fail_configure = "permanent" }`, "configure refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.install("poolhost-provider-alpha", tc.describe)
			var log syncBuffer
			logger := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Debug, Output: io.MultiWriter(&log, testWriter{t})})
			m := pluginmgr.New(logger, prometheus.NewRegistry(), e.config(`provider "alpha" {`+tc.block+`}`))
			ctx, cancel := context.WithTimeout(t.Context(), 2*waitTimeout)
			defer cancel()
			if err := m.Start(ctx); err == nil {
				t.Fatal("Start succeeded, want a refusal")
			}
			if st := status(t, m, "alpha"); st.State != pluginmgr.StateFailed || !strings.Contains(st.LastError, tc.want) {
				t.Errorf("status = %s %q, want failed with %q", st.State, st.LastError, tc.want)
			}
			m.Close()
			got := log.String()
			if !strings.Contains(got, "plugin process exited") {
				t.Fatalf("the plugin's exit is not in the log:\n%s", got)
			}
			if strings.Contains(got, "signal: killed") {
				t.Errorf("the refused plugin was killed, its exit logged as a crash:\n%s", got)
			}
		})
	}
}
