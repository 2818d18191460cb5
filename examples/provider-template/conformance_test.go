package template_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/poolhost/poolhost/examples/provider-template"
	"github.com/poolhost/poolhost/examples/provider-template/acmetest"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/command"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// The conformance fixtures live in testdata/conformance in sdktest's language-neutral
// layout, so `poolhost plugins test BINARY --fixtures testdata/conformance` runs the same
// checks against the binary (and against the Node.js example, which speaks Acme too).
// `go test -run TestConformance -update-fixtures .` rewrites them.
var updateFixtures = flag.Bool("update-fixtures", false, "rewrite testdata/conformance")

const fixtureDir = "testdata/conformance"

func writeFixtures(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 5, 0, time.UTC)
	body := readFixture(t, "readings_created.json")
	sign := func(secret string, b []byte) sdktest.Webhook {
		h, err := acmetest.SignWebhook(secret, "msg_conformance_1", at, b)
		if err != nil {
			t.Fatal(err)
		}
		return sdktest.Webhook{Headers: h, Body: body, ReceivedAt: at.Add(2 * time.Second)}
	}
	valid := sign(acmetest.WebhookSecret, body)
	account := valid
	account.AccountSecret = acmetest.WebhookSecret
	tampered := valid
	tampered.Body = append([]byte(nil), body...)
	tampered.Body[len(tampered.Body)/2] ^= 0x01
	stale := valid
	stale.ReceivedAt = at.Add(10 * time.Minute) // past the ±5 minute tolerance
	wrong := sign("whsec_c2RrdGVzdC1hY2NvdW50LXNlY3JldC0wMDA=", body)
	for path, w := range map[string]sdktest.Webhook{
		"valid/readings_created.json":         valid,
		"valid/account_readings_created.json": account,
		"tampered/readings_created.json":      tampered,
		"wrong_secret/readings_created.json":  wrong,
		"stale/readings_created.json":         stale,
	} {
		if err := sdktest.WriteWebhook(filepath.Join(fixtureDir, "webhooks", path), w); err != nil {
			t.Fatal(err)
		}
	}
	cfg := `{
  "settings": {"base_url": "http://127.0.0.1:9", "client_id": "` + acmetest.ClientID + `"},
  "secrets": {"client_secret": "` + acmetest.ClientSecret + `", "webhook_secret": "` + acmetest.WebhookSecret + `"}
}
`
	if err := os.WriteFile(filepath.Join(fixtureDir, "configure.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConformance runs sdktest's conformance suite with the committed fixtures, plus a
// token refresh, polls and commands against the fake Acme.
func TestConformance(t *testing.T) {
	if *updateFixtures {
		writeFixtures(t)
	}
	fx, err := sdktest.LoadFixtures(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	fake := acmetest.NewServer()
	t.Cleanup(fake.Close)
	cfg := settings(fake)
	fx.Configure = &cfg
	fx.Refresh = func() (sdktest.RefreshCall, error) {
		c := sdktest.Connect(t, template.New())
		if err := c.Configure(t.Context(), cfg); err != nil {
			return sdktest.RefreshCall{}, err
		}
		acct := linkedAccount(t, c, fake)
		fake.ExpireAccessTokens()
		return sdktest.RefreshCall{Poll: &sdk.PollRequest{Account: acct}}, nil
	}
	// Polling: an account polled up to date (the fake's seed readings are months old),
	// then five new readings, over three pages.
	fx.Poll = func() (sdk.PollRequest, error) {
		c := sdktest.Connect(t, template.New())
		if err := c.Configure(t.Context(), cfg); err != nil {
			return sdk.PollRequest{}, err
		}
		req := sdk.PollRequest{Account: linkedAccount(t, c, fake)}
		res, err := c.PollReadings(t.Context(), req)
		if err != nil {
			return req, err
		}
		req.Cursor = res.NextCursor
		now := time.Now().UTC().Truncate(time.Second)
		for i := range 5 {
			fake.AddReading("dev-1", acmetest.Reading{Type: "ph", Value: 7.2 + float64(i)/10, MeasuredAt: now.Add(time.Duration(i-5) * time.Minute)})
		}
		fake.SetPageLimit(2)
		return req, nil
	}
	// Write/control: the same pump command accepted, refused for a device Acme does not
	// know, and refused for an account whose tokens Acme no longer honours.
	linker := sdktest.Connect(t, template.New())
	if err := linker.Configure(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	acct := linkedAccount(t, linker, fake)
	pump := sdk.CommandRequest{Account: acct, ProviderDeviceID: "dev-1", Command: command.PumpSet,
		Params: command.Params{"on": true}, CommandID: "cmd_conformance"}
	// Each case its own account: Acme rotates refresh tokens, so two calls refreshing
	// the same pair would lock the second out.
	unknown := pump
	unknown.Account = linkedAccount(t, linker, fake)
	unknown.ProviderDeviceID = "no-such-device"
	revoked := pump
	revoked.Account = sdk.Account{ID: "9", Credentials: sdk.Credentials{"access_token": "dead", "refresh_token": "dead"}}
	fx.Commands = []sdktest.CommandCase{
		{Name: "accepted", Request: pump, Want: "sent"},
		{Name: "unknown-device", Request: unknown, Want: "permanent"},
		{Name: "revoked-tokens", Request: revoked, Want: "unauthorized"},
	}
	sdktest.Run(t, template.New(), fx)
}

func FuzzConformance(f *testing.F) {
	fx, err := sdktest.LoadFixtures(fixtureDir)
	if err != nil {
		f.Fatal(err)
	}
	sdktest.FuzzWebhook(f, template.New(), fx)
}
