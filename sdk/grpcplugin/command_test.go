package grpcplugin_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/command"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// commandAdapter answers SendCommand with a fixed result or error, or panics.
type commandAdapter struct {
	sdk.UnsupportedAdapter
	res   sdk.CommandResult
	err   error
	panic bool
	got   *sdk.CommandRequest
}

func (a *commandAdapter) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{ID: "cmd", ProtocolVersion: sdk.ProtocolVersion,
		Capabilities: sdk.Capabilities{Connect: sdk.ConnectAPIKey, Write: true, Commands: []string{command.PumpSet}}}, nil
}
func (a *commandAdapter) Configure(context.Context, sdk.ConfigureRequest) error { return nil }
func (a *commandAdapter) SendCommand(_ context.Context, req sdk.CommandRequest) (sdk.CommandResult, error) {
	if a.panic {
		panic("relay on fire")
	}
	r := req
	a.got = &r
	return a.res, a.err
}

func TestSendCommandRoundTrip(t *testing.T) {
	exp := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	req := sdk.CommandRequest{Account: acct, ProviderDeviceID: "dev-1", Channel: "2", Command: command.PumpSet,
		Params: command.Params{"on": true, "speed_percent": 40.0}, CommandID: "cmd-1", ExpiresAt: exp}
	a := &commandAdapter{res: sdk.CommandResult{Status: sdk.CommandDelivered, ProviderRef: "ref-1", RefreshedCredentials: fresh}}
	c := sdktest.Connect(t, a)
	got, err := c.SendCommand(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a.res) {
		t.Fatalf("result = %+v, want %+v", got, a.res)
	}
	if !reflect.DeepEqual(*a.got, req) {
		t.Fatalf("adapter got %+v, want %+v", *a.got, req)
	}
	d, err := c.Describe(context.Background())
	if err != nil || !reflect.DeepEqual(d.Capabilities.Commands, []string{command.PumpSet}) {
		t.Fatalf("Describe commands = %v, %v", d.Capabilities.Commands, err)
	}
}

func TestSendCommandErrors(t *testing.T) {
	req := sdk.CommandRequest{Account: acct, ProviderDeviceID: "dev-1", Command: command.PumpSet, Params: command.Params{"on": true}, CommandID: "c"}
	tests := []struct {
		name        string
		a           *commandAdapter
		wantUnknown bool
		wantKind    sdk.ErrorKind
		wantAfter   time.Duration
		wantCreds   bool
		wantMsg     string // an unknown outcome's message: the plugin's words, once
	}{
		{name: "permanent", a: &commandAdapter{err: sdk.Permanent("no such relay")}, wantKind: sdk.KindPermanent},
		{name: "unauthorized keeps fresh creds", a: &commandAdapter{err: sdk.WithRefreshedCredentials(sdk.Reauth("key revoked"), fresh)}, wantKind: sdk.KindReauth, wantCreds: true},
		{name: "retry after", a: &commandAdapter{err: sdk.RetryAfter(30*time.Second, "429")}, wantKind: sdk.KindTemporary, wantAfter: 30 * time.Second},
		// A plugin's word is capped as a provider's Retry-After header is (sdk.RetryAfterHeader):
		// the host answers it to apps (503 Retry-After) and schedules sends by it.
		{name: "retry after beyond a day", a: &commandAdapter{err: sdk.RetryAfter(100*365*24*time.Hour, "429")}, wantKind: sdk.KindTemporary, wantAfter: 24 * time.Hour},
		{name: "explicit unknown", a: &commandAdapter{err: fmt.Errorf("%w: push timed out", sdk.ErrOutcomeUnknown)}, wantUnknown: true,
			wantMsg: "send command: command outcome unknown: push timed out"},
		{name: "unknown after a refusal", a: &commandAdapter{err: fmt.Errorf("%w: %w", sdk.ErrOutcomeUnknown, sdk.Temporary("the provider answered 503"))}, wantUnknown: true,
			wantMsg: "send command: command outcome unknown: the provider answered 503"},
		{name: "plain error is unknown", a: &commandAdapter{err: errors.New("boom")}, wantUnknown: true,
			wantMsg: "send command: command outcome unknown: boom"},
		{name: "rejected kind is unknown", a: &commandAdapter{err: sdk.Rejected("?")}, wantUnknown: true},
		{name: "panic is unknown", a: &commandAdapter{panic: true}, wantUnknown: true,
			wantMsg: "send command: command outcome unknown: plugin panicked (see plugin log)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sdktest.Connect(t, tt.a)
			_, err := c.SendCommand(context.Background(), req)
			if err == nil {
				t.Fatal("no error")
			}
			if sdk.IsOutcomeUnknown(err) != tt.wantUnknown {
				t.Fatalf("unknown = %v for %v, want %v", sdk.IsOutcomeUnknown(err), err, tt.wantUnknown)
			}
			if tt.wantUnknown {
				if tt.wantMsg != "" && err.Error() != tt.wantMsg {
					t.Errorf("message %q, want %q", err, tt.wantMsg)
				}
				return
			}
			if k, ok := sdk.CommandRefusal(err); !ok || k != tt.wantKind {
				t.Fatalf("refusal = %v %v for %v, want %v", k, ok, err, tt.wantKind)
			}
			if got := sdk.RetryAfterOf(err); got != tt.wantAfter {
				t.Fatalf("retry after = %v, want %v", got, tt.wantAfter)
			}
			if _, ok := sdk.RefreshedCredentialsOf(err); ok != tt.wantCreds {
				t.Fatalf("refreshed creds = %v, want %v", ok, tt.wantCreds)
			}
		})
	}
}

func TestSendCommandRevalidatesParams(t *testing.T) {
	a := &commandAdapter{}
	c := sdktest.Connect(t, a)
	_, err := c.SendCommand(context.Background(), sdk.CommandRequest{Command: command.PumpSet, Params: command.Params{"on": "maybe"}})
	if k, ok := sdk.CommandRefusal(err); !ok || k != sdk.KindPermanent {
		t.Fatalf("err = %v, want a permanent refusal", err)
	}
	if a.got != nil {
		t.Fatal("adapter was called with invalid params")
	}
}

func TestSendCommandUnsupported(t *testing.T) {
	c := sdktest.Connect(t, struct {
		sdk.UnsupportedAdapter
		descOnly
	}{})
	_, err := c.SendCommand(context.Background(), sdk.CommandRequest{Command: command.PumpSet, Params: command.Params{"on": true}})
	if !sdk.IsKind(err, sdk.KindUnsupported) || sdk.IsOutcomeUnknown(err) {
		t.Fatalf("err = %v, want unsupported (nothing sent)", err)
	}
}

type descOnly struct{}

func (descOnly) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{ID: "x", ProtocolVersion: sdk.ProtocolVersion}, nil
}
func (descOnly) Configure(context.Context, sdk.ConfigureRequest) error { return nil }

// discoverAdapter fails every discovery with err.
type discoverAdapter struct {
	commandAdapter
	err error
}

func (a *discoverAdapter) DiscoverDevices(context.Context, sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
	return sdk.DiscoverResult{}, a.err
}

// TestRetryDelayCapped: the delay a plugin's failed call names (RetryInfo, which any
// plugin may set to any duration) reaches the host at most a day, as a provider's
// Retry-After header read by sdk.RetryAfterHeader does; the host answers it to apps as
// a 503's Retry-After.
func TestRetryDelayCapped(t *testing.T) {
	for _, c := range []struct{ said, want time.Duration }{
		{90 * time.Second, 90 * time.Second},
		{100 * 365 * 24 * time.Hour, 24 * time.Hour},
	} {
		cl := sdktest.Connect(t, &discoverAdapter{err: sdk.RetryAfter(c.said, "429")})
		_, err := cl.DiscoverDevices(context.Background(), sdk.DiscoverRequest{Account: acct})
		if got := sdk.RetryAfterOf(err); got != c.want {
			t.Errorf("plugin said %v: the host reads %v (%v), want %v", c.said, got, err, c.want)
		}
	}
}

// hungCommander refreshes its account's tokens (so to speak) and then waits on a send
// that never answers, until its context ends: the outcome is unknown, the tokens new.
type hungCommander struct{ commandAdapter }

func (a *hungCommander) SendCommand(ctx context.Context, _ sdk.CommandRequest) (sdk.CommandResult, error) {
	<-ctx.Done()
	return sdk.CommandResult{}, sdk.WithRefreshedCredentials(fmt.Errorf("%w: push: %v", sdk.ErrOutcomeUnknown, ctx.Err()), fresh)
}

// TestSendCommandAtDeadlineKeepsCredentials: a send that hangs until its context ends
// answers its unknown outcome, with the tokens it refreshed, before the caller's
// deadline (sdk's answer margin): over gRPC a later answer never arrives, and the
// tokens would be lost with it.
func TestSendCommandAtDeadlineKeepsCredentials(t *testing.T) {
	c := sdktest.Connect(t, &hungCommander{})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err := c.SendCommand(ctx, sdk.CommandRequest{Account: acct, ProviderDeviceID: "dev-1", Command: command.PumpSet, Params: command.Params{"on": true}, CommandID: "c"})
	if !sdk.IsOutcomeUnknown(err) {
		t.Fatalf("error %v, want an unknown outcome", err)
	}
	if got, ok := sdk.RefreshedCredentialsOf(err); !ok || !reflect.DeepEqual(got, fresh) {
		t.Fatalf("error %v carries %v, %v; want the refreshed credentials", err, got, ok)
	}
	if ctx.Err() != nil {
		t.Error("answered after the caller's deadline")
	}
}
