package httpapi_test

import (
	"fmt"
	"testing"
)

// TestAccountSecretProvesOnlyItsAccount: an account's webhook secret is good on its
// own URL only — not on the provider-level URL, not on the owner's other account's URL,
// not on the same account id under another provider's path — and the provider-level
// secret is good on no account URL. Each refusal is a 401 and stores nothing.
func TestAccountSecretProvesOnlyItsAccount(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{ingest: true, faulty: true})
		u := e.newUser("u", false)
		faulty, faultyPool := e.connectFaulty(u, "k1")
		var gen struct {
			Account accountView `json:"account"`
			Webhook struct{ URL, Secret string }
		}
		e.must(201, req{method: "POST", path: "/v1/providers/generic/connect", token: u.Token,
			body: map[string]any{"input": map[string]string{"devices": "d1"}}}).json(t, &gen)
		if gen.Webhook.Secret == "" {
			t.Fatalf("generic connect gave no account secret: %+v", gen)
		}
		var devs struct{ Devices []device }
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/accounts/%d/devices", gen.Account.ID), token: u.Token}).json(t, &devs)
		genPool := e.createPool(u, "generic pool")
		for _, d := range devs.Devices {
			e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/devices/%d/link", d.ID), token: u.Token, body: map[string]int64{"poolId": genPool}})
		}
		body := []byte(`{"device_id":"d1","readings":[{"metric":"ph","value":"7.1"}]}`)
		genBody := []byte(`{"device_id":"d1","readings":[{"metric":"ph","value":7.1}]}`)
		for _, tc := range []struct {
			what, path, secret string
			body               []byte
		}{
			{"the generic account's secret on the provider-level URL", "/v1/webhooks/generic", gen.Webhook.Secret, genBody},
			{"the faulty account's secret on the provider-level URL", "/v1/webhooks/faulty", faulty.Webhook.Secret, body},
			{"the faulty account's secret on the generic account's URL", fmt.Sprintf("/v1/webhooks/generic/accounts/%d", gen.Account.ID), faulty.Webhook.Secret, genBody},
			{"the generic account's secret on the faulty account's URL", fmt.Sprintf("/v1/webhooks/faulty/accounts/%d", faulty.Account.ID), gen.Webhook.Secret, body},
			{"the generic account's secret, its id under faulty", fmt.Sprintf("/v1/webhooks/faulty/accounts/%d", gen.Account.ID), gen.Webhook.Secret, body},
			{"the faulty account's secret, its id under generic", fmt.Sprintf("/v1/webhooks/generic/accounts/%d", faulty.Account.ID), faulty.Webhook.Secret, genBody},
			{"the provider secret on the generic account's URL", fmt.Sprintf("/v1/webhooks/generic/accounts/%d", gen.Account.ID), genericWebhookSecret, genBody},
			{"the provider secret on the faulty account's URL", fmt.Sprintf("/v1/webhooks/faulty/accounts/%d", faulty.Account.ID), genericWebhookSecret, body},
		} {
			r := e.signedTo(tc.path, tc.secret, tc.body)
			if r.StatusCode != 401 {
				t.Errorf("%s: %d, want 401: %s", tc.what, r.StatusCode, r.Body)
			} else {
				r.problem(t)
			}
		}
		if n, m := e.readingCount(u, faultyPool), e.readingCount(u, genPool); n != 0 || m != 0 {
			t.Errorf("readings stored: %d in the faulty pool, %d in the generic one", n, m)
		}
		// Each secret opens its own URL.
		if r := e.signedTo(fmt.Sprintf("/v1/webhooks/generic/accounts/%d", gen.Account.ID), gen.Webhook.Secret, genBody); r.StatusCode != 200 {
			t.Errorf("the generic account's own URL: %d %s", r.StatusCode, r.Body)
		}
		if r := e.signedTo(fmt.Sprintf("/v1/webhooks/faulty/accounts/%d", faulty.Account.ID), faulty.Webhook.Secret, body); r.StatusCode != 200 {
			t.Errorf("the faulty account's own URL: %d %s", r.StatusCode, r.Body)
		}
	})
}
