package sdktest

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	"github.com/poolhost/poolhost/sdk/judge"
)

// BuildBinary builds the main package pkg ("." or a path like "./cmd/poolhost-provider-acme",
// relative to the test's package directory, or an import path) into a temporary
// directory removed when the test ends, and returns the binary's path. It skips the test
// under -short and when no go tool is on PATH, since building takes seconds.
//
//	bin := sdktest.BuildBinary(t, "./cmd/poolhost-provider-acme")
//	c := sdktest.LaunchBinary(t, bin)
func BuildBinary(tb testing.TB, pkg string) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("builds a plugin binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		tb.Skip("no go tool on PATH to build the plugin binary")
	}
	name := path.Base(filepath.ToSlash(pkg))
	if name == "." || name == "/" {
		wd, err := os.Getwd()
		if err != nil {
			tb.Fatalf("build %s: %v", pkg, err)
		}
		name = filepath.Base(wd)
	}
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	bin := filepath.Join(tb.TempDir(), name)
	if out, err := exec.Command(goTool, "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// LaunchBinary starts the plugin binary at path the way the host does — a child process
// speaking go-plugin gRPC only, with AutoMTLS, sdk.Handshake and the host's protocol
// versions, and only the host's small allow-list of environment variables — and returns
// the client the host would use. It is killed when the test ends. Use it to prove a
// main.go is wired: Connect tests the adapter but never runs main.
//
// The test log (shown by go test -v, and on failure) gets go-plugin's own lines down to
// debug — starting the process, the handshake, the exit — and the plugin's log lines at
// their levels, prefixed with the binary's name.
func LaunchBinary(tb testing.TB, path string) *grpcplugin.Client {
	tb.Helper()
	out := &testWriter{w: tb.Output()}
	tb.Cleanup(out.close) // registered first so it runs last, after Kill
	c, _, kill, err := launch(path, out, hclog.Debug)
	tb.Cleanup(kill)
	if err != nil {
		tb.Fatalf("start plugin %s: %v", path, err)
	}
	return c
}

// Launch is [LaunchBinary] outside a test, for tools such as `poolhost plugins test`:
// it starts the binary exactly as the host does and returns its client and a function
// that stops it (call it even when err is set). The plugin's log lines go to logOut.
func Launch(path string, logOut io.Writer) (*grpcplugin.Client, func(), error) {
	c, _, kill, err := launch(path, logOut, hclog.Info)
	return c, kill, err
}

// LaunchTarget is [Launch] for [Checks]: the Target it returns also knows when the
// plugin's process has exited, so a plugin that dies during a call is reported as such,
// with the last lines it wrote to stderr, rather than as a transport error ("error
// reading from server: EOF"), and the checks after it as not run.
func LaunchTarget(path string, logOut io.Writer) (Target, func(), error) {
	_, t, kill, err := launch(path, logOut, hclog.Info)
	if err != nil {
		return nil, kill, err
	}
	return t, kill, nil
}

// binaryTarget is a launched plugin: its client, and its process's fate.
type binaryTarget struct {
	*grpcplugin.Client
	pc     *plugin.Client
	stderr io.Writer
}

// exitedDuring reports, when a call failed, whether the plugin's process had exited: an
// error saying so with the plugin's last stderr lines, else nil. A process that died
// breaks the connection first and is reaped a moment later, so a transport failure waits
// a little for it.
func (b binaryTarget) exitedDuring(callErr error) error {
	if callErr == nil {
		return nil
	}
	msg := callErr.Error()
	transport := strings.Contains(msg, "error reading from server") || strings.Contains(msg, "connection error") ||
		strings.Contains(msg, "transport is closing") || strings.Contains(msg, "EOF")
	for i := 0; !b.pc.Exited(); i++ {
		if !transport || i == 20 {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return grpcplugin.StartError(errExited, b.stderr)
}

func launch(path string, logOut io.Writer, level hclog.Level) (*grpcplugin.Client, Target, func(), error) {
	cmd := exec.Command(path)
	for _, k := range sdk.InheritedEnv { // as the host does: a binary that passes here depends on nothing else the shell exports
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	logger, stderr := grpcplugin.Logging(hclog.New(&hclog.LoggerOptions{Level: level, Output: logOut}), path)
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: grpcplugin.VersionedPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     time.Minute, // generous: CI machines are slow and busy
		Logger:           logger,      // the plugin's stderr goes through the relay, which a malformed line cannot panic
		Stderr:           stderr,
		// The host's cap on one message, with its words: an answer too large for the
		// host is too large here; and the host's flow-control windows.
		GRPCDialOptions: append(grpcplugin.MaxMessage(judge.DefaultCaps.MaxMessageBytes, nil), grpcplugin.FlowControl()...),
	})
	rpc, err := pc.Client()
	if err != nil {
		return nil, nil, pc.Kill, grpcplugin.StartError(err, stderr)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		return nil, nil, pc.Kill, fmt.Errorf("dispense %s: %w", sdk.PluginName, err)
	}
	c, ok := raw.(*grpcplugin.Client)
	if !ok {
		return nil, nil, pc.Kill, fmt.Errorf("dispense %s: got %T, want *grpcplugin.Client", sdk.PluginName, raw)
	}
	return c, binaryTarget{Client: c, pc: pc, stderr: stderr}, pc.Kill, nil
}

// testWriter forwards to the test's output until the test ends and drops what comes
// later: go-plugin's log goroutines may still write while the process is killed, and
// writing to a finished test panics.
type testWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return len(p), nil
	}
	return w.w.Write(p)
}

func (w *testWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}
