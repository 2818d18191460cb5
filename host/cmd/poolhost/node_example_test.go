package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	"github.com/poolhost/poolhost/sdk/sdktest"
	"github.com/poolhost/poolhost/sdk/signature"
)

// The Node.js example (examples/provider-node) run as the host runs it: the conformance
// suite through `poolhost plugins test` with the Go template's fixtures and its own
// (written in Node by @poolhost/plugin), its errors over the real wire, and a signed
// webhook and a test session stored by a running `poolhost serve`. It needs node and npm;
// under CI=true their absence fails the test (.ci/run installs them).

// needNode skips (or under CI=true fails) a test on a machine without node and npm.
func needNode(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("installs the Node packages and runs them; skipped in -short mode")
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true and %s is not on PATH: the Node example's test must run in CI (.ci/run installs nodejs and npm)", tool)
			}
			t.Skipf("%s is not on PATH: the Node example is not tested", tool)
		}
	}
}

// npm runs npm with args in dir, failing the test with its output.
func npm(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("npm", append(args, "--no-audit", "--no-fund")...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("npm %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// nodeTree copies what the Node plugin needs — sdk/node (the @poolhost/plugin package),
// sdk/proto and examples/provider-node, without node_modules — into a temp dir keeping
// the repository's layout, as a fresh clone has them, and runs `npm ci` and `npm test`
// in the package and then in the example (which links the package through its
// file:../../sdk/node dependency). It returns the copy's root.
func nodeTree(t *testing.T) string {
	t.Helper()
	needNode(t)
	root := t.TempDir()
	for _, dir := range []string{"sdk/node", "sdk/proto", "examples/provider-node"} {
		copyTree(t, filepath.Join(repoRoot, dir), filepath.Join(root, dir))
	}
	for _, dir := range []string{"sdk/node", "examples/provider-node"} {
		npm(t, filepath.Join(root, dir), "ci")
		npm(t, filepath.Join(root, dir), "test")
	}
	return root
}

// installPackedSDK does what a team outside the repository does: `npm pack` poolhost's
// sdk/node (the tarball carries the protos) and install the tarball into the package at
// dir, replacing its file: dependency, with real files in node_modules (a bundle keeps
// no symlinks).
func installPackedSDK(t *testing.T, sdkNode, dir string) {
	t.Helper()
	npm(t, dir, "pack", sdkNode, "--pack-destination", dir)
	npm(t, dir, "install", "./poolhost-plugin-0.1.0.tgz")
}

// copyTree copies src to dst, skipping what git ignores there, keeping the executable bits.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			// What git does not track: installed packages, and the protos `npm pack`
			// copies into sdk/node (a copy must find sdk/proto, as a fresh clone does).
			if d.Name() == "node_modules" || (d.Name() == "proto" && filepath.Base(filepath.Dir(path)) == "node") {
				return filepath.SkipDir
			}
			return os.MkdirAll(target, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm()&0o755)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

func TestNodeExample(t *testing.T) {
	tree := nodeTree(t)
	plugin := filepath.Join(tree, "examples", "provider-node", "plugin")
	fixtures := filepath.Join(t.TempDir(), "conformance") // a copy: a subtest adds a fixture
	copyTree(t, filepath.Join(repoRoot, "examples", "provider-template", "testdata", "conformance"), fixtures)
	dir := t.TempDir()
	b := e2eBuild{dir: dir, poolhost: filepath.Join(dir, "poolhost"), pluginDir: tree}
	goBuild(t, "-o", b.poolhost, "./host/cmd/poolhost")

	t.Run("run by hand it explains itself", func(t *testing.T) {
		cmd := exec.Command(plugin)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "poolhost provider plugin") {
			t.Errorf("plugin run by hand: %v\n%s", err, out)
		}
	})

	t.Run("plugins test with its own fixtures, written in Node", func(t *testing.T) {
		own := filepath.Join(tree, "examples", "provider-node", "testdata", "conformance")
		code, out, stderr := runCLI(t, b, "plugins", "test", plugin, "--fixtures", own)
		if code != 0 || !strings.Contains(out, "all checks passed") || strings.Contains(out, "FAIL") {
			t.Fatalf("plugins test exited %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
		}
		for _, want := range []string{"ok    webhook/valid-accepted/test_completed.json: accepted, 0 readings, 1 test session",
			"ok    webhook/tampered-rejected/readings_created.json: rejected: standard webhooks: bad signature (reason bad_signature)"} {
			if !strings.Contains(out, want) {
				t.Errorf("plugins test output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("plugins test with the Go template's fixtures", func(t *testing.T) {
		// One more valid delivery, whose type no metric name can be (65 bytes): the plugin
		// skips that reading, with a warning, rather than pass it through.
		longTypeFixture(t, fixtures)
		code, out, stderr := runCLI(t, b, "plugins", "test", plugin, "--fixtures", fixtures)
		if code != 0 || !strings.Contains(out, "all checks passed") || strings.Contains(out, "FAIL") {
			t.Fatalf("plugins test exited %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
		}
		for _, want := range []string{"ok    webhook/valid-accepted/readings_created.json: accepted, 4 readings; the host drops and counts as unknown_metric the provider types passed through (turbidity)",
			"ok    webhook/valid-accepted/long_type.json: accepted, 1 reading",
			"ok    webhook/stale-rejected/readings_created.json: rejected: standard webhooks: timestamp outside tolerance (too old) (reason stale_timestamp)"} {
			if !strings.Contains(out, want) {
				t.Errorf("plugins test output lacks %q:\n%s", want, out)
			}
		}
		// The plugin's WARN line kept its level through the host's stderr relay.
		if !strings.Contains(stderr, "[WARN]") || !strings.Contains(stderr, "skipping an acme reading whose type no metric name can be") {
			t.Errorf("the plugin's warning did not reach the host's log at WARN:\n%s", stderr)
		}
	})

	t.Run("errors over the wire", func(t *testing.T) {
		c := sdktest.LaunchBinary(t, plugin)
		secret := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
		if err := c.Configure(t.Context(), sdk.ConfigureRequest{Secrets: map[string]string{"webhook_secret": secret}}); err != nil {
			t.Fatal(err)
		}
		// A rejected signature: PERMISSION_DENIED plus an ErrorDetail in
		// grpc-status-details-bin (grpc-go turns a details status of another code into
		// INTERNAL). The host sees KindRejected and the plugin's reason.
		other, err := signature.NewStandardWebhooks("whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)))
		if err != nil {
			t.Fatal(err)
		}
		body := []byte(`{"event":"readings.created","device_id":"dev-1","readings":[{"type":"ph","value":7.2}]}`)
		_, err = c.IngestWebhook(t.Context(), sdk.WebhookRequest{Headers: other.Headers("msg_1", time.Now(), body), Body: body, ReceivedAt: time.Now()})
		sdktest.WantKind(t, err, sdk.KindRejected)
		var se *sdk.Error
		if !strings.Contains(err.Error(), "standard webhooks: bad signature") || !errors.As(err, &se) || se.Reason != sdk.ReasonBadSignature {
			t.Errorf("rejection message or ErrorDetail.reason lost: %v (%+v)", err, se)
		}
		// Credentials changed before a failure come back on the error (ErrorDetail).
		legacy := sdk.Account{ID: "1", ExternalAccountID: "acme_1", Credentials: sdk.Credentials{"secret": secret, "devices": "dev-1,\x01"}}
		_, err = c.DiscoverDevices(t.Context(), sdk.DiscoverRequest{Account: legacy})
		sdktest.WantKind(t, err, sdk.KindInvalidInput)
		if creds, ok := sdk.RefreshedCredentialsOf(err); !ok || creds["webhook_secret"] != secret || creds["secret"] != "" {
			t.Errorf("refreshed credentials on the error: %v %v (error %v)", creds, ok, err)
		}
		// And in the result when the call succeeds.
		legacy.Credentials["devices"] = "dev-1"
		res, err := c.DiscoverDevices(t.Context(), sdk.DiscoverRequest{Account: legacy})
		if err != nil || len(res.Devices) != 1 || res.RefreshedCredentials["webhook_secret"] != secret {
			t.Errorf("discover: %+v %v", res, err)
		}
	})

	t.Run("a thrown exception reaches the host with its message", func(t *testing.T) {
		c := sdktest.LaunchBinary(t, filepath.Join(tree, "examples", "provider-node", "test", "throwing-plugin"))
		secret := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
		if err := c.Configure(t.Context(), sdk.ConfigureRequest{Secrets: map[string]string{"webhook_secret": secret}}); err != nil {
			t.Fatal(err)
		}
		body := []byte(`{}`)
		_, err := c.Webhook(t.Context(), sdk.WebhookRequest{Headers: http.Header{}, Body: body, ReceivedAt: time.Now()})
		sdktest.WantKind(t, err, sdk.KindTemporary)
		if !strings.Contains(err.Error(), "plugin threw in Webhook: Cannot read properties of undefined") {
			t.Errorf("the exception's message did not reach the host: %v", err)
		}
		// Through IngestWebhook the delivery was authentic: the host gets a parse error
		// (kept for retry), not a rejection.
		v, err := signature.NewStandardWebhooks(secret)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.IngestWebhook(t.Context(), sdk.WebhookRequest{Headers: v.Headers("msg_1", time.Now(), body), Body: body, ReceivedAt: time.Now()})
		var pe *grpcplugin.ParseError
		if !errors.As(err, &pe) || sdk.KindOf(err) != sdk.KindTemporary || !strings.Contains(err.Error(), "Cannot read properties of undefined") {
			t.Errorf("ingest with a throwing parser: %v", err)
		}
	})

	t.Run("serve stores a signed webhook, the plugin installed as a pinned bundle", func(t *testing.T) {
		dir, pin := nodeBundle(t, b, tree)
		testNodeServe(t, b, dir, pin)
	})
}

// nodeBundle makes the example's directory a bundle as PLUGINS.md says: @poolhost/plugin
// installed from its `npm pack` tarball (real files, the protos inside; the bundle must
// hold everything it loads), then `plugins pin --write`.
func nodeBundle(t *testing.T, b e2eBuild, tree string) (dir, pin string) {
	t.Helper()
	dir = filepath.Join(tree, "examples", "provider-node")
	installPackedSDK(t, filepath.Join(tree, "sdk", "node"), dir)
	code, out, stderr := runCLI(t, b, "plugins", "pin", "--write", "--command", "plugin", dir)
	if code != 0 {
		t.Fatalf("plugins pin --write exited %d: %s %s", code, out, stderr)
	}
	return dir, strings.TrimSpace(out)
}

// testNodeServe runs `poolhost serve` on a temp SQLite with only the Node plugin (a
// launcher or a bundle, pinned with pin), and walks a user through connect, discover,
// link and a signed webhook.
func testNodeServe(t *testing.T, b e2eBuild, plugin, pin string) {
	h := serveExample(t, b, "template-node", plugin, pin, "node@example.com", "dev-1")
	c, token, v, srv := h.c, h.token, h.account, h.srv

	// Acme's payload, signed with the account's secret as Acme would.
	now := time.Now().UTC().Truncate(time.Second)
	body := []byte(fmt.Sprintf(`{"event":"readings.created","device_id":"dev-1","readings":[`+
		`{"type":"ph","value":7.42,"measured_at":%q,"status":"ok"},`+
		`{"type":"water_temp","value":80.6,"unit":"F","measured_at":%q},`+
		`{"type":"turbidity","value":0.3,"measured_at":%q},`+
		`{"type":%q,"value":1,"measured_at":%q}]}`, now.Format(time.RFC3339), now.Format(time.RFC3339), now.Format(time.RFC3339),
		strings.Repeat("x", 65), now.Format(time.RFC3339)))
	status, answer := postWebhook(t, h.hookURL, v.Headers("msg_node_1", now, body), body)
	// turbidity is passed through, and dropped and counted by the host; the 65-byte type
	// no metric name can be is skipped by the plugin, with a warning.
	if status != http.StatusOK || !strings.Contains(answer, `"accepted":2`) || !strings.Contains(answer, `"unknown_metric":1`) {
		t.Fatalf("signed webhook: %d %s", status, answer)
	}
	// Signed with the provider-level secret at the account's URL: rejected, nothing stored.
	if status, answer := postWebhook(t, h.hookURL, h.wrong.Headers("msg_node_2", now, body), body); status != http.StatusUnauthorized {
		t.Errorf("webhook signed with the wrong secret: %d %s", status, answer)
	}

	var readings struct {
		Readings []struct {
			Metric string  `json:"metric"`
			Value  float64 `json:"value"`
			Unit   string  `json:"unit"`
		} `json:"readings"`
	}
	apiJSON(t, http.MethodGet, fmt.Sprintf("%s/v1/pools/%d/readings", c.baseURL, h.pool), token, "", http.StatusOK, &readings)
	got := map[string]float64{}
	for _, r := range readings.Readings {
		got[r.Metric] = r.Value
	}
	if len(readings.Readings) != 2 || got["ph"] != 7.42 || math.Abs(got["temperature"]-27) > 1e-9 { // 80.6 °F
		t.Errorf("stored readings: %+v", readings.Readings)
	}

	// A photometer test with a result beyond its range ("FC > 10"): the plugin's
	// test_sessions, stored as the pool's test session, with the bound kept as a bound.
	takenAt := now.Add(-time.Hour)
	test := []byte(fmt.Sprintf(`{"event":"test.completed","device_id":"dev-1","test":{"taken_at":%q,"method":"photometer","notes":"after rain",`+
		`"results":[{"type":"ph","value":7.6},{"type":"free_cl","value":10,"unit":"ppm","out_of_range":"above"}]}}`, takenAt.Format(time.RFC3339)))
	status, answer = postWebhook(t, h.hookURL, v.Headers("msg_node_3", now, test), test)
	if status != http.StatusOK || !strings.Contains(answer, `"testSessions":{"accepted":1`) {
		t.Fatalf("signed test session: %d %s", status, answer)
	}
	var sessions struct {
		TestSessions []struct {
			TakenAt  time.Time `json:"takenAt"`
			Method   string    `json:"method"`
			Notes    string    `json:"notes"`
			Source   string    `json:"source"`
			Provider string    `json:"provider"`
			Results  []struct {
				Metric    string  `json:"metric"`
				Value     float64 `json:"value"`
				Qualifier string  `json:"qualifier"`
			} `json:"results"`
		} `json:"testSessions"`
	}
	apiJSON(t, http.MethodGet, fmt.Sprintf("%s/v1/pools/%d/test-sessions", c.baseURL, h.pool), token, "", http.StatusOK, &sessions)
	if len(sessions.TestSessions) != 1 {
		t.Fatalf("stored test sessions: %+v", sessions)
	}
	ts := sessions.TestSessions[0]
	results := map[string]string{}
	for _, r := range ts.Results {
		results[r.Metric] = fmt.Sprintf("%v %s", r.Value, r.Qualifier)
	}
	if !ts.TakenAt.Equal(takenAt) || ts.Method != "photometer" || ts.Notes != "after rain" || ts.Source != "provider" || ts.Provider != "template-node" ||
		len(results) != 2 || results["ph"] != "7.6 " || results["free_chlorine"] != "10 above" {
		t.Errorf("stored test session: %+v", ts)
	}
	// SIGTERM: the host stops the plugin through GRPCController/Shutdown, and the plugin
	// exits by itself (otherwise go-plugin logs that it failed to exit gracefully).
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := srv.wait(t); code != 0 {
		t.Errorf("serve exited %d after SIGTERM", code)
	}
	if strings.Contains(srv.out.String(), "failed to exit gracefully") {
		t.Errorf("the Node plugin ignored the host's Shutdown:\n%s", srv.out.String())
	}
	// Checked once serve has exited, so its output pipe is drained: the reason the Node
	// plugin put in ErrorDetail is in the host's log,
	if !strings.Contains(srv.out.String(), "reason=bad_signature") {
		t.Errorf("the plugin's rejection reason is not in the host's log:\n%s", srv.out.String())
	}
	// and the plugin's warning reached it at its level, with the provider named.
	if !regexp.MustCompile(`\[WARN\] .*template-node.*skipping an acme reading whose type no metric name can be.*type="?xxxx`).MatchString(srv.out.String()) {
		t.Errorf("the plugin's warning is not in the host's log at WARN:\n%s", srv.out.String())
	}
}

// apiJSON makes an authenticated API call and decodes the answer into out. want 0
// accepts any 2xx.
func apiJSON(t *testing.T, method, url, token, body string, want int, out any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if (want != 0 && resp.StatusCode != want) || (want == 0 && resp.StatusCode/100 != 2) {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, b, err)
		}
	}
}

func postWebhook(t *testing.T, url string, h http.Header, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestNodeExampleCopiedOut: the Node example copied out of the repository, as a team
// starts its own, with @poolhost/plugin installed from `npm pack` of sdk/node as
// examples/provider-node/README.md says, passes its own `npm test` there (its fixtures
// sit beside it). Without the package's protos, `plugins test` says why the plugin
// died, naming the missing file.
func TestNodeExampleCopiedOut(t *testing.T) {
	needNode(t)
	// A checkout of poolhost's sdk/ (packed from a copy: `npm pack` writes into the package).
	checkout := t.TempDir()
	for _, dir := range []string{"sdk/node", "sdk/proto"} {
		copyTree(t, filepath.Join(repoRoot, dir), filepath.Join(checkout, dir))
	}
	pkg := filepath.Join(t.TempDir(), "poolhost-provider-acme-node")
	copyTree(t, filepath.Join(repoRoot, "examples", "provider-node"), pkg)
	installPackedSDK(t, filepath.Join(checkout, "sdk", "node"), pkg)
	npm(t, pkg, "ci")
	npm(t, pkg, "test")

	protos := filepath.Join(pkg, "node_modules", "@poolhost", "plugin", "proto")
	if _, err := os.Stat(filepath.Join(protos, "poolhost", "adapter", "v1", "adapter.proto")); err != nil {
		t.Fatalf("the packed @poolhost/plugin carries no protos: %v", err)
	}
	if err := os.RemoveAll(protos); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := runPluginsTest(t.Context(), filepath.Join(pkg, "plugin"), "", "", &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "the plugin's stderr ended with:") ||
		!strings.Contains(errOut.String(), "poolhost's protos are missing: no poolhost/adapter/v1/adapter.proto in ") {
		t.Errorf("plugins test without the protos: exit %d\n%s", code, errOut.String())
	}
}
