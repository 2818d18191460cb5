package grpcplugin_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/poolhost/poolhost/sdk"
)

// fakeAdapter answers each call with the handler a test installs; a nil handler means
// the call is unsupported. It implements sdk.Poller and sdk.HealthChecker too.
type fakeAdapter struct {
	describe  func(context.Context) (sdk.Description, error)
	configure func(context.Context, sdk.ConfigureRequest) (struct{}, error)
	connect   func(context.Context, sdk.ConnectRequest) (sdk.ConnectResult, error)
	callback  func(context.Context, sdk.CallbackRequest) (sdk.Linkage, error)
	discover  func(context.Context, sdk.DiscoverRequest) (sdk.DiscoverResult, error)
	verify    func(context.Context, sdk.WebhookRequest) (struct{}, error)
	webhook   func(context.Context, sdk.WebhookRequest) (sdk.WebhookResult, error)
	poll      func(context.Context, sdk.PollRequest) (sdk.PollResult, error)
	health    func(context.Context) error
}

func (f *fakeAdapter) Describe(ctx context.Context) (sdk.Description, error) {
	if f.describe == nil {
		return sdk.Description{}, sdk.Unsupported("describe")
	}
	return f.describe(ctx)
}

func (f *fakeAdapter) Configure(ctx context.Context, req sdk.ConfigureRequest) error {
	if f.configure == nil {
		return sdk.Unsupported("configure")
	}
	_, err := f.configure(ctx, req)
	return err
}

func (f *fakeAdapter) Connect(ctx context.Context, req sdk.ConnectRequest) (sdk.ConnectResult, error) {
	if f.connect == nil {
		return sdk.ConnectResult{}, sdk.Unsupported("connect")
	}
	return f.connect(ctx, req)
}

func (f *fakeAdapter) Callback(ctx context.Context, req sdk.CallbackRequest) (sdk.Linkage, error) {
	if f.callback == nil {
		return sdk.Linkage{}, sdk.Unsupported("callback")
	}
	return f.callback(ctx, req)
}

func (f *fakeAdapter) DiscoverDevices(ctx context.Context, req sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
	if f.discover == nil {
		return sdk.DiscoverResult{}, sdk.Unsupported("discover")
	}
	return f.discover(ctx, req)
}

func (f *fakeAdapter) VerifyWebhook(ctx context.Context, req sdk.WebhookRequest) error {
	if f.verify == nil {
		return sdk.Unsupported("verify")
	}
	_, err := f.verify(ctx, req)
	return err
}

func (f *fakeAdapter) Webhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	if f.webhook == nil {
		return sdk.WebhookResult{}, sdk.Unsupported("webhook")
	}
	return f.webhook(ctx, req)
}

func (f *fakeAdapter) PollReadings(ctx context.Context, req sdk.PollRequest) (sdk.PollResult, error) {
	if f.poll == nil {
		return sdk.PollResult{}, sdk.Unsupported("poll")
	}
	return f.poll(ctx, req)
}

// SendCommand makes fakeAdapter an sdk.Commander, so a description with
// Capabilities.Write passes sdk.CheckCapabilities; command_test.go has the real one.
func (f *fakeAdapter) SendCommand(context.Context, sdk.CommandRequest) (sdk.CommandResult, error) {
	return sdk.CommandResult{}, sdk.Unsupported("send command")
}

func (f *fakeAdapter) Health(ctx context.Context) error {
	if f.health == nil {
		return nil
	}
	return f.health(ctx)
}

// record is what a handler saw. The mutex keeps the race detector honest: handlers run
// on the server's goroutines.
type record struct {
	mu          sync.Mutex
	req         any
	calls       int
	deadline    time.Time
	hasDeadline bool
	ctxErr      error
	// block makes the handler wait for its context to end before answering.
	block bool
	// entered is closed when a blocking handler starts waiting.
	entered chan struct{}
	// panicWith makes the handler panic with this value.
	panicWith any
}

func (r *record) snapshot() (req any, calls int, deadline time.Time, ok bool, ctxErr error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.req, r.calls, r.deadline, r.hasDeadline, r.ctxErr
}

func (r *record) setPanic(v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.panicWith = v
}

// capture returns a handler that records its request and context into rec and answers
// (res, err), or blocks or panics as rec says.
func capture[Req, Res any](rec *record, res Res, err error) func(context.Context, Req) (Res, error) {
	return func(ctx context.Context, req Req) (Res, error) {
		rec.mu.Lock()
		rec.req = req
		rec.calls++
		rec.deadline, rec.hasDeadline = ctx.Deadline()
		block, p := rec.block, rec.panicWith
		rec.mu.Unlock()
		if p != nil {
			panic(p)
		}
		if block {
			close(rec.entered)
			select {
			case <-ctx.Done():
			case <-time.After(time.Minute): // never hang the suite on a broken propagation
			}
			rec.mu.Lock()
			rec.ctxErr = ctx.Err()
			rec.mu.Unlock()
			var zero Res
			return zero, ctx.Err()
		}
		return res, err
	}
}

// hmacAdapter is a minimal real-shaped webhook adapter: hex HMAC-SHA256 of the body in
// X-Signature ("sha256=<hex>"), compared in constant time, and a JSON body of readings.
type hmacAdapter struct {
	sdk.UnsupportedAdapter
	secret []byte

	mu     sync.Mutex
	parsed int // Webhook calls, so tests can prove a rejected webhook was not parsed
}

func (a *hmacAdapter) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{ID: "hmac", Version: "test", ProtocolVersion: sdk.ProtocolVersion,
		Capabilities: sdk.Capabilities{Connect: sdk.ConnectNone, Webhook: true}}, nil
}

// Configure takes the secret from the host when it sends one, as a real plugin does.
func (a *hmacAdapter) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	if s, ok := req.Secrets["webhook_secret"]; ok {
		a.mu.Lock()
		a.secret = []byte(s)
		a.mu.Unlock()
		sdk.Logger().Info("configured", "settings", len(req.Settings), "secrets", len(req.Secrets))
	}
	return nil
}

func (a *hmacAdapter) Health(context.Context) error { return nil }

func (a *hmacAdapter) VerifyWebhook(_ context.Context, req sdk.WebhookRequest) error {
	got, ok := strings.CutPrefix(req.Headers.Get("X-Signature"), "sha256=")
	if !ok {
		return sdk.Rejected("missing signature")
	}
	sig, err := hex.DecodeString(got)
	if err != nil {
		return sdk.Rejected("malformed signature")
	}
	a.mu.Lock()
	secret := a.secret
	a.mu.Unlock()
	if !hmac.Equal(sig, sign(secret, req.Body)) {
		return sdk.Rejected("signature mismatch")
	}
	return nil
}

type hmacPayload struct {
	Device   string `json:"device"`
	Delivery string `json:"delivery"`
	Readings []struct {
		Metric string    `json:"metric"`
		Value  float64   `json:"value"`
		At     time.Time `json:"at"`
	} `json:"readings"`
	Note string `json:"note"`
}

func (a *hmacAdapter) Webhook(_ context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	a.mu.Lock()
	a.parsed++
	a.mu.Unlock()
	var p hmacPayload
	if err := json.Unmarshal(req.Body, &p); err != nil {
		return sdk.WebhookResult{}, sdk.Permanent("decode payload: %v", err)
	}
	res := sdk.WebhookResult{DeliveryID: p.Delivery, Readings: make([]sdk.Reading, 0, len(p.Readings))}
	for _, r := range p.Readings {
		res.Readings = append(res.Readings, sdk.Reading{
			ProviderDeviceID: p.Device, Metric: r.Metric, Value: r.Value, RecordedAt: r.At,
		})
	}
	return res, nil
}

func (a *hmacAdapter) parseCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.parsed
}

func sign(secret, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return m.Sum(nil)
}
