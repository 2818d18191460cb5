package flow_test

import (
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/poolhost/poolhost/sdk/internal/flow"
)

// TestDialOptions reads what a client dialled with DialOptions (the host) advertises,
// as the plugin's server sees it. gRPC's measured windows start at HTTP/2's defaults.
func TestDialOptions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := grpc.NewClient("passthrough:///"+ln.Addr().String(),
		append(flow.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cc.Connect()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bound(c)
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil || string(preface) != http2.ClientPreface {
		t.Fatalf("preface %q: %v", preface, err)
	}
	CheckWindows(t, c)
}

// TestServerOptions is the same for a server built with ServerOptions (a Go plugin's).
func TestServerOptions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(flow.ServerOptions()...)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bound(c)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	CheckWindows(t, c)
}

// CheckWindows fails t unless the peer on c advertises flow's windows.
func CheckWindows(t *testing.T, c io.ReadWriter) {
	t.Helper()
	stream, conn, err := flow.ReadWindows(c)
	if err != nil {
		t.Fatal(err)
	}
	if stream != flow.StreamWindow || conn != flow.ConnWindow {
		t.Errorf("windows: stream %d, connection %d bytes; want %d and %d", stream, conn, flow.StreamWindow, flow.ConnWindow)
	}
}

// bound ends a read that would otherwise hang the test on a silent peer. Not a timing
// assertion: the peer answers in microseconds.
func bound(c net.Conn) { _ = c.SetDeadline(time.Now().Add(time.Minute)) }
