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
//
// It follows a redirect only within the origin the request went to (an http URL may
// move to https on the same host): net/http would follow one anywhere, re-sending a
// token request's form (the client secret, the refresh token) on a 307 and every header
// but Authorization and Cookie (an API key in X-Api-Key) to whatever host the answer
// names, and reach from the plugin's network any address it names. A redirect elsewhere
// is an error, [ErrCrossOriginRedirect].
func HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: HTTPTransport(nil), CheckRedirect: sameOrigin}
}

// ErrCrossOriginRedirect is what a request made with [HTTPClient] fails with (inside a
// *url.Error) when the provider redirects it to another origin.
var ErrCrossOriginRedirect = errors.New("the provider redirected to another origin; not followed")

// sameOrigin is HTTPClient's redirect policy.
func sameOrigin(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	from, to := via[0].URL, req.URL
	if !strings.EqualFold(to.Host, from.Host) || (to.Scheme != from.Scheme && (from.Scheme != "http" || to.Scheme != "https")) {
		return ErrCrossOriginRedirect
	}
	return nil
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
