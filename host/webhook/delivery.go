package webhook

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	"github.com/poolhost/poolhost/sdk/tracing"
)

// Outcome statuses, also the "outcome" label of the deliveries metric.
const (
	OutcomeAccepted    = "accepted"    // 200: readings committed
	OutcomeQueued      = "queued"      // 202: verified payload kept for the retry worker
	OutcomeDead        = "dead"        // 202: verified payload that can never be parsed
	OutcomeRejected    = "rejected"    // 401
	OutcomeUnavailable = "unavailable" // 503: nothing stored, the provider redelivers
	OutcomeNotFound    = "not_found"   // 404
	OutcomeTooLarge    = "too_large"   // 413
	// OutcomeDiscarded: 202, a dead letter past its account's cap (DeadLetterCap): the
	// payload is not kept. A 2xx is what providers take as final; any other answer has
	// them redeliver the same unparseable payload until their retry budget runs out,
	// and a 4xx would tell a signer nothing a 202 does not (the body says "discarded").
	OutcomeDiscarded = "discarded"
	// OutcomeRateLimited: 429 with Retry-After, an account over its delivery rate.
	OutcomeRateLimited = "rate_limited"
)

// Delivery is one webhook request as received.
type Delivery struct {
	Provider string
	// AccountID is set for /v1/webhooks/{provider}/accounts/{accountId}.
	AccountID int64
	Headers   http.Header
	Body      []byte
	// Client identifies the sender for rate-limiting rejection audits (its address).
	Client    string
	RequestID string
	// Admit, when set, is asked once the delivery's signature has checked, before
	// anything is stored: 0 lets it through, a wait refuses it (429, Retry-After). The
	// HTTP layer spends the account's bucket (http.rate_limit.per_webhook_account) here,
	// after verification, so that nobody without the secret can use it up.
	Admit func() time.Duration
}

// Outcome is a handled delivery that the provider must not redeliver.
type Outcome struct {
	Status string // OutcomeAccepted, OutcomeQueued or OutcomeDead
	// Result is set when Status is OutcomeAccepted.
	Result ingest.Result
	// FailureID is the integration_ingestion_failures row when queued or dead.
	FailureID int64
	// RetryAfter is the wait of a delivery refused by Delivery.Admit (ErrTooMany).
	RetryAfter time.Duration
	// replay: a copy of a delivery handled before, answered without writing.
	replay bool
}

// HTTPStatus is the answer for the outcome: 200 when stored, 202 when kept.
func (o Outcome) HTTPStatus() int {
	if o.Status == OutcomeAccepted {
		return http.StatusOK
	}
	return http.StatusAccepted
}

// Handle runs one delivery through the pipeline. A nil error means the delivery is safe
// (stored or queued) and the provider must not redeliver it; an error is a *host.Error
// (404, 401 or 503) and nothing was stored.
func (s *Service) Handle(ctx context.Context, dl Delivery) (Outcome, error) {
	// Get fails only for unknown and disabled providers; a provider whose plugin is
	// down is found, and its calls fail with pluginmgr.ErrUnavailable. Only a found
	// provider's id becomes a metric label (see providerLabel).
	var out Outcome
	label := "unknown"
	plugin, err := s.d.Handles(dl.Provider)
	if err != nil {
		err = ErrProviderNotFound
	} else {
		label = dl.Provider
		out, err = s.handle(ctx, dl, plugin)
	}
	outcome := out.Status
	if err != nil {
		switch host.ErrorCode(err) {
		case host.ENOTFOUND:
			outcome = OutcomeNotFound
		case host.EUNAUTHORIZED:
			outcome = OutcomeRejected
		case host.ETOOMANY:
			outcome = OutcomeRateLimited
		default:
			outcome = OutcomeUnavailable
		}
	}
	s.metrics.deliveries.WithLabelValues(label, outcome).Inc()
	return out, err
}

// CountTooLarge records a delivery refused for its size before it reached Handle.
func (s *Service) CountTooLarge(provider string) {
	s.metrics.deliveries.WithLabelValues(s.providerLabel(provider), OutcomeTooLarge).Inc()
}

// providerLabel keeps unknown provider ids (anyone can post to any URL) out of metric
// labels, so a scanner cannot grow the series without bound.
func (s *Service) providerLabel(id string) string {
	if _, err := s.d.Handles(id); err == nil {
		return id
	}
	return "unknown"
}

func (s *Service) handle(ctx context.Context, dl Delivery, plugin Handle) (Outcome, error) {
	receivedAt := s.now().UTC()
	if !plugin.Config().Webhooks {
		return Outcome{}, ErrProviderNotFound
	}

	req := sdk.WebhookRequest{Headers: dl.Headers, Body: dl.Body, ReceivedAt: receivedAt}
	// noAccount: the account-scoped URL names no live account of this provider. The
	// delivery is verified all the same, against a decoy secret nobody holds, and then
	// rejected whatever the plugin says: a miss costs what a hit costs, so the public URL
	// does not tell by timing which account ids exist (the store decrypts a decoy too).
	noAccount := false
	if dl.AccountID != 0 {
		acc, creds, err := s.account(ctx, dl)
		switch {
		case errors.Is(err, errNoSuchAccount):
			noAccount = true
			acc, creds = store.Account{ID: dl.AccountID}, map[string]string{CredentialSecretKey: s.decoySecret}
		case err != nil:
			return Outcome{}, err
		}
		req.Account = &sdk.Account{
			ID:                strconv.FormatInt(acc.ID, 10),
			ExternalAccountID: acc.ExternalAccountID,
			Credentials:       creds,
		}
		req.AccountSecret = creds[CredentialSecretKey]
	}

	res, err := plugin.IngestWebhook(ctx, req)
	// A rotated secret: the one it replaced is still accepted during its overlap
	// (store.RotateWebhookSecret; the store drops it once the overlap is over). A sender
	// signing with both (Standard Webhooks' "v1,new v1,old") passes the first call.
	prevReq, rotated := previousSecret(req)
	if rotated && sdk.IsKind(err, sdk.KindRejected) {
		if res2, err2 := plugin.IngestWebhook(ctx, prevReq); !sdk.IsKind(err2, sdk.KindRejected) {
			req, res, err = prevReq, res2, err2
		}
	}
	parseErr := parseError(err)
	sec := secretSource{plugin: plugin, account: req.Account}
	if noAccount && (err == nil || parseErr != nil || sdk.IsKind(err, sdk.KindRejected)) {
		// Verified against a secret nobody holds cannot happen; if a plugin ignores
		// the secret, the answer is the same rejection anyway.
		return Outcome{}, s.reject(ctx, dl, errNoSuchAccount)
	}
	if err == nil || parseErr != nil {
		if wait := s.admit(dl); wait > 0 {
			return Outcome{RetryAfter: wait}, ErrTooMany
		}
	}
	switch {
	case err == nil && res.DeliveryID == "":
		return s.persist(ctx, dl, receivedAt, res, sec)
	case err == nil:
		return s.once(deliveryKey(dl.Provider, dl.AccountID, res.DeliveryID), dl.Provider, func() (Outcome, error) {
			return s.persist(ctx, dl, receivedAt, res, sec)
		})
	case parseErr != nil:
		// Verified, then the parse failed: the payload is authentic and worth keeping.
		return s.once(requestKey(dl.Provider, dl.AccountID, dl.Headers, dl.Body), dl.Provider, func() (Outcome, error) {
			return s.keep(ctx, dl, receivedAt, "", parseErr.Err, sec)
		})
	case sdk.IsKind(err, sdk.KindRejected):
		return Outcome{}, s.reject(ctx, dl, err)
	case sdk.IsKind(err, sdk.KindUnsupported):
		return Outcome{}, ErrProviderNotFound
	}

	// The call failed without saying whether the payload is authentic (crash, timeout,
	// restart). Ask once more, verification alone: only a confirmed payload is kept.
	verr := plugin.VerifyWebhook(ctx, req)
	if rotated && sdk.IsKind(verr, sdk.KindRejected) {
		verr = plugin.VerifyWebhook(ctx, prevReq)
	}
	switch {
	case noAccount && (verr == nil || sdk.IsKind(verr, sdk.KindRejected)):
		return Outcome{}, s.reject(ctx, dl, errNoSuchAccount)
	case sdk.IsKind(verr, sdk.KindRejected):
		return Outcome{}, s.reject(ctx, dl, verr)
	case verr != nil:
		// The first of a run is logged whole, the rest counted (host/outage): while a
		// plugin restarts, every delivery to it fails alike.
		s.pluginUnavailable(dl.Provider).Fail(verr, tracing.LogArgs(ctx, []any{"provider", dl.Provider,
			"request_id", dl.RequestID, "ingest_error", err})...)
		return Outcome{}, ErrUnavailable
	}
	if wait := s.admit(dl); wait > 0 {
		return Outcome{RetryAfter: wait}, ErrTooMany
	}
	return s.once(requestKey(dl.Provider, dl.AccountID, dl.Headers, dl.Body), dl.Provider, func() (Outcome, error) {
		return s.keep(ctx, dl, receivedAt, "", err, sec)
	})
}

// parseError is err's *grpcplugin.ParseError, or nil. errors.As's target moves to the
// heap where it is declared: declared in handle, that was an allocation for every
// delivery, parsed or not.
func parseError(err error) *grpcplugin.ParseError {
	if err == nil {
		return nil
	}
	var pe *grpcplugin.ParseError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

// admit asks Delivery.Admit whether a verified delivery may go on: 0, or how long the
// sender must wait.
func (s *Service) admit(dl Delivery) time.Duration {
	if dl.Admit == nil {
		return 0
	}
	return dl.Admit()
}

// previousSecret returns req with the account's previous webhook secret, when a
// rotation left one still accepted.
func previousSecret(req sdk.WebhookRequest) (sdk.WebhookRequest, bool) {
	if req.Account == nil {
		return req, false
	}
	prev := req.Account.Credentials[store.PreviousWebhookSecretKey]
	if prev == "" {
		return req, false
	}
	creds := make(map[string]string, len(req.Account.Credentials))
	for k, v := range req.Account.Credentials {
		creds[k] = v
	}
	creds[CredentialSecretKey] = prev
	acc := *req.Account
	acc.Credentials = creds
	req.Account, req.AccountSecret = &acc, prev
	return req, true
}

// account loads the account of an account-scoped URL and its decrypted credentials. An
// account of another provider, or a disconnected one, does not exist for the sender
// (errNoSuchAccount); a delivery to it is verified and rejected exactly like a bad
// signature (see handle), so that the URL cannot be used without authentication to
// learn which account ids exist.
func (s *Service) account(ctx context.Context, dl Delivery) (store.Account, map[string]string, error) {
	// One query for both: this runs for every account-scoped delivery.
	acc, creds, err := s.d.Store.AccountWithCredentials(ctx, dl.AccountID, dl.Provider)
	if err != nil {
		if host.ErrorCode(err) == host.ENOTFOUND {
			return store.Account{}, nil, errNoSuchAccount
		}
		s.logStoreError("load webhook account", err, "account", dl.AccountID, "request_id", dl.RequestID)
		return store.Account{}, nil, ErrUnavailable
	}
	if creds == nil {
		s.log.Error("webhook account has no credentials", tracing.LogArgs(ctx, []any{"account", acc.ID, "request_id", dl.RequestID})...)
		return store.Account{}, nil, ErrUnavailable
	}
	return acc, creds, nil
}
