package webhook_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/webhook"
)

// An account-scoped URL's verified deliveries spend from that account's bucket
// (http.rate_limit.per_webhook_account, webhook_account_burst): past it, 429 with
// Retry-After and nothing stored. Forged deliveries spend nothing (anyone could
// otherwise silence an account), and other accounts and the provider-level URL keep
// their own pace. The refill is one token in 1,000 s, so a slow machine cannot refill a
// bucket during the test.
func TestWebhookRateLimitPerAccount(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnv(t, eng, nil)
			limited := httpapi.New(httpapi.Deps{Logger: hclog.NewNullLogger(), HTTP: config.HTTP{MaxBodyBytes: 64 << 10,
				RateLimit: config.RateLimit{PerWebhookAccount: 0.001, WebhookAccountBurst: 3}}}, httpapi.WithWebhooks(e.svc))
			srv := httptest.NewServer(limited)
			t.Cleanup(srv.Close)
			e.srv = srv
			other := ingesttest.Seed(t, e.s, "generic", "neighbour@example.com", map[string]string{"webhook_secret": accountSecret}, []string{"n-probe"}, nil)
			mineURL := fmt.Sprintf("/v1/webhooks/generic/accounts/%d", e.mine.Account.ID)
			at := func(i int) string {
				return time.Now().Add(-time.Duration(i+1) * time.Minute).UTC().Format(time.RFC3339)
			}
			reading := func(device string, i int) []byte {
				return genericBody(device, fmt.Sprintf(`{"metric": "ph", "value": 7.2, "recorded_at": %q}`, at(i)))
			}

			// Forgeries first: rejected, and they spend nothing.
			for i := range 10 {
				if r := e.signed(t, mineURL, "whsec_d3Jvbmctc2VjcmV0LW5vYm9keS1ob2xkcy0xMjM0NTY=", fmt.Sprintf("msg_forged_%d", i), reading("probe", i)); r.status != http.StatusUnauthorized {
					t.Fatalf("forgery %d: %d, want 401", i, r.status)
				}
			}
			for i := range 3 {
				if r := e.signed(t, mineURL, accountSecret, fmt.Sprintf("msg_ok_%d", i), reading("probe", i)); r.status != http.StatusOK {
					t.Fatalf("delivery %d within the burst: %d %v, want 200", i, r.status, r.body)
				}
			}
			before := ingesttest.CountReadings(t, e.s)
			r := e.signed(t, mineURL, accountSecret, "msg_over", reading("probe", 10))
			secs, _ := strconv.Atoi(r.header.Get("Retry-After"))
			if r.status != http.StatusTooManyRequests || secs < 1 || !strings.HasSuffix(fmt.Sprint(r.body["type"]), "webhook-rate-limited") {
				t.Fatalf("over the burst: %d Retry-After %q %v, want 429 with Retry-After and webhook-rate-limited", r.status, r.header.Get("Retry-After"), r.body)
			}
			if ingesttest.CountReadings(t, e.s) != before {
				t.Fatal("a rate-limited delivery was stored")
			}
			// A dead letter is refused the same way (the limit comes before keeping).
			if r := e.signed(t, mineURL, accountSecret, "msg_junk", []byte("not json")); r.status != http.StatusTooManyRequests || len(failures(t, e.s, "")) != 0 {
				t.Fatalf("a junk delivery over the limit: %d, %d failures kept; want 429 and none", r.status, len(failures(t, e.s, "")))
			}

			// Others keep their own pace.
			if r := e.signed(t, fmt.Sprintf("/v1/webhooks/generic/accounts/%d", other.Account.ID), accountSecret, "msg_neighbour", reading("n-probe", 0)); r.status != http.StatusOK {
				t.Fatalf("another account: %d %v, want 200", r.status, r.body)
			}
			if r := e.signed(t, "/v1/webhooks/generic", ingesttest.GenericSecret, "msg_provider", reading("probe", 20)); r.status != http.StatusOK {
				t.Fatalf("provider-level URL: %d %v, want 200", r.status, r.body)
			}
			if got := counter(t, e.reg, "generic", webhook.OutcomeRateLimited); got != 2 {
				t.Fatalf("rate-limited deliveries counted %v, want 2", got)
			}
		})
	}
}
