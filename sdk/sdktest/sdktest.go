// Package sdktest helps provider teams test their adapter over the real wire: the same
// gRPC shims and conversions the host uses, served in-process ([Connect], or [Direct]
// over memory), so what passes here behaves the same when the host launches the binary.
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
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	"github.com/poolhost/poolhost/sdk/internal/flow"
	"github.com/poolhost/poolhost/sdk/internal/wire"
	"github.com/poolhost/poolhost/sdk/judge"
)

// Connect serves a in-process over gRPC and returns the host-side client for it, each
// side built as in production: the plugin's server with sdk.Serve's codec and
// flow-control windows, the host's client with its cap on one message
// (judge.DefaultCaps.MaxMessageBytes, grpcplugin.MaxMessage) and its windows. Only the
// process boundary, go-plugin's handshake and TLS are left out (LaunchBinary has them).
// Everything is torn down when the test ends.
//
//	c := sdktest.Connect(t, myprovider.New())
//	d, err := c.Describe(ctx)
func Connect(tb testing.TB, a sdk.Adapter) *grpcplugin.Client {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	server := grpc.NewServer(append([]grpc.ServerOption{grpc.ForceServerCodecV2(wire.Codec{})}, flow.ServerOptions()...)...)
	sdk.RegisterGRPCServer(server, a)
	go server.Serve(lis)
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())},
		grpcplugin.MaxMessage(judge.DefaultCaps.MaxMessageBytes, nil)...)
	conn, err := grpc.NewClient(lis.Addr().String(), append(opts, grpcplugin.FlowControl()...)...)
	if err != nil {
		server.Stop()
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() {
		_ = conn.Close()
		server.Stop()
	})
	return grpcplugin.NewClient(conn)
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
