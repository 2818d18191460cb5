package sdk

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
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

// RetryAfterHeader reads the Retry-After of a provider's answer (RFC 9110: delay in
// seconds, or an HTTP date, read against now), or 0 when it has none usable. Return it
// with [RetryAfter] so the host comes back no sooner.
func RetryAfterHeader(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) && n > 0 {
		return maxRetryAfter
	}
	if err == nil {
		switch {
		case n <= 0:
			return 0
		case n > int64(maxRetryAfter/time.Second):
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

// maxRetryAfter bounds what RetryAfterHeader reports: a provider naming next week does
// not mean it, and the duration must not overflow.
const maxRetryAfter = 24 * time.Hour
