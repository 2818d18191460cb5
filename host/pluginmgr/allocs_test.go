package pluginmgr_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk"
)

// TestIngestWebhookAllocations pins the host's allocations for one delivery through a
// running plugin, the call every webhook makes: the plugin is another process, so every
// allocation counted is the host's. Each call gets a fresh cancellable context, as an
// HTTP request's is. 35 while the call made a context with its deadline and the stream
// watched it, 28 since the deadline is the stream's own timer (grpcplugin.Bounds;
// measured 2026-12-06, go test without -race); 22 later that day, 20 since a pooled
// stream stays registered on the instance's abort between deliveries.
func TestIngestWebhookAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	e := newEnv(t)
	e.installID("alpha")
	t.Setenv("POOLHOST_TEST_WEBHOOK_SECRET", "whsec-test")
	m, _, err := e.manager(e.config(`
provider "alpha" {
  webhooks = true
  secrets  = { webhook_secret = env("POOLHOST_TEST_WEBHOOK_SECRET") }
}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Get("alpha")
	if err != nil {
		t.Fatal(err)
	}
	hook := sdk.WebhookRequest{Headers: http.Header{"X-Secret": {"whsec-test"}}, Body: []byte(`{"device":"dev-1","ph":7.2}`), ReceivedAt: time.Now()}
	n := testing.AllocsPerRun(200, func() {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		if _, err := p.IngestWebhook(ctx, hook); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%.1f allocations", n)
	if n > 21 { // one of slack for gRPC's occasional frame (a window update)
		t.Errorf("%.0f allocations per delivery, want at most 21", n)
	}
}
