package sdktest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/command"
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
		Capabilities: sdk.Capabilities{Connect: sdk.ConnectNone, Write: true, Commands: []string{command.HeaterSetTarget, command.PumpSet}}}, nil
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
