package sdk

import "context"

// Adapter is the contract every provider plugin implements. Methods a provider does not
// offer return an error made with [Unsupported] (embed [UnsupportedAdapter] to get that
// for free). Every method receives a context whose deadline the host sets per method;
// honour it when calling upstream.
type Adapter interface {
	// Describe reports who the plugin is and what it can do. The host refuses a plugin
	// whose description contradicts its configuration.
	Describe(ctx context.Context) (Description, error)
	// Configure delivers provider-level settings and secrets (OAuth client secret,
	// webhook secret) once after start and again on every reload. Secrets never arrive
	// through the environment.
	Configure(ctx context.Context, req ConfigureRequest) error
	// Connect starts linking a user's provider account: either a redirect to the
	// provider's consent page or, for API-key style providers, an immediate linkage.
	Connect(ctx context.Context, req ConnectRequest) (ConnectResult, error)
	// Callback completes a redirect handshake and returns the linkage.
	Callback(ctx context.Context, req CallbackRequest) (Linkage, error)
	// DiscoverDevices lists the account's devices.
	DiscoverDevices(ctx context.Context, req DiscoverRequest) (DiscoverResult, error)
	// VerifyWebhook checks the authenticity of a raw webhook. It must compare secrets in
	// constant time (see sdk/signature) and return an error of kind [KindRejected] when
	// the signature is missing or wrong.
	VerifyWebhook(ctx context.Context, req WebhookRequest) error
	// Webhook parses an already verified webhook into normalized readings. A payload that
	// can never be parsed returns a [KindPermanent] error; anything else is retried.
	Webhook(ctx context.Context, req WebhookRequest) (WebhookResult, error)
}

// Poller is implemented by adapters that can pull readings. It is optional: the host
// only polls providers whose description sets Capabilities.Poll.
type Poller interface {
	PollReadings(ctx context.Context, req PollRequest) (PollResult, error)
}

// HealthChecker is optionally implemented by adapters that want a say in liveness. The
// host calls Health under a short deadline; an adapter without it is healthy while it
// answers at all.
type HealthChecker interface {
	Health(ctx context.Context) error
}

// UnsupportedAdapter answers every optional method with an [KindUnsupported] error.
// Embed it and override what the provider offers.
type UnsupportedAdapter struct{}

func (UnsupportedAdapter) Connect(context.Context, ConnectRequest) (ConnectResult, error) {
	return ConnectResult{}, Unsupported("connect")
}

func (UnsupportedAdapter) Callback(context.Context, CallbackRequest) (Linkage, error) {
	return Linkage{}, Unsupported("callback")
}

func (UnsupportedAdapter) DiscoverDevices(context.Context, DiscoverRequest) (DiscoverResult, error) {
	return DiscoverResult{}, Unsupported("discover devices")
}

func (UnsupportedAdapter) VerifyWebhook(context.Context, WebhookRequest) error {
	return Unsupported("webhooks")
}

func (UnsupportedAdapter) Webhook(context.Context, WebhookRequest) (WebhookResult, error) {
	return WebhookResult{}, Unsupported("webhooks")
}

// CheckCapabilities refuses a description that promises what the adapter does not
// implement: Capabilities.Poll without [Poller], Capabilities.Write without [Commander].
// Serve applies it to every Describe, so the host refuses such a plugin when it starts —
// saying why — instead of polling it and getting "poll not supported" for every account,
// or failing every command an operator approved as "send command not supported"; the
// conformance kit applies it too.
func CheckCapabilities(a Adapter, d Description) error {
	if _, ok := a.(Poller); d.Capabilities.Poll && !ok {
		return Permanent("capabilities.poll is set but the adapter does not implement sdk.Poller (PollReadings)")
	}
	if _, ok := a.(Commander); d.Capabilities.Write && !ok {
		return Permanent("capabilities.write is set but the adapter does not implement sdk.Commander (SendCommand)")
	}
	return nil
}
