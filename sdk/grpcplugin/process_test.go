package grpcplugin_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
)

// serveEnv makes this test binary act as a plugin binary.
const serveEnv = "GRPCPLUGIN_TEST_SERVE_PLUGIN"

// TestMain lets this test binary double as a real plugin binary: started with serveEnv
// set, it serves processAdapter through sdk.Serve instead of running tests. That
// exercises Serve, the handshake and version negotiation, AutoMTLS and log forwarding
// without a separate build step.
func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		sdk.Serve(&processAdapter{})
		return
	}
	os.Exit(m.Run())
}

// processAdapter is hmacAdapter plus a Connect that panics, to show a real plugin
// process survives a panic.
type processAdapter struct {
	hmacAdapter
}

func (a *processAdapter) Connect(context.Context, sdk.ConnectRequest) (sdk.ConnectResult, error) {
	panic("connect exploded")
}

// launch starts this test binary as a plugin process, configured the way the host does
// it (gRPC only, AutoMTLS, versioned plugin set), and returns the dispensed client.
func launch(tb testing.TB, logger hclog.Logger) (*grpcplugin.Client, *plugin.Client) {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), serveEnv+"=1")
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: grpcplugin.VersionedPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           logger,
		StartTimeout:     time.Minute,              // a loaded CI box starting a -race binary
		GRPCDialOptions:  grpcplugin.FlowControl(), // as the host dials
	})
	tb.Cleanup(pc.Kill)
	rpcClient, err := pc.Client()
	if err != nil {
		tb.Fatalf("start plugin: %v", err)
	}
	raw, err := rpcClient.Dispense(sdk.PluginName)
	if err != nil {
		tb.Fatalf("dispense: %v", err)
	}
	return raw.(*grpcplugin.Client), pc
}

// syncBuffer collects the host-side log; go-plugin writes to it from its own goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestServeOutOfProcess(t *testing.T) {
	var logs syncBuffer
	logger := hclog.New(&hclog.LoggerOptions{Name: "host", Output: &logs, Level: hclog.Debug})
	c, pc := launch(t, logger)
	if v := pc.NegotiatedVersion(); v != sdk.ProtocolVersion {
		t.Errorf("negotiated protocol %d, want %d", v, sdk.ProtocolVersion)
	}
	ctx := t.Context()

	d, err := c.Describe(ctx)
	if err != nil || d.ID != "hmac" || d.ProtocolVersion != sdk.ProtocolVersion {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	// The secret arrives through Configure, never the environment.
	if err := c.Configure(ctx, sdk.ConfigureRequest{Secrets: map[string]string{"webhook_secret": "s3"}}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	body := []byte(`{"device":"d","readings":[{"metric":"ph","value":7}]}`)
	res, err := c.IngestWebhook(ctx, sdk.WebhookRequest{
		Headers: http.Header{"X-Signature": {fmt.Sprintf("sha256=%x", sign([]byte("s3"), body))}}, Body: body,
	})
	if err != nil || len(res.Readings) != 1 {
		t.Fatalf("IngestWebhook = %+v, %v", res, err)
	}
	_, err = c.IngestWebhook(ctx, sdk.WebhookRequest{Headers: http.Header{"X-Signature": {"sha256=00"}}, Body: body})
	if !sdk.IsKind(err, sdk.KindRejected) {
		t.Errorf("bad signature: err = %v, want rejected", err)
	}

	// A panic fails the call, not the process.
	if _, err := c.Connect(ctx, sdk.ConnectRequest{}); !sdk.IsKind(err, sdk.KindTemporary) {
		t.Errorf("Connect after panic: err = %v, want temporary", err)
	}
	if err := c.Health(ctx); err != nil {
		t.Fatalf("Health after a panic: %v", err)
	}
	if pc.Exited() {
		t.Fatal("plugin process exited after a panic")
	}

	// The plugin's JSON log lines reach the host's logger, and the panic is logged
	// there with its stack.
	waitFor(t, "plugin log lines in the host log", func() bool {
		s := logs.String()
		return strings.Contains(s, "configured") && strings.Contains(s, "adapter panicked") &&
			strings.Contains(s, "connect exploded")
	})
	if strings.Contains(logs.String(), "s3\"") {
		t.Error("the webhook secret appeared in the log")
	}
}

func TestServeRefusesWithoutCookie(t *testing.T) {
	// Started by hand (no cookie, or a wrong one), a plugin must refuse, say in poolhost's
	// words what it is, and exit non-zero. (sdktest.TestRunByHand checks the whole text.)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), serveEnv+"=1", sdk.MagicCookieKey+"=wrong")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("plugin without the right cookie exited 0: %s", out)
	}
	if !strings.Contains(string(out), "is the poolhost provider plugin \"hmac\"") || !strings.Contains(string(out), "poolhost plugins test") {
		t.Errorf("output %q does not explain the refusal", out)
	}
}
