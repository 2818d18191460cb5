package sdk

import (
	"context"
	"errors"
	"fmt"
	"path"
	"runtime/debug"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
	"github.com/poolhost/poolhost/sdk/internal/convert"
)

// RegisterGRPCServer registers a as the poolhost adapter service on s, with panic
// recovery. [Serve] calls it; sdk/grpcplugin and sdk/sdktest use it to serve an adapter
// in-process. Adapters normally call Serve instead.
func RegisterGRPCServer(s grpc.ServiceRegistrar, a Adapter) {
	srv := &grpcServer{adapter: a}
	desc := withInterceptor(pb.Adapter_ServiceDesc, recoverUnary)
	s.RegisterService(&desc, srv)
}

// withInterceptor returns a copy of desc whose handlers run ic around whatever
// interceptor the server was built with. Putting the recovery here rather than in a
// grpc.ServerOption means every server the service is registered on gets it, including
// go-plugin's test servers, which are built without options.
func withInterceptor(desc grpc.ServiceDesc, ic grpc.UnaryServerInterceptor) grpc.ServiceDesc {
	methods := make([]grpc.MethodDesc, len(desc.Methods))
	for i, m := range desc.Methods {
		h := m.Handler
		m.Handler = func(srv any, ctx context.Context, dec func(any) error, next grpc.UnaryServerInterceptor) (any, error) {
			if next == nil {
				return h(srv, ctx, dec, ic)
			}
			return h(srv, ctx, dec, func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
				return ic(ctx, req, info, func(ctx context.Context, req any) (any, error) {
					return next(ctx, req, info, handler)
				})
			})
		}
		methods[i] = m
	}
	desc.Methods = methods
	return desc
}

// recoverUnary turns a panic in one call into an INTERNAL status (temporary for the
// host) so one bad payload cannot take the plugin down for every other account.
func recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			method := path.Base(info.FullMethod)
			Logger().Error("adapter panicked", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			// The panic value stays in the plugin's log: it may quote input.
			resp, err = nil, status.Errorf(codes.Internal, "plugin panicked in %s (see plugin log)", method)
		}
	}()
	return handler(ctx, req)
}

// grpcServer is the server shim: wire types in, hand-written types to the adapter, and
// back.
type grpcServer struct {
	pb.UnimplementedAdapterServer
	adapter Adapter
}

func (s *grpcServer) Describe(ctx context.Context, _ *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	d, err := s.adapter.Describe(ctx)
	if err == nil {
		err = CheckCapabilities(s.adapter, d)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return descriptionToProto(d), nil
}

func (s *grpcServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	if err := s.adapter.Configure(ctx, configureRequestFromProto(req)); err != nil {
		return nil, toStatus(err)
	}
	return &pb.ConfigureResponse{}, nil
}

func (s *grpcServer) Connect(ctx context.Context, req *pb.ConnectRequest) (*pb.ConnectResponse, error) {
	res, err := s.adapter.Connect(ctx, connectRequestFromProto(req))
	if err == nil && res.Linkage != nil {
		err = res.Linkage.Check()
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ConnectResponse{AuthorizeUrl: res.AuthorizeURL, Linkage: linkagePtrToProto(res.Linkage)}, nil
}

func (s *grpcServer) Callback(ctx context.Context, req *pb.CallbackRequest) (*pb.CallbackResponse, error) {
	l, err := s.adapter.Callback(ctx, callbackRequestFromProto(req))
	if err == nil {
		err = l.Check()
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.CallbackResponse{Linkage: linkageToProto(l)}, nil
}

func (s *grpcServer) DiscoverDevices(ctx context.Context, req *pb.DiscoverDevicesRequest) (*pb.DiscoverDevicesResponse, error) {
	ctx, cancel := answerInTime(ctx)
	defer cancel()
	res, err := s.adapter.DiscoverDevices(ctx, discoverRequestFromProto(req))
	if err == nil {
		err = res.Check()
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return discoverResultToProto(res), nil
}

func (s *grpcServer) VerifyWebhook(ctx context.Context, req *pb.VerifyWebhookRequest) (*pb.VerifyWebhookResponse, error) {
	if err := s.adapter.VerifyWebhook(ctx, webhookRequestFromProto(req.GetWebhook())); err != nil {
		return nil, toStatus(err)
	}
	return &pb.VerifyWebhookResponse{}, nil
}

func (s *grpcServer) Webhook(ctx context.Context, req *pb.WebhookRequest) (*pb.WebhookResponse, error) {
	res, err := s.adapter.Webhook(ctx, webhookRequestFromProto(req.GetWebhook()))
	if err == nil {
		err = res.Check()
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.WebhookResponse{Result: webhookResultToProto(res)}, nil
}

// IngestWebhook verifies then parses. A verification failure is the call's status; a
// parse failure after a successful verification travels in the response, so the host
// can tell an authentic payload it should keep from one it must drop.
func (s *grpcServer) IngestWebhook(ctx context.Context, req *pb.IngestWebhookRequest) (*pb.IngestWebhookResponse, error) {
	return s.ingest(ctx, req, nil)
}

// ingest is IngestWebhook with the answer built in st's storage (nil: new).
func (s *grpcServer) ingest(ctx context.Context, req *pb.IngestWebhookRequest, st *answerStore) (*pb.IngestWebhookResponse, error) {
	wr := webhookRequestFromProto(req.GetWebhook())
	if err := s.adapter.VerifyWebhook(ctx, wr); err != nil {
		return nil, toStatus(err)
	}
	res, err := s.parseRecovering(ctx, wr)
	if err == nil {
		err = res.Check()
	}
	if err != nil {
		return &pb.IngestWebhookResponse{WebhookError: errorToProto(err)}, nil
	}
	if st == nil {
		return &pb.IngestWebhookResponse{Result: webhookResultToProto(res)}, nil
	}
	return st.fill(res), nil
}

// parseRecovering calls Webhook with its own recovery: a panic while parsing an authentic
// payload must still be reported as a parse failure, or the payload would be dropped.
func (s *grpcServer) parseRecovering(ctx context.Context, wr WebhookRequest) (res WebhookResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			Logger().Error("adapter panicked", "method", "Webhook", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			res, err = WebhookResult{}, Temporary("plugin panicked in Webhook (see plugin log)")
		}
	}()
	return s.adapter.Webhook(ctx, wr)
}

func (s *grpcServer) PollReadings(ctx context.Context, req *pb.PollReadingsRequest) (*pb.PollReadingsResponse, error) {
	p, ok := s.adapter.(Poller)
	if !ok {
		return nil, toStatus(Unsupported("poll readings"))
	}
	ctx, cancel := answerInTime(ctx)
	defer cancel()
	res, err := p.PollReadings(ctx, pollRequestFromProto(req))
	if err == nil {
		err = res.Check()
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return pollResultToProto(res), nil
}

func (s *grpcServer) Health(ctx context.Context, _ *pb.HealthRequest) (*pb.HealthResponse, error) {
	if h, ok := s.adapter.(HealthChecker); ok {
		if err := h.Health(ctx); err != nil {
			return nil, toStatus(err)
		}
	}
	return &pb.HealthResponse{}, nil
}

// kindCodes is the wire contract documented in adapter.proto.
var kindCodes = map[ErrorKind]codes.Code{
	KindTemporary:    codes.Unavailable,
	KindPermanent:    codes.InvalidArgument,
	KindReauth:       codes.Unauthenticated,
	KindUnsupported:  codes.Unimplemented,
	KindRejected:     codes.PermissionDenied,
	KindInvalidInput: codes.FailedPrecondition,
}

// toStatus maps an adapter error to a gRPC status the host decodes back into an *Error,
// with an ErrorDetail when the error carries refreshed credentials or a failed poll's
// next cursor ([WithNextCursor]), and gRPC's standard
// RetryInfo when it carries the provider's Retry-After ([RetryAfter]): the host's poll
// worker waits at least that long before it polls the account again.
func toStatus(err error) error {
	st := status.Convert(statusOf(err))
	creds, ok := RefreshedCredentialsOf(err)
	var e *Error
	reason := ""
	if errors.As(err, &e) && e.Kind == KindRejected {
		reason = e.Reason
	}
	after := RetryAfterOf(err)
	cursor, withCursor := NextCursorOf(err)
	if !ok && reason == "" && after <= 0 && !withCursor {
		return st.Err()
	}
	var details []protoadapt.MessageV1
	if ok || reason != "" || withCursor {
		detail := &pb.ErrorDetail{Reason: reason}
		if ok {
			detail.RefreshedCredentials = convert.CredentialsToProto(creds)
		}
		if withCursor {
			detail.NextCursor = &cursor
		}
		details = append(details, detail)
	}
	if after > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(after)})
	}
	withCreds, derr := st.WithDetails(details...)
	if derr != nil {
		// Only a marshalling bug gets here; the tokens are lost, so say so loudly (without
		// them) rather than fail the call differently.
		Logger().Error("attach refreshed credentials to error", "error", derr)
		return st.Err()
	}
	return withCreds.Err()
}

func statusOf(err error) error {
	var e *Error
	if errors.As(err, &e) {
		code, ok := kindCodes[e.Kind]
		if !ok {
			code = codes.Unknown
		}
		return status.Error(code, errorMessage(err, e))
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Unavailable, err.Error())
}

// errorMessage is err's text without the "kind: " prefix of e, which the host adds back
// when it rebuilds the *Error: "list devices: reauth_required: expired" travels as
// "list devices: expired".
func errorMessage(err error, e *Error) string {
	if err == error(e) {
		return e.Message
	}
	return strings.Replace(err.Error(), e.Error(), e.Message, 1)
}
