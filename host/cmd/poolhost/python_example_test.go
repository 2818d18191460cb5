package main

import (
	"encoding/json"
	"fmt"
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

	"github.com/poolhost/poolhost/examples/provider-template/acmetest"
	"github.com/poolhost/poolhost/sdk/sdktest"
	"github.com/poolhost/poolhost/sdk/signature"
)

// The Python example (examples/provider-python), copied out as a team starts its own,
// run as the host runs it: its own unit tests, the conformance suite through `poolhost plugins test` with the Go template's
// fixtures, and a running `poolhost serve` storing a signed webhook's readings and a
// photometer test session with a bound. It needs Debian's python3-grpcio,
// python3-protobuf and python3-cryptography for /usr/bin/python3 (the interpreter its
// launcher names); under CI=true their absence fails the test (.ci/run installs them).

// pythonInterp is the interpreter examples/provider-python/plugin's #! line names.
const pythonInterp = "/usr/bin/python3"

// pythonExample copies examples/provider-python out of the repository's layout, with
// the template's fixtures in its testdata/conformance, as its README's "Start your own"
// says, runs its unit tests there, and returns the copy (under a fresh plugin_dir).
func pythonExample(t *testing.T) (pluginDir, example string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the Python example; skipped in -short mode")
	}
	probe := exec.Command(pythonInterp, "-c", "import grpc, google.protobuf, cryptography")
	if out, err := probe.CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and %s cannot import grpc, protobuf and cryptography: the Python example's test must run in CI "+
				"(.ci/run installs python3-grpcio, python3-protobuf and python3-cryptography): %v\n%s", pythonInterp, err, out)
		}
		t.Skipf("%s cannot import grpc, protobuf and cryptography: the Python example is not tested (%v)", pythonInterp, err)
	}
	pluginDir = t.TempDir()
	example = filepath.Join(pluginDir, "poolhost-provider-acme-py")
	copyTree(t, filepath.Join(repoRoot, "examples", "provider-python"), example)
	copyTree(t, filepath.Join(repoRoot, "examples", "provider-template", "testdata", "conformance"), filepath.Join(example, "testdata", "conformance"))
	// `/usr/bin/python3 -m unittest` from its directory, as its README says; no __pycache__, so
	// the directory stays what the bundle pin below covers.
	cmd := exec.Command(pythonInterp, "-B", "-m", "unittest", "-v")
	cmd.Dir = example
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python3 -m unittest in %s: %v\n%s", example, err, out)
	} else if !strings.Contains(string(out), "test_valid_fixtures_verify_and_parse") || !strings.Contains(string(out), "OK") {
		t.Fatalf("python3 -m unittest ran without the fixture tests:\n%s", out)
	}
	return pluginDir, example
}

// longTypeFixture adds to the Go template's fixtures in dir (a copy) a valid Acme delivery
// with a reading whose type no metric name can be (65 bytes, over the host's cap): the
// Node and Python examples skip it with a warning, which plugins test relays at WARN.
func longTypeFixture(t *testing.T, dir string) {
	t.Helper()
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	body := []byte(fmt.Sprintf(`{"event":"readings.created","device_id":"dev-1","readings":[`+
		`{"type":"ph","value":7.3,"measured_at":"2026-01-01T11:59:00Z"},{"type":%q,"value":1}]}`, strings.Repeat("x", 65)))
	sign, err := signature.NewStandardWebhooks(acmetest.WebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := sdktest.WriteWebhook(filepath.Join(dir, "webhooks", "valid", "long_type.json"),
		sdktest.Webhook{Headers: sign.Headers("msg_long", at, body), Body: body, ReceivedAt: at.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
}

func TestPythonExample(t *testing.T) {
	pluginDir, example := pythonExample(t)
	plugin := filepath.Join(example, "plugin")
	fixtures := filepath.Join(example, "testdata", "conformance")
	dir := t.TempDir()
	b := e2eBuild{dir: dir, poolhost: filepath.Join(dir, "poolhost"), pluginDir: pluginDir}
	goBuild(t, "-o", b.poolhost, "./host/cmd/poolhost")

	t.Run("plugins test with the Go template's fixtures", func(t *testing.T) {
		// One more valid delivery, whose type no metric name can be (65 bytes): the plugin
		// skips that reading, with a warning, rather than pass it through.
		longTypeFixture(t, fixtures)
		code, out, stderr := runCLI(t, b, "plugins", "test", plugin, "--fixtures", fixtures)
		if code != 0 || !strings.Contains(out, "all checks passed") || strings.Contains(out, "FAIL") {
			t.Fatalf("plugins test exited %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
		}
		for _, want := range []string{"ok    describe: template-python 0.1.0, protocol 1",
			"ok    webhook/valid-accepted/readings_created.json: accepted, 4 readings; the host drops and counts as unknown_metric the provider types passed through (turbidity)",
			"ok    webhook/valid-accepted/account_readings_created.json: accepted, 4 readings; the host drops and counts as unknown_metric the provider types passed through (turbidity)",
			"ok    webhook/valid-accepted/long_type.json: accepted, 1 reading",
			"ok    webhook/garbage-signature-rejected: rejected: standard webhooks: bad signature (reason bad_signature)",
			"ok    webhook/stale-rejected/readings_created.json: rejected: standard webhooks: timestamp outside tolerance (too old) (reason stale_timestamp)",
			"ok    webhook/malformed-bodies"} {
			if !strings.Contains(out, want) {
				t.Errorf("plugins test output lacks %q:\n%s", want, out)
			}
		}
		// The plugin's WARN line (Python's logging, in hclog's JSON) kept its level.
		if !strings.Contains(stderr, "[WARN]") || !strings.Contains(stderr, "skipping an acme reading whose type no metric name can be") {
			t.Errorf("the plugin's warning did not reach the host's log at WARN:\n%s", stderr)
		}
	})

	t.Run("serve stores a signed webhook and a test session, the plugin installed as a pinned bundle", func(t *testing.T) {
		code, out, stderr := runCLI(t, b, "plugins", "pin", "--write", "--command", "plugin", example)
		if code != 0 {
			t.Fatalf("plugins pin --write exited %d: %s %s", code, out, stderr)
		}
		testPythonServe(t, b, example, strings.TrimSpace(out))
	})
}

// testPythonServe runs `poolhost serve` on a temp SQLite with only the Python plugin
// (a bundle pinned with pin), and walks a user through connect, discover, link, a signed
// webhook of readings and one of a photometer test.
func testPythonServe(t *testing.T, b e2eBuild, bundle, pin string) {
	h := serveExample(t, b, "template-python", bundle, pin, "python@example.com", "dev-1,photo-1")
	c, token, v, srv := h.c, h.token, h.account, h.srv
	apiJSON(t, http.MethodPatch, fmt.Sprintf("%s/v1/pools/%d", c.baseURL, h.pool), token,
		`{"sanitizer":"chlorine","targets":{"free_chlorine":{"min":1,"max":3}}}`, http.StatusOK, nil)

	// Acme's payload, signed with the account's secret as Acme would.
	now := time.Now().UTC().Truncate(time.Second)
	at := now.Format(time.RFC3339)
	body := []byte(fmt.Sprintf(`{"event":"readings.created","device_id":"dev-1","readings":[`+
		`{"type":"ph","value":7.42,"measured_at":%q,"status":"ok"},`+
		`{"type":"water_temp","value":80.6,"unit":"F","measured_at":%q},`+
		`{"type":"turbidity","value":0.3,"measured_at":%q},`+
		`{"type":%q,"value":1,"measured_at":%q}]}`, at, at, at, strings.Repeat("x", 65), at))
	status, answer := postWebhook(t, h.hookURL, v.Headers("msg_py_1", now, body), body)
	// turbidity is passed through, and dropped and counted by the host; the 65-byte type
	// no metric name can be is skipped by the plugin, with a warning.
	if status != http.StatusOK || !strings.Contains(answer, `"accepted":2`) || !strings.Contains(answer, `"unknown_metric":1`) {
		t.Fatalf("signed webhook: %d %s", status, answer)
	}
	// Signed with the provider-level secret at the account's URL: rejected, nothing stored.
	if status, answer := postWebhook(t, h.hookURL, h.wrong.Headers("msg_py_2", now, body), body); status != http.StatusUnauthorized {
		t.Errorf("webhook signed with the wrong secret: %d %s", status, answer)
	}
	// A photometer's panel: "FC > 10" arrives as a bound, pH as a value.
	test := []byte(fmt.Sprintf(`{"event":"test.completed","device_id":"photo-1","test":{"taken_at":%q,"method":"photometer",`+
		`"notes":"after rain","results":[{"type":"free_cl","value":10,"unit":"ppm","out_of_range":"above"},{"type":"ph","value":7.4}]}}`, at))
	status, answer = postWebhook(t, h.hookURL, v.Headers("msg_py_3", now, test), test)
	var delivered struct {
		TestSessions struct {
			Accepted int `json:"accepted"`
		} `json:"testSessions"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(answer), &delivered) != nil || delivered.TestSessions.Accepted != 1 {
		t.Fatalf("signed test session: %d %s", status, answer)
	}

	var readings struct {
		Readings []struct {
			Metric string  `json:"metric"`
			Value  float64 `json:"value"`
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
	var sessions struct {
		TestSessions []struct {
			Method   string `json:"method"`
			Notes    string `json:"notes"`
			Source   string `json:"source"`
			Provider string `json:"provider"`
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
	s := sessions.TestSessions[0]
	results := map[string]string{}
	for _, r := range s.Results {
		results[r.Metric] = fmt.Sprintf("%s %g", r.Qualifier, r.Value)
	}
	if s.Method != "photometer" || s.Notes != "after rain" || s.Source != "provider" || s.Provider != "template-python" ||
		len(results) != 2 || results["free_chlorine"] != "above 10" || results["ph"] != " 7.4" {
		t.Errorf("stored test session: %+v", s)
	}
	var st struct {
		Metrics []struct {
			Metric string `json:"metric"`
			State  string `json:"state"`
			Text   string `json:"text"`
		} `json:"metrics"`
	}
	apiJSON(t, http.MethodGet, fmt.Sprintf("%s/v1/pools/%d/status", c.baseURL, h.pool), token, "", http.StatusOK, &st)
	var fc string
	for _, m := range st.Metrics {
		if m.Metric == "free_chlorine" {
			fc = m.State + ": " + m.Text
		}
	}
	if fc != "high: above 10 ppm (beyond the test's range)" {
		t.Errorf("status of free chlorine %q, want high, above 10 ppm (all metrics %+v)", fc, st.Metrics)
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
		t.Errorf("the Python plugin ignored the host's Shutdown:\n%s", srv.out.String())
	}
	// Checked once serve has exited, so its output pipe is drained: the reason the plugin
	// put in ErrorDetail is in the host's log, and its warning arrived at WARN.
	if !strings.Contains(srv.out.String(), "reason=bad_signature") {
		t.Errorf("the plugin's rejection reason is not in the host's log:\n%s", srv.out.String())
	}
	if !regexp.MustCompile(`\[WARN\] .*template-python.*skipping an acme reading whose type no metric name can be.*type="?xxxx`).MatchString(srv.out.String()) {
		t.Errorf("the plugin's warning is not in the host's log at WARN:\n%s", srv.out.String())
	}
	// Nothing the plugin did was an error: an optional method it lacks (Subscribe, which
	// the host calls at connect) answers UNIMPLEMENTED without grpcio logging an exception.
	if m := regexp.MustCompile(`\[ERROR\] .*template-python.*`).FindString(srv.out.String()); m != "" {
		t.Errorf("the plugin logged an error: %s", m)
	}
}

// TestPythonExampleGenerated: the Python example's committed provider/gen is what its
// generate.sh makes from today's sdk/proto, so a change to adapter.proto cannot leave the
// Python plugin speaking the old messages. It needs Debian's protoc 3.21.12 and
// grpc_python_plugin (protobuf-compiler, protobuf-compiler-grpc; .ci/run installs them).
func TestPythonExampleGenerated(t *testing.T) {
	for _, tool := range []string{"protoc", "grpc_python_plugin"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true and %s is not on PATH (.ci/run installs protobuf-compiler and protobuf-compiler-grpc)", tool)
			}
			t.Skipf("%s is not on PATH: the Python example's generated code is not checked", tool)
		}
	}
	if out, err := exec.Command("protoc", "--version").Output(); err != nil || strings.TrimSpace(string(out)) != "libprotoc 3.21.12" {
		t.Skipf("protoc is %q (%v), not the 3.21.12 the committed code was made with", strings.TrimSpace(string(out)), err)
	}
	committed := filepath.Join(repoRoot, "examples", "provider-python")
	fresh := filepath.Join(t.TempDir(), "provider-python")
	copyTree(t, committed, fresh)
	proto, err := filepath.Abs(filepath.Join(repoRoot, "sdk", "proto"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", filepath.Join(fresh, "generate.sh"))
	cmd.Env = append(os.Environ(), "PROTO_DIR="+proto)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, out)
	}
	list := func(root string) map[string]string {
		files := map[string]string{}
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".py") {
				return err
			}
			b, err := os.ReadFile(path)
			rel, _ := filepath.Rel(root, path)
			files[rel] = string(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return files
	}
	want, got := list(filepath.Join(committed, "provider", "gen")), list(filepath.Join(fresh, "provider", "gen"))
	for name, g := range got {
		if want[name] != g {
			t.Errorf("examples/provider-python/provider/gen/%s is stale: run examples/provider-python/generate.sh", name)
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("examples/provider-python/provider/gen/%s is not generated any more: delete it", name)
		}
	}
}
