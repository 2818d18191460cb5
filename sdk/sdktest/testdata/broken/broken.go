// Package broken holds deliberately wrong adapters: the conformance suite's own tests
// check that sdktest catches each of them. Never copy these.
package broken

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/signature"
)

// Secret signs the fixtures the tests hand these adapters.
const Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

type body struct {
	Device string   `json:"device"`
	PH     *float64 `json:"ph"`
}

// Good is a correct adapter: Standard Webhooks verification, {"device","ph"} bodies.
type Good struct {
	sdk.UnsupportedAdapter
	Metric string // "" = metric.PH
	// SessionMetric, when set, adds a test session with one result of that metric.
	SessionMetric string
	// Copies, when over 1, repeats the reading that many times.
	Copies int
}

func (Good) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{ID: "broken", Version: "0.0.1", ProtocolVersion: sdk.ProtocolVersion,
		Capabilities: sdk.Capabilities{Connect: sdk.ConnectNone, Webhook: true}}, nil
}

func (Good) Configure(context.Context, sdk.ConfigureRequest) error { return nil }

func (Good) VerifyWebhook(_ context.Context, req sdk.WebhookRequest) error {
	v, _ := signature.NewStandardWebhooks(Secret)
	if req.Account != nil {
		var err error
		if v, err = signature.NewStandardWebhooks(req.AccountSecret); err != nil {
			return sdk.Rejected("unusable account secret")
		}
	}
	return signature.VerifyRequest(v, req)
}

func (g Good) Webhook(_ context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	var b body
	if err := json.Unmarshal(req.Body, &b); err != nil || b.Device == "" || b.PH == nil {
		return sdk.WebhookResult{}, sdk.Permanent("malformed body")
	}
	m := g.Metric
	if m == "" {
		m = "ph"
	}
	res := sdk.WebhookResult{Readings: []sdk.Reading{{ProviderDeviceID: b.Device, Metric: m, Value: *b.PH}}}
	for len(res.Readings) < g.Copies {
		res.Readings = append(res.Readings, res.Readings[0])
	}
	if g.SessionMetric != "" {
		res.TestSessions = []sdk.TestSession{{ProviderDeviceID: b.Device, Method: "photometer",
			Results: []sdk.TestResult{{Metric: g.SessionMetric, Value: 1.2}}}}
	}
	return res, nil
}

// SessionUnknownMetric reports a photometer's test session with metric "fc", which is
// not in the vocabulary: the host drops the result as unknown_metric, and the session,
// left with no results, as no_results.
func SessionUnknownMetric() Good { return Good{SessionMetric: "fc"} }

// Floods answers 200,000 readings, over the host's plugins.max_readings_per_call.
func Floods() Good { return Good{Copies: 200000} }

// Sign returns headers signing body with Secret as of at.
func Sign(secret string, at time.Time, body []byte) http.Header {
	s, err := signature.NewStandardWebhooks(secret)
	if err != nil {
		panic(err)
	}
	return s.Headers("msg_1", at, body)
}

// AcceptsUnsigned verifies nothing.
type AcceptsUnsigned struct{ Good }

func (AcceptsUnsigned) VerifyWebhook(context.Context, sdk.WebhookRequest) error { return nil }

// EmitsPH names its metric "pH" (the unit) instead of the vocabulary's "ph".
func EmitsPH() Good { return Good{Metric: "pH"} }

// EmitsPHAndTurbidity answers a reading named "pH" (a mapping bug) beside a provider
// type passed through unmapped, as PLUGINS.md asks ("turbidity").
type EmitsPHAndTurbidity struct{ Good }

func (e EmitsPHAndTurbidity) Webhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	res, err := Good{Metric: "pH"}.Webhook(ctx, req)
	if err == nil {
		res.Readings = append(res.Readings, sdk.Reading{ProviderDeviceID: res.Readings[0].ProviderDeviceID, Metric: "turbidity", Value: 0.3})
	}
	return res, err
}

// PanicsOnMalformed indexes into a body it never checked.
type PanicsOnMalformed struct{ Good }

func (p PanicsOnMalformed) Webhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	var b body
	if err := json.Unmarshal(req.Body, &b); err != nil {
		_ = req.Body[len(req.Body)+1] // the bug: out of range on any malformed body
	}
	return p.Good.Webhook(ctx, req)
}

// HangsPastDeadline ignores its context on a malformed body until Release is closed.
type HangsPastDeadline struct {
	Good
	Release chan struct{}
}

func (h HangsPastDeadline) Webhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	var b body
	if err := json.Unmarshal(req.Body, &b); err != nil {
		<-h.Release // the bug: waits without watching ctx
	}
	return h.Good.Webhook(ctx, req)
}

// TemporaryOnMalformed leaves its parse errors unclassified (they read as temporary and
// would be retried forever).
type TemporaryOnMalformed struct{ Good }

func (t TemporaryOnMalformed) Webhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	res, err := t.Good.Webhook(ctx, req)
	if err != nil {
		return res, context.DeadlineExceeded
	}
	return res, nil
}

// BadDeclarations declares settings the host cannot use: a typed setting whose default
// does not parse, a secret with a default, and a key given twice. Its fixture settings
// name a key it does not declare.
type BadDeclarations struct{ Good }

func (BadDeclarations) Describe(ctx context.Context) (sdk.Description, error) {
	d, _ := Good{}.Describe(ctx)
	d.Settings = []sdk.Option{
		{Key: "page_size", Type: sdk.OptionInt, Default: "fifty"},
		{Key: "api_token", Secret: true, Default: "changeme"},
		{Key: "region"}, {Key: "region"},
		{Key: "BaseURL"},
	}
	return d, nil
}

// ChecksPresenceOnly declares its signature in X-Broken-Signature and accepts any
// delivery that carries that header, whatever is in it.
type ChecksPresenceOnly struct{ Good }

func (ChecksPresenceOnly) Describe(ctx context.Context) (sdk.Description, error) {
	d, err := Good{}.Describe(ctx)
	d.Capabilities.SignatureHeaders = []string{"X-Broken-Signature"}
	return d, err
}

func (c ChecksPresenceOnly) VerifyWebhook(ctx context.Context, req sdk.WebhookRequest) error {
	if req.Headers.Get("X-Broken-Signature") != "" {
		return nil // the bug: present is not valid
	}
	return c.Good.VerifyWebhook(ctx, req)
}

// ClaimsPoll sets Capabilities.Poll without implementing sdk.Poller: the host would poll
// it and get "poll not supported" for every account.
type ClaimsPoll struct{ Good }

func (ClaimsPoll) Describe(ctx context.Context) (sdk.Description, error) {
	d, _ := Good{}.Describe(ctx)
	d.Capabilities.Poll = true
	return d, nil
}

// StrayCommandUpdates answers a valid delivery with command updates the host ignores:
// one naming no command, one with a status outside delivered, succeeded and failed.
type StrayCommandUpdates struct {
	Good
	Update sdk.CommandUpdate
}

func (s StrayCommandUpdates) Webhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	res, err := s.Good.Webhook(ctx, req)
	res.CommandUpdates = append(res.CommandUpdates, s.Update)
	return res, err
}

// ClaimsWrite sets Capabilities.Write and lists a command without implementing
// sdk.Commander: the host would fail every command its operator approved.
type ClaimsWrite struct{ Good }

func (ClaimsWrite) Describe(ctx context.Context) (sdk.Description, error) {
	d, _ := Good{}.Describe(ctx)
	d.Capabilities.Write = true
	d.Capabilities.Commands = []string{"pump.set"}
	return d, nil
}

// DeclaresSettings declares well-formed settings, one of them a required secret: its
// declarations are fine, and a configuration is judged against them as the host judges a
// config block.
type DeclaresSettings struct{ Good }

func (DeclaresSettings) Describe(ctx context.Context) (sdk.Description, error) {
	d, err := Good{}.Describe(ctx)
	d.Settings = []sdk.Option{
		{Key: "page_size", Type: sdk.OptionInt, Default: "50"},
		{Key: "api_token", Secret: true, Required: true},
	}
	return d, err
}

// ProtocolTwo describes itself with a protocol this SDK's hosts do not speak.
type ProtocolTwo struct{ Good }

func (ProtocolTwo) Describe(ctx context.Context) (sdk.Description, error) {
	d, err := Good{}.Describe(ctx)
	d.ProtocolVersion = 2
	return d, err
}

// UnknownConnect names a connect kind that is not one of the SDK's constants.
type UnknownConnect struct{ Good }

func (UnknownConnect) Describe(ctx context.Context) (sdk.Description, error) {
	d, err := Good{}.Describe(ctx)
	d.Capabilities.Connect = "oauth"
	return d, err
}

// HugeDescription describes itself within sdk.Description.Check's rules but over
// sdk/judge's caps: a help text of 100,000 bytes (shown to every user who connects).
type HugeDescription struct{ Good }

func (HugeDescription) Describe(ctx context.Context) (sdk.Description, error) {
	d, err := Good{}.Describe(ctx)
	d.ConnectInputs = append(d.ConnectInputs, sdk.Option{Key: "api_key", Help: strings.Repeat("Paste your key. ", 6250)})
	return d, err
}

// SlowWebhook honours its context but answers only when it is done: a webhook that waits
// on something slower than its deadline (the provider's API, a lock).
type SlowWebhook struct{ Good }

func (SlowWebhook) Webhook(ctx context.Context, _ sdk.WebhookRequest) (sdk.WebhookResult, error) {
	<-ctx.Done()
	return sdk.WebhookResult{}, ctx.Err()
}
