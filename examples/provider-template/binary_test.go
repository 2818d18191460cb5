package template_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/poolhost/poolhost/examples/provider-template/acmetest"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
)

// TestPluginBinary builds the real plugin binary and launches it the way the host does
// (go-plugin, gRPC, AutoMTLS), then links an account and ingests a webhook through it.
// It proves main.go is wired: sdktest tests cannot, since they never run main.
func TestPluginBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "poolhost-provider-template")
	build := exec.Command("go", "build", "-o", bin, "./cmd/poolhost-provider-template")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}

	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: grpcplugin.VersionedPlugins(),
		Cmd:              exec.Command(bin),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     time.Minute, // generous: CI is a loaded 2-core box
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Warn, Output: os.Stderr}),
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("start plugin: %v", err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	c := raw.(*grpcplugin.Client)

	d, err := c.Describe(t.Context())
	if err != nil || d.ID != "template" {
		t.Fatalf("describe: %+v %v", d, err)
	}
	fake := acmetest.NewServer()
	defer fake.Close()
	if err := c.Configure(t.Context(), settings(fake)); err != nil {
		t.Fatal(err)
	}
	acct := linkedAccount(t, c, fake)
	if acct.ExternalAccountID != acmetest.AccountID {
		t.Errorf("linked %q", acct.ExternalAccountID)
	}

	body := acmetest.ReadingsEvent("dev-1", acmetest.Reading{Type: "ph", Value: 7.2, MeasuredAt: time.Now()})
	h, err := acmetest.SignWebhook(acmetest.WebhookSecret, "msg_bin", time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.IngestWebhook(t.Context(), sdk.WebhookRequest{Headers: h, Body: body, ReceivedAt: time.Now()})
	if err != nil || len(res.Readings) != 1 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
}
