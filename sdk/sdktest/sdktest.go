// Package sdktest helps provider teams test their adapter over the real wire: the same
// gRPC shims and conversions the host uses, served in-process through go-plugin's test
// connection, so what passes here behaves the same when the host launches the binary.
//
// [Run] is the conformance suite every provider's tests should call (`poolhost plugins
// test` runs the same [Checks] against a built binary, in any language): it judges your
// Describe, configuration and valid deliveries with the code the host judges them with
// (sdk.Description.Check and CheckConfig, sdk/judge), so a failure here names what the
// host would refuse or drop, and why. [LoadFixtures] reads the language-neutral fixture
// directory, [BuildBinary] and [LaunchBinary] run the real binary as the host launches it,
// and sdk/sdktest/hosttest runs it inside a real poolhost.
package sdktest

import (
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
)

// Connect serves a in-process over go-plugin gRPC and returns the host-side client for
// it. Everything is torn down when the test ends.
//
//	c := sdktest.Connect(t, myprovider.New())
//	d, err := c.Describe(ctx)
func Connect(tb testing.TB, a sdk.Adapter) *grpcplugin.Client {
	tb.Helper()
	client, server := plugin.TestPluginGRPCConn(tb, false, map[string]plugin.Plugin{
		sdk.PluginName: &grpcplugin.Plugin{Adapter: a},
	})
	tb.Cleanup(func() {
		// Server first: client.Close asks the server to stop itself too, and go-plugin's
		// GRPCServer.Stop is not safe to run twice concurrently.
		server.Stop()
		_ = client.Close()
	})
	raw, err := client.Dispense(sdk.PluginName)
	if err != nil {
		tb.Fatalf("dispense %s: %v", sdk.PluginName, err)
	}
	c, ok := raw.(*grpcplugin.Client)
	if !ok {
		tb.Fatalf("dispense %s: got %T, want *grpcplugin.Client", sdk.PluginName, raw)
	}
	return c
}

// WantKind fails the test unless err has kind want (sdk.KindOf: an *sdk.Error's kind,
// seen through wrapping such as *grpcplugin.ParseError; any other error is temporary).
func WantKind(tb testing.TB, err error, want sdk.ErrorKind) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want kind %s", want)
	}
	if sdk.KindOf(err) != want {
		tb.Fatalf("error %q is kind %s, want %s", err, sdk.KindOf(err), want)
	}
}
