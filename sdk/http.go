package sdk

import (
	"net/http"
	"time"

	"github.com/poolhost/poolhost/sdk/tracing"
)

// HTTPClient returns the client a plugin should reach its provider's API with: an
// http.Client with the given overall timeout over [HTTPTransport]. The host's
// per-method deadline, carried by each call's ctx, is the real bound; use
// http.NewRequestWithContext with that ctx.
func HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: HTTPTransport(nil)}
}

// HTTPTransport wraps base (nil: http.DefaultTransport) for a plugin's upstream calls.
// While tracing is on (the operator passed OTEL_* variables to the plugin, see
// PLUGINS.md), each request made with a call's ctx becomes a span of the host's trace,
// child of the call's, and carries the W3C traceparent header upstream. Off, it adds
// nothing.
func HTTPTransport(base http.RoundTripper) http.RoundTripper { return tracing.Transport(base) }
