package ttn_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/plugins/ttn"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/command"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

const providerSecret = "provider-shared-secret-0123456789"

// connect serves a configured adapter over the real plugin wire.
func connect(t *testing.T, settings map[string]string) *grpcplugin.Client {
	t.Helper()
	c := sdktest.Connect(t, ttn.New())
	err := c.Configure(t.Context(), sdk.ConfigureRequest{
		Settings: settings,
		Secrets:  map[string]string{ttn.SecretWebhookSecret: providerSecret},
	})
	if err != nil {
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

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestDescribe(t *testing.T) {
	d, err := sdktest.Connect(t, ttn.New()).Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.Capabilities{Connect: sdk.ConnectWebhookSecret, Webhook: true, Write: true, Commands: command.Names()}
	if d.ID != "ttn" || d.ProtocolVersion != sdk.ProtocolVersion || !reflect.DeepEqual(d.Capabilities, want) {
		t.Errorf("description %+v", d)
	}
}

func TestConfigure(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		ok       bool
	}{
		{"defaults", nil, true},
		{"field map", map[string]string{"field_map": "t1:temperature:F, cl:free_chlorine:mg/L ,luminosity:-,water.ph:ph"}, true},
		{"per application field map", map[string]string{"field_map.app1": "x:salt:g/L"}, true},
		{"all options", map[string]string{"auth_header": "X-Poolhost-Secret", "device_id_field": "dev_eui", "simulated": "suspect", "rssi": "true"}, true},
		{"unknown metric", map[string]string{"field_map": "lux:luminosity"}, false},
		{"unit that does not fit", map[string]string{"field_map": "t:temperature:mV"}, false},
		{"malformed entry", map[string]string{"field_map": "temperature"}, false},
		{"too many parts", map[string]string{"field_map": "a:ph:pH:x"}, false},
		{"bad per application map", map[string]string{"field_map.app1": "x:nope"}, false},
		{"bad device id field", map[string]string{"device_id_field": "serial"}, false},
		{"bad simulated", map[string]string{"simulated": "keep"}, false},
		{"bad rssi", map[string]string{"rssi": "yes"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sdktest.Connect(t, ttn.New()).Configure(t.Context(), sdk.ConfigureRequest{Settings: tt.settings})
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantKind(t, err, sdk.KindInvalidInput)
		})
	}
}

func TestConnectAndDiscover(t *testing.T) {
	c := connect(t, nil)
	res, err := c.Connect(t.Context(), sdk.ConnectRequest{Input: map[string]string{"devices": "pool-node-7, dev1,dev1", "name": "Club pool"}})
	if err != nil {
		t.Fatal(err)
	}
	l := res.Linkage
	if l == nil || res.AuthorizeURL != "" {
		t.Fatalf("want an immediate linkage, got %+v", res)
	}
	if len(l.Credentials["webhook_secret"]) < 40 || !strings.HasPrefix(l.ExternalAccountID, "ttn_") || l.DisplayName != "Club pool" {
		t.Errorf("linkage %q %q, secret of %d chars", l.ExternalAccountID, l.DisplayName, len(l.Credentials["webhook_secret"]))
	}
	d, err := c.DiscoverDevices(t.Context(), sdk.DiscoverRequest{Account: sdk.Account{Credentials: l.Credentials}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Devices) != 2 || d.Devices[0].ProviderDeviceID != "pool-node-7" || d.Devices[1].ProviderDeviceID != "dev1" {
		t.Errorf("devices %+v", d.Devices)
	}

	_, err = c.Connect(t.Context(), sdk.ConnectRequest{Input: map[string]string{"devices": "a/b"}})
	wantKind(t, err, sdk.KindInvalidInput)
	_, err = c.Callback(t.Context(), sdk.CallbackRequest{Code: "x"})
	wantKind(t, err, sdk.KindUnsupported)
	_, err = c.PollReadings(t.Context(), sdk.PollRequest{})
	wantKind(t, err, sdk.KindUnsupported)
}

func TestVerifyWebhook(t *testing.T) {
	body := fixture(t, "uplink.json")
	const accountSecret = "account-secret-abcdefghijklmnopqrstuvwxyz"
	account := &sdk.Account{ID: "acc-1", Credentials: sdk.Credentials{"webhook_secret": accountSecret}}
	tests := []struct {
		name     string
		settings map[string]string
		req      sdk.WebhookRequest
		ok       bool
	}{
		{name: "provider bearer", ok: true,
			req: sdk.WebhookRequest{Headers: header("Authorization", "Bearer "+providerSecret)}},
		{name: "scheme is case-insensitive", ok: true,
			req: sdk.WebhookRequest{Headers: header("Authorization", "bearer "+providerSecret)}},
		{name: "account secret from the host", ok: true,
			req: sdk.WebhookRequest{Headers: header("Authorization", "Bearer "+accountSecret), Account: account, AccountSecret: accountSecret}},
		{name: "account secret from the credentials", ok: true,
			req: sdk.WebhookRequest{Headers: header("Authorization", "Bearer "+accountSecret), Account: account}},
		{name: "custom header carries the bare secret", settings: map[string]string{"auth_header": "X-Poolhost-Secret"}, ok: true,
			req: sdk.WebhookRequest{Headers: header("X-Poolhost-Secret", providerSecret)}},
		{name: "custom header and scheme", settings: map[string]string{"auth_header": "X-Auth", "auth_scheme": "Token"}, ok: true,
			req: sdk.WebhookRequest{Headers: header("X-Auth", "Token "+providerSecret)}},
		{name: "wrong secret",
			req: sdk.WebhookRequest{Headers: header("Authorization", "Bearer nope")}},
		{name: "secret prefix only",
			req: sdk.WebhookRequest{Headers: header("Authorization", "Bearer "+providerSecret[:10])}},
		{name: "missing header",
			req: sdk.WebhookRequest{Headers: http.Header{}}},
		{name: "no scheme",
			req: sdk.WebhookRequest{Headers: header("Authorization", providerSecret)}},
		{name: "basic scheme",
			req: sdk.WebhookRequest{Headers: header("Authorization", "Basic "+providerSecret)}},
		{name: "secret in the default header when a custom one is set", settings: map[string]string{"auth_header": "X-Poolhost-Secret"},
			req: sdk.WebhookRequest{Headers: header("Authorization", "Bearer "+providerSecret)}},
		{name: "provider secret on an account url",
			req: sdk.WebhookRequest{Headers: header("Authorization", "Bearer "+providerSecret), Account: account, AccountSecret: accountSecret}},
		{name: "account secret on the provider url",
			req: sdk.WebhookRequest{Headers: header("Authorization", "Bearer "+accountSecret)}},
		{name: "account without a secret",
			req: sdk.WebhookRequest{Headers: header("Authorization", "Bearer "+providerSecret), Account: &sdk.Account{ID: "acc-2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := connect(t, tt.settings)
			tt.req.Body, tt.req.ReceivedAt = body, time.Now()
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
		c := sdktest.Connect(t, ttn.New())
		err := c.VerifyWebhook(t.Context(), sdk.WebhookRequest{Headers: header("Authorization", "Bearer "), Body: body})
		wantKind(t, err, sdk.KindRejected)
	})
}

func TestWebhook(t *testing.T) {
	sample := time.Date(2020, 2, 12, 15, 15, 45, 789585559, time.UTC)
	pool := time.Date(2026, 6, 1, 10, 0, 1, 2e8, time.UTC)
	sim := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		settings   map[string]string
		body       string // fixture name, or inline JSON when it starts with '{' or is not a file
		want       []sdk.Reading
		wantID     string
		wantErrKnd sdk.ErrorKind
		wantErr    bool
	}{
		{name: "documented sample", body: "uplink.json", wantID: "as:up:01E0WZGT6Y7657CPFPE5WEYDSQ",
			want: []sdk.Reading{{ProviderDeviceID: "dev1", Metric: "temperature", Value: 1, RecordedAt: sample}}},
		{name: "sample keyed by dev_eui", body: "uplink.json", settings: map[string]string{"device_id_field": "dev_eui"},
			want: []sdk.Reading{{ProviderDeviceID: "0004A30B001C0530", Metric: "temperature", Value: 1, RecordedAt: sample}}},
		{name: "sample with a field map", body: "uplink.json", settings: map[string]string{"field_map": "temperature:temperature:F"},
			want: []sdk.Reading{{ProviderDeviceID: "dev1", Metric: "temperature", Value: 1, Unit: "F", RecordedAt: sample}}},
		{name: "sample with rssi", body: "uplink.json", settings: map[string]string{"rssi": "true"},
			want: []sdk.Reading{
				{ProviderDeviceID: "dev1", Metric: "temperature", Value: 1, RecordedAt: sample},
				{ProviderDeviceID: "dev1", Metric: "signal_dbm", Value: -35, Unit: "dBm", RecordedAt: sample},
			}},
		{name: "pool sensor with defaults", body: "uplink_pool.json", wantID: "as:up:01J1ABCDEF0123456789ABCDEF",
			want: []sdk.Reading{ // sorted by payload key: battery, ph, redox, temp
				{ProviderDeviceID: "pool-node-7", Metric: "battery", Value: 87, Unit: "%", RecordedAt: pool},
				{ProviderDeviceID: "pool-node-7", Metric: "ph", Value: 7.32, RecordedAt: pool},
				{ProviderDeviceID: "pool-node-7", Metric: "orp", Value: 680, Unit: "mV", RecordedAt: pool},
				{ProviderDeviceID: "pool-node-7", Metric: "temperature", Value: 26.5, RecordedAt: pool},
			}},
		{name: "nested key, ignored key, per-application map", body: "uplink_pool.json",
			settings: map[string]string{
				"field_map":              "battery:-,water.cl:free_chlorine:mg/L",
				"field_map.pool-sensors": "temp:temperature:F",
				"field_map.other-app":    "ph:-",
				"rssi":                   "true",
			},
			want: []sdk.Reading{ // ph, redox, temp (°F for this app), water.cl, then the best rssi
				{ProviderDeviceID: "pool-node-7", Metric: "ph", Value: 7.32, RecordedAt: pool},
				{ProviderDeviceID: "pool-node-7", Metric: "orp", Value: 680, Unit: "mV", RecordedAt: pool},
				{ProviderDeviceID: "pool-node-7", Metric: "temperature", Value: 26.5, Unit: "F", RecordedAt: pool},
				{ProviderDeviceID: "pool-node-7", Metric: "free_chlorine", Value: 1.8, Unit: "mg/L", RecordedAt: pool},
				{ProviderDeviceID: "pool-node-7", Metric: "signal_dbm", Value: -61, Unit: "dBm", RecordedAt: pool},
			}},
		{name: "simulated uplink is skipped", body: "simulated.json", wantID: "as:up:01SIMULATED0000000000000000"},
		{name: "simulated uplink kept as suspect", body: "simulated.json", settings: map[string]string{"simulated": "suspect"},
			want: []sdk.Reading{
				{ProviderDeviceID: "dev1", Metric: "ph", Value: 7.5, RecordedAt: sim, Quality: sdk.QualitySuspect},
				{ProviderDeviceID: "dev1", Metric: "temperature", Value: 21.5, RecordedAt: sim, Quality: sdk.QualitySuspect},
			}},
		{name: "join accept has no readings", body: "join_accept.json"},
		{name: "uplink without decoded payload", body: "no_formatter.json"},
		{name: "decoded payload is not an object",
			body: `{"end_device_ids":{"device_id":"d"},"uplink_message":{"decoded_payload":[1,2],"received_at":"2026-06-01T10:00:00Z"}}`},
		{name: "non-numeric value is ignored",
			body: `{"end_device_ids":{"device_id":"d"},"uplink_message":{"decoded_payload":{"ph":"n/a","temperature":true,"orp":650,"salt":"0x10","tds":"NaN","battery":"Inf"},"received_at":"2026-06-01T10:00:00Z"}}`,
			want: []sdk.Reading{{ProviderDeviceID: "d", Metric: "orp", Value: 650, Unit: "mV", RecordedAt: sim}}},
		// The Device Repository's codecs round with toFixed, which gives strings
		// (Dragino: data.TempC_DS18B20=(value/10).toFixed(2)).
		{name: "number in a string, as toFixed gives it",
			settings: map[string]string{"field_map": "TempC_DS18B20:temperature"},
			body:     `{"end_device_ids":{"device_id":"d"},"uplink_message":{"decoded_payload":{"Bat":3.6,"TempC_DS18B20":"26.50","ph":" 7.40 ","Distance":"Invalid Reading"},"received_at":"2026-06-01T10:00:00Z"}}`,
			want: []sdk.Reading{ // sorted by payload key
				{ProviderDeviceID: "d", Metric: "temperature", Value: 26.5, RecordedAt: sim},
				{ProviderDeviceID: "d", Metric: "ph", Value: 7.4, RecordedAt: sim},
			}},
		{name: "falls back to the message receive time",
			body: `{"end_device_ids":{"device_id":"d"},"received_at":"2026-06-01T10:00:00Z","uplink_message":{"decoded_payload":{"ph":7}}}`,
			want: []sdk.Reading{{ProviderDeviceID: "d", Metric: "ph", Value: 7, RecordedAt: sim}}},
		{name: "malformed json", body: `{"end_device_ids":`, wantErr: true, wantErrKnd: sdk.KindPermanent},
		{name: "not an object", body: `"uplink"`, wantErr: true, wantErrKnd: sdk.KindPermanent},
		{name: "uplink without device", body: `{"uplink_message":{"decoded_payload":{"ph":7}}}`, wantErr: true, wantErrKnd: sdk.KindPermanent},
		{name: "dev_eui missing when it is the id", settings: map[string]string{"device_id_field": "dev_eui"},
			body: `{"end_device_ids":{"device_id":"d"},"uplink_message":{"decoded_payload":{"ph":7}}}`, wantErr: true, wantErrKnd: sdk.KindPermanent},
		{name: "bad timestamp", body: `{"end_device_ids":{"device_id":"d"},"uplink_message":{"decoded_payload":{"ph":7},"received_at":"now"}}`,
			wantErr: true, wantErrKnd: sdk.KindPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := connect(t, tt.settings)
			body := []byte(tt.body)
			if strings.HasSuffix(tt.body, ".json") {
				body = fixture(t, tt.body)
			}
			res, err := c.Webhook(t.Context(), sdk.WebhookRequest{Headers: http.Header{}, Body: body, ReceivedAt: time.Now()})
			if tt.wantErr {
				wantKind(t, err, tt.wantErrKnd)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantID != "" && res.DeliveryID != tt.wantID {
				t.Errorf("delivery id %q, want %q", res.DeliveryID, tt.wantID)
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

// The host's one-round-trip path with the documented sample on an account URL.
func TestIngestWebhook(t *testing.T) {
	c := connect(t, nil)
	link, err := c.Connect(t.Context(), sdk.ConnectRequest{Input: map[string]string{"devices": "dev1"}})
	if err != nil {
		t.Fatal(err)
	}
	secret := link.Linkage.Credentials["webhook_secret"]
	req := sdk.WebhookRequest{
		Headers:       header("Authorization", "Bearer "+secret),
		Body:          fixture(t, "uplink.json"),
		ReceivedAt:    time.Now(),
		Account:       &sdk.Account{ID: "acc-1", Credentials: link.Linkage.Credentials},
		AccountSecret: secret,
	}
	res, err := c.IngestWebhook(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Readings) != 1 || res.Readings[0].Metric != "temperature" {
		t.Errorf("readings %+v", res.Readings)
	}
	req.Headers = header("Authorization", "Bearer "+providerSecret)
	_, err = c.IngestWebhook(t.Context(), req)
	wantKind(t, err, sdk.KindRejected)
}

// The stack publishes a location solved from the payload and one normalized uplink per
// measurement with the correlation ids of the uplink they derive from, before the uplink
// itself (lorawan-stack's applicationserver: handleUplink, publishNormalizedUplink). No
// such message may carry the uplink's delivery id, or the host takes the uplink for a
// replay and drops its readings; nor may two of them share one.
func TestDerivedMessagesDoNotTakeTheUplinksDeliveryID(t *testing.T) {
	c := connect(t, nil)
	var derived []json.RawMessage
	if err := json.Unmarshal(fixture(t, "derived.json"), &derived); err != nil {
		t.Fatal(err)
	}
	up, err := c.Webhook(t.Context(), sdk.WebhookRequest{Headers: http.Header{}, Body: fixture(t, "uplink.json"), ReceivedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if up.DeliveryID != "as:up:01E0WZGT6Y7657CPFPE5WEYDSQ" || len(up.Readings) != 1 {
		t.Fatalf("uplink: id %q, readings %+v", up.DeliveryID, up.Readings)
	}
	ids := map[string]string{up.DeliveryID: "uplink"}
	for i, body := range derived {
		res, err := c.Webhook(t.Context(), sdk.WebhookRequest{Headers: http.Header{}, Body: body, ReceivedAt: time.Now()})
		if err != nil {
			t.Fatalf("derived message %d: %v", i, err)
		}
		if len(res.Readings) != 0 || len(res.CommandUpdates) != 0 {
			t.Errorf("derived message %d gave %+v", i, res)
		}
		if res.DeliveryID == "" || !strings.Contains(res.DeliveryID, "as:up:01E0WZGT6Y7657CPFPE5WEYDSQ") {
			t.Errorf("derived message %d: delivery id %q, want one naming its as:up id", i, res.DeliveryID)
		}
		if prev, dup := ids[res.DeliveryID]; dup {
			t.Errorf("derived message %d has the delivery id %q of %s", i, res.DeliveryID, prev)
		}
		ids[res.DeliveryID] = fmt.Sprintf("derived message %d", i)
		// A retry of the same message is the same delivery.
		again, err := c.Webhook(t.Context(), sdk.WebhookRequest{Headers: http.Header{}, Body: body, ReceivedAt: time.Now()})
		if err != nil || again.DeliveryID != res.DeliveryID {
			t.Errorf("derived message %d again: %q, %v; want %q", i, again.DeliveryID, err, res.DeliveryID)
		}
	}
}
