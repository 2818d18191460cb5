package sdktest_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

func TestLaunchBinary(t *testing.T) {
	t.Setenv("SDKTEST_PROBE", "leaked")
	bin := sdktest.BuildBinary(t, "./testdata/envprobe")
	c := sdktest.LaunchBinary(t, bin)

	d, err := c.Describe(t.Context())
	if err != nil || d.ID != "envprobe" {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	res, err := c.DiscoverDevices(t.Context(), sdk.DiscoverRequest{})
	if err != nil || len(res.Devices) != 1 {
		t.Fatalf("DiscoverDevices = %+v, %v", res, err)
	}
	// Like the host, the helper passes only an allow-list of variables to the plugin.
	if got := res.Devices[0].Name; got != "env:" {
		t.Errorf("plugin saw SDKTEST_PROBE: device name %q", got)
	}
	// Errors keep their kind across the real process boundary.
	if _, err := c.PollReadings(t.Context(), sdk.PollRequest{}); !sdk.IsKind(err, sdk.KindUnsupported) {
		t.Errorf("PollReadings err = %v, want unsupported", err)
	}
}

// TestLaunchBinaryLogsToTest: go-plugin's debug lines about the plugin process (start,
// handshake, exit) and the plugin's own lines reach the test's log, so `go test -v` (or
// a failure) shows them beside the test's own messages.
func TestLaunchBinaryLogsToTest(t *testing.T) {
	bin := sdktest.BuildBinary(t, "./testdata/envprobe")
	log := &lockedBuffer{}
	t.Run("launch", func(t *testing.T) {
		c := sdktest.LaunchBinary(outputTo{t, log}, bin)
		if _, err := c.Describe(t.Context()); err != nil {
			t.Fatal(err)
		}
	}) // the plugin is stopped when the subtest ends
	for _, want := range []string{
		"[DEBUG] starting plugin: path=" + bin,
		"[DEBUG] using plugin: version=1",
		"[DEBUG] envprobe: plugin address:", // a line of the plugin process itself
		"plugin process exited: plugin=" + bin,
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("test log lacks %q:\n%s", want, log.String())
		}
	}
}

// outputTo is a test whose log output (testing.TB.Output) is captured.
type outputTo struct {
	testing.TB
	w io.Writer
}

func (o outputTo) Output() io.Writer { return o.w }

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

// TestLaunchSaysWhyThePluginDied: a plugin that dies before the handshake — here a
// Node.js plugin without its protos, which also writes junk to stdout — fails to start
// with its own last stderr lines in the error, not only go-plugin's "Unrecognized
// remote plugin message".
func TestLaunchSaysWhyThePluginDied(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "plugin")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"Error: ENOENT: no such file or directory, open 'proto/adapter.proto'\" >&2\necho '    at Object.openSync (node:fs:573:18)' >&2\necho 'loading protos'\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, kill, err := sdktest.Launch(script, io.Discard)
	defer kill()
	if err == nil || !strings.Contains(err.Error(), "the plugin's stderr ended with:\n  Error: ENOENT: no such file or directory, open 'proto/adapter.proto'") {
		t.Fatalf("start error %v, want the plugin's stderr", err)
	}
	if strings.Contains(err.Error(), "openSync") {
		t.Errorf("start error %v: stack frames crowd out the cause", err)
	}
	// What the plugin wrote to stdout is named; go-plugin's guesses (architecture,
	// libraries, permissions, the file's owner) are not, once the plugin said why.
	if !strings.Contains(err.Error(), "Unrecognized remote plugin message: loading protos") {
		t.Errorf("start error %v: want the line the plugin wrote to stdout", err)
	}
	if strings.Contains(err.Error(), "This usually means") || strings.Contains(err.Error(), "not compiled for this architecture") {
		t.Errorf("start error %v: go-plugin's guesses bury the plugin's own words", err)
	}
}

// TestLaunchNamesWhatThePluginPrintedOnStdout: a plugin that prints a line on stdout
// before its handshake line (a fmt.Println in main) and nothing on stderr fails to start
// with an error that says so, not with go-plugin's guesses alone (another architecture,
// missing libraries, file permissions), none of which is the cause.
func TestLaunchNamesWhatThePluginPrintedOnStdout(t *testing.T) {
	script := filepath.Join(t.TempDir(), "plugin")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'starting acme'\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, kill, err := sdktest.Launch(script, io.Discard)
	defer kill()
	if err == nil || !strings.Contains(err.Error(), `the plugin wrote "starting acme" to stdout before its handshake line`) {
		t.Fatalf("start error %v, want it to name the line the plugin wrote to stdout", err)
	}
	if strings.Contains(err.Error(), "not compiled for this architecture") {
		t.Errorf("start error %v: go-plugin's guesses mislead once the cause is known", err)
	}
	// One that printed nothing on stdout and exited is not said to have printed "".
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'cannot start: missing region table' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, kill2, err := sdktest.Launch(script, io.Discard)
	defer kill2()
	if err == nil || strings.Contains(err.Error(), "to stdout before its handshake line") ||
		!strings.Contains(err.Error(), "the plugin's stderr ended with:\n  cannot start: missing region table") {
		t.Errorf("start error %v, want the plugin's stderr and no word of stdout", err)
	}
}

// TestLaunchOfADeadPluginSaysNothingOfExiting: a plugin that died before its handshake,
// or could not be executed, is not said to have "failed to exit gracefully" (go-plugin's
// WARN when it kills a plugin it could not ask to stop): there was no process left.
func TestLaunchOfADeadPluginSaysNothingOfExiting(t *testing.T) {
	dir := t.TempDir()
	for name, script := range map[string]string{
		"exits":          "#!/bin/sh\necho 'cannot start: missing region table' >&2\nexit 3\n",
		"not executable": "",
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		mode := os.FileMode(0o755)
		if script == "" {
			script, mode = "#!/bin/sh\nexit 0\n", 0o644
		}
		if err := os.WriteFile(path, []byte(script), mode); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		_, kill, err := sdktest.Launch(path, &log)
		kill()
		if err == nil {
			t.Fatalf("%s: started", name)
		}
		if strings.Contains(log.String(), "failed to exit gracefully") {
			t.Errorf("%s: the log says the plugin failed to exit gracefully:\n%s", name, log.String())
		}
	}
}

// TestLaunchTargetNamesAnExitedPlugin: a plugin whose process exits during a call is
// reported as such, with the last lines it wrote to stderr — not as "error reading from
// server: EOF" — and the checks after it as not run, not as failures of their own.
func TestLaunchTargetNamesAnExitedPlugin(t *testing.T) {
	bin := sdktest.BuildBinary(t, "./testdata/broken/cmd/exits")
	target, kill, err := sdktest.LaunchTarget(bin, io.Discard)
	defer kill()
	if err != nil {
		t.Fatal(err)
	}
	rs := sdktest.Checks(t.Context(), target, fixtures())
	wantFailure(t, rs, "webhook/valid-accepted/ph", "a valid delivery failed: the plugin process exited during the call; the plugin's stderr ended with:")
	wantFailure(t, rs, "webhook/valid-accepted/ph", "fatal error: out of memory in the parser")
	wantFailure(t, rs, "webhook/malformed-bodies", "not run: the plugin process exited during an earlier call")
}
