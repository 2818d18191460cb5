package sdktest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/command"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// recorder keeps the last CommandRequest its SendCommand received.
type recorder struct {
	sdk.UnsupportedAdapter
	mu  sync.Mutex
	got *sdk.CommandRequest
}

func (*recorder) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{ID: "recorder", Version: "1", ProtocolVersion: sdk.ProtocolVersion,
		Capabilities: sdk.Capabilities{Connect: sdk.ConnectAPIKey, Write: true, Commands: command.Names()}}, nil
}
func (*recorder) Configure(context.Context, sdk.ConfigureRequest) error { return nil }
func (r *recorder) SendCommand(_ context.Context, req sdk.CommandRequest) (sdk.CommandResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = &req
	return sdk.CommandResult{Status: sdk.CommandSent}, nil
}

// take returns what the last SendCommand received (nil: not called) and forgets it.
func (r *recorder) take() *sdk.CommandRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

type percent float64

// typed shows each parameter's Go type: 40 and 40.0 print alike.
func typed(p command.Params) string {
	parts := make([]string, 0, len(p))
	for k, v := range p {
		parts = append(parts, fmt.Sprintf("%s=%v (%T)", k, v, v))
	}
	slices.Sort(parts)
	return "{" + strings.Join(parts, ", ") + "}"
}

// TestDirectSendsCommandsAsTheWireDoes: an adapter run in-process (sdktest.Direct)
// receives a command exactly as it does over gRPC, through the host's client and the
// plugin side's shim: °F converted to °C and the unit dropped, Go ints (and any number
// type JSON writes as a number) as float64, ExpiresAt in UTC; parameters the wire refuses
// are refused as permanent both ways, without calling the adapter. Before Direct went
// through sdk.EncodeCommandParams and DecodeCommandParams it handed them over raw.
func TestDirectSendsCommandsAsTheWireDoes(t *testing.T) {
	local := time.FixedZone("CET", 3600)
	now := time.Now() // with a monotonic clock reading
	acct := sdk.Account{ID: "1", ExternalAccountID: "acct-1", Credentials: sdk.Credentials{"api_key": "key-1"}}
	tests := []struct {
		name       string
		cmd        string
		params     command.Params
		expires    time.Time
		want       command.Params // nil: refused as permanent, the adapter not called
		wantExpiry time.Time
	}{
		{name: "heater in °F", cmd: command.HeaterSetTarget, params: command.Params{"temperature": 82.4, "unit": "F"},
			want: command.Params{"temperature": 28.0}},
		{name: "heater in °C with its unit", cmd: command.HeaterSetTarget, params: command.Params{"temperature": 28, "unit": "°C"},
			want: command.Params{"temperature": 28.0}},
		{name: "pump speed as an int", cmd: command.PumpSet, params: command.Params{"on": true, "speed_percent": 40},
			want: command.Params{"on": true, "speed_percent": 40.0}},
		{name: "pump speed as an int8", cmd: command.PumpSet, params: command.Params{"on": true, "speed_percent": int8(40)},
			want: command.Params{"on": true, "speed_percent": 40.0}},
		{name: "number of a named type", cmd: command.ChlorinatorSetOutput, params: command.Params{"percent": percent(55)},
			want: command.Params{"percent": 55.0}},
		{name: "json.Number", cmd: command.DosingDose, params: command.Params{"product": "acid", "volume_ml": json.Number("250")},
			want: command.Params{"product": "acid", "volume_ml": 250.0}},
		{name: "expiry in a local zone", cmd: command.LightSet, params: command.Params{"on": false},
			expires: time.Date(2026, 3, 1, 13, 0, 0, 0, local), want: command.Params{"on": false},
			wantExpiry: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		{name: "expiry with a monotonic reading", cmd: command.LightSet, params: command.Params{"on": true},
			expires: now, want: command.Params{"on": true}, wantExpiry: now.Round(0).UTC()},
		{name: "unit on a pump refused", cmd: command.PumpSet, params: command.Params{"on": true, "unit": "F"}},
		{name: "°F out of range refused", cmd: command.HeaterSetTarget, params: command.Params{"temperature": 110.0, "unit": "F"}},
		{name: "unknown parameter refused", cmd: command.PumpSet, params: command.Params{"on": true, "turbo": true}},
		{name: "NaN refused", cmd: command.ChlorinatorSetOutput, params: command.Params{"percent": math.NaN()}},
		{name: "unknown command refused", cmd: "pump.explode", params: command.Params{"on": true}},
	}
	a := &recorder{}
	wire := sdktest.Connect(t, a)
	in := sdktest.Direct(a).(sdk.Commander)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := sdk.CommandRequest{Account: acct, ProviderDeviceID: "dev-1", Channel: "2", Command: tc.cmd,
				Params: tc.params, CommandID: "cmd-1", ExpiresAt: tc.expires}
			var got [2]*sdk.CommandRequest
			var errs [2]error
			for i, c := range []sdk.Commander{in, wire} {
				_, errs[i] = c.SendCommand(t.Context(), req)
				got[i] = a.take()
			}
			if !reflect.DeepEqual(got[0], got[1]) {
				t.Errorf("Direct's adapter received %+v, over gRPC %+v", got[0], got[1])
			}
			if tc.want == nil {
				for i, how := range []string{"Direct", "over gRPC"} {
					if got[i] != nil || errs[i] == nil || sdk.KindOf(errs[i]) != sdk.KindPermanent {
						t.Errorf("%s: the adapter received %+v, error %v; want it not called and a permanent refusal", how, got[i], errs[i])
					}
				}
				if errs[0] != nil && errs[1] != nil && errs[0].Error() != errs[1].Error() {
					t.Errorf("Direct refused %q, gRPC %q", errs[0], errs[1])
				}
				return
			}
			for i, how := range []string{"Direct", "over gRPC"} {
				if errs[i] != nil || got[i] == nil {
					t.Fatalf("%s: error %v, adapter received %+v", how, errs[i], got[i])
				}
				if !reflect.DeepEqual(got[i].Params, tc.want) {
					t.Errorf("%s: Params = %s, want %s", how, typed(got[i].Params), typed(tc.want))
				}
				if e := got[i].ExpiresAt; !e.Equal(tc.wantExpiry) || !e.IsZero() && e != e.UTC() {
					t.Errorf("%s: ExpiresAt = %v, want %v", how, got[i].ExpiresAt, tc.wantExpiry)
				}
			}
		})
	}
}

// TestCommandCaseRunsAsOverTheWire: a CommandCase judged in-process (sdktest.Run's
// Direct) and against the plugin's gRPC client comes back the same. Its adapter accepts
// only a target in °C; given the fixture in °F, Direct used to hand it °F and the unit
// (permanent) where the wire hands it 28 °C (sent).
func TestCommandCaseRunsAsOverTheWire(t *testing.T) {
	a := celsiusOnly{}
	f := sdktest.Fixtures{Commands: []sdktest.CommandCase{
		{Name: "heater-in-fahrenheit", Want: "sent", Request: sdk.CommandRequest{Command: command.HeaterSetTarget,
			Params: command.Params{"temperature": 82.4, "unit": "F"}, CommandID: "c1"}},
		{Name: "int8-speed", Want: "sent", Request: sdk.CommandRequest{Command: command.PumpSet,
			Params: command.Params{"on": true, "speed_percent": int8(40)}, CommandID: "c2"}},
	}}
	for _, target := range []struct {
		name string
		t    sdktest.Target
	}{{"Direct", sdktest.Direct(a)}, {"gRPC", sdktest.Connect(t, a)}} {
		t.Run(target.name, func(t *testing.T) {
			for _, r := range sdktest.Checks(t.Context(), target.t, f) {
				if strings.HasPrefix(r.Check, "commands/") && r.Err != nil {
					t.Errorf("%s: %v", r.Check, r.Err)
				}
			}
		})
	}
}

// celsiusOnly refuses, as permanent, a command whose parameters are not as the host sends
// them: a unit, or a number that is not a float64.
type celsiusOnly struct{ sdk.UnsupportedAdapter }

func (celsiusOnly) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{ID: "celsius", Version: "1", ProtocolVersion: sdk.ProtocolVersion,
		Capabilities: sdk.Capabilities{Connect: sdk.ConnectAPIKey, Write: true, Commands: []string{command.HeaterSetTarget, command.PumpSet}}}, nil
}
func (celsiusOnly) Configure(context.Context, sdk.ConfigureRequest) error { return nil }
func (celsiusOnly) SendCommand(_ context.Context, req sdk.CommandRequest) (sdk.CommandResult, error) {
	if _, ok := req.Params["unit"]; ok {
		return sdk.CommandResult{}, sdk.Permanent("unit %v given", req.Params["unit"])
	}
	if c, ok := req.Params.Number("temperature"); req.Command == command.HeaterSetTarget && (!ok || c != 28) {
		return sdk.CommandResult{}, sdk.Permanent("temperature %v, want 28 °C", req.Params["temperature"])
	}
	if s, ok := req.Params.Number("speed_percent"); req.Command == command.PumpSet && (!ok || s != 40) {
		return sdk.CommandResult{}, sdk.Permanent("speed %#v, want 40", req.Params["speed_percent"])
	}
	return sdk.CommandResult{}, nil
}

// wireRecorder records the request each call hands it, and answers what it is told to.
type wireRecorder struct {
	sdk.UnsupportedAdapter
	mu     sync.Mutex
	got    any             // the last request received
	answer any             // the answer to give (a Description, DiscoverResult, WebhookResult, PollResult or CommandResult)
	desc   sdk.Description // Describe's answer, when answer is not one
}

func (r *wireRecorder) record(req any) any {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = req
	return r.answer
}

// take returns the last request received and the adapter's answer to it, and forgets it.
func (r *wireRecorder) take() any {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

func (r *wireRecorder) Describe(context.Context) (sdk.Description, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := r.answer.(sdk.Description); ok {
		return d, nil
	}
	return sdk.Description{ID: "wire", Version: "1", ProtocolVersion: sdk.ProtocolVersion,
		Capabilities: sdk.Capabilities{Connect: sdk.ConnectAPIKey, Webhook: true, Poll: true, Write: true, Commands: []string{command.LightSet}}}, nil
}
func (r *wireRecorder) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	r.record(req)
	return nil
}
func (r *wireRecorder) DiscoverDevices(_ context.Context, req sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
	a, _ := r.record(req).(sdk.DiscoverResult)
	return a, nil
}
func (r *wireRecorder) VerifyWebhook(_ context.Context, req sdk.WebhookRequest) error {
	r.record(req)
	return nil
}
func (r *wireRecorder) Webhook(_ context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	a, _ := r.record(req).(sdk.WebhookResult)
	return a, nil
}
func (r *wireRecorder) PollReadings(_ context.Context, req sdk.PollRequest) (sdk.PollResult, error) {
	a, _ := r.record(req).(sdk.PollResult)
	return a, nil
}
func (r *wireRecorder) SendCommand(_ context.Context, req sdk.CommandRequest) (sdk.CommandResult, error) {
	a, _ := r.record(req).(sdk.CommandResult)
	return a, nil
}

// TestDirectCallsAsTheWireDoes: every call sdktest.Direct makes hands the adapter its
// request, and hands the checks the adapter's answer, exactly as a host's call over gRPC
// does: times in UTC without a monotonic reading, header names canonical and repeated
// ones merged, empty maps and slices nil, a reading with a time Timed, a result the
// plugin side refuses (an id with a control character) refused. Before Direct went
// through the wire's conversions it handed both over as given.
func TestDirectCallsAsTheWireDoes(t *testing.T) {
	local := time.FixedZone("CET", 3600)
	now := time.Now().In(local) // with a monotonic clock reading, in a local zone
	acct := sdk.Account{ID: "1", ExternalAccountID: "acct-1", Credentials: sdk.Credentials{}}
	hook := sdk.WebhookRequest{
		Headers:    http.Header{"x-signature": {"a"}, "X-Signature": {"b"}, "content-type": {"application/json"}},
		Body:       []byte{}, // empty, not nil
		ReceivedAt: now, Account: &acct,
	}
	readings := []sdk.Reading{{ProviderDeviceID: "dev-1", Metric: "ph", Value: 7.2, RecordedAt: now, RawPayload: []byte{}}}
	tests := []struct {
		name   string
		answer any // the adapter's answer
		call   func(ctx context.Context, t sdktest.Target) (any, error)
	}{
		{name: "describe with empty lists", answer: sdk.Description{ID: "wire", Version: "1", ProtocolVersion: sdk.ProtocolVersion,
			Capabilities:     sdk.Capabilities{Connect: sdk.ConnectAPIKey, Poll: true, SignatureHeaders: []string{}},
			RequiredSettings: []string{}, Settings: []sdk.Option{}, ConnectInputs: []sdk.Option{}},
			call: func(ctx context.Context, t sdktest.Target) (any, error) { return t.Describe(ctx) }},
		{name: "configure with empty maps", call: func(ctx context.Context, t sdktest.Target) (any, error) {
			return nil, t.Configure(ctx, sdk.ConfigureRequest{Settings: map[string]string{}, Secrets: map[string]string{}})
		}},
		{name: "discover: a device with empty metadata", answer: sdk.DiscoverResult{Devices: []sdk.Device{{ProviderDeviceID: "dev-1", Metadata: map[string]string{}}},
			RefreshedCredentials: sdk.Credentials{}},
			call: func(ctx context.Context, t sdktest.Target) (any, error) {
				return t.DiscoverDevices(ctx, sdk.DiscoverRequest{Account: acct})
			}},
		{name: "discover: no devices", answer: sdk.DiscoverResult{Devices: []sdk.Device{}},
			call: func(ctx context.Context, t sdktest.Target) (any, error) {
				return t.DiscoverDevices(ctx, sdk.DiscoverRequest{Account: acct})
			}},
		{name: "discover: a device id with a control character", answer: sdk.DiscoverResult{Devices: []sdk.Device{{ProviderDeviceID: "dev\x01"}}},
			call: func(ctx context.Context, t sdktest.Target) (any, error) {
				return t.DiscoverDevices(ctx, sdk.DiscoverRequest{Account: acct})
			}},
		{name: "ingest: headers, a local time, an empty body", answer: sdk.WebhookResult{Readings: readings, DeliveryID: "d-1", TestSessions: []sdk.TestSession{}},
			call: func(ctx context.Context, t sdktest.Target) (any, error) { return t.IngestWebhook(ctx, hook) }},
		{name: "ingest: no headers", answer: sdk.WebhookResult{},
			call: func(ctx context.Context, t sdktest.Target) (any, error) {
				return t.IngestWebhook(ctx, sdk.WebhookRequest{Body: []byte("{}")})
			}},
		{name: "ingest: a delivery id with a control character", answer: sdk.WebhookResult{DeliveryID: "d\x02"},
			call: func(ctx context.Context, t sdktest.Target) (any, error) { return t.IngestWebhook(ctx, hook) }},
		{name: "webhook: headers, a local time, an empty body", answer: sdk.WebhookResult{Readings: readings},
			call: func(ctx context.Context, t sdktest.Target) (any, error) { return t.Webhook(ctx, hook) }},
		{name: "poll: a local not-before, empty lists", answer: sdk.PollResult{Readings: []sdk.Reading{}, NotBefore: now,
			TestSessions: []sdk.TestSession{{ProviderDeviceID: "dev-1", TakenAt: now, Results: []sdk.TestResult{}}}, CommandUpdates: []sdk.CommandUpdate{}},
			call: func(ctx context.Context, t sdktest.Target) (any, error) {
				return t.PollReadings(ctx, sdk.PollRequest{Account: acct, Cursor: "c"})
			}},
		{name: "poll: readings at a local time", answer: sdk.PollResult{Readings: readings},
			call: func(ctx context.Context, t sdktest.Target) (any, error) {
				return t.PollReadings(ctx, sdk.PollRequest{Account: sdk.Account{ID: "2"}})
			}},
		{name: "command: no status", answer: sdk.CommandResult{ProviderRef: "ref-1", RefreshedCredentials: sdk.Credentials{}},
			call: func(ctx context.Context, t sdktest.Target) (any, error) {
				return t.(sdk.Commander).SendCommand(ctx, sdk.CommandRequest{Account: acct, ProviderDeviceID: "dev-1",
					Command: command.LightSet, Params: command.Params{"on": true}, CommandID: "c-1", ExpiresAt: now})
			}},
	}
	a := &wireRecorder{}
	targets := []sdktest.Target{sdktest.Direct(a), sdktest.Connect(t, a)}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a.mu.Lock()
			a.answer = tc.answer
			a.mu.Unlock()
			var got, answers [2]any
			var errs [2]error
			for i, target := range targets {
				answers[i], errs[i] = tc.call(t.Context(), target)
				got[i] = a.take()
			}
			if !reflect.DeepEqual(got[0], got[1]) {
				t.Errorf("the adapter received\nDirect:    %#v\nover gRPC: %#v", got[0], got[1])
			}
			if !reflect.DeepEqual(answers[0], answers[1]) {
				t.Errorf("the answer came back\nDirect:    %#v\nover gRPC: %#v", answers[0], answers[1])
			}
			if (errs[0] == nil) != (errs[1] == nil) || errs[0] != nil && sdk.KindOf(errs[0]) != sdk.KindOf(errs[1]) {
				t.Errorf("Direct's error %v, over gRPC %v", errs[0], errs[1])
			}
		})
	}
}

// scripted answers each call with what its fields say: the answer (or error) of
// Connect, Callback, DiscoverDevices, Webhook and SendCommand, or a panic; it records
// the request it was given.
type scripted struct {
	sdk.UnsupportedAdapter
	mu     sync.Mutex
	got    any
	answer any   // a ConnectResult, Linkage, DiscoverResult, WebhookResult or CommandResult
	err    error // returned with the answer
	panics bool
}

func (s *scripted) take(req any) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = req
	if s.panics {
		var none []int
		_ = none[len(fmt.Sprint(req))] // an index out of range
	}
	return s.answer, s.err
}

func (s *scripted) received() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := s.got
	s.got = nil
	return got
}

func (*scripted) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{ID: "scripted", Version: "1", ProtocolVersion: sdk.ProtocolVersion,
		Capabilities: sdk.Capabilities{Connect: sdk.ConnectOAuth2, Webhook: true, Write: true, Commands: []string{command.LightSet}}}, nil
}
func (*scripted) Configure(context.Context, sdk.ConfigureRequest) error { return nil }
func (s *scripted) Connect(_ context.Context, req sdk.ConnectRequest) (sdk.ConnectResult, error) {
	a, err := s.take(req)
	r, _ := a.(sdk.ConnectResult)
	return r, err
}
func (s *scripted) Callback(_ context.Context, req sdk.CallbackRequest) (sdk.Linkage, error) {
	a, err := s.take(req)
	l, _ := a.(sdk.Linkage)
	return l, err
}
func (s *scripted) DiscoverDevices(_ context.Context, req sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
	a, err := s.take(req)
	r, _ := a.(sdk.DiscoverResult)
	return r, err
}
func (*scripted) VerifyWebhook(context.Context, sdk.WebhookRequest) error { return nil }
func (s *scripted) Webhook(_ context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	a, err := s.take(req)
	r, _ := a.(sdk.WebhookResult)
	return r, err
}
func (s *scripted) SendCommand(_ context.Context, req sdk.CommandRequest) (sdk.CommandResult, error) {
	a, err := s.take(req)
	r, _ := a.(sdk.CommandResult)
	return r, err
}

// errorAsSeen is everything a host (and so the kit) may read of an error.
func errorAsSeen(err error) string {
	if err == nil {
		return "<nil>"
	}
	creds, refreshed := sdk.RefreshedCredentialsOf(err)
	var pe *grpcplugin.ParseError
	return fmt.Sprintf("%q kind=%s reason=%s retry-after=%s refreshed=%v %v parse-error=%t outcome-unknown=%t",
		err.Error(), sdk.KindOf(err), sdk.RejectReason(err), sdk.RetryAfterOf(err), refreshed, creds,
		errors.As(err, &pe), sdk.IsOutcomeUnknown(err))
}

// TestDirectConnectCallbackAndErrorsAsTheWireDoes: sdktest.Direct makes every call as a
// host makes it over gRPC, Connect and Callback included (their requests and linkages
// through the wire's conversions, a linkage the plugin side refuses refused), and hands
// back each error as the host rebuilds it from its status: the message without a
// wrapping's kind prefix, nothing of the chain beyond kind, reason, refreshed credentials
// and Retry-After (at most 24 hours), an unknown kind temporary, a panic a temporary
// error, a message that is not UTF-8 as gRPC's transport carries it (so a rejection's
// reason and a parse error's verdict are lost with it, as they are in a host). Before,
// Direct handed Connect and Callback over as given and every error as the adapter's own:
// a plugin could pass the kit in-process and fail in the host.
func TestDirectConnectCallbackAndErrorsAsTheWireDoes(t *testing.T) {
	acct := sdk.Account{ID: "1", ExternalAccountID: "acct-1", Credentials: sdk.Credentials{"access_token": "a"}}
	connect := func(ctx context.Context, t sdktest.Target) (any, error) {
		return t.(sdk.Adapter).Connect(ctx, sdk.ConnectRequest{RedirectURI: "https://h.example/cb", State: "s", Input: map[string]string{}})
	}
	callback := func(ctx context.Context, t sdktest.Target) (any, error) {
		return t.(sdk.Adapter).Callback(ctx, sdk.CallbackRequest{Code: "c", State: "s", Query: map[string]string{}, CodeVerifier: "v"})
	}
	discover := func(ctx context.Context, t sdktest.Target) (any, error) {
		return t.DiscoverDevices(ctx, sdk.DiscoverRequest{Account: acct})
	}
	ingest := func(ctx context.Context, t sdktest.Target) (any, error) {
		return t.IngestWebhook(ctx, sdk.WebhookRequest{Body: []byte("{}")})
	}
	send := func(ctx context.Context, t sdktest.Target) (any, error) {
		return t.(sdk.Commander).SendCommand(ctx, sdk.CommandRequest{Account: acct, ProviderDeviceID: "d",
			Command: command.LightSet, Params: command.Params{"on": true}, CommandID: "c-1"})
	}
	tests := []struct {
		name   string
		answer any
		err    error
		panics bool
		call   func(ctx context.Context, t sdktest.Target) (any, error)
	}{
		{name: "connect: a linkage with empty credentials", call: connect,
			answer: sdk.ConnectResult{Linkage: &sdk.Linkage{ExternalAccountID: "acct-1", Credentials: sdk.Credentials{}, AlternateAccountIDs: []string{}}}},
		{name: "connect: a consent URL", call: connect, answer: sdk.ConnectResult{AuthorizeURL: "https://p.example/authorize?state=s"}},
		{name: "connect: an account id the SDK refuses", call: connect,
			answer: sdk.ConnectResult{Linkage: &sdk.Linkage{ExternalAccountID: "acct\x01"}}},
		{name: "connect: a refused key", call: connect, err: fmt.Errorf("check key: %w", sdk.InvalidInput("the provider refused this API key"))},
		{name: "callback: a linkage", call: callback, answer: sdk.Linkage{ExternalAccountID: "acct-1", DisplayName: "Ana", Credentials: sdk.Credentials{"access_token": "t"}}},
		{name: "callback: an empty account id", call: callback, answer: sdk.Linkage{DisplayName: "Ana"}},
		{name: "callback: a panic", call: callback, panics: true},
		{name: "discover: a wrapped reauth", call: discover, err: fmt.Errorf("list devices: %w", sdk.Reauth("token refresh rejected (HTTP %d)", 400))},
		{name: "discover: a plain error", call: discover, err: fmt.Errorf("list devices: %w", context.Canceled)},
		{name: "discover: a kind the wire does not know", call: discover, err: sdk.Errorf(sdk.ErrorKind(99), "odd")},
		{name: "discover: a Retry-After of two days", call: discover, err: sdk.RetryAfter(48*time.Hour, "quota exceeded")},
		{name: "discover: refreshed credentials on an error", call: discover,
			err: sdk.WithRefreshedCredentials(sdk.Temporary("quota"), sdk.Credentials{"access_token": "new"})},
		{name: "discover: refreshed credentials on an error whose message is not UTF-8", call: discover,
			err: sdk.WithRefreshedCredentials(sdk.Temporary("quota \xff"), sdk.Credentials{"access_token": "new"})},
		{name: "ingest: a permanent parse error", call: ingest, err: sdk.Permanent("malformed")},
		{name: "ingest: a parse error whose message is not UTF-8", call: ingest, err: sdk.Permanent("malformed \xff\xfe")},
		{name: "ingest: a panic", call: ingest, panics: true},
		{name: "command: a rejection, which is no refusal", call: send, err: sdk.Rejected("no")},
		{name: "command: a refusal with a Retry-After", call: send, err: sdk.RetryAfter(time.Minute, "busy")},
		{name: "command: a panic", call: send, panics: true},
	}
	a := &scripted{}
	targets := []sdktest.Target{sdktest.Direct(a), sdktest.Connect(t, a)}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a.mu.Lock()
			a.answer, a.err, a.panics = tc.answer, tc.err, tc.panics
			a.mu.Unlock()
			var got, answers [2]any
			var errs [2]string
			for i, target := range targets {
				var err error
				answers[i], err = tc.call(t.Context(), target)
				errs[i] = errorAsSeen(err)
				got[i] = a.received()
			}
			if !reflect.DeepEqual(got[0], got[1]) {
				t.Errorf("the adapter received\nDirect:    %#v\nover gRPC: %#v", got[0], got[1])
			}
			if !reflect.DeepEqual(answers[0], answers[1]) {
				t.Errorf("the answer came back\nDirect:    %#v\nover gRPC: %#v", answers[0], answers[1])
			}
			if errs[0] != errs[1] {
				t.Errorf("the error came back\nDirect:    %s\nover gRPC: %s", errs[0], errs[1])
			}
		})
	}
}

// TestDirectRefusesWhatTheHostCannotRead: an answer over the gRPC message the host reads
// (judge.DefaultCaps.MaxMessageBytes, 16 MiB) within every other cap — 17 MiB of device
// metadata — is refused by sdktest.Direct as the host's client (grpcplugin.MaxMessage)
// and `plugins test` refuse it: permanent, naming plugins.max_message_bytes. Direct
// handed it over, and so did sdktest.Connect, whose client was go-plugin's test
// connection (any size); it now dials with the host's options.
func TestDirectRefusesWhatTheHostCannotRead(t *testing.T) {
	huge := sdk.DiscoverResult{}
	for i := range 300 {
		huge.Devices = append(huge.Devices, sdk.Device{ProviderDeviceID: fmt.Sprintf("dev-%d", i), Metadata: map[string]string{"blob": strings.Repeat("x", 60<<10)}})
	}
	a := &scripted{answer: huge}
	const want = "permanent: plugin answer refused: larger than plugins.max_message_bytes (16777216)"
	for _, target := range []struct {
		name string
		t    sdktest.Target
	}{{"Direct", sdktest.Direct(a)}, {"Connect", sdktest.Connect(t, a)}} {
		res, err := target.t.DiscoverDevices(t.Context(), sdk.DiscoverRequest{})
		if err == nil || err.Error() != want || len(res.Devices) != 0 {
			t.Errorf("%s: %d devices, error %v; want %q", target.name, len(res.Devices), err, want)
		}
	}
	// Within the cap, the same answer shape comes back whole.
	a.answer = sdk.DiscoverResult{Devices: huge.Devices[:10]}
	if res, err := sdktest.Direct(a).DiscoverDevices(t.Context(), sdk.DiscoverRequest{}); err != nil || len(res.Devices) != 10 {
		t.Errorf("Direct, 600 KiB: %d devices, %v", len(res.Devices), err)
	}
}
