package grpcplugin

import (
	"slices"
	"sync"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/poolhost/poolhost/sdk"
	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
	"github.com/poolhost/poolhost/sdk/internal/convert"
)

// Conversions of the requests the host sends, from SDK types to wire types.

func accountToProto(a sdk.Account) *pb.Account {
	return &pb.Account{
		Id:                a.ID,
		ExternalAccountId: a.ExternalAccountID,
		Credentials:       convert.CredentialsToProto(a.Credentials),
	}
}

func webhookToProto(req sdk.WebhookRequest) *pb.RawWebhook {
	return new(outgoingWebhook).fill(req)
}

// outgoingWebhook is a RawWebhook with everything it is built in: the request's
// messages, its timestamp and its headers' storage, so that one from outgoingWebhooks
// is built without allocating.
type outgoingWebhook struct {
	request pb.IngestWebhookRequest
	webhook pb.RawWebhook
	at      timestamppb.Timestamp
	names   []string
	ptrs    []*pb.Header
	headers []pb.Header
}

// outgoingWebhooks recycles the requests of Client.IngestWebhook, the call every
// delivery makes: gRPC has marshalled a request by the time the call returns, and keeps
// nothing of it. With the header storage kept, that was 6 of the host's allocations per
// delivery (host/bench).
var outgoingWebhooks = sync.Pool{New: func() any { return new(outgoingWebhook) }}

// fill builds the wire form of req. Every value of every header is kept, in order; the
// names are sorted so the encoding of a request is deterministic.
func (o *outgoingWebhook) fill(req sdk.WebhookRequest) *pb.RawWebhook {
	o.names = o.names[:0]
	for name := range req.Headers {
		o.names = append(o.names, name)
	}
	slices.Sort(o.names)
	o.headers = slices.Grow(o.headers[:0], len(o.names))[:len(o.names)]
	o.ptrs = o.ptrs[:0]
	for i, name := range o.names {
		h := &o.headers[i]
		h.Name, h.Values = name, req.Headers[name]
		o.ptrs = append(o.ptrs, h)
	}
	w := &o.webhook
	w.Headers, w.Body, w.AccountSecret = nil, req.Body, req.AccountSecret
	if len(o.ptrs) > 0 {
		w.Headers = o.ptrs
	}
	w.ReceivedAt = nil
	if !req.ReceivedAt.IsZero() { // as convert.TimeToProto
		o.at.Seconds, o.at.Nanos = req.ReceivedAt.Unix(), int32(req.ReceivedAt.Nanosecond())
		w.ReceivedAt = &o.at
	}
	w.Account = nil
	if req.Account != nil {
		w.Account = accountToProto(*req.Account)
	}
	return w
}

// release drops what o holds of a request (its body may be megabytes, its headers a
// secret) and gives o back to outgoingWebhooks.
func (o *outgoingWebhook) release() {
	o.request.Webhook = nil
	o.webhook.Headers, o.webhook.Body, o.webhook.Account, o.webhook.AccountSecret = nil, nil, nil, ""
	clear(o.names)
	clear(o.headers)
	clear(o.ptrs)
	outgoingWebhooks.Put(o)
}
