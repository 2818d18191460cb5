package ttn_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/poolhost/poolhost/plugins/ttn"
	"github.com/poolhost/poolhost/plugins/ttn/ttntest"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/command"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

const downlinkKey = "NNSXS.downlink-key"

func commandAccount(key string) sdk.Account {
	return sdk.Account{ID: "1", ExternalAccountID: "ttn_x", Credentials: sdk.Credentials{
		ttn.InputApplicationID: "app1", ttn.InputWebhookID: "poolhost", ttn.InputDownlinkAPIKey: key,
	}}
}

func configured(t *testing.T, stack *ttntest.Server) sdk.Adapter {
	t.Helper()
	a := ttn.New()
	if err := a.Configure(t.Context(), sdk.ConfigureRequest{Settings: map[string]string{
		ttn.SettingServerURL: stack.URL, ttn.SettingCommandPorts: "pump.set:10, chlorinator.set_output:11",
	}}); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSendCommandPushesOneDownlink(t *testing.T) {
	stack := ttntest.NewServer(downlinkKey)
	defer stack.Close()
	c := sdktest.Connect(t, configured(t, stack))
	res, err := c.SendCommand(t.Context(), sdk.CommandRequest{Account: commandAccount(downlinkKey), ProviderDeviceID: "relay-1",
		Channel: "2", Command: command.PumpSet, Params: command.Params{"on": true}, CommandID: "cmd_1"})
	if err != nil || res.Status != sdk.CommandSent {
		t.Fatalf("send = %+v, %v", res, err)
	}
	ps := stack.Pushes()
	if len(ps) != 1 || len(ps[0].Downlinks) != 1 {
		t.Fatalf("pushes = %+v", ps)
	}
	p, d := ps[0], ps[0].Downlinks[0]
	if p.ApplicationID != "app1" || p.WebhookID != "poolhost" || p.DeviceID != "relay-1" || d.FPort != 10 || !d.Confirmed ||
		d.Priority != "NORMAL" || d.DecodedPayload["on"] != true || d.DecodedPayload["command"] != "pump.set" ||
		d.DecodedPayload["channel"] != "2" || !slices.Contains(d.CorrelationIDs, ttn.CorrelationPrefix+"cmd_1") {
		t.Fatalf("push = %+v", p)
	}
}

func TestSendCommandErrors(t *testing.T) {
	stack := ttntest.NewServer(downlinkKey)
	defer stack.Close()
	c := sdktest.Connect(t, configured(t, stack))
	pump := func(acct sdk.Account, cmd string, params command.Params) (sdk.CommandResult, error) {
		return c.SendCommand(t.Context(), sdk.CommandRequest{Account: acct, ProviderDeviceID: "relay-1", Command: cmd, Params: params, CommandID: "c"})
	}
	on := command.Params{"on": true}
	if _, err := pump(commandAccount("wrong"), command.PumpSet, on); !sdk.IsKind(err, sdk.KindReauth) || sdk.IsOutcomeUnknown(err) {
		t.Errorf("401 = %v, want unauthorized", err)
	}
	if _, err := pump(sdk.Account{Credentials: sdk.Credentials{}}, command.PumpSet, on); !sdk.IsKind(err, sdk.KindPermanent) {
		t.Errorf("read-only account = %v, want permanent", err)
	}
	if _, err := pump(commandAccount(downlinkKey), command.LightSet, on); !sdk.IsKind(err, sdk.KindPermanent) {
		t.Errorf("no FPort = %v, want permanent", err)
	}
	// The stack's rate limiter says how long to wait in X-Rate-Limit-Retry, not Retry-After.
	stack.Force(http.StatusTooManyRequests, "30")
	_, err := pump(commandAccount(downlinkKey), command.PumpSet, on)
	if k, ok := sdk.CommandRefusal(err); !ok || k != sdk.KindTemporary || sdk.RetryAfterOf(err) != 30*time.Second {
		t.Errorf("429 = %v (after %v), want temporary with the X-Rate-Limit-Retry's 30s", err, sdk.RetryAfterOf(err))
	}
	stack.Force(http.StatusBadGateway, "")
	if _, err := pump(commandAccount(downlinkKey), command.PumpSet, on); !sdk.IsOutcomeUnknown(err) {
		t.Errorf("502 = %v, want outcome unknown", err)
	}
	if n := len(stack.Pushes()); n != 0 {
		t.Errorf("%d pushes accepted", n)
	}
}

func TestDownlinkMessagesAdvanceCommands(t *testing.T) {
	a := ttn.New()
	msg := func(field, inner string) []byte {
		return []byte(fmt.Sprintf(`{"end_device_ids":{"device_id":"relay-1","application_ids":{"application_id":"app1"}},
			"correlation_ids":["as:downlink:01H"],"received_at":"2026-01-01T00:00:00Z","%s":%s}`, field, inner))
	}
	dl := `{"f_port":10,"confirmed":true,"priority":"NORMAL","correlation_ids":["poolhost:cmd:cmd_1","as:downlink:01H"]}`
	tests := []struct {
		body   []byte
		want   sdk.CommandStatus
		reason string
	}{
		{msg("downlink_queued", dl), "", ""},
		{msg("downlink_sent", dl), sdk.CommandDelivered, ""},
		{msg("downlink_ack", dl), sdk.CommandSucceeded, ""},
		// The stack pushes a nacked confirmed downlink again until its retry limit, then
		// reports downlink_failed: a nack is not a failure yet.
		{msg("downlink_nack", dl), sdk.CommandDelivered, "nack"},
		{msg("downlink_failed", `{"downlink":`+dl+`,"error":{"namespace":"pkg/networkserver","name":"application_downlink_too_long","message_format":"application downlink too long"}}`), sdk.CommandFailed, "too long"},
	}
	for _, tt := range tests {
		res, err := a.Webhook(context.Background(), sdk.WebhookRequest{Body: tt.body})
		if err != nil {
			t.Fatal(err)
		}
		if tt.want == "" {
			if len(res.CommandUpdates) != 0 {
				t.Errorf("queued made updates %+v", res.CommandUpdates)
			}
			continue
		}
		if len(res.CommandUpdates) != 1 || res.CommandUpdates[0].CommandID != "cmd_1" || res.CommandUpdates[0].Status != tt.want {
			t.Errorf("updates = %+v, want %s", res.CommandUpdates, tt.want)
		}
		if len(res.Readings) != 0 {
			t.Errorf("readings from a downlink message: %+v", res.Readings)
		}
	}
}

func TestConformanceCommands(t *testing.T) {
	stack := ttntest.NewServer(downlinkKey)
	defer stack.Close()
	a := configured(t, stack)
	pump := sdk.CommandRequest{Account: commandAccount(downlinkKey), ProviderDeviceID: "relay-1", Command: command.PumpSet,
		Params: command.Params{"on": true}, CommandID: "conf"}
	revoked := pump
	revoked.Account = commandAccount("revoked")
	cfg := sdk.ConfigureRequest{Settings: map[string]string{ttn.SettingServerURL: stack.URL, ttn.SettingCommandPorts: "pump.set:10"}}
	for _, r := range sdktest.Checks(t.Context(), sdktest.Direct(a), sdktest.Fixtures{Configure: &cfg, Commands: []sdktest.CommandCase{
		{Name: "accepted", Request: pump, Want: "sent"},
		{Name: "revoked-key", Request: revoked, Want: "unauthorized"},
	}}) {
		if len(r.Check) >= 8 && r.Check[:8] == "commands" && r.Err != nil {
			t.Errorf("%s: %v", r.Check, r.Err)
		}
	}
}
