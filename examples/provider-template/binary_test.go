package template_test

import (
	"testing"
	"time"

	template "github.com/poolhost/poolhost/examples/provider-template"
	"github.com/poolhost/poolhost/examples/provider-template/acmetest"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// TestPluginBinary builds the real plugin binary and launches it the way the host does
// (go-plugin, gRPC, AutoMTLS), then links an account and ingests a webhook through it.
// It proves main.go is wired: sdktest.Connect tests cannot, since they never run main.
func TestPluginBinary(t *testing.T) {
	c := sdktest.LaunchBinary(t, sdktest.BuildBinary(t, "./cmd/poolhost-provider-template"))

	d, err := c.Describe(t.Context())
	if err != nil || d.ID != template.ID {
		t.Fatalf("describe: %+v %v", d, err)
	}
	fake := acmetest.NewServer()
	defer fake.Close()
	if err := c.Configure(t.Context(), settings(fake)); err != nil {
		t.Fatal(err)
	}
	acct := linkedAccount(t, c, fake)
	if acct.ExternalAccountID != acmetest.AccountID {
		t.Errorf("linked %q", acct.ExternalAccountID)
	}

	body := acmetest.ReadingsEvent("dev-1", acmetest.Reading{Type: "ph", Value: 7.2, MeasuredAt: time.Now()})
	h, err := acmetest.SignWebhook(acmetest.WebhookSecret, "msg_bin", time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.IngestWebhook(t.Context(), sdk.WebhookRequest{Headers: h, Body: body, ReceivedAt: time.Now()})
	if err != nil || len(res.Readings) != 1 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
}
