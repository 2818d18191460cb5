package httpapi_test

import (
	"context"
	"fmt"
	"testing"
)

// TestDiscoveryRetriesSubscriptionWithTheSecret: a discovery retries a failed webhook
// subscription, and the plugin refreshed the tokens in that discovery, answering them
// alone (no webhook secret). The stored credentials keep the account's secret; the
// Subscribe call must be given them too, refreshed tokens and secret, not the plugin's
// answer: a provider cloud that signs each user's callbacks cannot register the URL
// without the secret (the faulty plugin refuses).
func TestDiscoveryRetriesSubscriptionWithTheSecret(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		cloud := newSubscriptionCloud(t)
		e := newEnv(t, dbURL, envOpts{ingest: true, faulty: true,
			faultySettings: map[string]string{"subscribe_url": cloud.URL, "discover_refresh": "tokens"}})
		u := e.newUser("u", false)

		cloud.down.Store(true)
		var out struct {
			Account subscribedAccount `json:"account"`
			Webhook struct{ Secret string }
		}
		e.must(201, req{method: "POST", path: "/v1/providers/faulty/connect", token: u.Token,
			body: map[string]any{"input": map[string]string{"api_key": "k1"}}}).json(t, &out)
		if out.Account.SubscriptionError == "" || out.Webhook.Secret == "" {
			t.Fatalf("connect answer = %+v, want a subscription error and a webhook secret", out)
		}

		cloud.down.Store(false)
		accPath := fmt.Sprintf("/v1/accounts/%d", out.Account.ID)
		e.must(200, req{method: "POST", path: accPath + "/discover", token: u.Token})
		var got subscribedAccount
		e.must(200, req{method: "GET", path: accPath, token: u.Token}).json(t, &got)
		if got.SubscriptionError != "" {
			t.Errorf("after the discovery's retry subscriptionError = %q", got.SubscriptionError)
		}
		if c := cloud.calls(); c != "POST "+out.Account.WebhookURL {
			t.Errorf("cloud saw %q, want the account URL subscribed once", c)
		}
		creds, err := e.st.AccountCredentials(context.Background(), out.Account.ID)
		must(t, err)
		if creds["token"] != "dk1" || creds["webhook_secret"] != out.Webhook.Secret {
			t.Errorf("stored after the discovery: token %q, the account's secret kept: %v", creds["token"], creds["webhook_secret"] == out.Webhook.Secret)
		}
	})
}
