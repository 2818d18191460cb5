package httpapi

import (
	"errors"
	"io"
	"net"
	"net/http"

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
// They skip bearer-token authentication on purpose: the plugin authenticates the
// delivery, and some providers (The Things Stack) put their shared secret in an
// "Authorization: Bearer" header that is not a poolhost token.
func WithWebhooks(svc *webhook.Service) Option {
	return WithRoutes(func(rt *Router) {
		h := rt.h
		handle := func(path string) {
			chain := requestID(h.observe(h.limitBody(h.webhookHandler(svc))))
			h.mux.Handle(path, chain).Methods(http.MethodPost)
		}
		handle("/v1/webhooks/{provider}")
		handle("/v1/webhooks/{provider}/accounts/{accountId}")
	})
}

// WebhookRetryAfter is the Retry-After of a 503 webhook answer, in seconds.
const WebhookRetryAfter = "5"

func (h *Handler) webhookHandler(svc *webhook.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		provider := mux.Vars(r)["provider"]
		var accountID int64
		if _, scoped := mux.Vars(r)["accountId"]; scoped {
			id, err := pathID(r, "accountId")
			if err != nil {
				h.WriteError(w, r, webhook.ErrAccountNotFound)
				return
			}
			accountID = id
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				svc.CountTooLarge(provider)
				h.WriteError(w, r, host.Errorf(host.ETOOLARGE, "request body exceeds %d bytes", tooLarge.Limit))
				return
			}
			h.WriteError(w, r, host.Wrap(host.EINVALID, err, "could not read the request body"))
			return
		}
		out, err := svc.Handle(r.Context(), webhook.Delivery{
			Provider:  provider,
			AccountID: accountID,
			Headers:   r.Header,
			Body:      body,
			Client:    clientAddr(r),
			RequestID: auth.RequestID(r.Context()),
		})
		if err != nil {
			if StatusOf(err) == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", WebhookRetryAfter)
			}
			h.WriteError(w, r, err)
			return
		}
		if out.Status == webhook.OutcomeAccepted {
			WriteJSON(w, http.StatusOK, out.Result)
			return
		}
		WriteJSON(w, out.HTTPStatus(), map[string]string{"status": out.Status})
	})
}

// clientAddr is the peer address without its port: the key of the rejection-audit rate
// limit. Forwarded-for headers are ignored, since a forger could rotate them freely.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
