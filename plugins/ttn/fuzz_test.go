package ttn_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/poolhost/poolhost/plugins/ttn"
	"github.com/poolhost/poolhost/sdk"
)

// FuzzWebhookBody: any verified body, under any field_map setting, either parses into
// readings of one named device or is refused as permanent; a field map that does not
// parse is refused at Configure as invalid input. Seeds are the testdata messages.
func FuzzWebhookBody(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
		f.Add(b, "level=ph, redox=orp:mV, temp=temperature:°F")
	}
	f.Add([]byte(`{"uplink_message":{"decoded_payload":[1,2]},"end_device_ids":{"device_id":"d"}}`), "a.b.c=ph")
	f.Add([]byte(`{"uplink_message":{}}`), "=,:,==")
	f.Add([]byte(`null`), "x=")
	f.Fuzz(func(t *testing.T, body []byte, fieldMap string) {
		a := ttn.New()
		err := a.Configure(context.Background(), sdk.ConfigureRequest{
			Settings: map[string]string{ttn.SettingFieldMap: fieldMap, ttn.SettingRSSI: "true"},
			Secrets:  map[string]string{"webhook_secret": "s"},
		})
		if err != nil {
			if !sdk.IsKind(err, sdk.KindInvalidInput) {
				t.Fatalf("Configure(field_map %q): %v is not invalid input", fieldMap, err)
			}
			return
		}
		res, err := a.Webhook(context.Background(), sdk.WebhookRequest{Body: body})
		if err != nil {
			if !sdk.IsKind(err, sdk.KindPermanent) {
				t.Fatalf("error %v is not permanent", err)
			}
			return
		}
		for _, r := range res.Readings {
			if r.ProviderDeviceID == "" || r.Metric == "" || r.ProviderDeviceID != res.Readings[0].ProviderDeviceID {
				t.Fatalf("reading %+v", r)
			}
		}
	})
}
