package pluginmgr_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
)

// TestAnswerCapsCoverTestSessions: a test session's results count against the readings'
// cap, and its strings are capped like a reading's.
func TestAnswerCapsCoverTestSessions(t *testing.T) {
	lim := config.Plugins{MaxReadingsPerCall: 5, MaxDeviceIDBytes: 8, MaxDeliveryIDBytes: 8, MaxMetricBytes: 16, MaxUnitBytes: 4, MaxRawPayloadBytes: 8}
	results := func(n int) []sdk.TestResult { return make([]sdk.TestResult, n) }
	tests := []struct {
		name   string
		rs     []sdk.Reading
		ss     []sdk.TestSession
		limit  string
		reason string
	}{
		{"within", make([]sdk.Reading, 1), []sdk.TestSession{{ProviderDeviceID: "p", Results: results(3)}}, "", ""},
		{"sessions and results over the cap", make([]sdk.Reading, 1), []sdk.TestSession{{Results: results(4)}}, "readings", "exceed plugins.max_readings_per_call (5)"},
		{"device id", nil, []sdk.TestSession{{ProviderDeviceID: "much-too-long"}}, "device_id", "test session 0 has a device_id"},
		{"notes", nil, []sdk.TestSession{{Notes: strings.Repeat("n", 2001)}}, "notes", "notes of 2001 bytes"},
		{"metric", nil, []sdk.TestSession{{Results: []sdk.TestResult{{Metric: strings.Repeat("m", 17)}}}}, "metric", "result 0 has a metric"},
		{"unit", nil, []sdk.TestSession{{Results: []sdk.TestResult{{Metric: "ph", Unit: "pHpHpH"}}}}, "unit", "result 0 has a unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit, err := pluginmgr.CheckAnswer(lim, "", "", tt.rs, tt.ss)
			if limit != tt.limit || (tt.reason == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.reason)) {
				t.Fatalf("CheckAnswer = %q, %v; want %q, %q", limit, err, tt.limit, tt.reason)
			}
			if err != nil && !sdk.IsKind(err, sdk.KindPermanent) {
				t.Fatalf("refusal %v is not permanent", err)
			}
		})
	}
}

// TestReloadedCapsJudgeTheNextAnswer: the caps an answer is judged by are the ones the
// last reload put in force (the Plugin keeps them worked out, not read per call).
func TestReloadedCapsJudgeTheNextAnswer(t *testing.T) {
	e := newEnv(t)
	e.installID("alpha")
	t.Setenv("POOLHOST_TEST_WEBHOOK_SECRET", "whsec-test")
	const alpha = `provider "alpha" {
  webhooks = true
  secrets  = { webhook_secret = env("POOLHOST_TEST_WEBHOOK_SECRET") }
}`
	m, _, err := e.manager(e.config(alpha))
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Get("alpha")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hook := sdk.WebhookRequest{Headers: http.Header{"X-Secret": {"whsec-test"}}, Body: []byte(`{"device":"dev-1","ph":7.2}`), ReceivedAt: time.Now()}
	if wr, err := p.IngestWebhook(ctx, hook); err != nil || len(wr.Readings) != 1 {
		t.Fatalf("IngestWebhook under the default caps = %+v, %v", wr, err)
	}

	e.plugins = "max_metric_bytes = 1"
	if err := m.Reload(ctx, e.config(alpha)); err != nil {
		t.Fatal(err)
	}
	var pe *grpcplugin.ParseError
	if _, err := p.IngestWebhook(ctx, hook); !errors.As(err, &pe) || !strings.Contains(err.Error(), "plugins.max_metric_bytes (1)") {
		t.Fatalf("IngestWebhook after a reload capping metrics at 1 byte: %v, want the metric cap's refusal", err)
	}

	e.plugins = ""
	if err := m.Reload(ctx, e.config(alpha)); err != nil {
		t.Fatal(err)
	}
	if wr, err := p.IngestWebhook(ctx, hook); err != nil || len(wr.Readings) != 1 {
		t.Fatalf("IngestWebhook after the cap is lifted = %+v, %v", wr, err)
	}
}

// TestWithoutCredentialsKeepsTheError: tokens over the cap come off a failed call's error
// wherever the chain holds them (a send whose outcome is unknown wraps them twice over),
// and nothing else does: the text, the kind, the outcome-unknown mark, the Retry-After.
func TestWithoutCredentialsKeepsTheError(t *testing.T) {
	creds := sdk.Credentials{"access_token": "huge"}
	for _, tc := range []struct {
		name  string
		err   error
		check func(error) bool
	}{
		{"top", sdk.WithRefreshedCredentials(sdk.Temporary("503 after refresh"), creds),
			func(err error) bool { return sdk.IsKind(err, sdk.KindTemporary) }},
		{"wrapped", fmt.Errorf("acme poll_readings: %w", sdk.WithRefreshedCredentials(sdk.Reauth("revoked"), creds)),
			func(err error) bool { return sdk.IsKind(err, sdk.KindReauth) }},
		{"retry after", sdk.WithRefreshedCredentials(sdk.RetryAfter(time.Minute, "429"), creds),
			func(err error) bool {
				return sdk.RetryAfterOf(err) == time.Minute && sdk.IsKind(err, sdk.KindTemporary)
			}},
		{"outcome unknown", fmt.Errorf("acme send_command: %w", fmt.Errorf("send command: %w: %w", sdk.ErrOutcomeUnknown,
			sdk.WithRefreshedCredentials(sdk.Temporary("reset"), creds))),
			func(err error) bool { return sdk.IsOutcomeUnknown(err) && sdk.IsKind(err, sdk.KindTemporary) }},
		{"unavailable", fmt.Errorf("%w: acme poll_readings: %w", pluginmgr.ErrUnavailable, sdk.WithRefreshedCredentials(sdk.Temporary("gone"), creds)),
			func(err error) bool { return errors.Is(err, pluginmgr.ErrUnavailable) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := pluginmgr.WithoutCredentials(tc.err)
			if c, ok := sdk.RefreshedCredentialsOf(got); ok {
				t.Fatalf("credentials %v still on the error", c)
			}
			if got.Error() != tc.err.Error() || !tc.check(got) {
				t.Fatalf("error %q (kind %s), want %q with its chain", got, sdk.KindOf(got), tc.err)
			}
		})
	}
	plain := sdk.Temporary("no tokens")
	if pluginmgr.WithoutCredentials(plain) != plain {
		t.Fatal("an error without credentials changed")
	}
}

// TestPluginErrorTextIsClipped: a plugin relaying what its provider's cloud answered
// made an error as long as a gRPC message (16 MiB), which the host logged whole — once
// per call, a user's connect or discover included. Its text is cut to
// MaxErrorTextBytes; its kind stays for the host to act on.
func TestPluginErrorTextIsClipped(t *testing.T) {
	e := newEnv(t)
	e.installID("alpha")
	m, _, err := e.manager(e.config(`provider "alpha" {}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Get("alpha")
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Connect(context.Background(), sdk.ConnectRequest{Input: map[string]string{"api_key": "k", "fail_bytes": "1000000"}})
	if err == nil || len(err.Error()) > pluginmgr.MaxErrorTextBytes+len("…") || !strings.Contains(err.Error(), "upstream said: xxx") {
		t.Fatalf("error of %d bytes: %.200s…, want the text within %d bytes", len(fmt.Sprint(err)), fmt.Sprint(err), pluginmgr.MaxErrorTextBytes)
	}
	var se *sdk.Error
	if !sdk.IsKind(err, sdk.KindTemporary) || !errors.As(err, &se) {
		t.Fatalf("the clipped error lost its kind: %v", sdk.KindOf(err))
	}
	if _, err := p.Connect(context.Background(), sdk.ConnectRequest{Input: map[string]string{"api_key": "k", "fail_bytes": "10"}}); err == nil || !strings.HasSuffix(err.Error(), "upstream said: xxxxxxxxxx") {
		t.Fatalf("a short error changed: %v", err)
	}
}

// TestConnectAuthorizeURLCapped: the authorize URL a plugin's Connect answers is handed
// to the user's browser, so it is judged like any answer (judge.CheckAuthorizeURL): a
// megabyte, an http URL to another host, a javascript: URL or one hiding its host behind
// user info are refused with the cap named, as plugin-answer-refused. A provider's https
// URL, and an http one on loopback (a provider fake), pass as they are.
func TestConnectAuthorizeURLCapped(t *testing.T) {
	for _, tt := range []struct {
		name, url, says string
	}{
		{"https", "https://auth.acme.example/oauth2/authorize?state=s", ""},
		{"http on loopback", "http://127.0.0.1:8080/oauth/authorize?state=s", ""},
		{"a megabyte", "https://auth.acme.example/authorize?state=" + strings.Repeat("s", 1<<20), "exceeds 8192 (judge.MaxAuthorizeURLBytes)"},
		{"http elsewhere", "http://auth.acme.example/authorize", "must be https"},
		{"javascript", "javascript:alert(document.cookie)", "not an absolute URL"},
		{"user info", "https://auth.acme.example@evil.example/authorize", "user info"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.installID("alpha")
			m, _, err := e.manager(e.config(`provider "alpha" {
  settings = { authorize_url = ` + fmt.Sprintf("%q", tt.url) + ` }
}`))
			if err != nil {
				t.Fatal(err)
			}
			res, err := mustGet(t, m, "alpha").Connect(context.Background(), sdk.ConnectRequest{RedirectURI: "https://host.example/cb", State: "s"})
			if tt.says == "" {
				if err != nil || res.AuthorizeURL != tt.url {
					t.Fatalf("Connect = %.100q, %v; want the URL", res.AuthorizeURL, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.says) || res.AuthorizeURL != "" {
				t.Fatalf("Connect = %.100q, %.300v; want refused saying %q", res.AuthorizeURL, err, tt.says)
			}
			var he *host.Error
			if !errors.As(err, &he) || he.Type != pluginmgr.TypeAnswerRefused {
				t.Fatalf("error %T %v, want a %s", err, err, pluginmgr.TypeAnswerRefused)
			}
		})
	}
}
