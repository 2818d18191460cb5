package main_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/poolhost/poolhost/plugins/ttn"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// TestBinary builds this command and drives it the way the host does: connect an
// account, then ingest the documented uplink carrying the secret Connect generated.
func TestBinary(t *testing.T) {
	c := sdktest.LaunchBinary(t, sdktest.BuildBinary(t, "."))

	d, err := c.Describe(t.Context())
	if err != nil || d.ID != ttn.ID {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	if err := c.Configure(t.Context(), sdk.ConfigureRequest{}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Connect(t.Context(), sdk.ConnectRequest{Input: map[string]string{ttn.InputDevices: "dev1"}})
	if err != nil || res.Linkage == nil {
		t.Fatalf("Connect = %+v, %v", res, err)
	}
	secret := res.Linkage.Credentials[ttn.SecretWebhookSecret]
	body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "uplink.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.IngestWebhook(t.Context(), sdk.WebhookRequest{
		Headers: http.Header{"Authorization": {"Bearer " + secret}}, Body: body, ReceivedAt: time.Now(),
		Account: &sdk.Account{ID: "1", Credentials: res.Linkage.Credentials}, AccountSecret: secret,
	})
	if err != nil || len(got.Readings) != 1 {
		t.Fatalf("IngestWebhook = %+v, %v; want the sample's 1 reading", got, err)
	}
}
