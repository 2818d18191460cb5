package template_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	template "github.com/poolhost/poolhost/examples/provider-template"
	"github.com/poolhost/poolhost/examples/provider-template/acmetest"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// These tests drive the adapter the way the host does: over the real go-plugin gRPC
// wire (sdktest.Connect), against a fake Acme (acmetest). Keep that setup when you
// copy the template; it catches conversion and error-kind mistakes a direct call hides.

const redirectURI = "https://poolhost.example/v1/providers/template/callback"

// settings returns a valid configuration for fake.
func settings(fake *acmetest.Server) sdk.ConfigureRequest {
	return sdk.ConfigureRequest{
		Settings: map[string]string{template.SettingBaseURL: fake.URL, template.SettingClientID: acmetest.ClientID},
		Secrets: map[string]string{
			template.SecretClientSecret:  acmetest.ClientSecret,
			template.SecretWebhookSecret: acmetest.WebhookSecret,
		},
	}
}

// setup starts a fake Acme and a configured adapter served over the wire.
func setup(t *testing.T) (*grpcplugin.Client, *acmetest.Server) {
	t.Helper()
	fake := acmetest.NewServer()
	t.Cleanup(fake.Close)
	c := sdktest.Connect(t, template.New())
	if err := c.Configure(t.Context(), settings(fake)); err != nil {
		t.Fatalf("configure: %v", err)
	}
	return c, fake
}

// linkedAccount runs the whole OAuth dance and returns the stored account.
func linkedAccount(t *testing.T, c *grpcplugin.Client, fake *acmetest.Server) sdk.Account {
	t.Helper()
	ctx := t.Context()
	res, err := c.Connect(ctx, sdk.ConnectRequest{RedirectURI: redirectURI, State: "state-1"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	code, _, err := fake.Authorize(res.AuthorizeURL)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	l, err := c.Callback(ctx, sdk.CallbackRequest{Code: code, State: "state-1", RedirectURI: redirectURI})
	if err != nil {
		t.Fatalf("callback: %v", err)
	}
	return sdk.Account{ID: "acc-1", ExternalAccountID: l.ExternalAccountID, Credentials: l.Credentials}
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

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDescribe(t *testing.T) {
	c := sdktest.Connect(t, template.New())
	d, err := c.Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != template.ID || d.ProtocolVersion != sdk.ProtocolVersion {
		t.Errorf("id %q protocol %d", d.ID, d.ProtocolVersion)
	}
	caps := d.Capabilities
	if caps.Connect != sdk.ConnectOAuth2 || !caps.Webhook || !caps.Poll || caps.MinPollInterval != template.MinPollInterval {
		t.Errorf("capabilities %+v", caps)
	}
	var required []string
	for _, o := range d.Settings {
		if o.Required {
			required = append(required, o.Key)
		}
	}
	if strings.Join(required, ",") != "base_url,client_id,client_secret" {
		t.Errorf("required settings and secrets %v", required)
	}
}

func TestConfigure(t *testing.T) {
	fake := acmetest.NewServer()
	defer fake.Close()
	tests := []struct {
		name   string
		change func(*sdk.ConfigureRequest)
		ok     bool
	}{
		{"valid", func(*sdk.ConfigureRequest) {}, true},
		{"webhook secret is optional", func(r *sdk.ConfigureRequest) { delete(r.Secrets, template.SecretWebhookSecret) }, true},
		{"missing base_url", func(r *sdk.ConfigureRequest) { delete(r.Settings, template.SettingBaseURL) }, false},
		{"relative base_url", func(r *sdk.ConfigureRequest) { r.Settings[template.SettingBaseURL] = "/api" }, false},
		{"ftp base_url", func(r *sdk.ConfigureRequest) { r.Settings[template.SettingBaseURL] = "ftp://acme.example" }, false},
		{"missing client_id", func(r *sdk.ConfigureRequest) { delete(r.Settings, template.SettingClientID) }, false},
		{"missing client_secret", func(r *sdk.ConfigureRequest) { delete(r.Secrets, template.SecretClientSecret) }, false},
		{"malformed webhook secret", func(r *sdk.ConfigureRequest) { r.Secrets[template.SecretWebhookSecret] = "whsec_!!!" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sdktest.Connect(t, template.New())
			req := settings(fake)
			tt.change(&req)
			err := c.Configure(t.Context(), req)
			if tt.ok {
				if err != nil {
					t.Fatalf("configure: %v", err)
				}
				if err := c.Health(t.Context()); err != nil {
					t.Fatalf("health after configure: %v", err)
				}
				return
			}
			wantKind(t, err, sdk.KindInvalidInput)
		})
	}
}

// Before Configure the host gets temporary errors (worth retrying once configured),
// and Health says so.
func TestUnconfigured(t *testing.T) {
	c := sdktest.Connect(t, template.New())
	ctx := t.Context()
	if err := c.Health(ctx); err == nil {
		t.Error("health: want an error before configure")
	}
	_, err := c.Connect(ctx, sdk.ConnectRequest{RedirectURI: redirectURI, State: "s"})
	wantKind(t, err, sdk.KindTemporary)
	_, err = c.PollReadings(ctx, sdk.PollRequest{Account: sdk.Account{Credentials: sdk.Credentials{"access_token": "x"}}})
	wantKind(t, err, sdk.KindTemporary)
}

func TestConnect(t *testing.T) {
	c, fake := setup(t)
	res, err := c.Connect(t.Context(), sdk.ConnectRequest{RedirectURI: redirectURI, State: "opaque state/+="})
	if err != nil {
		t.Fatal(err)
	}
	if res.Linkage != nil {
		t.Error("oauth2 connect must not link at once")
	}
	u, err := url.Parse(res.AuthorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.AuthorizeURL, fake.URL+"/oauth/authorize?") {
		t.Errorf("authorize url %s", res.AuthorizeURL)
	}
	q := u.Query()
	want := map[string]string{
		"response_type": "code",
		"client_id":     acmetest.ClientID,
		"redirect_uri":  redirectURI,
		"state":         "opaque state/+=", // carried unchanged, whatever it contains
		"scope":         template.DefaultScope,
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("authorize url %s = %q, want %q", k, q.Get(k), v)
		}
	}

	_, err = c.Connect(t.Context(), sdk.ConnectRequest{RedirectURI: redirectURI})
	wantKind(t, err, sdk.KindInvalidInput)
}

func TestCallback(t *testing.T) {
	c, fake := setup(t)
	ctx := t.Context()
	res, err := c.Connect(ctx, sdk.ConnectRequest{RedirectURI: redirectURI, State: "st"})
	if err != nil {
		t.Fatal(err)
	}
	code, state, err := fake.Authorize(res.AuthorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	if state != "st" {
		t.Errorf("acme returned state %q", state)
	}
	l, err := c.Callback(ctx, sdk.CallbackRequest{Code: code, State: state, RedirectURI: redirectURI, Query: map[string]string{"code": code, "state": state}})
	if err != nil {
		t.Fatalf("callback: %v", err)
	}
	if l.ExternalAccountID != acmetest.AccountID || l.DisplayName != acmetest.AccountName {
		t.Errorf("linkage %q %q", l.ExternalAccountID, l.DisplayName)
	}
	for _, k := range []string{"access_token", "refresh_token", "expires_at"} {
		if l.Credentials[k] == "" {
			t.Errorf("credentials lack %s", k)
		}
	}
	exp, err := time.Parse(time.RFC3339, l.Credentials["expires_at"])
	if err != nil || time.Until(exp) < 50*time.Minute || time.Until(exp) > 61*time.Minute {
		t.Errorf("expires_at %q (%v), want about an hour from now", l.Credentials["expires_at"], err)
	}

	// A code is single use: replaying the callback fails as invalid input (the user
	// must connect again), not as a temporary error the host would retry.
	_, err = c.Callback(ctx, sdk.CallbackRequest{Code: code, State: state, RedirectURI: redirectURI})
	wantKind(t, err, sdk.KindInvalidInput)
}

func TestCallbackErrors(t *testing.T) {
	c, fake := setup(t)
	freshCode := func(t *testing.T) string {
		t.Helper()
		res, err := c.Connect(t.Context(), sdk.ConnectRequest{RedirectURI: redirectURI, State: "s"})
		if err != nil {
			t.Fatal(err)
		}
		code, _, err := fake.Authorize(res.AuthorizeURL)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	tests := []struct {
		name string
		req  func(t *testing.T) sdk.CallbackRequest
		want sdk.ErrorKind
	}{
		{"user denied", func(*testing.T) sdk.CallbackRequest {
			return sdk.CallbackRequest{State: "s", RedirectURI: redirectURI, Query: map[string]string{"error": "access_denied"}}
		}, sdk.KindInvalidInput},
		{"no code", func(*testing.T) sdk.CallbackRequest {
			return sdk.CallbackRequest{State: "s", RedirectURI: redirectURI}
		}, sdk.KindInvalidInput},
		{"unknown code", func(*testing.T) sdk.CallbackRequest {
			return sdk.CallbackRequest{Code: "forged", State: "s", RedirectURI: redirectURI}
		}, sdk.KindInvalidInput},
		{"other redirect uri", func(t *testing.T) sdk.CallbackRequest {
			return sdk.CallbackRequest{Code: freshCode(t), State: "s", RedirectURI: "https://evil.example/cb"}
		}, sdk.KindInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Callback(t.Context(), tt.req(t))
			wantKind(t, err, tt.want)
		})
	}

	t.Run("wrong client secret is the operator's problem", func(t *testing.T) {
		c := sdktest.Connect(t, template.New())
		req := settings(fake)
		req.Secrets[template.SecretClientSecret] = "wrong"
		if err := c.Configure(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		_, err := c.Callback(t.Context(), sdk.CallbackRequest{Code: freshCode(t), State: "s", RedirectURI: redirectURI})
		wantKind(t, err, sdk.KindTemporary)
	})
}

func TestDiscoverDevices(t *testing.T) {
	tests := []struct {
		name string
		// prepare returns the account's credentials and may turn knobs on the fake.
		prepare       func(fake *acmetest.Server, linked sdk.Credentials) sdk.Credentials
		wantKind      sdk.ErrorKind // meaningful when wantErr
		wantErr       bool
		wantRefreshed bool
	}{
		{name: "valid token", prepare: func(_ *acmetest.Server, c sdk.Credentials) sdk.Credentials { return c }},
		{name: "token revoked early: refresh on 401", wantRefreshed: true,
			prepare: func(f *acmetest.Server, c sdk.Credentials) sdk.Credentials { f.ExpireAccessTokens(); return c }},
		{name: "token known expired: refresh first", wantRefreshed: true,
			prepare: func(_ *acmetest.Server, c sdk.Credentials) sdk.Credentials {
				c["expires_at"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
				return c
			}},
		{name: "refresh token revoked", wantErr: true, wantKind: sdk.KindReauth,
			prepare: func(f *acmetest.Server, c sdk.Credentials) sdk.Credentials {
				f.ExpireAccessTokens()
				f.RevokeRefreshTokens()
				return c
			}},
		{name: "no tokens", wantErr: true, wantKind: sdk.KindReauth,
			prepare: func(*acmetest.Server, sdk.Credentials) sdk.Credentials { return sdk.Credentials{} }},
		{name: "scope revoked", wantErr: true, wantKind: sdk.KindReauth,
			prepare: func(f *acmetest.Server, c sdk.Credentials) sdk.Credentials {
				f.FailNext(http.StatusForbidden)
				return c
			}},
		{name: "acme down", wantErr: true, wantKind: sdk.KindTemporary,
			prepare: func(f *acmetest.Server, c sdk.Credentials) sdk.Credentials {
				f.FailNext(http.StatusServiceUnavailable)
				return c
			}},
		{name: "rate limited", wantErr: true, wantKind: sdk.KindTemporary,
			prepare: func(f *acmetest.Server, c sdk.Credentials) sdk.Credentials {
				f.FailNext(http.StatusTooManyRequests)
				return c
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, fake := setup(t)
			acct := linkedAccount(t, c, fake)
			acct.Credentials = tt.prepare(fake, acct.Credentials)
			old := acct.Credentials["access_token"]

			res, err := c.DiscoverDevices(t.Context(), sdk.DiscoverRequest{Account: acct})
			if tt.wantErr {
				wantKind(t, err, tt.wantKind)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Devices) != 2 || res.Devices[0].ProviderDeviceID != "dev-1" || res.Devices[0].Name != "Backyard pool" ||
				res.Devices[0].Model != "AcmeProbe 2" || res.Devices[0].Metadata["firmware"] != "2.4.1" {
				t.Errorf("devices %+v", res.Devices)
			}
			if !tt.wantRefreshed {
				if res.RefreshedCredentials != nil {
					t.Errorf("credentials refreshed without need: %v", res.RefreshedCredentials != nil)
				}
				return
			}
			rc := res.RefreshedCredentials
			if rc == nil || rc["access_token"] == "" || rc["access_token"] == old || rc["refresh_token"] == "" {
				t.Fatalf("want refreshed credentials, got %d keys", len(rc))
			}
			// The refreshed credentials work (and the old refresh token was rotated).
			acct.Credentials = rc
			if _, err := c.DiscoverDevices(t.Context(), sdk.DiscoverRequest{Account: acct}); err != nil {
				t.Fatalf("discover with refreshed credentials: %v", err)
			}
		})
	}
}

func TestPollReadings(t *testing.T) {
	c, fake := setup(t)
	acct := linkedAccount(t, c, fake)
	ctx := t.Context()

	res, err := c.PollReadings(ctx, sdk.PollRequest{Account: acct})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	want := []sdk.Reading{
		{ProviderDeviceID: "dev-1", Metric: "ph", Value: 7.4, RecordedAt: t0, Quality: sdk.QualityGood},
		{ProviderDeviceID: "dev-1", Metric: "temperature", Value: 78.8, Unit: "F", RecordedAt: t0, Quality: sdk.QualityGood},
		{ProviderDeviceID: "dev-1", Metric: "orp", Value: 700, Unit: "mV", RecordedAt: t0, Quality: sdk.QualitySuspect},
		{ProviderDeviceID: "dev-2", Metric: "free_chlorine", Value: 3.1, Unit: "ppm", RecordedAt: t0.Add(time.Minute)},
	}
	assertReadings(t, res.Readings, want)
	if res.NextCursor == "" {
		t.Fatal("no cursor")
	}

	// Nothing new: same cursor state, no readings.
	res2, err := c.PollReadings(ctx, sdk.PollRequest{Account: acct, Cursor: res.NextCursor})
	if err != nil {
		t.Fatal(err)
	}
	assertReadings(t, res2.Readings, nil)

	// One new reading on dev-2 comes back alone.
	fake.AddReading("dev-2", acmetest.Reading{Type: "ph", Value: 7.1, MeasuredAt: t0.Add(time.Hour)})
	res3, err := c.PollReadings(ctx, sdk.PollRequest{Account: acct, Cursor: res2.NextCursor})
	if err != nil {
		t.Fatal(err)
	}
	assertReadings(t, res3.Readings, []sdk.Reading{{ProviderDeviceID: "dev-2", Metric: "ph", Value: 7.1, RecordedAt: t0.Add(time.Hour)}})

	// An unreadable cursor starts over rather than wedging the account.
	res4, err := c.PollReadings(ctx, sdk.PollRequest{Account: acct, Cursor: "not json"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res4.Readings) != 5 {
		t.Errorf("poll from a broken cursor: %d readings, want all 5", len(res4.Readings))
	}
}

// A backlog is fetched one page per device per poll and caught up over several polls.
func TestPollReadingsPages(t *testing.T) {
	c, fake := setup(t)
	fake.SetPageLimit(2)
	acct := linkedAccount(t, c, fake)
	var cursor string
	var got int
	for poll := 0; poll < 3; poll++ {
		res, err := c.PollReadings(t.Context(), sdk.PollRequest{Account: acct, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		got += len(res.Readings)
		cursor = res.NextCursor
	}
	if got != 4 {
		t.Errorf("got %d readings over three polls, want 4", got)
	}
}

// Refreshed tokens come back from a poll so the host can store them.
func TestPollReadingsRefresh(t *testing.T) {
	c, fake := setup(t)
	acct := linkedAccount(t, c, fake)
	fake.ExpireAccessTokens()
	res, err := c.PollReadings(t.Context(), sdk.PollRequest{Account: acct})
	if err != nil {
		t.Fatal(err)
	}
	if res.RefreshedCredentials["access_token"] == "" || res.RefreshedCredentials["access_token"] == acct.Credentials["access_token"] {
		t.Error("poll did not hand back refreshed credentials")
	}
	if n := fake.Requests("POST /oauth/token"); n != 2 { // the callback's exchange + one refresh
		t.Errorf("token endpoint called %d times, want 2", n)
	}

	fake.ExpireAccessTokens()
	fake.RevokeRefreshTokens()
	_, err = c.PollReadings(t.Context(), sdk.PollRequest{Account: acct})
	wantKind(t, err, sdk.KindReauth)
}

func TestVerifyWebhook(t *testing.T) {
	c, _ := setup(t)
	body := readFixture(t, "readings_created.json")
	now := time.Date(2026, 1, 1, 12, 0, 5, 0, time.UTC)
	const accountSecret = "whsec_YWNtZS10ZXN0LXdlYmhvb2stc2VjcmV0LTAxMjM0NTY="
	sign := func(secret string, at time.Time) http.Header {
		h, err := acmetest.SignWebhook(secret, "msg_1", at, body)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	account := &sdk.Account{ID: "acc-1"}
	tests := []struct {
		name string
		req  sdk.WebhookRequest
		ok   bool
	}{
		{"provider secret", sdk.WebhookRequest{Headers: sign(acmetest.WebhookSecret, now), Body: body, ReceivedAt: now}, true},
		{"account secret", sdk.WebhookRequest{Headers: sign(accountSecret, now), Body: body, ReceivedAt: now, Account: account, AccountSecret: accountSecret}, true},
		{"wrong secret", sdk.WebhookRequest{Headers: sign(accountSecret, now), Body: body, ReceivedAt: now}, false},
		{"provider secret on an account url", sdk.WebhookRequest{Headers: sign(acmetest.WebhookSecret, now), Body: body, ReceivedAt: now, Account: account, AccountSecret: accountSecret}, false},
		{"account url without account secret", sdk.WebhookRequest{Headers: sign(acmetest.WebhookSecret, now), Body: body, ReceivedAt: now, Account: account}, false},
		{"tampered body", sdk.WebhookRequest{Headers: sign(acmetest.WebhookSecret, now), Body: append([]byte(" "), body...), ReceivedAt: now}, false},
		{"stale", sdk.WebhookRequest{Headers: sign(acmetest.WebhookSecret, now.Add(-6*time.Minute)), Body: body, ReceivedAt: now}, false},
		{"unsigned", sdk.WebhookRequest{Headers: http.Header{}, Body: body, ReceivedAt: now}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.VerifyWebhook(t.Context(), tt.req)
			if tt.ok {
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				return
			}
			wantKind(t, err, sdk.KindRejected)
		})
	}

	t.Run("no provider secret configured", func(t *testing.T) {
		fake := acmetest.NewServer()
		defer fake.Close()
		c := sdktest.Connect(t, template.New())
		req := settings(fake)
		delete(req.Secrets, template.SecretWebhookSecret)
		if err := c.Configure(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		err := c.VerifyWebhook(t.Context(), sdk.WebhookRequest{Headers: sign(acmetest.WebhookSecret, now), Body: body, ReceivedAt: now})
		wantKind(t, err, sdk.KindRejected)
	})
}

func TestWebhook(t *testing.T) {
	c, _ := setup(t)
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		body     []byte
		want     []sdk.Reading
		wantKind sdk.ErrorKind
		wantErr  bool
	}{
		{name: "readings", body: readFixture(t, "readings_created.json"), want: []sdk.Reading{
			{ProviderDeviceID: "dev-1", Metric: "ph", Value: 7.42, RecordedAt: t0, Quality: sdk.QualityGood},
			{ProviderDeviceID: "dev-1", Metric: "temperature", Value: 80.6, Unit: "F", RecordedAt: t0, Quality: sdk.QualityGood},
			{ProviderDeviceID: "dev-1", Metric: "orp", Value: 690, Unit: "mV", RecordedAt: t0, Quality: sdk.QualitySuspect},
			// salt had a null value: skipped. turbidity is not a poolhost metric: passed
			// through, for the host to drop and count as unknown_metric.
			{ProviderDeviceID: "dev-1", Metric: "turbidity", Value: 0.3, Unit: "NTU", RecordedAt: t0},
		}},
		{name: "other event", body: readFixture(t, "device_added.json")},
		{name: "built with acmetest", body: acmetest.ReadingsEvent("dev-2", acmetest.Reading{Type: "free_cl", Value: 2.5, MeasuredAt: t0}),
			want: []sdk.Reading{{ProviderDeviceID: "dev-2", Metric: "free_chlorine", Value: 2.5, RecordedAt: t0}}},
		{name: "not json", body: []byte("<html>"), wantErr: true, wantKind: sdk.KindPermanent},
		{name: "readings without device", body: []byte(`{"event":"readings.created","readings":[]}`), wantErr: true, wantKind: sdk.KindPermanent},
		{name: "bad timestamp", body: []byte(`{"event":"readings.created","device_id":"d","readings":[{"type":"ph","value":7,"measured_at":"yesterday"}]}`), wantErr: true, wantKind: sdk.KindPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set("webhook-id", "msg_"+tt.name)
			res, err := c.Webhook(t.Context(), sdk.WebhookRequest{Headers: h, Body: tt.body, ReceivedAt: t0})
			if tt.wantErr {
				wantKind(t, err, tt.wantKind)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.DeliveryID != "msg_"+tt.name {
				t.Errorf("delivery id %q", res.DeliveryID)
			}
			assertReadings(t, res.Readings, tt.want)
		})
	}
}

// The host verifies and parses in one round trip; a forged delivery is never parsed.
func TestIngestWebhook(t *testing.T) {
	c, _ := setup(t)
	body := readFixture(t, "readings_created.json")
	now := time.Now()
	h, err := acmetest.SignWebhook(acmetest.WebhookSecret, "msg_9", now, body)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.IngestWebhook(context.Background(), sdk.WebhookRequest{Headers: h, Body: body, ReceivedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Readings) != 4 || res.DeliveryID != "msg_9" { // turbidity passed through
		t.Errorf("got %d readings, delivery %q", len(res.Readings), res.DeliveryID)
	}
	_, err = c.IngestWebhook(t.Context(), sdk.WebhookRequest{Headers: h, Body: []byte(`{"forged":true}`), ReceivedAt: now})
	wantKind(t, err, sdk.KindRejected)
}

func assertReadings(t *testing.T, got, want []sdk.Reading) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d readings, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ProviderDeviceID != w.ProviderDeviceID || g.Metric != w.Metric || g.Value != w.Value ||
			g.Unit != w.Unit || !g.RecordedAt.Equal(w.RecordedAt) || g.Quality != w.Quality {
			t.Errorf("reading %d:\n got %+v\nwant %+v", i, g, w)
		}
		if len(g.RawPayload) == 0 {
			t.Errorf("reading %d has no raw payload", i)
		}
	}
}

// A call that refreshed the tokens and then failed still hands the new pair back on the
// error: Acme rotates refresh tokens, so the stored pair is already dead.
func TestRefreshThenFailKeepsCredentials(t *testing.T) {
	calls := []struct {
		name string
		call func(ctx context.Context, c *grpcplugin.Client, acct sdk.Account) error
	}{
		{"DiscoverDevices", func(ctx context.Context, c *grpcplugin.Client, acct sdk.Account) error {
			_, err := c.DiscoverDevices(ctx, sdk.DiscoverRequest{Account: acct})
			return err
		}},
		{"PollReadings", func(ctx context.Context, c *grpcplugin.Client, acct sdk.Account) error {
			_, err := c.PollReadings(ctx, sdk.PollRequest{Account: acct})
			return err
		}},
	}
	for _, call := range calls {
		for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
			t.Run(fmt.Sprintf("%s/%d", call.name, status), func(t *testing.T) {
				c, fake := setup(t)
				acct := linkedAccount(t, c, fake)
				acct.Credentials["expires_at"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
				fake.FailNext(status) // the first API call, right after the refresh

				err := call.call(t.Context(), c, acct)
				wantKind(t, err, sdk.KindTemporary)
				rc, ok := sdk.RefreshedCredentialsOf(err)
				if !ok || rc["access_token"] == "" || rc["access_token"] == acct.Credentials["access_token"] ||
					rc["refresh_token"] == "" || rc["refresh_token"] == acct.Credentials["refresh_token"] {
					t.Fatalf("error carries no new token pair (ok=%v, %d keys)", ok, len(rc))
				}

				// The old pair was rotated away; only the one on the error still works.
				old := acct
				old.Credentials = maps.Clone(acct.Credentials)
				fake.ExpireAccessTokens()
				wantKind(t, call.call(t.Context(), c, old), sdk.KindReauth)
				acct.Credentials = rc
				if err := call.call(t.Context(), c, acct); err != nil {
					t.Fatalf("call with the credentials from the error: %v", err)
				}
			})
		}
	}
}

// Errors before any refresh carry nothing: the stored credentials are still current.
func TestFailWithoutRefreshCarriesNoCredentials(t *testing.T) {
	c, fake := setup(t)
	acct := linkedAccount(t, c, fake)
	fake.FailNext(http.StatusServiceUnavailable)
	_, err := c.DiscoverDevices(t.Context(), sdk.DiscoverRequest{Account: acct})
	wantKind(t, err, sdk.KindTemporary)
	if _, ok := sdk.RefreshedCredentialsOf(err); ok {
		t.Error("error carries credentials although nothing was refreshed")
	}
}

// A 429 or 503 naming when to come back reaches the host as sdk.RetryAfter, over the
// wire, whether Acme says it in seconds or as an HTTP date: the host then polls the
// account no sooner, and a discover answers 503 with that Retry-After.
func TestRetryAfterReachesTheHost(t *testing.T) {
	c, fake := setup(t)
	acct := linkedAccount(t, c, fake)

	fake.SetRetryAfter("3600")
	fake.FailNext(http.StatusTooManyRequests)
	_, err := c.PollReadings(t.Context(), sdk.PollRequest{Account: acct})
	wantKind(t, err, sdk.KindTemporary)
	if got := sdk.RetryAfterOf(err); got != time.Hour {
		t.Errorf("poll answered 429 with Retry-After 3600: RetryAfterOf = %v, want 1h", got)
	}

	fake.SetRetryAfter(time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat))
	fake.FailNext(http.StatusServiceUnavailable)
	_, err = c.DiscoverDevices(t.Context(), sdk.DiscoverRequest{Account: acct})
	wantKind(t, err, sdk.KindTemporary)
	if got := sdk.RetryAfterOf(err); got < 80*time.Second || got > 90*time.Second {
		t.Errorf("discover answered 503 with an HTTP date 90s ahead: RetryAfterOf = %v", got)
	}

	fake.SetRetryAfter("")
	fake.FailNext(http.StatusTooManyRequests)
	_, err = c.PollReadings(t.Context(), sdk.PollRequest{Account: acct})
	wantKind(t, err, sdk.KindTemporary)
	if got := sdk.RetryAfterOf(err); got != 0 {
		t.Errorf("a 429 without Retry-After: RetryAfterOf = %v, want 0", got)
	}
}
