package sdk

import "context"

// Subscriber is implemented by adapters whose provider's cloud must be told where to post
// each account's webhooks (a per-user callback subscription: Withings' notify/subscribe,
// Netatmo, Tuya). It is optional: the host calls it only on adapters that implement it,
// and an older plugin answering Unimplemented means "nothing to register".
//
// The host calls Subscribe once the account is stored and has its own webhook URL (its
// credentials hold "webhook_secret", whatever the connect kind), so the URL names the
// account: Connect could not, as it runs before the account exists. A failure is shown on
// the account (subscriptionError) and the host calls Subscribe again later, so both
// methods must be idempotent. Unsubscribe runs when the user disconnects the account,
// before its credentials are erased; its failure does not stop the disconnect.
//
// Errors follow the usual kinds: [Reauth] when the provider refused the credentials,
// [Temporary] for an unreachable provider, [Permanent] for a refusal that retrying will
// not change. Messages reach the user: never put secrets in them.
type Subscriber interface {
	Subscribe(ctx context.Context, req SubscribeRequest) error
	Unsubscribe(ctx context.Context, req SubscribeRequest) error
}

// SubscribeRequest names the account and its own webhook URL.
type SubscribeRequest struct {
	// Account carries the account's credentials (and its webhook secret, for providers
	// that are told which secret to sign with).
	Account Account
	// AccountWebhookURL is the account's own URL, /v1/webhooks/{provider}/accounts/{id},
	// built from the host's public_url.
	AccountWebhookURL string
}
