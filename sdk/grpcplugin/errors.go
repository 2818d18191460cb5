package grpcplugin

import (
	"context"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/poolhost/poolhost/sdk"
	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
	"github.com/poolhost/poolhost/sdk/internal/convert"
)

// codeKinds is the wire contract documented in adapter.proto. Codes not listed
// (INTERNAL for a recovered panic, UNKNOWN, transport failures) are temporary.
var codeKinds = map[codes.Code]sdk.ErrorKind{
	codes.Unavailable:        sdk.KindTemporary,
	codes.InvalidArgument:    sdk.KindPermanent,
	codes.Unauthenticated:    sdk.KindReauth,
	codes.Unimplemented:      sdk.KindUnsupported,
	codes.PermissionDenied:   sdk.KindRejected,
	codes.FailedPrecondition: sdk.KindInvalidInput,
}

// fromStatus turns a failed call back into an *sdk.Error carrying the adapter's kind and
// message. A call the caller's context ended reports the context error instead, since
// whatever the transport said is a consequence of it.
//
// Credentials the plugin refreshed before failing (an ErrorDetail in the status) stay on
// the returned error whatever its kind: see sdk.RefreshedCredentialsOf. So does a failed
// poll's next cursor (sdk.NextCursorOf), unless the caller's context ended the call.
func fromStatus(ctx context.Context, call string, err error) error {
	return fromStatusEnded(ContextEnded(ctx), call, err)
}

// fromStatusEnded is fromStatus for a call whose end is not its context's alone (see
// Bounds): ctxErr is how the call's context, deadline or abort ended it, nil if none did.
func fromStatusEnded(ctxErr error, call string, err error) error {
	st := status.Convert(err)
	kerr := kindError(ctxErr, call, st)
	if e, ok := kerr.(*sdk.Error); ok && e.Kind == sdk.KindRejected {
		e.Reason = rejectReason(st)
	}
	if d := retryDelay(st); d > 0 && ctxErr == nil {
		kerr = &sdk.RetryAfterError{Err: kerr, After: d}
	}
	if cursor, ok := nextCursor(st); ok && ctxErr == nil {
		kerr = sdk.WithNextCursor(kerr, cursor)
	}
	return sdk.WithRefreshedCredentials(kerr, refreshedCredentials(st))
}

// nextCursor returns the cursor in st's ErrorDetail (sdk.WithNextCursor), if it has one.
func nextCursor(st *status.Status) (string, bool) {
	for _, d := range st.Details() {
		if ed, ok := d.(*pb.ErrorDetail); ok && ed.NextCursor != nil {
			return ed.GetNextCursor(), true
		}
	}
	return "", false
}

// maxRetryDelay bounds the delay a plugin's answer names, as sdk.RetryAfterHeader bounds
// a provider's Retry-After header: the host answers it to apps (a 503's Retry-After)
// and schedules sends by it, and a plugin (in any language) may name any duration.
const maxRetryDelay = 24 * time.Hour

// retryDelay returns the delay of st's RetryInfo (the provider's Retry-After, see
// sdk.RetryAfter), at most maxRetryDelay, or 0.
func retryDelay(st *status.Status) time.Duration {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			return min(ri.GetRetryDelay().AsDuration(), maxRetryDelay)
		}
	}
	return 0
}

// rejectReason returns the reason in st's ErrorDetail, or "".
func rejectReason(st *status.Status) string {
	for _, d := range st.Details() {
		if ed, ok := d.(*pb.ErrorDetail); ok && ed.GetReason() != "" {
			return ed.GetReason()
		}
	}
	return ""
}

func kindError(ctxErr error, call string, st *status.Status) error {
	if ctxErr != nil {
		return contextError(call, ctxErr)
	}
	switch st.Code() {
	case codes.DeadlineExceeded:
		return contextError(call, context.DeadlineExceeded)
	case codes.Canceled:
		return contextError(call, context.Canceled)
	}
	kind, ok := codeKinds[st.Code()]
	if !ok {
		kind = sdk.KindTemporary
	}
	return &sdk.Error{Kind: kind, Message: st.Message()}
}

// refreshedCredentials returns the credentials in st's ErrorDetail, or nil. Details of
// other types (a plugin in another language may add its own) are ignored.
func refreshedCredentials(st *status.Status) sdk.Credentials {
	for _, d := range st.Details() {
		if ed, ok := d.(*pb.ErrorDetail); ok && ed.GetRefreshedCredentials() != nil {
			return sdk.Credentials(convert.CredentialsFromProto(ed.GetRefreshedCredentials()))
		}
	}
	return nil
}

var kindFromProto = map[pb.ErrorKind]sdk.ErrorKind{
	pb.ErrorKind_ERROR_KIND_TEMPORARY:     sdk.KindTemporary,
	pb.ErrorKind_ERROR_KIND_PERMANENT:     sdk.KindPermanent,
	pb.ErrorKind_ERROR_KIND_REAUTH:        sdk.KindReauth,
	pb.ErrorKind_ERROR_KIND_UNSUPPORTED:   sdk.KindUnsupported,
	pb.ErrorKind_ERROR_KIND_REJECTED:      sdk.KindRejected,
	pb.ErrorKind_ERROR_KIND_INVALID_INPUT: sdk.KindInvalidInput,
}

// errorFromProto rebuilds an error reported inside a response; unknown kinds are
// temporary.
func errorFromProto(e *pb.Error) error {
	kind, ok := kindFromProto[e.GetKind()]
	if !ok {
		kind = sdk.KindTemporary
	}
	return &sdk.Error{Kind: kind, Message: e.GetMessage(), Reason: e.GetReason()}
}
