package httpapi

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The client address is decided here and nowhere else: logs, the per-client rate limit,
// webhook rejection audits and their limiter all read clientFrom.

// requestInfo is what the middleware learns about a request and hands down in its
// context: the client address (clientInfo) and what the handler adds to the request's
// log line (observe, noteReason). One context value and one copy of the request
// instead of one each: 3 allocations and a 250-byte request copy per request
// (host/bench).
type requestInfo struct {
	// requestInfo is itself the context that carries it (withInfo), over the request's
	// context: context.WithValue's was an allocation more per request (host/bench).
	context.Context
	client string
	// route and vars are the matched route's template and path variables when the
	// route was found without gorilla/mux (the webhook routes: see fastRoute); else
	// route is "" and mux's context values say.
	route string
	vars  [3]pathVar
	note  requestNote
	rec   statusRecorder // observe's
	id    [1]string      // the X-Request-ID header's value (requestID)
}

type requestInfoKey struct{}

// infoFrom is the request's requestInfo, nil when it did not pass through requestID.
func infoFrom(r *http.Request) *requestInfo {
	info, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
	return info
}

// withInfo is ctx with info: info itself, over ctx. ctx must not carry info already.
func withInfo(ctx context.Context, info *requestInfo) context.Context {
	info.Context = ctx
	return info
}

// Value is info for requestInfoKey, else what the context below says.
func (info *requestInfo) Value(key any) any {
	if key == (requestInfoKey{}) {
		return info
	}
	return info.Context.Value(key)
}

// clientIP is the client address r comes from; requestID puts it in the request's
// requestInfo.
func (h *Handler) clientIP(r *http.Request) string {
	return ClientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), h.httpConfig().TrustedProxies)
}

// clientFrom is the client address requestID put in the context, or the TCP peer when the
// request did not pass through it.
func clientFrom(r *http.Request) string {
	if info := infoFrom(r); info != nil {
		return info.client
	}
	return ClientIP(r.RemoteAddr, nil, nil)
}

// ClientIP is the address of the client behind a request: the TCP peer, unless the peer
// is a trusted proxy. Then X-Forwarded-For is read from the right, each hop appended by
// a proxy, and the first address that is not a trusted proxy is the client: anything to
// its left was written by the client itself and may be forged. When every hop is
// trusted, the left-most is the client; an unparsable hop stops the walk at the last
// trusted one.
func ClientIP(remoteAddr string, xff []string, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	mapped := peer.Is4In6()
	peer = peer.Unmap()
	if !isTrusted(peer, trusted) {
		if peer.Is4() && !mapped {
			// host is already the address's one spelling (ParseAddr takes a dotted quad
			// only in its canonical form): String would only copy it, an allocation per
			// request.
			return host
		}
		return peer.String()
	}
	var hops []string
	for _, v := range xff {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !isTrusted(client, trusted) {
			break
		}
	}
	return client.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientKey is the rate-limit key of a client address: an IPv6 client is its /64, since
// one host is usually given a whole /64 and could rotate through it.
func clientKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Is4() {
		return addr
	}
	p, _ := a.Prefix(64)
	return p.String()
}
