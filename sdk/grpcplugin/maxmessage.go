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
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(int(max))),
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			err := invoker(ctx, method, req, reply, cc, opts...)
			if st, ok := status.FromError(err); ok && st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max") {
				if refused != nil {
					refused(method)
				}
				return status.Error(codes.InvalidArgument, fmt.Sprintf("plugin answer refused: larger than plugins.max_message_bytes (%d)", max))
			}
			return err
		}),
	}
}
