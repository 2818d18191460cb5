package sdktest

import (
	"context"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
)

// Direct adapts an in-process adapter to [Target]; IngestWebhook verifies then parses,
// as the plugin side of the wire does.
func Direct(a sdk.Adapter) Target { return direct{a} }

type direct struct{ sdk.Adapter }

// Describe is the adapter's, checked as sdk.Serve checks it: a plugin that claims to
// poll must implement sdk.Poller.
func (d direct) Describe(ctx context.Context) (sdk.Description, error) {
	desc, err := d.Adapter.Describe(ctx)
	if err == nil {
		err = sdk.CheckCapabilities(d.Adapter, desc)
	}
	return desc, err
}

func (d direct) IngestWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	if err := d.VerifyWebhook(ctx, req); err != nil {
		return sdk.WebhookResult{}, err
	}
	res, err := d.Webhook(ctx, req)
	if err != nil {
		return sdk.WebhookResult{}, &grpcplugin.ParseError{Err: err}
	}
	return res, nil
}

func (d direct) PollReadings(ctx context.Context, req sdk.PollRequest) (sdk.PollResult, error) {
	p, ok := d.Adapter.(sdk.Poller)
	if !ok {
		return sdk.PollResult{}, sdk.Unsupported("poll")
	}
	return p.PollReadings(ctx, req)
}
