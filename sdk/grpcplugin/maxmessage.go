package grpcplugin

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MaxMessage caps the messages a host-side client accepts from the plugin at max bytes
// (judge.Caps.MaxMessageBytes). The host and the conformance kit both dial with it, so
// an answer the host would refuse as too large is refused by `poolhost plugins test` too,
// with the same words.
//
// gRPC reports an oversized message as RESOURCE_EXHAUSTED, which the wire contract reads
// as temporary (a plugin may use it for a provider's quota); a message the client refused
// to read will be as large next time, so it becomes INVALID_ARGUMENT: permanent.
// refused, when set, is told the gRPC method ("/pkg.Adapter/IngestWebhook") of each
// refusal, for a metric.
func MaxMessage(max int64, refused func(grpcMethod string)) []grpc.DialOption {
	refuse := func(method string, err error) error {
		if !oversized(err) {
			return err
		}
		if refused != nil {
			refused(method)
		}
		return OversizedRefusal(max, err)
	}
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(int(max))),
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return refuse(method, invoker(ctx, method, req, reply, cc, opts...))
		}),
		// IngestWebhook's pooled streams (ingeststream.go): the same refusal, read from the
		// stream's answers. One wrapper per stream, not per delivery.
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			cs, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil {
				return nil, refuse(method, err)
			}
			return &refusingStream{ClientStream: cs, method: method, refuse: refuse}, nil
		}),
	}
}

// OversizedRefusal is err as MaxMessage's clients report it: gRPC's refusal to read an
// answer over max bytes (RESOURCE_EXHAUSTED, "received message larger than max") becomes
// the INVALID_ARGUMENT refusal naming plugins.max_message_bytes; any other err is
// returned as it is. For a client on another transport (sdktest.Direct's, in memory), so
// that its refusal is the host's, word for word.
func OversizedRefusal(max int64, err error) error {
	if !oversized(err) {
		return err
	}
	return status.Error(codes.InvalidArgument, fmt.Sprintf("plugin answer refused: larger than plugins.max_message_bytes (%d)", max))
}

// oversized reports whether err is gRPC's refusal to read a message over its limit.
func oversized(err error) bool {
	st, ok := status.FromError(err)
	return ok && err != nil && st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max")
}

// refusingStream is a client stream whose oversized answers read as MaxMessage's refusal.
type refusingStream struct {
	grpc.ClientStream
	method string
	refuse func(method string, err error) error
}

func (s *refusingStream) RecvMsg(m any) error {
	if err := s.ClientStream.RecvMsg(m); err != nil {
		return s.refuse(s.method, err)
	}
	return nil
}
