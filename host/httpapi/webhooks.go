package httpapi

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/webhook"
)

// WithWebhooks registers the webhook routes:
//
//	POST /v1/webhooks/{provider}                        provider-level secret
//	POST /v1/webhooks/{provider}/accounts/{accountId}   that account's own secret
//
// and each of them followed by one more segment, /{event}, delivered exactly as to the
// URL itself: The Things Stack appends each message type's path (/uplink, /join, …, set
// in its webhook form) to the webhook's base URL, and an operator who fills them in
// should not lose every message to a 404. The segment is accepted for every provider:
// the URL authenticates nothing (the plugin checks the delivery's secret or signature
// against its headers and body, and the account segment, unchanged, still scopes it), so
// a suffix widens nothing a delivery may write, and a per-plugin opt-in would cost a
// capability on the wire and a look-up on the busiest route for no safety. Nor is it
// handed to the plugin: the payloads that need a type carry it (a TTN message has
// exactly one of uplink_message, join_accept, downlink_ack…), and a retried dead letter
// is parsed from its payload alone. "accounts" is not an event: /v1/webhooks/{provider}/accounts
// is an account URL without its id, answered 404 as before.
//
// They are Foreign routes, skipping bearer-token authentication on purpose: the plugin
// authenticates the delivery, and some providers (The Things Stack) put their shared
// secret in an "Authorization: Bearer" header that is not a poolhost token. With a nil
// service they answer 503.
func WithWebhooks(svc *webhook.Service) Option {
	return WithRoutes(func(rt *Router) {
		fn := needs(svc != nil, "webhooks", webhookHandler(svc, rt.h))
		rt.Handle(http.MethodPost, "/v1/webhooks/{provider}", Foreign, fn)
		rt.Handle(http.MethodPost, "/v1/webhooks/{provider}/accounts/{accountId}", Foreign, fn)
		rt.Handle(http.MethodPost, "/v1/webhooks/{provider}/{event}", Foreign, fn)
		rt.Handle(http.MethodPost, "/v1/webhooks/{provider}/accounts/{accountId}/{event}", Foreign, fn)
	})
}

// WebhookRetryAfter is the Retry-After of a 503 webhook answer, in seconds.
const WebhookRetryAfter = "5"

func webhookHandler(svc *webhook.Service, h *Handler) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		provider, _ := routeVar(r, "provider")
		_, scoped := routeVar(r, "accountId")
		if event, ok := routeVar(r, "event"); ok && !scoped && event == "accounts" {
			return host.Errorf(host.ENOTFOUND, "no such route")
		}
		var accountID int64
		if scoped {
			id, err := pathID(r, "accountId")
			if err != nil {
				return webhook.ErrAccountNotFound
			}
			accountID = id
		}
		body, err := readBody(r)
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				svc.CountTooLarge(provider)
				return host.Errorf(host.ETOOLARGE, "request body exceeds %d bytes", tooLarge.Limit)
			}
			return host.Wrap(host.EINVALID, err, "could not read the request body")
		}
		dl := webhook.Delivery{
			Provider:  provider,
			AccountID: accountID,
			Headers:   r.Header,
			Body:      body,
			Client:    clientFrom(r),
			RequestID: auth.RequestID(r.Context()),
		}
		if accountID != 0 {
			dl.Admit = func() time.Duration { return h.SpendWebhookAccount(provider, accountID) }
		}
		out, err := svc.Handle(r.Context(), dl)
		if err != nil {
			if reason := webhook.RejectReason(err); reason != "" {
				noteReason(r, reason)
			}
			switch StatusOf(err) {
			case http.StatusServiceUnavailable:
				w.Header().Set("Retry-After", WebhookRetryAfter)
			case http.StatusTooManyRequests:
				w.Header().Set("Retry-After", retryAfter(out.RetryAfter))
			}
			return err
		}
		if out.Status == webhook.OutcomeAccepted {
			// The sender hears drop reasons as ingest.Reported says, not as audited.
			writeAccepted(w, out.Result)
			return nil
		}
		WriteJSON(w, out.HTTPStatus(), map[string]string{"status": out.Status})
		return nil
	}
}

// readBody reads a request's whole body. A declared length (limitBody refused one over
// the limit) is read into one buffer of that size: io.ReadAll grows its buffer from 512
// bytes, 4 allocations and about twice the bytes for host/bench's 1.2 KB delivery.
// The body, read to its end, is closed: net/http, finding it open when the answer's
// header is written, reads it to EOF once more through an io.LimitReader of its own
// (chunkWriter.writeHeader), an allocation and a locked read per delivery for nothing.
func readBody(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n > 0 {
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, err
		}
		_ = r.Body.Close() // at EOF: closing reads nothing more
		return b, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	_ = r.Body.Close()
	return b, nil
}

// acceptedBufs are the buffers writeAccepted writes from.
var acceptedBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// writeAccepted answers a stored delivery: res.Reported() as JSON, byte for byte what
// WriteJSON writes of it (TestWriteAcceptedMatchesJSON), without the map Reported
// copies, the encoder and its reflection: 2 allocations per delivery, and the encoding
// was 1% of the host's CPU samples (host/bench, postgres/c64/plugin). A result with test sessions, or
// more drop reasons than appendAccepted takes, goes through WriteJSON.
func writeAccepted(w http.ResponseWriter, res ingest.Result) {
	bp := acceptedBufs.Get().(*[]byte)
	defer acceptedBufs.Put(bp)
	b, ok := appendAccepted((*bp)[:0], res)
	if !ok {
		WriteJSON(w, http.StatusOK, res.Reported())
		return
	}
	*bp = b
	h := w.Header()
	h["Content-Type"], h["X-Content-Type-Options"] = jsonContentType, nosniff
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// appendAccepted appends res.Reported() as encoding/json's Encoder writes it (fields in
// order, map keys sorted, a newline after), or says it cannot: test sessions, more
// than 16 reported drop reasons, or a reason that would need escaping.
func appendAccepted(b []byte, res ingest.Result) ([]byte, bool) {
	if res.TestSessions != nil {
		return b, false
	}
	b = append(b, `{"accepted":`...)
	b = strconv.AppendInt(b, int64(res.Accepted), 10)
	b = append(b, `,"duplicates":`...)
	b = strconv.AppendInt(b, int64(res.Duplicates), 10)
	b = append(b, `,"dropped":`...)
	if res.Dropped == nil {
		return append(b, "null}\n"...), true
	}
	type count struct {
		reason string
		n      int
	}
	var buf [16]count
	counts := buf[:0]
	for reason, n := range res.Dropped {
		reason = ingest.ReportedReason(reason)
		if i := slices.IndexFunc(counts, func(c count) bool { return c.reason == reason }); i >= 0 {
			counts[i].n += n
			continue
		}
		if len(counts) == len(buf) || !plainKey(reason) {
			return b, false
		}
		counts = append(counts, count{reason, n})
	}
	slices.SortFunc(counts, func(a, b count) int { return strings.Compare(a.reason, b.reason) })
	b = append(b, '{')
	for i, c := range counts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, c.reason...)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, int64(c.n), 10)
	}
	return append(b, "}}\n"...), true
}

// plainKey: s is written in JSON as it is ([a-z0-9_], as every drop reason is).
func plainKey(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
