package generic_test

import (
	"reflect"
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
	}
}
