package sdk

import (
	"context"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// Subscribe is the server shim of [Subscriber]; an adapter without it answers
// Unimplemented, which the host reads as "nothing to register".
func (s *grpcServer) Subscribe(ctx context.Context, req *pb.SubscribeRequest) (*pb.SubscribeResponse, error) {
	sub, ok := s.adapter.(Subscriber)
	if !ok {
		return nil, toStatus(Unsupported("subscribe"))
	}
	if err := sub.Subscribe(ctx, subscribeRequestFromProto(req)); err != nil {
		return nil, toStatus(err)
	}
	return &pb.SubscribeResponse{}, nil
}

// Unsubscribe is the server shim of [Subscriber].Unsubscribe.
func (s *grpcServer) Unsubscribe(ctx context.Context, req *pb.SubscribeRequest) (*pb.SubscribeResponse, error) {
	sub, ok := s.adapter.(Subscriber)
	if !ok {
		return nil, toStatus(Unsupported("unsubscribe"))
	}
	if err := sub.Unsubscribe(ctx, subscribeRequestFromProto(req)); err != nil {
		return nil, toStatus(err)
	}
	return &pb.SubscribeResponse{}, nil
}

func subscribeRequestFromProto(req *pb.SubscribeRequest) SubscribeRequest {
	return SubscribeRequest{Account: accountFromProto(req.GetAccount()), AccountWebhookURL: req.GetAccountWebhookUrl()}
}
