package sdk

import (
	"net/http"
	"net/textproto"

	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
	"github.com/poolhost/poolhost/sdk/internal/convert"
)

// Conversions of the requests a plugin receives, from wire types to SDK types.

func configureRequestFromProto(req *pb.ConfigureRequest) ConfigureRequest {
	return ConfigureRequest{Settings: req.GetSettings(), Secrets: req.GetSecrets()}
}

func connectRequestFromProto(req *pb.ConnectRequest) ConnectRequest {
	return ConnectRequest{
		RedirectURI: req.GetRedirectUri(), State: req.GetState(), Input: req.GetInput(),
		CodeChallenge: req.GetCodeChallenge(), CodeChallengeMethod: req.GetCodeChallengeMethod(),
	}
}

func callbackRequestFromProto(req *pb.CallbackRequest) CallbackRequest {
	return CallbackRequest{
		Code:         req.GetCode(),
		State:        req.GetState(),
		RedirectURI:  req.GetRedirectUri(),
		Query:        req.GetQuery(),
		CodeVerifier: req.GetCodeVerifier(),
	}
}

func discoverRequestFromProto(req *pb.DiscoverDevicesRequest) DiscoverRequest {
	return DiscoverRequest{Account: accountFromProto(req.GetAccount())}
}

func pollRequestFromProto(req *pb.PollReadingsRequest) PollRequest {
	return PollRequest{Account: accountFromProto(req.GetAccount()), Cursor: req.GetCursor()}
}

func webhookRequestFromProto(w *pb.RawWebhook) WebhookRequest {
	req := WebhookRequest{
		Headers:       headersFromProto(w.GetHeaders()),
		Body:          w.GetBody(),
		ReceivedAt:    convert.TimeFromProto(w.GetReceivedAt()),
		AccountSecret: w.GetAccountSecret(),
	}
	if w.GetAccount() != nil {
		a := accountFromProto(w.GetAccount())
		req.Account = &a
	}
	return req
}

func accountFromProto(a *pb.Account) Account {
	return Account{
		ID:                a.GetId(),
		ExternalAccountID: a.GetExternalAccountId(),
		Credentials:       Credentials(convert.CredentialsFromProto(a.GetCredentials())),
	}
}

// headersFromProto canonicalises names so Header.Get works even for a sender that did
// not, and merges repeated entries in order.
func headersFromProto(hs []*pb.Header) http.Header {
	if len(hs) == 0 {
		return http.Header{}
	}
	out := make(http.Header, len(hs))
	for _, h := range hs {
		name := textproto.CanonicalMIMEHeaderKey(h.GetName())
		if prev, ok := out[name]; ok {
			out[name] = append(prev, h.GetValues()...)
		} else {
			// The message's own slice: it is the plugin's alone, and copying it was an
			// allocation per header per delivery.
			out[name] = h.GetValues()
		}
	}
	return out
}
