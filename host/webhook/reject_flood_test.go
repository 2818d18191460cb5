package webhook_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/webhook"
)

// 1,000 forged deliveries from 1,000 different addresses (127.0.x.y: the loopback /8 is
// all local on Linux) write a bounded number of webhook.rejected rows, not one each.
func TestRejectionsFromManyAddressesAreBounded(t *testing.T) {
	const senders = 1000
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnv(t, eng, nil)
			body := genericBody("probe", `{"metric": "ph", "value": 7.2}`)
			forged := ingesttest.Sign(t, "whsec_Zm9yZ2VkLXNlY3JldC1mb3ItdGVzdHMtMDAwMDA=", "msg_forged", time.Now(), body)
			for i := 0; i < senders; i++ {
				local := &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+i/250), byte(1+i%250))}
				client := &http.Client{Transport: &http.Transport{
					DialContext:       (&net.Dialer{LocalAddr: local}).DialContext,
					DisableKeepAlives: true,
				}}
				req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, e.srv.URL+"/v1/webhooks/generic", bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range forged {
					req.Header[k] = v
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("sender %d (%s): %v", i, local.IP, err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("sender %d: %d, want 401", i, resp.StatusCode)
				}
			}
			rows := ingesttest.Audit(t, e.s, webhook.ActionRejected)
			if len(rows) > 20 {
				t.Fatalf("%d %s rows for %d senders, want at most the per-provider cap of 20", len(rows), webhook.ActionRejected, senders)
			}
			clients := map[any]bool{}
			for _, r := range rows {
				clients[r.Details["client"]] = true
			}
			if len(clients) != len(rows) || len(rows) == 0 {
				t.Fatalf("%d rows from %d distinct clients", len(rows), len(clients))
			}
		})
	}
}
