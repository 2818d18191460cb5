package grpcplugin

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk"
	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// signedHeaders are the headers of one of host/bench's deliveries, as net/http gives them.
func signedHeaders() http.Header {
	return http.Header{
		"Content-Type":      {"application/json"},
		"User-Agent":        {"loadgen/1.0"},
		"Webhook-Id":        {"msg_2b3c4d5e6f"},
		"Webhook-Timestamp": {"1796601600"},
		"Webhook-Signature": {"v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=", "v1,second"},
		"Content-Length":    {"712"},
	}
}

// TestFillSortsHeaders: a request's headers go to the plugin sorted by name (its
// encoding is deterministic), every value of each kept in order, whatever was filled
// before in the same storage.
func TestFillSortsHeaders(t *testing.T) {
	o := new(outgoingWebhook)
	o.fill(sdk.WebhookRequest{Headers: http.Header{"Z": {"1"}, "A": {"2"}, "M": {"3"}, "B": {"4"}, "Y": {"5"}, "C": {"6"}, "X": {"7"}}})
	h := signedHeaders()
	for range 3 {
		w := o.fill(sdk.WebhookRequest{Headers: h, Body: []byte("{}"), ReceivedAt: time.Unix(1796601600, 5)})
		var names []string
		for _, hd := range w.Headers {
			names = append(names, hd.Name)
			if !slices.Equal(hd.Values, h[hd.Name]) {
				t.Errorf("%s: values %q, want %q", hd.Name, hd.Values, h[hd.Name])
			}
		}
		if len(names) != len(h) || !slices.IsSorted(names) {
			t.Fatalf("headers %q, want the %d names sorted", names, len(h))
		}
		if w.ReceivedAt.GetSeconds() != 1796601600 || w.ReceivedAt.GetNanos() != 5 || string(w.Body) != "{}" {
			t.Fatalf("webhook %v", w)
		}
		o.release()
		o = outgoingWebhooks.Get().(*outgoingWebhook)
	}
	if w := o.fill(sdk.WebhookRequest{}); w.Headers != nil {
		t.Errorf("no headers: %v, want nil", w.Headers)
	}
}

// BenchmarkFill: the wire form of one of host/bench's deliveries, built in kept storage.
func BenchmarkFill(b *testing.B) {
	req := sdk.WebhookRequest{Headers: signedHeaders(), Body: make([]byte, 700), ReceivedAt: time.Now()}
	o := new(outgoingWebhook)
	var sink *pb.RawWebhook
	for b.Loop() {
		sink = o.fill(req)
	}
	_ = sink
}
