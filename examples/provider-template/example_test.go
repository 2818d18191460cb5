package template_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	template "github.com/poolhost/poolhost/examples/provider-template"
	"github.com/poolhost/poolhost/examples/provider-template/acmetest"
	"github.com/poolhost/poolhost/sdk"
)

// Linking an account is two calls: Connect builds the consent URL the host redirects
// the user to; Callback trades the code the provider sends back for credentials. Here
// acmetest plays both Acme and the user who clicks "Allow".
func Example() {
	ctx := context.Background()
	acme := acmetest.NewServer()
	defer acme.Close()

	a := template.New()
	err := a.Configure(ctx, sdk.ConfigureRequest{
		Settings: map[string]string{"base_url": acme.URL, "client_id": acmetest.ClientID},
		Secrets:  map[string]string{"client_secret": acmetest.ClientSecret},
	})
	if err != nil {
		panic(err)
	}

	const redirect = "https://poolhost.example/v1/providers/template/callback"
	start, err := a.Connect(ctx, sdk.ConnectRequest{RedirectURI: redirect, State: "host-made-state"})
	if err != nil {
		panic(err)
	}
	code, state, _ := acme.Authorize(start.AuthorizeURL)

	link, err := a.Callback(ctx, sdk.CallbackRequest{Code: code, State: state, RedirectURI: redirect})
	if err != nil {
		panic(err)
	}
	devices, err := a.DiscoverDevices(ctx, sdk.DiscoverRequest{Account: sdk.Account{Credentials: link.Credentials}})
	if err != nil {
		panic(err)
	}
	fmt.Println(state, link.ExternalAccountID, link.DisplayName)
	for _, d := range devices.Devices {
		fmt.Println(d.ProviderDeviceID, d.Name)
	}
	// Output:
	// host-made-state acct-42 Jane Doe
	// dev-1 Backyard pool
	// dev-2 Spa
}

// Webhook turns the provider's payload into normalized readings. Units stay as the
// provider spells them ("F"); the host converts to canonical units.
func ExampleAdapter_Webhook() {
	a := template.New()
	body := []byte(`{"event":"readings.created","device_id":"dev-1","readings":[
		{"type":"water_temp","value":80.6,"unit":"F","measured_at":"2026-01-01T12:00:00Z","status":"ok"},
		{"type":"ph","value":7.42,"measured_at":"2026-01-01T12:00:00Z","status":"calibrating"}]}`)
	h := http.Header{}
	h.Set("webhook-id", "msg_1")

	res, err := a.Webhook(context.Background(), sdk.WebhookRequest{Headers: h, Body: body, ReceivedAt: time.Now()})
	if err != nil {
		panic(err)
	}
	fmt.Println("delivery", res.DeliveryID)
	for _, r := range res.Readings {
		fmt.Println(r.ProviderDeviceID, r.Metric, r.Value, r.Unit, r.RecordedAt.Format(time.RFC3339), r.Quality)
	}
	// Output:
	// delivery msg_1
	// dev-1 temperature 80.6 F 2026-01-01T12:00:00Z good
	// dev-1 ph 7.42  2026-01-01T12:00:00Z suspect
}
