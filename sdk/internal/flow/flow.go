// Package flow holds the HTTP/2 flow-control windows of the connection between the host
// and a plugin, for both ends: the host's dial (sdk/grpcplugin.FlowControl) and the Go
// SDK's server (sdk.Serve).
//
// gRPC's default starts every window at 64 KiB and sizes it as it goes by measuring the
// connection's bandwidth-delay product: on every DATA frame received with no probe in
// flight, the receiver sends a PING, and the peer answers it. Deliveries are small
// messages crossing a Unix socket, so that was a PING and its answer every few
// deliveries, plus a WINDOW_UPDATE every 16 KiB received on the connection and on each
// stream: frames, writes and wakeups on both sides that carry no delivery. With fixed
// windows gRPC measures nothing and sends no probe, and a window update comes only after
// a quarter of a window. sdk/grpcplugin's BenchmarkIngestParallel, paced at host/bench's
// 3,000 deliveries/s (64 senders, a real plugin process), six interleaved pairs on the
// shared 2-core box (2026-12-06): the host's CPU per delivery 39-71 -> 31-57 µs (lower
// in five pairs), the plugin's 57-93 -> 47-78 µs (lower in all six), the host's
// allocations per call 15 -> 12.
//
// The windows are what gRPC's measurement would grow to on a fast link at most (16 MiB),
// per connection; per stream, 1 MiB. They are no memory reserved: a window only bounds
// what a peer may send unread, and on a delivery's stream one message is in flight at a
// time. A larger message (a poll's answer, up to plugins.max_message_bytes) still
// crosses, in window-sized steps.
package flow

import (
	"io"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
)

const (
	// StreamWindow is each stream's receive window.
	StreamWindow = 1 << 20
	// ConnWindow is the whole connection's receive window.
	ConnWindow = 16 << 20
)

// DialOptions fixes the windows of a client connection (the host's, to a plugin).
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithInitialWindowSize(StreamWindow),
		grpc.WithInitialConnWindowSize(ConnWindow),
	}
}

// ServerOptions fixes the windows of a server (a Go plugin's).
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.InitialWindowSize(StreamWindow),
		grpc.InitialConnWindowSize(ConnWindow),
	}
}

// ReadWindows tells the windows an HTTP/2 peer advertises on a new connection: the
// stream window in its SETTINGS, the connection window as raised by its WINDOW_UPDATEs.
// The caller has sent or read the client preface; ReadWindows sends empty SETTINGS and a
// PING, and reads up to the PING's answer, which the peer writes after its own opening
// frames. Tests use it to see what a server or a client really says.
func ReadWindows(c io.ReadWriter) (stream, conn uint32, err error) {
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		return 0, 0, err
	}
	if err := fr.WritePing(false, [8]byte{'w', 'i', 'n', 'd', 'o', 'w', 's'}); err != nil {
		return 0, 0, err
	}
	stream, conn = initialWindow, initialWindow
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return 0, 0, err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if v, ok := f.Value(http2.SettingInitialWindowSize); ok && !f.IsAck() {
				stream = v
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				conn += f.Increment
			}
		case *http2.PingFrame:
			if f.IsAck() {
				return stream, conn, nil
			}
		}
	}
}

// initialWindow is HTTP/2's initial window, for a stream and for the connection.
const initialWindow = 65535
