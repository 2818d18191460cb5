package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/config"

	"github.com/poolhost/poolhost/sdk/sdktest"
	"github.com/poolhost/poolhost/sdk/sdktest/testdata/broken"
)

// TestPluginsTestFirstParty: every first-party plugin and the template pass
// `poolhost plugins test` as real binaries (the template with its committed fixtures).
func TestPluginsTestFirstParty(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plugin binaries")
	}
	for _, tc := range []struct{ pkg, fixtures string }{
		{repoRoot + "/examples/provider-template/cmd/poolhost-provider-template", repoRoot + "/examples/provider-template/testdata/conformance"},
		{repoRoot + "/plugins/generic/cmd/poolhost-provider-generic", ""},
		{repoRoot + "/plugins/ttn/cmd/poolhost-provider-ttn", ""},
		{repoRoot + "/plugins/ondilo/cmd/poolhost-provider-ondilo", ""},
		{repoRoot + "/plugins/iopool/cmd/poolhost-provider-iopool", ""},
	} {
		t.Run(tc.pkg[strings.LastIndex(tc.pkg, "-")+1:], func(t *testing.T) {
			bin := sdktest.BuildBinary(t, tc.pkg)
			var out, errOut bytes.Buffer
			if code := runPluginsTest(t.Context(), bin, tc.fixtures, "", &out, &errOut); code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), "ok    describe") || !strings.Contains(out.String(), "all checks passed") {
				t.Errorf("output:\n%s", out.String())
			}
			// The summary counts what was skipped: a skipped check proved nothing.
			if n := strings.Count(out.String(), "\nSKIP  "); !strings.Contains(out.String(), fmt.Sprintf(": all checks passed; %d skipped, see the SKIP lines\n", n)) {
				t.Errorf("the summary does not count the %d skipped checks:\n%s", n, out.String())
			}
			if tc.fixtures != "" && !strings.Contains(out.String(), "ok    webhook/stale-rejected/readings_created.json: rejected: standard webhooks: timestamp outside tolerance (too old) (reason stale_timestamp)") {
				t.Errorf("the stale fixture's rejection reason is not printed:\n%s", out.String())
			}
			if tc.fixtures != "" && !strings.Contains(out.String(), "ok    declarations: 5 setting(s), 0 connect input(s)") {
				t.Errorf("the declarations check is not printed:\n%s", out.String())
			}
		})
	}
}

// TestPluginsTestCatchesBroken: a binary that accepts unsigned webhooks fails with a
// non-zero exit and says which checks failed.
func TestPluginsTestCatchesBroken(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plugin binaries")
	}
	bin := sdktest.BuildBinary(t, "github.com/poolhost/poolhost/sdk/sdktest/testdata/broken/cmd/acceptsunsigned")
	var out, errOut bytes.Buffer
	if code := runPluginsTest(t.Context(), bin, "", "", &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "FAIL  webhook/unsigned-rejected: ") || !strings.Contains(out.String(), "check(s) failed") {
		t.Errorf("output:\n%s", out.String())
	}
	// a missing binary or fixture directory is a clear error, not a panic
	if code := runPluginsTest(t.Context(), bin, t.TempDir()+"/nope", "", &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "fixtures:") {
		t.Errorf("missing fixtures: exit %d, %s", code, errOut.String())
	}
}

// TestPluginsTestJudgesAsTheHost: `plugins test` judges a valid delivery's answer with
// the host's own checks (sdk/judge): a test session whose metric the host does not know
// fails with the host's drop reasons, and an answer of 200,000 readings with the cap the
// host refuses it by.
func TestPluginsTestJudgesAsTheHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plugin binaries")
	}
	fixtures := t.TempDir()
	at := time.Now().UTC().Truncate(time.Second)
	body := []byte(`{"device":"pool-1","ph":7.21}`)
	if err := sdktest.WriteWebhook(filepath.Join(fixtures, "webhooks", "valid", "ph.json"),
		sdktest.Webhook{Headers: broken.Sign(broken.Secret, at, body), Body: body, ReceivedAt: at}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ cmd, want string }{
		{"sessionunknownmetric", "test session 0 result 0 (fc): dropped as unknown_metric: not a metric of sdk/metric; map the provider's name to one of its constants (PLUGINS.md, Metric vocabulary)\ntest session 0: dropped as no_results"},
		{"floods", "refused (cap readings): plugin answer refused: 200000 readings exceed plugins.max_readings_per_call (10000)"},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			bin := sdktest.BuildBinary(t, "github.com/poolhost/poolhost/sdk/sdktest/testdata/broken/cmd/"+tc.cmd)
			var out, errOut bytes.Buffer
			if code := runPluginsTest(t.Context(), bin, fixtures, "", &out, &errOut); code != 1 {
				t.Fatalf("exit %d, want 1\n%s\n%s", code, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), "FAIL  webhook/valid-accepted/ph.json: the host would not keep all of it:\n"+tc.want) {
				t.Errorf("output:\n%s", out.String())
			}
			// PLUGINS.md's Testing shows both (the first as its sample, the second in prose).
			doc, err := os.ReadFile(pluginsMD)
			if err != nil {
				t.Fatal(err)
			}
			shown := strings.Join(strings.Fields(string(doc)), " ")
			if want := strings.Join(strings.Fields(tc.want), " "); !strings.Contains(shown, want) {
				t.Errorf("PLUGINS.md does not show what plugins test prints: %s", tc.want)
			}
		})
	}
}

// TestPluginsPluginOnly: `plugins check` and `plugins test` need only the binary and its
// settings — no database and no credentials key — so a provider team runs both before
// any host exists. A config with a provider block and nothing else is enough for check.
func TestPluginsPluginOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plugin binaries")
	}
	bin := sdktest.BuildBinary(t, repoRoot+"/plugins/generic/cmd/poolhost-provider-generic")
	dir := t.TempDir()
	secret := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	if err := os.WriteFile(filepath.Join(dir, "webhook.secret"), []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "plugins.hcl")
	cfg := fmt.Sprintf(`plugin_dir = %q
provider "generic" {
  binary   = %q
  webhooks = true
  secrets  = { webhook_secret = file("webhook.secret") }
}
`, filepath.Dir(bin), bin)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := runPluginsCheck(t.Context(), cfgPath, "text", &out, &errOut); code != 0 {
		t.Fatalf("plugins check without database_url or credentials_key: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	if !regexp.MustCompile(`(?m)^generic\s.*\srunning\s`).MatchString(out.String()) {
		t.Errorf("plugins check output:\n%s", out.String())
	}
	// The plugin still checks its settings: an undeclared key fails check, as in serve.
	bad := strings.Replace(cfg, "webhooks = true", "webhooks = true\n  settings = { colour = \"blue\" }", 1)
	if err := os.WriteFile(cfgPath, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := runPluginsCheck(t.Context(), cfgPath, "text", &out, &errOut); code != 1 || !strings.Contains(out.String(), "colour") {
		t.Errorf("plugins check with an undeclared setting: exit %d\n%s", code, out.String())
	}
	// serve still needs both: LoadPlugins is for plugin-only commands.
	if _, err := config.Load(cfgPath); err == nil || !strings.Contains(err.Error(), "database_url") || !strings.Contains(err.Error(), "credentials_key") {
		t.Errorf("config.Load without database_url and credentials_key: %v", err)
	}

	// plugins test takes the binary and a settings file; no config at all.
	settings := filepath.Join(dir, "settings.json")
	if err := os.WriteFile(settings, []byte(fmt.Sprintf(`{"secrets": {"webhook_secret": %q}}`, secret)), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := runPluginsTest(t.Context(), bin, "", settings, &out, &errOut); code != 0 || !strings.Contains(out.String(), "all checks passed") {
		t.Errorf("plugins test with only --settings: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
}

// TestPluginsTestSaysWhyThePluginDied: a plugin that dies before the handshake (a
// Node.js plugin without its protos) fails `plugins test` with its own stderr's cause.
func TestPluginsTestSaysWhyThePluginDied(t *testing.T) {
	script := filepath.Join(t.TempDir(), "plugin")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"Error: ENOENT: no such file or directory, open 'proto/adapter.proto'\" >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := runPluginsTest(t.Context(), script, "", "", &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "the plugin's stderr ended with:\n  Error: ENOENT: no such file or directory, open 'proto/adapter.proto'") {
		t.Errorf("exit %d\n%s", code, errOut.String())
	}
}

// TestPluginsTestPolls: with a poll.json in the fixture directory, `plugins test` polls
// a polling binary as the host would, feeding its cursor and refreshed credentials back
// over the real plugin wire: a correct one passes the three poll checks, and one whose
// cursor answers its last reading again fails, naming it.
func TestPluginsTestPolls(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plugin binaries")
	}
	fixtures := t.TempDir()
	writeFile(t, filepath.Join(fixtures, "poll.json"), `{"account": {"id": "1", "external_account_id": "acct-1", "credentials": {"access_token": "expired", "refresh_token": "r1"}}, "cursor": ""}`)
	for _, tc := range []struct {
		cmd  string
		code int
		want []string
	}{
		{"poller", 0, []string{"ok    poll/first: 2 readings, cursor ", "ok    poll/cursor-fed-back: 3 more readings in 2 more polls, none repeated, then nothing new", "ok    poll/nothing-new: no readings, no error, cursor "}},
		{"pollrepeats", 1, []string{"FAIL  poll/cursor-fed-back: poll 2, with cursor ", ") was already returned by poll 1; a cursor fed back must bring only what is newer"}},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			bin := sdktest.BuildBinary(t, "github.com/poolhost/poolhost/sdk/sdktest/testdata/broken/cmd/"+tc.cmd)
			var out, errOut bytes.Buffer
			if code := runPluginsTest(t.Context(), bin, fixtures, "", &out, &errOut); code != tc.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tc.code, out.String(), errOut.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestPluginsTestVerdictIsLast: the verdict is the last line plugins test prints, on
// stdout and stderr together as a terminal shows them; go-plugin's INFO line on the
// plugin's exit ("plugin process exited", stderr) came after it, when the plugin was
// stopped only on return.
func TestPluginsTestVerdictIsLast(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin binary")
	}
	bin := sdktest.BuildBinary(t, repoRoot+"/plugins/generic/cmd/poolhost-provider-generic")
	var both lockedBuffer
	if code := runPluginsTest(t.Context(), bin, "", "", &both, &both); code != 0 {
		t.Fatalf("exit %d\n%s", code, both.String())
	}
	out := strings.TrimRight(both.String(), "\n")
	if !strings.Contains(out, "plugin process exited") {
		t.Fatalf("no line on the plugin's exit (the test proves nothing):\n%s", out)
	}
	if last := out[strings.LastIndex(out, "\n")+1:]; !strings.HasPrefix(last, bin+": all checks passed") {
		t.Errorf("the last line is %q, not the verdict:\n%s", last, out)
	}
}

// lockedBuffer is one output that two writers share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
