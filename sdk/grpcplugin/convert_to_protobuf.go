package grpcplugin

import (
	"net/http"
	"sort"

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
	w := &pb.RawWebhook{
		Headers:       headersToProto(req.Headers),
		Body:          req.Body,
		ReceivedAt:    convert.TimeToProto(req.ReceivedAt),
		AccountSecret: req.AccountSecret,
	}
	if req.Account != nil {
		w.Account = accountToProto(*req.Account)
	}
	return w
}

// headersToProto keeps every value of every header, in order; names are sorted so the
// encoding of a request is deterministic.
func headersToProto(h http.Header) []*pb.Header {
	if len(h) == 0 {
		return nil
	}
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	sort.Strings(names)
	// The messages are carved from one slice: one allocation per delivery instead of
	// one per header (7 for a Go client's signed delivery, host/bench).
	out := make([]*pb.Header, len(names))
	msgs := make([]pb.Header, len(names))
	for i, name := range names {
		m := &msgs[i]
		m.Name, m.Values = name, h[name]
		out[i] = m
	}
	return out
}
