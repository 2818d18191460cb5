package generic_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/plugins/generic"
	"github.com/poolhost/poolhost/sdk"
)

// The adapter decodes into reused reports (decodeReports): what one delivery said must
// never show in the next, whose payload leaves those fields out.
func TestWebhookKeepsNothingOfTheDeliveryBefore(t *testing.T) {
	a := generic.New()
	full := []byte(`[{"device_id":"d1","readings":[
		{"metric":"orp","value":650,"unit":"mV","recorded_at":"2026-03-01T12:00:00Z","quality":"suspect","qualifier":"above"},
		{"metric":"ph","value":7.2,"unit":"pH","recorded_at":"2026-03-01T12:00:00Z","quality":"good"}]},
		{"device_id":"d2","readings":[{"metric":"salt","value":3000,"unit":"ppm"}]}]`)
	bare := []byte(`{"device_id":"d3","readings":[{"metric":"orp","value":0}]}`)
	for i := range 50 { // the pool hands back an earlier delivery's reports only sometimes
		if _, err := a.Webhook(t.Context(), sdk.WebhookRequest{Body: full}); err != nil {
			t.Fatal(err)
		}
		res, err := a.Webhook(t.Context(), sdk.WebhookRequest{Body: bare})
		if err != nil {
			t.Fatal(err)
		}
		want := sdk.Reading{ProviderDeviceID: "d3", Metric: "orp"}
		if len(res.Readings) != 1 || !reflect.DeepEqual(res.Readings[0], want) {
			t.Fatalf("round %d: readings = %+v, want only %+v", i, res.Readings, want)
		}
		// A value the payload leaves out is missing, whatever the reused reading held.
		if _, err := a.Webhook(t.Context(), sdk.WebhookRequest{Body: full}); err != nil {
			t.Fatal(err)
		}
		_, err = a.Webhook(t.Context(), sdk.WebhookRequest{Body: []byte(`{"device_id":"d3","readings":[{"metric":"orp"},{"metric":"ph","value":null}]}`)})
		if err == nil || !strings.Contains(err.Error(), "orp: value is required") {
			t.Fatalf("round %d: a reading without a value gave %v, want orp: value is required", i, err)
		}
	}
}

// TestWebhookAllocations: reused reports and decodeFast keep a delivery's decoding to a
// few allocations (50 with encoding/json and fresh reports).
func TestWebhookAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	a, req := benchDelivery(t)
	n := testing.AllocsPerRun(50, func() {
		if _, err := a.Webhook(t.Context(), req); err != nil {
			t.Fatal(err)
		}
	})
	// The result's readings and the device id; the readings share one time string.
	if n > 4 {
		t.Errorf("%.0f allocations per 10-reading delivery, want at most 4", n)
	}
}
