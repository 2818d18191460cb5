package grpcplugin_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	"github.com/poolhost/poolhost/sdk/sdktest"
	"github.com/poolhost/poolhost/sdk/signature"
)

// Fixtures chosen to catch lossy conversions: nanosecond timestamps, repeated and empty
// header values, non-UTF-8 bytes, non-finite values, unset vs empty credentials.
var (
	t0    = time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC)
	creds = sdk.Credentials{"access_token": "at-1", "refresh_token": "rt-1", "expires": "2026-03-01T13:30:45Z"}
	fresh = sdk.Credentials{"access_token": "at-2", "refresh_token": "rt-2"}
	acct  = sdk.Account{ID: "acc-42", ExternalAccountID: "ext-9", Credentials: creds}

	hookReq = sdk.WebhookRequest{
		Headers: http.Header{
			"Webhook-Signature": {"v1,c2lnMQ==", "v1,c2lnMg=="},
			"Content-Type":      {"application/json"},
			"X-Empty":           {""},
		},
		Body:          []byte("{\"a\":1}\x00\xff\xfe raw"),
		ReceivedAt:    t0,
		Account:       &sdk.Account{ID: "acc-7", ExternalAccountID: "ext-7", Credentials: sdk.Credentials{"k": "v"}},
		AccountSecret: "whsec_account",
	}
	readings = []sdk.Reading{
		// The host sees Timed on every reading that carried a time (a set timestamp).
		{ProviderDeviceID: "dev-1", Metric: "ph", Value: 7.25, RecordedAt: t0, Timed: true, Quality: sdk.QualityGood, RawPayload: []byte{0, 1, 2, 0xff}},
		{ProviderDeviceID: "dev-1", Metric: "temperature", Value: 82.4, Unit: "°F", RecordedAt: t0.Add(-time.Minute), Timed: true},
		{ProviderDeviceID: "dev-2", Metric: "orp", Value: -3.5, Quality: sdk.QualitySuspect}, // no time: host's receipt
		{ProviderDeviceID: "dev-2", Metric: "salt", Value: math.Inf(1), Quality: sdk.QualityOutOfRange},
		{ProviderDeviceID: "dev-3", Metric: "ph", Value: 7, Timed: true},                               // explicitly 0001-01-01T00:00:00Z, not "no time"
		{ProviderDeviceID: "dev-3", Metric: "free_chlorine", Value: 10, Qualifier: sdk.QualifierAbove}, // "FC > 10"
	}
	sessions = []sdk.TestSession{
		{ProviderDeviceID: "dev-1", TakenAt: t0, Method: "photometer", Notes: "pool side, été ✓", Results: []sdk.TestResult{
			{Metric: "free_chlorine", Value: 1.5, Unit: "ppm"}, {Metric: "cyanuric_acid", Value: math.Inf(-1)}, {Metric: "ph", Value: 7.4},
			{Metric: "total_chlorine", Value: 0.1, Qualifier: sdk.QualifierBelow},
		}},
		{ProviderDeviceID: "dev-2", Results: []sdk.TestResult{}}, // no time, no method, no results
	}
)

// rpc drives one adapter method over the wire. install makes the fake answer with the
// reply (or err), recording into rec; call makes the host-side call with the request.
type rpc struct {
	name    string
	install func(f *fakeAdapter, rec *record, err error)
	call    func(ctx context.Context, c *grpcplugin.Client) (any, error)
	wantReq any // what the adapter must receive
	wantRes any // what the host must get back
}

func rpcs() []rpc {
	desc := sdk.Description{
		ID: "acme", Version: "1.2.3", ProtocolVersion: sdk.ProtocolVersion,
		Capabilities: sdk.Capabilities{
			Connect: sdk.ConnectOAuth2, Webhook: true, Poll: true, MinPollInterval: 90 * time.Second, Write: true,
		},
		RequiredSettings: []string{"client_id", "region"},
		RequiredSecrets:  []string{"client_secret"},
		Settings: []sdk.Option{
			{Key: "client_id", Help: "The OAuth client id.", Required: true},
			{Key: "region", Type: sdk.OptionString, Default: "eu"},
			{Key: "page_size", Type: sdk.OptionInt, Default: "100", Help: "Readings per page."},
			{Key: "client_secret", Secret: true, Required: true},
		},
		ConnectInputs: []sdk.Option{{Key: "api_key", Help: "From the app's settings page.", Secret: true, Required: true}},
	}
	configure := sdk.ConfigureRequest{
		Settings: map[string]string{"client_id": "cid", "region": "eu"},
		Secrets:  map[string]string{"client_secret": "s3cret", "webhook_secret": "whsec"},
	}
	connect := sdk.ConnectRequest{RedirectURI: "https://pool.example/cb", State: "st-1", Input: map[string]string{"api_key": "k-1"},
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod: "S256"}
	linkage := sdk.Linkage{ExternalAccountID: "ext-9", DisplayName: "Jo's pool", Credentials: creds, AlternateAccountIDs: []string{"user:9", "old-9"}}
	callback := sdk.CallbackRequest{Code: "code-1", State: "st-1", RedirectURI: "https://pool.example/cb",
		Query: map[string]string{"code": "code-1", "state": "st-1", "extra": "x"}, CodeVerifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}
	discover := sdk.DiscoverResult{
		Devices: []sdk.Device{
			{ProviderDeviceID: "dev-1", Name: "ICO", Model: "ico-2", Metadata: map[string]string{"fw": "1.0"},
				Suggested: &sdk.PoolSuggestion{VolumeLiters: 15000, Kind: "pool", Location: "outdoor", Sanitizer: "chlorine"}},
			{ProviderDeviceID: "dev-2"},
		},
		RefreshedCredentials: fresh,
	}
	hookRes := sdk.WebhookResult{Readings: readings, DeliveryID: "msg_123", TestSessions: sessions}
	provHook := hookReq
	provHook.Account, provHook.AccountSecret = nil, "" // provider-level URL
	poll := sdk.PollRequest{Account: acct, Cursor: "c-1"}
	pollRes := sdk.PollResult{Readings: readings, NextCursor: "c-2", RefreshedCredentials: fresh, NotBefore: t0.Add(time.Hour), TestSessions: sessions}

	return []rpc{
		{
			name: "Describe",
			install: func(f *fakeAdapter, rec *record, err error) {
				h := capture[struct{}](rec, desc, err)
				f.describe = func(ctx context.Context) (sdk.Description, error) { return h(ctx, struct{}{}) }
			},
			call:    func(ctx context.Context, c *grpcplugin.Client) (any, error) { return c.Describe(ctx) },
			wantReq: struct{}{}, wantRes: desc,
		},
		{
			name: "Configure",
			install: func(f *fakeAdapter, rec *record, err error) {
				f.configure = capture[sdk.ConfigureRequest](rec, struct{}{}, err)
			},
			call: func(ctx context.Context, c *grpcplugin.Client) (any, error) {
				return struct{}{}, c.Configure(ctx, configure)
			},
			wantReq: configure, wantRes: struct{}{},
		},
		{
			name: "Connect/redirect",
			install: func(f *fakeAdapter, rec *record, err error) {
				f.connect = capture[sdk.ConnectRequest](rec, sdk.ConnectResult{AuthorizeURL: "https://acme.example/auth?state=st-1"}, err)
			},
			call:    func(ctx context.Context, c *grpcplugin.Client) (any, error) { return c.Connect(ctx, connect) },
			wantReq: connect, wantRes: sdk.ConnectResult{AuthorizeURL: "https://acme.example/auth?state=st-1"},
		},
		{
			name: "Connect/linkage",
			install: func(f *fakeAdapter, rec *record, err error) {
				f.connect = capture[sdk.ConnectRequest](rec, sdk.ConnectResult{Linkage: &linkage}, err)
			},
			call:    func(ctx context.Context, c *grpcplugin.Client) (any, error) { return c.Connect(ctx, connect) },
			wantReq: connect, wantRes: sdk.ConnectResult{Linkage: &linkage},
		},
		{
			name: "Callback",
			install: func(f *fakeAdapter, rec *record, err error) {
				f.callback = capture[sdk.CallbackRequest](rec, linkage, err)
			},
			call:    func(ctx context.Context, c *grpcplugin.Client) (any, error) { return c.Callback(ctx, callback) },
			wantReq: callback, wantRes: linkage,
		},
		{
			name: "DiscoverDevices",
			install: func(f *fakeAdapter, rec *record, err error) {
				f.discover = capture[sdk.DiscoverRequest](rec, discover, err)
			},
			call: func(ctx context.Context, c *grpcplugin.Client) (any, error) {
				return c.DiscoverDevices(ctx, sdk.DiscoverRequest{Account: acct})
			},
			wantReq: sdk.DiscoverRequest{Account: acct}, wantRes: discover,
		},
		{
			name: "DiscoverDevices/credentials unchanged vs emptied",
			install: func(f *fakeAdapter, rec *record, err error) {
				f.discover = capture[sdk.DiscoverRequest](rec, sdk.DiscoverResult{RefreshedCredentials: sdk.Credentials{}}, err)
			},
			call: func(ctx context.Context, c *grpcplugin.Client) (any, error) {
				return c.DiscoverDevices(ctx, sdk.DiscoverRequest{Account: sdk.Account{ID: "acc-1"}})
			},
			// nil credentials in stay nil ("none"); an empty map out stays a non-nil empty map.
			wantReq: sdk.DiscoverRequest{Account: sdk.Account{ID: "acc-1"}}, wantRes: sdk.DiscoverResult{RefreshedCredentials: sdk.Credentials{}},
		},
		{
			name: "VerifyWebhook",
			install: func(f *fakeAdapter, rec *record, err error) {
				f.verify = capture[sdk.WebhookRequest](rec, struct{}{}, err)
			},
			call: func(ctx context.Context, c *grpcplugin.Client) (any, error) {
				return struct{}{}, c.VerifyWebhook(ctx, hookReq)
			},
			wantReq: hookReq, wantRes: struct{}{},
		},
		{
			name: "Webhook",
			install: func(f *fakeAdapter, rec *record, err error) {
				f.webhook = capture[sdk.WebhookRequest](rec, hookRes, err)
			},
			call:    func(ctx context.Context, c *grpcplugin.Client) (any, error) { return c.Webhook(ctx, provHook) },
			wantReq: provHook, wantRes: hookRes,
		},
		{
			// The recorded request is the one Webhook saw; verification is covered below.
			name: "IngestWebhook",
			install: func(f *fakeAdapter, rec *record, err error) {
				f.verify = func(context.Context, sdk.WebhookRequest) (struct{}, error) { return struct{}{}, nil }
				f.webhook = capture[sdk.WebhookRequest](rec, hookRes, err)
			},
			call:    func(ctx context.Context, c *grpcplugin.Client) (any, error) { return c.IngestWebhook(ctx, hookReq) },
			wantReq: hookReq, wantRes: hookRes,
		},
		{
			name:    "PollReadings",
			install: func(f *fakeAdapter, rec *record, err error) { f.poll = capture[sdk.PollRequest](rec, pollRes, err) },
			call:    func(ctx context.Context, c *grpcplugin.Client) (any, error) { return c.PollReadings(ctx, poll) },
			wantReq: poll, wantRes: pollRes,
		},
		{
			name: "Health",
			install: func(f *fakeAdapter, rec *record, err error) {
				h := capture[struct{}](rec, struct{}{}, err)
				f.health = func(ctx context.Context) error { _, err := h(ctx, struct{}{}); return err }
			},
			call:    func(ctx context.Context, c *grpcplugin.Client) (any, error) { return struct{}{}, c.Health(ctx) },
			wantReq: struct{}{}, wantRes: struct{}{},
		},
	}
}

// serve installs r on a fresh fake adapter served over go-plugin's in-process gRPC.
func serve(t *testing.T, r rpc, rec *record, err error) *grpcplugin.Client {
	t.Helper()
	f := &fakeAdapter{}
	r.install(f, rec, err)
	return sdktest.Connect(t, f)
}

// TestRoundTrip checks every RPC carries its request and reply through the wire intact,
// and that the caller's deadline is the adapter's deadline.
func TestRoundTrip(t *testing.T) {
	for _, r := range rpcs() {
		t.Run(r.name, func(t *testing.T) {
			rec := &record{}
			c := serve(t, r, rec, nil)
			deadline := time.Now().Add(time.Minute)
			ctx, cancel := context.WithDeadline(t.Context(), deadline)
			defer cancel()

			got, err := r.call(ctx, c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if !reflect.DeepEqual(got, r.wantRes) {
				t.Errorf("result:\n got %#v\nwant %#v", got, r.wantRes)
			}
			req, calls, seen, ok, _ := rec.snapshot()
			if calls != 1 {
				t.Fatalf("adapter called %d times, want 1", calls)
			}
			if !reflect.DeepEqual(req, r.wantReq) {
				t.Errorf("adapter received:\n got %#v\nwant %#v", req, r.wantReq)
			}
			// gRPC sends the remaining time (rounded), so the adapter's deadline is the
			// caller's give or take transit; the bound leaves room for any slow machine.
			if !ok {
				t.Fatal("adapter saw no deadline")
			}
			if d := deadline.Sub(seen).Abs(); d > 30*time.Second {
				t.Errorf("adapter deadline %v, caller's %v", seen, deadline)
			}
		})
	}
}

// TestErrorKinds checks every sdk.ErrorKind and its message survive every RPC, and that
// wrapped and plain errors arrive with the kind the host would compute locally.
func TestErrorKinds(t *testing.T) {
	kinds := []sdk.ErrorKind{sdk.KindTemporary, sdk.KindPermanent, sdk.KindReauth, sdk.KindUnsupported, sdk.KindRejected, sdk.KindInvalidInput}
	type errCase struct {
		name    string
		err     error
		kind    sdk.ErrorKind
		message string
	}
	var cases []errCase
	for _, k := range kinds {
		cases = append(cases, errCase{k.String(), sdk.Errorf(k, "upstream said %q", "no"), k, `upstream said "no"`})
	}
	cases = append(cases,
		errCase{"wrapped", fmt.Errorf("refresh token: %w", sdk.Reauth("token revoked")), sdk.KindReauth, "refresh token: token revoked"},
		errCase{"plain", errors.New("connection reset"), sdk.KindTemporary, "connection reset"},
		errCase{"unknown kind", &sdk.Error{Kind: sdk.ErrorKind(99), Message: "odd"}, sdk.KindTemporary, "odd"},
	)
	for _, r := range rpcs() {
		for _, tc := range cases {
			if r.name == "Health" && tc.kind == sdk.KindUnsupported {
				// Unsupported crosses as UNIMPLEMENTED, which Health reads as a plugin
				// without health checks: healthy (TestHealthUnimplementedIsHealthy).
				continue
			}
			t.Run(r.name+"/"+tc.name, func(t *testing.T) {
				c := serve(t, r, &record{}, tc.err)
				_, err := r.call(t.Context(), c)
				if err == nil {
					t.Fatal("call succeeded, want error")
				}
				var e *sdk.Error
				if !errors.As(err, &e) {
					t.Fatalf("error %v (%T) is not an *sdk.Error", err, err)
				}
				if e.Kind != tc.kind || e.Message != tc.message {
					t.Errorf("got kind %v message %q, want %v %q", e.Kind, e.Message, tc.kind, tc.message)
				}
				// A parse failure in IngestWebhook says the payload was authentic.
				var pe *grpcplugin.ParseError
				if isIngest := r.name == "IngestWebhook"; errors.As(err, &pe) != isIngest {
					t.Errorf("ParseError = %v, want %v (err %v)", pe != nil, isIngest, err)
				}
			})
		}
	}
}

// TestRejectReasonCrossesTheWire: a rejection's reason (set by sdk/signature, or by
// RejectedBecause) reaches the host, which counts rejections by it; an unknown reason
// folds into "other".
func TestRejectReasonCrossesTheWire(t *testing.T) {
	v, err := signature.NewStandardWebhooks("whsec_" + base64.StdEncoding.EncodeToString([]byte("a-secret-of-enough-bytes-000000")))
	if err != nil {
		t.Fatal(err)
	}
	stale := http.Header{}
	stale.Set("webhook-id", "msg_1")
	stale.Set("webhook-timestamp", "1")
	stale.Set("webhook-signature", "v1,AAAA")
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"missing", v.Verify(http.Header{}, []byte("{}")), sdk.ReasonMissingSignature},
		{"stale", v.Verify(stale, []byte("{}")), sdk.ReasonStaleTimestamp},
		{"because", sdk.RejectedBecause(sdk.ReasonBadSignature, "hmac mismatch"), sdk.ReasonBadSignature},
		{"unlisted reason", sdk.RejectedBecause("cosmic_rays", "odd"), sdk.ReasonOther},
		{"no reason", sdk.Rejected("no"), sdk.ReasonOther},
	}
	for _, r := range rpcs() {
		if r.name != "VerifyWebhook" && r.name != "IngestWebhook" {
			continue
		}
		for _, tc := range cases {
			t.Run(r.name+"/"+tc.name, func(t *testing.T) {
				if !sdk.IsKind(tc.err, sdk.KindRejected) {
					t.Fatalf("case error %v is not a rejection", tc.err)
				}
				_, err := r.call(t.Context(), serve(t, r, &record{}, tc.err))
				if !sdk.IsKind(err, sdk.KindRejected) || sdk.RejectReason(err) != tc.want {
					t.Errorf("host got %v with reason %q, want rejected %q", err, sdk.RejectReason(err), tc.want)
				}
			})
		}
	}
}

// TestCancellationPropagates cancels a call while the adapter is inside it.
func TestCancellationPropagates(t *testing.T) {
	for _, r := range rpcs() {
		t.Run(r.name, func(t *testing.T) {
			rec := &record{block: true, entered: make(chan struct{})}
			c := serve(t, r, rec, nil)
			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				<-rec.entered
				cancel()
			}()
			_, err := r.call(ctx, c)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if !sdk.IsKind(err, sdk.KindTemporary) {
				t.Errorf("kind = %v, want temporary", sdk.KindOf(err))
			}
			waitFor(t, "the adapter's context to be cancelled", func() bool {
				_, _, _, _, ctxErr := rec.snapshot()
				return errors.Is(ctxErr, context.Canceled)
			})
		})
	}
}

// TestDeadlineExpires lets the caller's deadline run out inside the adapter.
func TestDeadlineExpires(t *testing.T) {
	for _, r := range rpcs() {
		t.Run(r.name, func(t *testing.T) {
			rec := &record{block: true, entered: make(chan struct{})}
			c := serve(t, r, rec, nil)
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			_, err := r.call(ctx, c)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want context.DeadlineExceeded", err)
			}
			if !sdk.IsKind(err, sdk.KindTemporary) {
				t.Errorf("kind = %v, want temporary", sdk.KindOf(err))
			}
			// On a badly loaded machine the deadline may pass before the call reaches the
			// adapter at all; when it did reach it, the adapter's context must end too.
			waitFor(t, "the adapter's context to expire", func() bool {
				_, calls, _, _, ctxErr := rec.snapshot()
				return calls == 0 || ctxErr != nil
			})
		})
	}
}

// TestAdapterContextErrors covers an adapter that gives up on its own (an upstream
// timeout) while the host's context is still live.
func TestAdapterContextErrors(t *testing.T) {
	for _, want := range []error{context.DeadlineExceeded, context.Canceled} {
		t.Run(want.Error(), func(t *testing.T) {
			r := rpcs()[0]
			c := serve(t, r, &record{}, fmt.Errorf("call upstream: %w", want))
			_, err := r.call(t.Context(), c)
			if !errors.Is(err, want) || !sdk.IsKind(err, sdk.KindTemporary) {
				t.Fatalf("err = %v (kind %v), want %v and temporary", err, sdk.KindOf(err), want)
			}
		})
	}
}

// TestPanicRecovered checks a panicking call fails as a temporary error and the plugin
// keeps serving.
func TestPanicRecovered(t *testing.T) {
	for _, r := range rpcs() {
		t.Run(r.name, func(t *testing.T) {
			rec := &record{panicWith: "boom: secret-looking input"}
			c := serve(t, r, rec, nil)
			_, err := r.call(t.Context(), c)
			if err == nil {
				t.Fatal("call succeeded, want error")
			}
			if !sdk.IsKind(err, sdk.KindTemporary) || !strings.Contains(err.Error(), "panicked") {
				t.Errorf("err = %v (kind %v), want a temporary panic error", err, sdk.KindOf(err))
			}
			if strings.Contains(err.Error(), "secret-looking") {
				t.Errorf("panic value leaked to the host: %v", err)
			}
			rec.setPanic(nil)
			if _, err := r.call(t.Context(), c); err != nil {
				t.Fatalf("call after panic: %v", err)
			}
		})
	}
}

func TestIngestWebhook(t *testing.T) {
	secret := []byte("whsec-test")
	body := []byte(`{"device":"dev-1","delivery":"d-1","readings":[{"metric":"ph","value":7.2,"at":"2026-03-01T12:00:00Z"}]}`)
	good := "sha256=" + fmt.Sprintf("%x", sign(secret, body))
	tests := []struct {
		name       string
		sig        string
		body       []byte
		wantKind   sdk.ErrorKind // when wantErr
		wantErr    bool
		wantParsed int
		wantParse  bool // the error is a *ParseError
	}{
		{name: "valid", sig: good, body: body, wantParsed: 1},
		{name: "bad signature", sig: "sha256=" + strings.Repeat("00", 32), body: body, wantErr: true, wantKind: sdk.KindRejected},
		{name: "missing signature", body: body, wantErr: true, wantKind: sdk.KindRejected},
		{name: "tampered body", sig: good, body: append([]byte(" "), body...), wantErr: true, wantKind: sdk.KindRejected},
		{name: "authentic but malformed", sig: "sha256=" + fmt.Sprintf("%x", sign(secret, []byte("{"))), body: []byte("{"),
			wantErr: true, wantKind: sdk.KindPermanent, wantParsed: 1, wantParse: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &hmacAdapter{secret: secret}
			c := sdktest.Connect(t, a)
			h := http.Header{}
			if tc.sig != "" {
				h.Set("X-Signature", tc.sig)
			}
			res, err := c.IngestWebhook(t.Context(), sdk.WebhookRequest{Headers: h, Body: tc.body, ReceivedAt: time.Now()})
			if got := a.parseCount(); got != tc.wantParsed {
				t.Errorf("Webhook called %d times, want %d", got, tc.wantParsed)
			}
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("ingest: %v", err)
				}
				want := sdk.WebhookResult{DeliveryID: "d-1", Readings: []sdk.Reading{
					{ProviderDeviceID: "dev-1", Metric: "ph", Value: 7.2, RecordedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Timed: true},
				}}
				if !reflect.DeepEqual(res, want) {
					t.Errorf("result %#v, want %#v", res, want)
				}
				return
			}
			if !sdk.IsKind(err, tc.wantKind) {
				t.Errorf("err = %v (kind %v), want kind %v", err, sdk.KindOf(err), tc.wantKind)
			}
			var pe *grpcplugin.ParseError
			if errors.As(err, &pe) != tc.wantParse {
				t.Errorf("ParseError = %v, want %v", pe != nil, tc.wantParse)
			}
		})
	}
}

// TestIngestWebhookStages separates verification failures (authenticity unknown or
// denied) from parse failures (authentic payload), including panics in each stage.
func TestIngestWebhookStages(t *testing.T) {
	tests := []struct {
		name      string
		verify    func(context.Context, sdk.WebhookRequest) (struct{}, error)
		webhook   func(context.Context, sdk.WebhookRequest) (sdk.WebhookResult, error)
		wantKind  sdk.ErrorKind
		wantParse bool
	}{
		{
			name: "verify temporary",
			verify: func(context.Context, sdk.WebhookRequest) (struct{}, error) {
				return struct{}{}, sdk.Temporary("key server down")
			},
			wantKind: sdk.KindTemporary,
		},
		{
			name:     "verify panics",
			verify:   func(context.Context, sdk.WebhookRequest) (struct{}, error) { panic("verify") },
			wantKind: sdk.KindTemporary,
		},
		{
			name:      "parse panics",
			verify:    func(context.Context, sdk.WebhookRequest) (struct{}, error) { return struct{}{}, nil },
			webhook:   func(context.Context, sdk.WebhookRequest) (sdk.WebhookResult, error) { panic("parse") },
			wantKind:  sdk.KindTemporary,
			wantParse: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAdapter{verify: tc.verify, webhook: tc.webhook}
			if f.webhook == nil {
				f.webhook = func(context.Context, sdk.WebhookRequest) (sdk.WebhookResult, error) {
					t.Error("Webhook called after failed verification")
					return sdk.WebhookResult{}, nil
				}
			}
			c := sdktest.Connect(t, f)
			_, err := c.IngestWebhook(t.Context(), hookReq)
			if !sdk.IsKind(err, tc.wantKind) {
				t.Errorf("err = %v (kind %v), want %v", err, sdk.KindOf(err), tc.wantKind)
			}
			var pe *grpcplugin.ParseError
			if errors.As(err, &pe) != tc.wantParse {
				t.Errorf("ParseError = %v, want %v (err %v)", pe != nil, tc.wantParse, err)
			}
		})
	}
}

// TestOptionalCapabilities: an adapter without Poller answers unsupported; one without
// HealthChecker is healthy while it answers.
func TestOptionalCapabilities(t *testing.T) {
	c := sdktest.Connect(t, &hmacAdapter{})
	if _, err := c.PollReadings(t.Context(), sdk.PollRequest{}); !sdk.IsKind(err, sdk.KindUnsupported) {
		t.Errorf("PollReadings err = %v, want unsupported", err)
	}
	bare := sdktest.Connect(t, struct {
		sdk.UnsupportedAdapter
		describeOnly
	}{})
	if err := bare.Health(t.Context()); err != nil {
		t.Errorf("Health of an adapter without HealthChecker: %v", err)
	}
	if _, err := bare.Connect(t.Context(), sdk.ConnectRequest{}); !sdk.IsKind(err, sdk.KindUnsupported) {
		t.Errorf("Connect err = %v, want unsupported", err)
	}
}

// TestHealthUnimplementedIsHealthy: a plugin in another language whose adapter has no
// Health answers UNIMPLEMENTED (@poolhost/plugin and the Python example do, as any gRPC
// server does for a method it lacks). That is an answer: healthy, as a Go adapter
// without HealthChecker is, not a failed check that gets the plugin restarted every
// health_failures checks. A Health that answers another error still fails.
func TestHealthUnimplementedIsHealthy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		healthy bool
	}{
		{"unimplemented", sdk.Unsupported("Health is not offered by this plugin"), true},
		{"temporary", sdk.Temporary("not configured yet"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sdktest.Connect(t, healthAnswer{err: tc.err})
			err := c.Health(t.Context())
			if (err == nil) != tc.healthy {
				t.Fatalf("Health answering %v: err = %v, want healthy %v", tc.err, err, tc.healthy)
			}
		})
	}
}

type healthAnswer struct {
	sdk.UnsupportedAdapter
	describeOnly
	err error
}

func (h healthAnswer) Health(context.Context) error { return h.err }

type describeOnly struct{}

func (describeOnly) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{ID: "x"}, nil
}
func (describeOnly) Configure(context.Context, sdk.ConfigureRequest) error { return nil }

// TestHeaderNamesCanonical: an adapter can rely on Header.Get even when the host's map
// held a non-canonical key.
func TestHeaderNamesCanonical(t *testing.T) {
	rec := &record{}
	f := &fakeAdapter{verify: capture[sdk.WebhookRequest](rec, struct{}{}, nil)}
	c := sdktest.Connect(t, f)
	if err := c.VerifyWebhook(t.Context(), sdk.WebhookRequest{Headers: http.Header{"x-sig": {"a", "b"}}}); err != nil {
		t.Fatal(err)
	}
	req, _, _, _, _ := rec.snapshot()
	if got := req.(sdk.WebhookRequest).Headers.Values("X-Sig"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("X-Sig = %q, want [a b]", got)
	}
}

// TestConcurrentCalls runs calls in parallel on one client (run with -race).
func TestConcurrentCalls(t *testing.T) {
	secret := []byte("k")
	c := sdktest.Connect(t, &hmacAdapter{secret: secret})
	body := []byte(`{"device":"d","readings":[{"metric":"ph","value":7}]}`)
	h := http.Header{"X-Signature": {fmt.Sprintf("sha256=%x", sign(secret, body))}}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 20 {
				res, err := c.IngestWebhook(t.Context(), sdk.WebhookRequest{Headers: h, Body: body})
				if err != nil || len(res.Readings) != 1 {
					t.Errorf("ingest: %v, %d readings", err, len(res.Readings))
					return
				}
			}
		})
	}
	wg.Wait()
}

// waitFor polls cond with a deadline generous enough for a loaded CI box.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
