package main_test

import (
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/poolhost/poolhost/plugins/iopool/iopooltest"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
)

// TestBinary builds this command and drives it the way the host does: a child process
// over go-plugin gRPC with AutoMTLS, against the fake iopool API.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	bin := filepath.Join(t.TempDir(), "poolhost-provider-iopool")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: grpcplugin.VersionedPlugins(),
		Cmd:              exec.Command(bin),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           hclog.New(&hclog.LoggerOptions{Output: io.Discard}),
		StartTimeout:     time.Minute,
	})
	t.Cleanup(pc.Kill)
	rpc, err := pc.Client()
	if err != nil {
		t.Fatalf("start plugin: %v", err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	c := raw.(*grpcplugin.Client)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d, err := c.Describe(ctx)
	if err != nil || d.ID != "iopool" {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	srv := iopooltest.NewServer(t)
	if err := c.Configure(ctx, sdk.ConfigureRequest{Settings: map[string]string{"base_url": srv.URL}}); err != nil {
		t.Fatal(err)
	}
	acct := sdk.Account{Credentials: sdk.Credentials{"api_key": iopooltest.APIKey}}
	res, err := c.PollReadings(ctx, sdk.PollRequest{Account: acct})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Readings) != 3 {
		t.Errorf("poll returned %d readings, want the sample's 3", len(res.Readings))
	}
}
