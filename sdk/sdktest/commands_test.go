package sdktest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/command"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

type writer struct {
	sdk.UnsupportedAdapter
	commands []string
	err      error
	connect  sdk.ConnectKind // api_key when empty
}

func (w writer) Describe(context.Context) (sdk.Description, error) {
	connect := w.connect
	if connect == "" {
		connect = sdk.ConnectAPIKey
	}
	return sdk.Description{ID: "writer", Version: "1", ProtocolVersion: sdk.ProtocolVersion,
		Capabilities: sdk.Capabilities{Connect: connect, Write: true, Commands: w.commands}}, nil
}
func (writer) Configure(context.Context, sdk.ConfigureRequest) error { return nil }
func (w writer) SendCommand(context.Context, sdk.CommandRequest) (sdk.CommandResult, error) {
	return sdk.CommandResult{}, w.err
}

func commandResults(t *testing.T, a sdk.Adapter, f sdktest.Fixtures) map[string]sdktest.Result {
	t.Helper()
	out := map[string]sdktest.Result{}
	for _, r := range sdktest.Checks(context.Background(), sdktest.Direct(a), f) {
		if strings.HasPrefix(r.Check, "commands") {
			out[r.Check] = r
		}
	}
	return out
}

func TestCommandsChecks(t *testing.T) {
	pump := sdk.CommandRequest{Command: command.PumpSet, Params: command.Params{"on": true}, CommandID: "c1"}
	t.Run("unknown command declared", func(t *testing.T) {
		rs := commandResults(t, writer{commands: []string{"pump.set", "pump.explode"}}, sdktest.Fixtures{})
		if rs["commands/declared"].Err == nil || !strings.Contains(rs["commands/declared"].Err.Error(), "pump.explode") {
			t.Fatalf("declared = %+v", rs["commands/declared"])
		}
	})
	t.Run("wrong error mapping", func(t *testing.T) {
		// A 401 the plugin reports as a plain error: the host would read it as unknown.
		rs := commandResults(t, writer{commands: []string{"pump.set"}, err: fmt.Errorf("upstream said 401")},
			sdktest.Fixtures{Commands: []sdktest.CommandCase{{Name: "revoked-key", Request: pump, Want: "unauthorized"}}})
		if rs["commands/declared"].Err != nil || rs["commands/revoked-key"].Err == nil {
			t.Fatalf("results = %+v", rs)
		}
	})
	t.Run("right error mapping", func(t *testing.T) {
		rs := commandResults(t, writer{commands: []string{"pump.set"}, err: sdk.Reauth("401")},
			sdktest.Fixtures{Commands: []sdktest.CommandCase{{Name: "revoked-key", Request: pump, Want: "unauthorized"}}})
		if rs["commands/revoked-key"].Err != nil {
			t.Fatalf("results = %+v", rs)
		}
	})
}

// TestCommandsWithoutAccountsRefused: a plugin declaring commands with connect kind none
// fails the kit's describe check, in process and over gRPC, with sdk.Description.Check's
// words (the host refuses it at start with the same check): the host links no accounts
// for it, so it would never send one of those commands.
func TestCommandsWithoutAccountsRefused(t *testing.T) {
	a := writer{commands: []string{command.PumpSet}, connect: sdk.ConnectNone}
	for _, target := range []struct {
		name string
		t    sdktest.Target
	}{{"Direct", sdktest.Direct(a)}, {"gRPC", sdktest.Connect(t, a)}} {
		var describe *sdktest.Result
		for _, r := range sdktest.Checks(t.Context(), target.t, sdktest.Fixtures{}) {
			if r.Check == "describe" {
				describe = &r
			}
		}
		if describe == nil || describe.Err == nil || !strings.Contains(describe.Err.Error(), "commands (write) with connect kind none") {
			t.Errorf("%s: describe check %+v, want it refused for commands without accounts", target.name, describe)
		}
	}
}
