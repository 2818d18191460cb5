package pluginmgr_test

import (
	"testing"

	"github.com/poolhost/poolhost/host/pluginmgr"
)

// A refusal the gRPC layer counts (an oversized message) is labelled with the method
// name the host's own cap checks use, so one method has one label.
func TestCallNameMatchesTheHostsMethodLabels(t *testing.T) {
	for grpc, want := range map[string]string{
		"/poolhost.adapter.v1.Adapter/IngestWebhook":   "ingest_webhook",
		"/poolhost.adapter.v1.Adapter/PollReadings":    "poll_readings",
		"/poolhost.adapter.v1.Adapter/DiscoverDevices": "discover_devices",
		"/poolhost.adapter.v1.Adapter/Webhook":         "webhook",
	} {
		if got := pluginmgr.CallName(grpc); got != want {
			t.Errorf("CallName(%q) = %q, want %q", grpc, got, want)
		}
	}
}
