package grpcplugin

import (
	"google.golang.org/grpc"

	"github.com/poolhost/poolhost/sdk/internal/flow"
)

// FlowControl fixes the HTTP/2 flow-control windows of the host's connection to a plugin
// (1 MiB a stream, 16 MiB the connection) instead of gRPC's measured ones, whose
// bandwidth probes cost a PING and its answer every few deliveries: see sdk/internal/flow
// for the figures. The host and the conformance kit dial with it; the Go SDK's server
// fixes its own windows the same way. Any plugin, whatever its language, works with it:
// the windows are what the host advertises to the plugin.
func FlowControl() []grpc.DialOption { return flow.DialOptions() }
