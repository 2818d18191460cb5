package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/sdk/signature"
)

// TestDeadLetterHoldsNoSecret: a dead letter's stored headers never hold a shared
// secret, whatever the header's name: one the provider's settings name as carrying it
// (TTN's auth_header set to "X-Pool-Pass", which says neither secret, token, key nor
// auth), and any header whose value holds the provider's configured secret or the
// account's own webhook secret. Each is kept by name only; the others are kept whole.
func TestDeadLetterHoldsNoSecret(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{ingest: true, faulty: true, faultySettings: map[string]string{"auth_header": "X-Pool-Pass"}})
		admin := e.newUser("admin", true)
		u := e.newUser("u", false)
		acct, _ := e.connectFaulty(u, "k1")
		const pass = "pass-the-operator-chose-0123456789"
		post := func(path, id, secret string, extra map[string]string) {
			t.Helper()
			body := []byte(`{"fail":"permanent"}`)
			v, err := signature.NewStandardWebhooks(secret)
			must(t, err)
			hdr := map[string]string{}
			for k, vs := range v.Headers(id, time.Now(), body) {
				hdr[k] = vs[0]
			}
			for k, v := range extra {
				hdr[k] = v
			}
			if r := e.do(req{method: "POST", path: path, body: body, header: hdr}); r.StatusCode != http.StatusAccepted {
				t.Fatalf("POST %s: %d %s", path, r.StatusCode, r.Body)
			}
		}
		post("/v1/webhooks/faulty", "msg_provider", genericWebhookSecret, map[string]string{
			"X-Pool-Pass": pass, "X-Forwarded-Copy": "Bearer " + genericWebhookSecret, "X-Trace": "trace-1",
		})
		post(fmt.Sprintf("/v1/webhooks/faulty/accounts/%d", acct.Account.ID), "msg_account", acct.Webhook.Secret, map[string]string{
			"X-Pool-Pass": pass, "X-Relay": acct.Webhook.Secret, "X-Api": "k1", "X-Trace": "trace-2",
		})

		var stored []string
		must(t, e.st.DB().SelectContext(context.Background(), &stored, `SELECT headers FROM integration_ingestion_failures`))
		if len(stored) != 2 {
			t.Fatalf("%d failures stored, want 2", len(stored))
		}
		for _, h := range stored {
			for _, secret := range []string{pass, genericWebhookSecret, acct.Webhook.Secret, `"k1"`} {
				if strings.Contains(h, secret) {
					t.Errorf("stored headers hold %q: %s", secret, h)
				}
			}
			if !strings.Contains(h, "trace-") || !strings.Contains(h, "X-Pool-Pass") {
				t.Errorf("stored headers lost what they may keep: %s", h)
			}
		}
		var l failureList
		e.must(200, req{method: "GET", path: "/v1/admin/failures?provider=faulty", token: admin.Token}).json(t, &l)
		for _, f := range l.Failures {
			var one failureView
			e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/admin/failures/%d", f.ID), token: admin.Token}).json(t, &one)
			for _, name := range []string{"X-Pool-Pass", "X-Forwarded-Copy", "X-Relay", "X-Api"} {
				if v, ok := one.Headers[name]; ok && (len(v) != 1 || v[0] != failures.Redacted) {
					t.Errorf("failure %d: %s shown as %q", f.ID, name, v)
				}
			}
		}
	})
}
