package grpcplugin

import (
	"context"

	"github.com/poolhost/poolhost/sdk"
	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

var _ sdk.Subscriber = (*Client)(nil)

// Subscribe asks the plugin to register the account's own webhook URL with its
// provider's cloud. A plugin without the capability (an older one answering
// Unimplemented) returns an error of kind sdk.KindUnsupported.
func (c *Client) Subscribe(ctx context.Context, req sdk.SubscribeRequest) error {
	if _, err := c.rpc.Subscribe(ctx, subscribeRequestToProto(req)); err != nil {
		return fromStatus(ctx, "subscribe", err)
	}
	return nil
}

// Unsubscribe asks the plugin to remove that registration; errors as Subscribe.
func (c *Client) Unsubscribe(ctx context.Context, req sdk.SubscribeRequest) error {
	if _, err := c.rpc.Unsubscribe(ctx, subscribeRequestToProto(req)); err != nil {
		return fromStatus(ctx, "unsubscribe", err)
	}
	return nil
}

func subscribeRequestToProto(req sdk.SubscribeRequest) *pb.SubscribeRequest {
	return &pb.SubscribeRequest{Account: accountToProto(req.Account), AccountWebhookUrl: req.AccountWebhookURL}
}
