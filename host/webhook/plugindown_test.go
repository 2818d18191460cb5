package webhook_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/internal/ingesttest"
)

// TestPluginDownIsOneOutageInTheLog: deliveries answered 503 because the provider's
// plugin cannot verify them (restarting, hung) are logged as one outage per provider —
// the first whole, the rest counted — not a WARN line each. A reload that restarted
// generic under eight signed senders wrote 436 such lines in one second.
func TestPluginDownIsOneOutageInTheLog(t *testing.T) {
	e := newEnv(t, ingesttest.Engines[0], nil)
	defer e.touch(t, "verify")()
	const n = 5
	for i := range n {
		r := e.signed(t, "/v1/webhooks/faulty", ingesttest.FaultySecret, fmt.Sprintf("msg_down_%d", i), []byte(`{"device_id": "probe"}`))
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("delivery %d: %d, want 503", i, r.status)
		}
	}
	e.logs.mu.Lock()
	all := e.logs.b.String()
	e.logs.mu.Unlock()
	const what = "webhook deliveries answered 503, provider faulty's plugin unavailable to verify them: outage started; further failures are counted and reported every 10s"
	started := e.logs.lines(t, what)
	if len(started) != 1 {
		t.Fatalf("%d outage-started lines for %d deliveries, want 1; log:\n%s", len(started), n, all)
	}
	if l := started[0]; l["provider"] != "faulty" || l["request_id"] == nil || !strings.Contains(fmt.Sprint(l["error"]), "unavailable") {
		t.Errorf("the first failure's line lacks provider, request id or the plugin's error: %v", l)
	}
	if per := strings.Count(all, "plugin unavailable"); per > 1 {
		t.Errorf("%d lines name the unavailable plugin for %d deliveries, want the one outage line:\n%s", per, n, all)
	}
}
