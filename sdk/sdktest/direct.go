package sdktest

import (
	"context"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
)

// Direct adapts an in-process adapter to [Target]; IngestWebhook verifies then parses,
// as the plugin side of the wire does. Every request reaches the adapter, and every
// answer comes back, through the wire's own conversions and protobuf encoding (the
// host's client's half and the plugin side's: grpcplugin.EncodeRequest, then
// sdk.DecodeRequest; sdk.EncodeAnswer, then grpcplugin.DecodeAnswer), so what the
// adapter receives and what the checks judge are what they are over gRPC: times in UTC
// without a monotonic clock reading, header names canonical and repeated ones merged,
// empty maps and slices as nil, a reading with a time Timed. Errors and panics are the
// adapter's own, unconverted.
func Direct(a sdk.Adapter) Target { return direct{a} }

type direct struct{ sdk.Adapter }

// asReceived is req as the adapter receives it over the wire. An error is permanent:
// over the wire the adapter would not be called either.
func asReceived[T any](req T) (T, error) {
	var out T
	b, err := grpcplugin.EncodeRequest(req)
	if err == nil {
		err = sdk.DecodeRequest(b, &out)
	}
	return out, err
}

// asAnswered is the adapter's answer (res, err) as the host's client returns it: on an
// error, no result; a result the plugin side of the wire refuses (its Check: an id that
// is not valid UTF-8, say) is that refusal.
func asAnswered[T any](res T, err error) (T, error) {
	var out T
	if c, ok := any(res).(interface{ Check() error }); ok && err == nil {
		err = c.Check()
	}
	if err != nil {
		return out, err
	}
	b, err := sdk.EncodeAnswer(res)
	if err == nil {
		err = grpcplugin.DecodeAnswer(b, &out)
	}
	return out, err
}

// Describe is the adapter's, checked as sdk.Serve checks it: a plugin that claims to
// poll must implement sdk.Poller.
func (d direct) Describe(ctx context.Context) (sdk.Description, error) {
	desc, err := d.Adapter.Describe(ctx)
	if err == nil {
		err = sdk.CheckCapabilities(d.Adapter, desc)
	}
	return asAnswered(desc, err)
}

func (d direct) Configure(ctx context.Context, req sdk.ConfigureRequest) error {
	req, err := asReceived(req)
	if err != nil {
		return err
	}
	return d.Adapter.Configure(ctx, req)
}

func (d direct) DiscoverDevices(ctx context.Context, req sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
	req, err := asReceived(req)
	if err != nil {
		return sdk.DiscoverResult{}, err
	}
	return asAnswered(d.Adapter.DiscoverDevices(ctx, req))
}

func (d direct) VerifyWebhook(ctx context.Context, req sdk.WebhookRequest) error {
	req, err := asReceived(req)
	if err != nil {
		return err
	}
	return d.Adapter.VerifyWebhook(ctx, req)
}

func (d direct) Webhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	req, err := asReceived(req)
	if err != nil {
		return sdk.WebhookResult{}, err
	}
	return asAnswered(d.Adapter.Webhook(ctx, req))
}

func (d direct) IngestWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	req, err := asReceived(req)
	if err != nil {
		return sdk.WebhookResult{}, err
	}
	if err := d.Adapter.VerifyWebhook(ctx, req); err != nil {
		return sdk.WebhookResult{}, err
	}
	res, err := asAnswered(d.Adapter.Webhook(ctx, req))
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
	req, err := asReceived(req)
	if err != nil {
		return sdk.PollResult{}, err
	}
	return asAnswered(p.PollReadings(ctx, req))
}
