package template_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/command"
)

// TestSendCommand: one command reaches Acme once, with the host's id as client_ref; an
// expired token is refreshed on the way and handed back; a 5xx is an unknown outcome.
func TestSendCommand(t *testing.T) {
	c, fake := setup(t)
	acct := linkedAccount(t, c, fake)
	fake.ExpireAccessTokens()
	req := sdk.CommandRequest{Account: acct, ProviderDeviceID: "dev-1", Command: command.PumpSet,
		Params: command.Params{"on": true, "speed_percent": 60.0}, CommandID: "cmd_1"}
	res, err := c.SendCommand(t.Context(), req)
	if err != nil || res.Status != sdk.CommandSent || res.ProviderRef == "" || res.RefreshedCredentials == nil {
		t.Fatalf("send = %+v, %v", res, err)
	}
	cs := fake.Commands()
	if len(cs) != 1 || cs[0].DeviceID != "dev-1" || cs[0].ClientRef != "cmd_1" || cs[0].Params["speed_percent"] != 60.0 {
		t.Fatalf("acme got %+v", cs)
	}
	req.Account.Credentials = res.RefreshedCredentials
	fake.FailNext(http.StatusBadGateway)
	if _, err := c.SendCommand(t.Context(), req); !sdk.IsOutcomeUnknown(err) {
		t.Fatalf("502 = %v, want outcome unknown", err)
	}
	fake.FailNext(http.StatusTooManyRequests)
	if _, err := c.SendCommand(t.Context(), req); !sdk.IsKind(err, sdk.KindTemporary) || sdk.IsOutcomeUnknown(err) {
		t.Fatalf("429 = %v, want temporary", err)
	}
	// Acme's Retry-After, an HTTP date here, holds the command's next try.
	fake.SetRetryAfter(time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat))
	fake.FailNext(http.StatusTooManyRequests)
	if _, err := c.SendCommand(t.Context(), req); sdk.RetryAfterOf(err) < 110*time.Second || sdk.RetryAfterOf(err) > 2*time.Minute {
		t.Fatalf("429 with Retry-After 2 minutes ahead = %v, RetryAfterOf %v", err, sdk.RetryAfterOf(err))
	}
}
