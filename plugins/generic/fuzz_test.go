package generic_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/plugins/generic"
	"github.com/poolhost/poolhost/sdk"
)

// FuzzWebhookBody: any verified body either parses into readings that each name a
// device and a metric and carry a value, or is refused as permanent (never retried,
// dead-lettered for an operator). Seeds are the testdata payloads.
func FuzzWebhookBody(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"device_id":" ","readings":[]}`))
	f.Add([]byte(`{"device_id":"p","readings":[{"metric":"ph","value":1e400}]}`))
	f.Add([]byte(`[{"device_id":"p","readings":[{"metric":"PH ","value":7,"recorded_at":"0001-01-01T00:00:00Z","quality":"bogus"}]}]`))
	a := generic.New()
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := a.Webhook(context.Background(), sdk.WebhookRequest{Headers: http.Header{"Webhook-Id": {"msg_1"}}, Body: body})
		if err != nil {
			if !sdk.IsKind(err, sdk.KindPermanent) {
				t.Fatalf("error %v is not permanent", err)
			}
			return
		}
		if res.DeliveryID != "msg_1" {
			t.Fatalf("delivery id %q", res.DeliveryID)
		}
		for _, r := range res.Readings {
			if strings.TrimSpace(r.ProviderDeviceID) == "" || r.Metric == "" || r.Metric != strings.ToLower(strings.TrimSpace(r.Metric)) {
				t.Fatalf("reading %+v", r)
			}
		}
	})
}
