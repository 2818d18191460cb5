package template

import (
	"context"
	"encoding/json"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/signature"
)

// Acme signs its webhooks with the Standard Webhooks scheme (https://www.standardwebhooks.com):
// headers webhook-id, webhook-timestamp and webhook-signature, HMAC-SHA256 over
// "id.timestamp.body". sdk/signature implements it (constant time, several signatures
// for secret rotation, ±5 minutes tolerance).

// eventReadingsCreated is the only Acme event that carries measurements.
const eventReadingsCreated = "readings.created"

// acmeEvent is the body of an Acme webhook delivery.
type acmeEvent struct {
	Event    string            `json:"event"`
	DeviceID string            `json:"device_id"`
	Readings []json.RawMessage `json:"readings"`
}

// VerifyWebhook authenticates a delivery before anything else looks at it. The secret
// that applies depends on the URL the delivery came to: an account-scoped URL
// (/v1/webhooks/template/accounts/{id}) uses that account's own secret, which the host
// passes as AccountSecret; the provider-level URL uses the configured webhook_secret.
// Never fall back from one to the other: an account URL that accepted the provider
// secret would let whoever holds it write into any account.
func (a *Adapter) VerifyWebhook(_ context.Context, req sdk.WebhookRequest) error {
	var v *signature.StandardWebhooks
	if req.Account != nil {
		if req.AccountSecret == "" {
			return sdk.Rejected("account has no webhook secret")
		}
		var err error
		if v, err = signature.NewStandardWebhooks(req.AccountSecret); err != nil {
			// Say why without quoting the secret; the delivery cannot be trusted.
			return sdk.Rejected("account webhook secret is unusable")
		}
	} else {
		cfg, err := a.config()
		if err != nil {
			return err
		}
		if cfg.webhook == nil {
			return sdk.Rejected("no provider webhook secret is configured")
		}
		v = cfg.webhook
	}
	// VerifyRequest checks the timestamp against the host's receive time (ReceivedAt),
	// not the plugin's clock: that is the moment the replay window is about.
	return signature.VerifyRequest(v, req)
}

// Webhook parses a verified delivery. Only readings.created carries data; other events
// (device.added, …) are acknowledged with no readings, since failing them would make
// Acme redeliver them forever.
func (a *Adapter) Webhook(_ context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	// The webhook-id is Acme's idempotency key: redeliveries carry the same one.
	res := sdk.WebhookResult{DeliveryID: req.Headers.Get("webhook-id")}
	var ev acmeEvent
	if err := json.Unmarshal(req.Body, &ev); err != nil {
		// The same bytes will never parse: permanent, so the host dead-letters the
		// delivery at once instead of retrying it.
		return res, sdk.Permanent("malformed acme webhook: %v", err)
	}
	if ev.Event != eventReadingsCreated {
		return res, nil
	}
	if ev.DeviceID == "" {
		return res, sdk.Permanent("acme %s event without device_id", ev.Event)
	}
	readings, err := toReadings(ev.DeviceID, ev.Readings)
	if err != nil {
		return res, err
	}
	res.Readings = readings
	return res, nil
}
