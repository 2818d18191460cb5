package signature_test

import (
	"testing"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/signature"
)

func TestAccountSecret(t *testing.T) {
	withCreds := &sdk.Account{ID: "1", Credentials: sdk.Credentials{"webhook_secret": "stored"}}
	tests := []struct {
		name string
		req  sdk.WebhookRequest
		want string // "" means a rejection
	}{
		{"the host's pick wins", sdk.WebhookRequest{Account: withCreds, AccountSecret: "passed"}, "passed"},
		{"falls back to the credentials", sdk.WebhookRequest{Account: withCreds}, "stored"},
		{"account without a secret", sdk.WebhookRequest{Account: &sdk.Account{ID: "1"}}, ""},
		{"secret under another key", sdk.WebhookRequest{Account: &sdk.Account{Credentials: sdk.Credentials{"other": "x"}}}, ""},
		{"provider-level delivery", sdk.WebhookRequest{AccountSecret: "passed"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := signature.AccountSecret(tt.req, "webhook_secret")
			if tt.want == "" {
				if !sdk.IsKind(err, sdk.KindRejected) || got != "" {
					t.Fatalf("AccountSecret = %q, %v; want a rejection", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("AccountSecret = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
