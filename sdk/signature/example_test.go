package signature_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/signature"
)

// A provider adapter verifies a Standard Webhooks delivery in VerifyWebhook. The secret
// that applies is the account's own when the webhook came in on an account-scoped URL
// (AccountSecret; never the provider's in its place), else the provider-level one
// delivered by Configure. VerifyRequest checks the timestamp against the host's receipt
// time.
func ExampleStandardWebhooks() {
	providerSecret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // from Configure's Secrets

	verifyWebhook := func(_ context.Context, req sdk.WebhookRequest) error {
		secret := providerSecret
		if req.Account != nil {
			var err error
			if secret, err = signature.AccountSecret(req, "webhook_secret"); err != nil {
				return err
			}
		}
		v, err := signature.NewStandardWebhooks(secret)
		if err != nil {
			return fmt.Errorf("webhook secret: %w", err) // a configuration error, not a rejection
		}
		return signature.VerifyRequest(v, req)
	}

	// What a sender (or a test) does: sign the exact body bytes.
	sender, _ := signature.NewStandardWebhooks(providerSecret)
	body := []byte(`{"device":"pool-1","ph":7.4}`)
	sent := time.Unix(1700000000, 0)
	req := sdk.WebhookRequest{
		Headers:    sender.Headers("msg_2b7mVQ", sent, body),
		Body:       body,
		ReceivedAt: sent.Add(3 * time.Second),
	}
	fmt.Println(verifyWebhook(context.Background(), req))

	req.Body = []byte(`{"device":"pool-1","ph":6.0}`)
	err := verifyWebhook(context.Background(), req)
	fmt.Println(sdk.IsKind(err, sdk.KindRejected), err)
	// Output:
	// <nil>
	// true rejected: standard webhooks: bad signature
}

// GitHub-style "X-Hub-Signature-256: sha256=<hex>", with GitHub's published test values.
func ExampleGitHub() {
	v, _ := signature.GitHub("It's a Secret to Everybody")
	fmt.Println(v.Sign([]byte("Hello, World!")))

	h := http.Header{}
	h.Set("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
	fmt.Println(v.Verify(h, []byte("Hello, World!")))
	// Output:
	// sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17
	// <nil>
}

// The Things Stack sends whatever custom header the webhook was configured with, here
// "Authorization: Bearer <secret>".
func ExampleBearer() {
	v, _ := signature.Bearer("tts-secret")

	h := http.Header{}
	h.Set("Authorization", "Bearer tts-secret")
	fmt.Println(v.Verify(h, nil))

	h.Set("Authorization", "Bearer guess")
	fmt.Println(v.Verify(h, nil))
	// Output:
	// <nil>
	// rejected: shared secret Authorization: bad signature
}
