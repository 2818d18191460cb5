package httpapi

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/webhook"
)

// WithWebhooks registers the webhook routes:
//
//	POST /v1/webhooks/{provider}                        provider-level secret
//	POST /v1/webhooks/{provider}/accounts/{accountId}   that account's own secret
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
	})
}

// WebhookRetryAfter is the Retry-After of a 503 webhook answer, in seconds.
const WebhookRetryAfter = "5"

func webhookHandler(svc *webhook.Service, h *Handler) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		provider := mux.Vars(r)["provider"]
		var accountID int64
		if _, scoped := mux.Vars(r)["accountId"]; scoped {
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
			WriteJSON(w, http.StatusOK, out.Result.Reported())
			return nil
		}
		WriteJSON(w, out.HTTPStatus(), map[string]string{"status": out.Status})
		return nil
	}
}

// readBody reads a request's whole body. A declared length (limitBody refused one over
// the limit) is read into one buffer of that size: io.ReadAll grows its buffer from 512
// bytes, 4 allocations and about twice the bytes for host/bench's 1.2 KB delivery.
func readBody(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n > 0 {
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(r.Body)
}
