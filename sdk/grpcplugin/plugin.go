package grpcplugin

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/poolhost/poolhost/sdk"
	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// VersionedPlugins is the plugin set for the host's plugin.ClientConfig, keyed by
// protocol version. Dispensing sdk.PluginName yields a *Client.
func VersionedPlugins() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		sdk.ProtocolVersion: {sdk.PluginName: &Plugin{}},
	}
}

// Plugin is the go-plugin plugin for the adapter protocol. On the host its Adapter is
// nil and it only dispenses clients; with Adapter set it also serves that adapter, which
// is how sdk/sdktest runs an adapter in-process over the real wire.
type Plugin struct {
	plugin.NetRPCUnsupportedPlugin
	Adapter sdk.Adapter
}

var _ plugin.GRPCPlugin = (*Plugin)(nil)

// GRPCServer serves p.Adapter.
func (p *Plugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Adapter == nil {
		return errors.New("grpcplugin: no adapter to serve")
	}
	sdk.RegisterGRPCServer(s, p.Adapter)
	return nil
}

// GRPCClient returns a *Client on conn.
func (p *Plugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return NewClient(conn), nil
}

// NewClient returns a Client calling the adapter service on conn. Hosts normally get
// one from go-plugin's Dispense instead.
func NewClient(conn grpc.ClientConnInterface) *Client {
	return &Client{rpc: pb.NewAdapterClient(conn), conn: conn, batches: newIngestBatches(conn), streams: newIngestStreams(conn)}
}
