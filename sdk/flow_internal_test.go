package sdk

import (
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/poolhost/poolhost/sdk/internal/flow"
)

// TestServeFixesFlowControlWindows reads the windows the server Serve builds advertises
// to the host: fixed ones (sdk/internal/flow), so that gRPC sends no bandwidth probe
// between deliveries.
func TestServeFixesFlowControlWindows(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newGRPCServer(nil)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Bounds a read from a silent server; not a timing assertion.
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	stream, conn, err := flow.ReadWindows(c)
	if err != nil {
		t.Fatal(err)
	}
	if stream != flow.StreamWindow || conn != flow.ConnWindow {
		t.Errorf("windows: stream %d, connection %d bytes; want %d and %d", stream, conn, flow.StreamWindow, flow.ConnWindow)
	}
}
