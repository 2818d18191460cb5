package signature

import "github.com/poolhost/poolhost/sdk"

// AccountSecret returns the secret an account-scoped delivery (req.Account set) must be
// verified with: req.AccountSecret as the host passes it, else the account's
// Credentials[key], where a webhook_secret provider's Connect stored it.
//
// A delivery that is not account-scoped, or whose account has no secret, is an error of
// kind [sdk.KindRejected]. Never verify an account-scoped delivery with the
// provider-level secret instead: whoever holds that secret could then write into any
// account. Provider-level deliveries (req.Account nil) use the secret from Configure.
func AccountSecret(req sdk.WebhookRequest, key string) (string, error) {
	if req.Account == nil {
		return "", sdk.Rejected("not an account-scoped delivery")
	}
	if req.AccountSecret != "" {
		return req.AccountSecret, nil
	}
	if s := req.Account.Credentials[key]; s != "" {
		return s, nil
	}
	return "", sdk.Rejected("account has no webhook secret")
}
