package webhook_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/webhook"
)

// TestRejectionAuditClientBehindProxy: a rejected delivery's audit row (and its limiter's
// key) names the client X-Forwarded-For gives when the peer is a trusted proxy, and the
// peer itself when it is not, whatever the header says.
func TestRejectionAuditClientBehindProxy(t *testing.T) {
	eng := ingesttest.Engines[0]
	e := newEnv(t, eng, nil)
	proxied := httpapi.New(httpapi.Deps{HTTP: config.HTTP{MaxBodyBytes: 64 << 10,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}, httpapi.WithWebhooks(e.svc))
	behindProxy := httptest.NewServer(proxied)
	t.Cleanup(behindProxy.Close)

	body := genericBody("probe", `{"metric": "ph", "value": 7.2}`)
	forged := ingesttest.Sign(t, "whsec_Zm9yZ2VkLXNlY3JldC1mb3ItdGVzdHMtMDAwMDA=", "msg_forged", time.Now(), body)
	post := func(base, xff string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/webhooks/generic", bytes.NewReader(body))
		for k, v := range forged {
			req.Header[k] = v
		}
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forged delivery: %d, want 401", resp.StatusCode)
		}
	}
	post(behindProxy.URL, "192.0.2.66, 203.0.113.9") // the proxy appended 203.0.113.9
	post(e.srv.URL, "198.51.100.1")                  // no trusted proxy: a forged header

	var clients []string
	for _, r := range ingesttest.Audit(t, e.s, webhook.ActionRejected) {
		clients = append(clients, r.Details["client"].(string))
	}
	slices.Sort(clients)
	if !slices.Equal(clients, []string{"127.0.0.1", "203.0.113.9"}) {
		t.Fatalf("webhook.rejected clients %v, want [127.0.0.1 203.0.113.9]", clients)
	}
}
