package pluginmgr

import (
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestDialFixesFlowControlWindows reads, as a plugin's server would, the windows the host
// advertises when it dials a plugin: fixed ones (grpcplugin.FlowControl), not gRPC's
// measured ones, which start at HTTP/2's 64 KiB and probe with a PING every few
// deliveries.
func TestDialFixesFlowControlWindows(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := &Plugin{id: "generic"}
	cc, err := grpc.NewClient("passthrough:///"+ln.Addr().String(),
		append(p.dialOptions(0), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
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
	_ = c.SetDeadline(time.Now().Add(time.Minute)) // bounds a silent client; not a timing assertion
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil {
		t.Fatal(err)
	}
	// Our SETTINGS and a PING: the client answers the PING after its opening frames.
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	if err := fr.WritePing(false, [8]byte{}); err != nil {
		t.Fatal(err)
	}
	stream, conn := uint32(65535), uint32(65535) // HTTP/2's initial windows
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
			if v, ok := s.Value(http2.SettingInitialWindowSize); ok {
				stream = v
			}
		}
		if w, ok := f.(*http2.WindowUpdateFrame); ok && w.StreamID == 0 {
			conn += w.Increment
		}
		if p, ok := f.(*http2.PingFrame); ok && p.IsAck() {
			break
		}
	}
	if stream != 1<<20 || conn != 16<<20 {
		t.Errorf("the host advertises windows of %d bytes a stream and %d the connection; want 1 MiB and 16 MiB", stream, conn)
	}
}
