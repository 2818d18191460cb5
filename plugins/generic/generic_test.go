package generic_test

import (
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/plugins/generic"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	"github.com/poolhost/poolhost/sdk/sdktest"
	"github.com/poolhost/poolhost/sdk/signature"
)

// providerSecret is the Standard Webhooks specification's example secret.
const providerSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func setup(t *testing.T) *grpcplugin.Client {
	t.Helper()
	c := sdktest.Connect(t, generic.New())
	if err := c.Configure(t.Context(), sdk.ConfigureRequest{Secrets: map[string]string{generic.SecretWebhookSecret: providerSecret}}); err != nil {
		t.Fatalf("configure: %v", err)
	}
	return c
}

func wantKind(t *testing.T, err error, want sdk.ErrorKind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want kind %v", want)
	}
	if got := sdk.KindOf(err); got != want {
		t.Fatalf("error %q has kind %v, want %v", err, got, want)
	}
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(t *testing.T, secret, id string, at time.Time, body []byte) http.Header {
	t.Helper()
	s, err := signature.NewStandardWebhooks(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s.Headers(id, at, body)
}

func TestDescribe(t *testing.T) {
	d, err := sdktest.Connect(t, generic.New()).Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.Capabilities{Connect: sdk.ConnectWebhookSecret, Webhook: true}
	if d.ID != "generic" || d.ProtocolVersion != sdk.ProtocolVersion || !reflect.DeepEqual(d.Capabilities, want) {
		t.Errorf("description %+v", d)
	}
	if len(d.RequiredSettings)+len(d.RequiredSecrets) != 0 {
		t.Errorf("generic needs no settings, got %v %v", d.RequiredSettings, d.RequiredSecrets)
	}
}

func TestConfigure(t *testing.T) {
	tests := []struct {
		name   string
		secret string
		ok     bool
	}{
		{"whsec secret", providerSecret, true},
		{"bare base64 secret", strings.TrimPrefix(providerSecret, "whsec_"), true},
		{"no secret", "", true},
		{"not base64", "whsec_not base64!", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sdktest.Connect(t, generic.New()).Configure(t.Context(), sdk.ConfigureRequest{Secrets: map[string]string{generic.SecretWebhookSecret: tt.secret}})
			if tt.ok && err != nil {
				t.Fatal(err)
			}
			if !tt.ok {
				wantKind(t, err, sdk.KindInvalidInput)
			}
		})
	}
}

func TestConnect(t *testing.T) {
	c := setup(t)
	ctx := t.Context()
	tests := []struct {
		name        string
		input       map[string]string
		wantDevices []string
		wantName    string
		wantErr     bool
	}{
		{"devices and name", map[string]string{"devices": " pool-probe-1, spa,pool-probe-1,", "name": "Backyard"}, []string{"pool-probe-1", "spa"}, "Backyard", false},
		{"no input", nil, nil, "Generic webhook", false},
		{"bad device id", map[string]string{"devices": "ok,not ok"}, nil, "", true},
		{"device id too long", map[string]string{"devices": strings.Repeat("x", 129)}, nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.Connect(ctx, sdk.ConnectRequest{Input: tt.input})
			if tt.wantErr {
				wantKind(t, err, sdk.KindInvalidInput)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l := res.Linkage
			if res.AuthorizeURL != "" || l == nil {
				t.Fatalf("want an immediate linkage, got %+v", res)
			}
			if !strings.HasPrefix(l.Credentials["webhook_secret"], "whsec_") {
				t.Error("linkage carries no whsec_ secret")
			}
			if _, err := signature.NewStandardWebhooks(l.Credentials["webhook_secret"]); err != nil {
				t.Errorf("generated secret unusable: %v", err)
			}
			if !strings.HasPrefix(l.ExternalAccountID, "gen_") || l.DisplayName != tt.wantName {
				t.Errorf("external id %q name %q", l.ExternalAccountID, l.DisplayName)
			}
			d, err := c.DiscoverDevices(ctx, sdk.DiscoverRequest{Account: sdk.Account{ExternalAccountID: l.ExternalAccountID, Credentials: l.Credentials}})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, dev := range d.Devices {
				ids = append(ids, dev.ProviderDeviceID)
			}
			if strings.Join(ids, ",") != strings.Join(tt.wantDevices, ",") {
				t.Errorf("discovered %v, want %v", ids, tt.wantDevices)
			}
		})
	}

	// Every account gets its own secret and id.
	a, err := c.Connect(ctx, sdk.ConnectRequest{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Connect(ctx, sdk.ConnectRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Linkage.Credentials["webhook_secret"] == b.Linkage.Credentials["webhook_secret"] || a.Linkage.ExternalAccountID == b.Linkage.ExternalAccountID {
		t.Error("two connects share a secret or an id")
	}
}

func TestUnsupported(t *testing.T) {
	c := setup(t)
	_, err := c.Callback(t.Context(), sdk.CallbackRequest{Code: "x"})
	wantKind(t, err, sdk.KindUnsupported)
	_, err = c.PollReadings(t.Context(), sdk.PollRequest{})
	wantKind(t, err, sdk.KindUnsupported)
	if err := c.Health(t.Context()); err != nil {
		t.Errorf("health: %v", err)
	}
}

func TestVerifyWebhook(t *testing.T) {
	c := setup(t)
	link, err := c.Connect(t.Context(), sdk.ConnectRequest{Input: map[string]string{"devices": "pool-probe-1"}})
	if err != nil {
		t.Fatal(err)
	}
	accountSecret := link.Linkage.Credentials["webhook_secret"]
	account := &sdk.Account{ID: "acc-1", ExternalAccountID: link.Linkage.ExternalAccountID, Credentials: link.Linkage.Credentials}
	body := fixture(t, "single.json")
	now := time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC)

	tests := []struct {
		name string
		req  sdk.WebhookRequest
		ok   bool
	}{
		{"account secret from the host", sdk.WebhookRequest{Headers: sign(t, accountSecret, "msg_1", now, body), Body: body, ReceivedAt: now, Account: account, AccountSecret: accountSecret}, true},
		{"account secret from the credentials", sdk.WebhookRequest{Headers: sign(t, accountSecret, "msg_1", now, body), Body: body, ReceivedAt: now, Account: account}, true},
		{"provider secret", sdk.WebhookRequest{Headers: sign(t, providerSecret, "msg_1", now, body), Body: body, ReceivedAt: now}, true},
		{"within tolerance", sdk.WebhookRequest{Headers: sign(t, providerSecret, "msg_1", now.Add(-4*time.Minute), body), Body: body, ReceivedAt: now}, true},
		{"provider secret on the account url", sdk.WebhookRequest{Headers: sign(t, providerSecret, "msg_1", now, body), Body: body, ReceivedAt: now, Account: account, AccountSecret: accountSecret}, false},
		{"account secret on the provider url", sdk.WebhookRequest{Headers: sign(t, accountSecret, "msg_1", now, body), Body: body, ReceivedAt: now}, false},
		{"account without a secret", sdk.WebhookRequest{Headers: sign(t, accountSecret, "msg_1", now, body), Body: body, ReceivedAt: now, Account: &sdk.Account{ID: "acc-2"}}, false},
		{"tampered body", sdk.WebhookRequest{Headers: sign(t, providerSecret, "msg_1", now, body), Body: []byte(`{"device_id":"x"}`), ReceivedAt: now}, false},
		{"tampered id", func() sdk.WebhookRequest {
			h := sign(t, providerSecret, "msg_1", now, body)
			h.Set("webhook-id", "msg_2")
			return sdk.WebhookRequest{Headers: h, Body: body, ReceivedAt: now}
		}(), false},
		{"stale", sdk.WebhookRequest{Headers: sign(t, providerSecret, "msg_1", now.Add(-6*time.Minute), body), Body: body, ReceivedAt: now}, false},
		{"from the future", sdk.WebhookRequest{Headers: sign(t, providerSecret, "msg_1", now.Add(6*time.Minute), body), Body: body, ReceivedAt: now}, false},
		{"unsigned", sdk.WebhookRequest{Headers: http.Header{}, Body: body, ReceivedAt: now}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.VerifyWebhook(t.Context(), tt.req)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantKind(t, err, sdk.KindRejected)
		})
	}

	t.Run("no provider secret configured", func(t *testing.T) {
		c := sdktest.Connect(t, generic.New())
		if err := c.Configure(t.Context(), sdk.ConfigureRequest{}); err != nil {
			t.Fatal(err)
		}
		err := c.VerifyWebhook(t.Context(), sdk.WebhookRequest{Headers: sign(t, providerSecret, "msg_1", now, body), Body: body, ReceivedAt: now})
		wantKind(t, err, sdk.KindRejected)
	})
}

func TestWebhook(t *testing.T) {
	c := setup(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		body    []byte
		want    []sdk.Reading
		wantErr bool
	}{
		{name: "single report", body: fixture(t, "single.json"), want: []sdk.Reading{
			{ProviderDeviceID: "pool-probe-1", Metric: "ph", Value: 7.4, Unit: "pH", RecordedAt: t0},
			{ProviderDeviceID: "pool-probe-1", Metric: "temperature", Value: 78.8, Unit: "F", RecordedAt: t0, Quality: sdk.QualityGood},
			{ProviderDeviceID: "pool-probe-1", Metric: "free_chlorine", Value: 0, Unit: "mg/L", Quality: sdk.QualitySuspect},
		}},
		{name: "batch", body: fixture(t, "batch.json"), want: []sdk.Reading{
			{ProviderDeviceID: "pool-probe-1", Metric: "orp", Value: 712, Unit: "mV", RecordedAt: time.Date(2025, 12, 31, 23, 5, 0, 0, time.UTC)},
			{ProviderDeviceID: "spa", Metric: "salt", Value: 3.2, Unit: "g/L", RecordedAt: time.Date(2026, 1, 1, 0, 5, 0, 5e8, time.UTC)},
		}},
		{name: "empty report", body: []byte(`{"device_id":"spa"}`)},
		{name: "empty batch", body: []byte(`[]`)},
		{name: "missing value", body: fixture(t, "missing_value.json"), wantErr: true},
		{name: "missing device", body: fixture(t, "missing_device.json"), wantErr: true},
		{name: "missing metric", body: []byte(`{"device_id":"a","readings":[{"value":1}]}`), wantErr: true},
		{name: "value is a string", body: []byte(`{"device_id":"a","readings":[{"metric":"ph","value":"7.4"}]}`), wantErr: true},
		{name: "bad recorded_at", body: []byte(`{"device_id":"a","readings":[{"metric":"ph","value":7.4,"recorded_at":"01/01/2026"}]}`), wantErr: true},
		{name: "bad quality", body: []byte(`{"device_id":"a","readings":[{"metric":"ph","value":7.4,"quality":"great"}]}`), wantErr: true},
		{name: "not json", body: []byte(`device_id=a`), wantErr: true},
		{name: "truncated", body: []byte(`{"device_id":"a","readings":[`), wantErr: true},
		{name: "empty body", body: nil, wantErr: true},
		{name: "scalar", body: []byte(`42`), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set("webhook-id", "msg_abc")
			res, err := c.Webhook(t.Context(), sdk.WebhookRequest{Headers: h, Body: tt.body, ReceivedAt: t0})
			if tt.wantErr {
				wantKind(t, err, sdk.KindPermanent)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.DeliveryID != "msg_abc" {
				t.Errorf("delivery id %q", res.DeliveryID)
			}
			if len(res.Readings) != len(tt.want) {
				t.Fatalf("got %d readings, want %d: %+v", len(res.Readings), len(tt.want), res.Readings)
			}
			for i, w := range tt.want {
				g := res.Readings[i]
				if g.ProviderDeviceID != w.ProviderDeviceID || g.Metric != w.Metric || g.Value != w.Value ||
					g.Unit != w.Unit || !g.RecordedAt.Equal(w.RecordedAt) || g.Quality != w.Quality {
					t.Errorf("reading %d:\n got %+v\nwant %+v", i, g, w)
				}
			}
		})
	}
}

// TestWebhookTestSessions: a report's test_sessions become sdk.TestSessions of its
// device; a malformed one fails the delivery as permanent, as a malformed reading does.
func TestWebhookTestSessions(t *testing.T) {
	c := setup(t)
	res, err := c.Webhook(t.Context(), sdk.WebhookRequest{Body: fixture(t, "test_sessions.json"), ReceivedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	want := []sdk.TestSession{
		{ProviderDeviceID: "pool-probe-1", TakenAt: time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC), Method: "photometer", Notes: "after rain",
			Results: []sdk.TestResult{{Metric: "free_chlorine", Value: 1.2, Unit: "ppm"}, {Metric: "cyanuric_acid", Value: 40}}},
		{ProviderDeviceID: "pool-probe-1", Results: []sdk.TestResult{{Metric: "salt", Value: 3.2, Unit: "g/L"}}},
	}
	if len(res.Readings) != 1 || !reflect.DeepEqual(res.TestSessions, want) {
		t.Fatalf("got %d readings and sessions\n %+v\nwant\n %+v", len(res.Readings), res.TestSessions, want)
	}
	for _, body := range []string{
		`{"device_id":"a","test_sessions":[{"taken_at":"yesterday","results":[]}]}`,
		`{"device_id":"a","test_sessions":[{"results":[{"metric":"ph"}]}]}`,
		`{"device_id":"a","test_sessions":[{"results":[{"value":7}]}]}`,
	} {
		_, err := c.Webhook(t.Context(), sdk.WebhookRequest{Body: []byte(body), ReceivedAt: time.Now()})
		wantKind(t, err, sdk.KindPermanent)
	}
}

// The whole life of an account: connect, sign with the secret the linkage returned,
// deliver to the account URL in one round trip (as the host does).
func TestAccountDelivery(t *testing.T) {
	c := setup(t)
	link, err := c.Connect(t.Context(), sdk.ConnectRequest{Input: map[string]string{"devices": "pool-probe-1"}})
	if err != nil {
		t.Fatal(err)
	}
	l := link.Linkage
	acct := &sdk.Account{ID: "acc-1", ExternalAccountID: l.ExternalAccountID, Credentials: l.Credentials}
	body := fixture(t, "single.json")
	now := time.Now()
	req := sdk.WebhookRequest{
		Headers:       sign(t, l.Credentials["webhook_secret"], "msg_42", now, body),
		Body:          body,
		ReceivedAt:    now,
		Account:       acct,
		AccountSecret: l.Credentials["webhook_secret"],
	}
	res, err := c.IngestWebhook(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.DeliveryID != "msg_42" || len(res.Readings) != 3 {
		t.Errorf("delivery %q, %d readings", res.DeliveryID, len(res.Readings))
	}

	// Authentic but malformed: the host gets a parse error it can dead-letter.
	bad := []byte(`{"readings":[]}`)
	req.Body, req.Headers = bad, sign(t, l.Credentials["webhook_secret"], "msg_43", now, bad)
	_, err = c.IngestWebhook(t.Context(), req)
	wantKind(t, err, sdk.KindPermanent)
}

// Declared devices are never verified; the operator's fleet devices are, for the account
// connected with the fleet key, and only for it.
func TestFleetDevicesAreVerifiedDeclaredAreNot(t *testing.T) {
	c := sdktest.Connect(t, generic.New())
	if err := c.Configure(t.Context(), sdk.ConfigureRequest{
		Settings: map[string]string{"fleet_devices": "pool-probe-1,pool-probe-2"},
		Secrets:  map[string]string{"fleet_key": "operator-fleet-key-0123456789abcdef"},
	}); err != nil {
		t.Fatal(err)
	}
	discover := func(input map[string]string) []sdk.Device {
		t.Helper()
		res, err := c.Connect(t.Context(), sdk.ConnectRequest{Input: input})
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.DiscoverDevices(t.Context(), sdk.DiscoverRequest{Account: sdk.Account{Credentials: res.Linkage.Credentials}})
		if err != nil {
			t.Fatal(err)
		}
		return d.Devices
	}
	user := discover(map[string]string{"devices": "pool-probe-1,mine"})
	for _, d := range user {
		if d.Verified {
			t.Errorf("a user's declared %s came back verified", d.ProviderDeviceID)
		}
	}
	fleet := discover(map[string]string{"fleet_key": "operator-fleet-key-0123456789abcdef"})
	if len(fleet) != 2 || !fleet[0].Verified || !fleet[1].Verified {
		t.Fatalf("fleet account's devices %+v, want the two fleet devices verified", fleet)
	}
	if _, err := c.Connect(t.Context(), sdk.ConnectRequest{Input: map[string]string{"fleet_key": "guess"}}); !sdk.IsKind(err, sdk.KindInvalidInput) {
		t.Fatalf("a wrong fleet key: %v, want invalid input", err)
	}
}

// A sender following Standard Webhooks' recommended payload structure wraps its report
// in an event, {"type", "timestamp", "data"}, or sends events of other types (a ping, a
// test event) that carry no report: the report is read from data, and an event without
// one is nothing to store, answered as received, not a malformed delivery to dead-letter.
func TestStandardWebhooksEvents(t *testing.T) {
	c := setup(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		body    string
		want    int // readings
		wantErr bool
	}{
		{name: "report in data", body: `{"type":"reading.created","timestamp":"2026-01-01T00:00:00Z","data":{"device_id":"spa","readings":[{"metric":"ph","value":7.4},{"metric":"orp","value":700}]}}`, want: 2},
		{name: "batch in data", body: `{"type":"readings.batch","data":[{"device_id":"spa","readings":[{"metric":"ph","value":7.4}]},{"device_id":"pool","readings":[{"metric":"ph","value":7.2}]}]}`, want: 2},
		{name: "report squashed into the event", body: `{"type":"reading.created","device_id":"spa","readings":[{"metric":"ph","value":7.4}]}`, want: 1},
		{name: "ping", body: `{"type":"ping","timestamp":"2026-01-01T00:00:00Z"}`},
		{name: "test event with other data", body: `{"type":"endpoint.test","timestamp":"2026-01-01T00:00:00Z","data":{"message":"hello"}}`},
		{name: "null data", body: `{"type":"device.online","data":null}`},
		{name: "event readings without a device", body: `{"type":"reading.created","readings":[{"metric":"ph","value":7.4}]}`, wantErr: true},
		{name: "data readings without a device", body: `{"type":"reading.created","data":{"readings":[{"metric":"ph","value":7.4}]}}`, wantErr: true},
		{name: "no type, no device: still malformed", body: `{"timestamp":"2026-01-01T00:00:00Z","data":{}}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set("webhook-id", "msg_evt")
			res, err := c.Webhook(t.Context(), sdk.WebhookRequest{Headers: h, Body: []byte(tt.body), ReceivedAt: t0})
			if tt.wantErr {
				wantKind(t, err, sdk.KindPermanent)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Readings) != tt.want || res.DeliveryID != "msg_evt" {
				t.Errorf("%d readings, delivery %q; want %d, msg_evt: %+v", len(res.Readings), res.DeliveryID, tt.want, res.Readings)
			}
		})
	}
}
