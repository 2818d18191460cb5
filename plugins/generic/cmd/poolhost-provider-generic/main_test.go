package main_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/poolhost/poolhost/plugins/generic"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest"
	"github.com/poolhost/poolhost/sdk/signature"
)

// TestBinary builds this command and drives it the way the host does: connect an
// account, then ingest a delivery signed with the secret Connect generated.
func TestBinary(t *testing.T) {
	c := sdktest.LaunchBinary(t, sdktest.BuildBinary(t, "."))

	d, err := c.Describe(t.Context())
	if err != nil || d.ID != generic.ID {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	if err := c.Configure(t.Context(), sdk.ConfigureRequest{}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Connect(t.Context(), sdk.ConnectRequest{Input: map[string]string{generic.InputDevices: "pool-probe-1"}})
	if err != nil || res.Linkage == nil {
		t.Fatalf("Connect = %+v, %v", res, err)
	}
	secret := res.Linkage.Credentials[generic.SecretWebhookSecret]
	v, err := signature.NewStandardWebhooks(secret)
	if err != nil {
		t.Fatalf("generated secret: %v", err)
	}
	body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "single.json"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	got, err := c.IngestWebhook(t.Context(), sdk.WebhookRequest{
		Headers: v.Headers("msg_bin", now, body), Body: body, ReceivedAt: now,
		Account: &sdk.Account{ID: "1", Credentials: res.Linkage.Credentials}, AccountSecret: secret,
	})
	if err != nil || len(got.Readings) != 3 {
		t.Fatalf("IngestWebhook = %+v, %v; want the sample's 3 readings", got, err)
	}
}
