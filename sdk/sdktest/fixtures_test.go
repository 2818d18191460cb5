package sdktest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// tokenWriter refreshes an expired access token on discovery and sends pump commands
// to its own device only, as a plugin in another language would at its fake provider.
type tokenWriter struct {
	writer
	refreshes bool // false: it keeps the expired token and hands nothing back
}

func (w tokenWriter) DiscoverDevices(_ context.Context, req sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
	if req.Account.Credentials["access_token"] == "expired" && w.refreshes {
		return sdk.DiscoverResult{RefreshedCredentials: sdk.Credentials{"access_token": "a2", "refresh_token": "r2"}}, nil
	}
	return sdk.DiscoverResult{}, nil
}

func (tokenWriter) SendCommand(_ context.Context, req sdk.CommandRequest) (sdk.CommandResult, error) {
	switch {
	case req.Account.Credentials["access_token"] == "revoked":
		return sdk.CommandResult{}, sdk.Reauth("401")
	case req.ProviderDeviceID != "pump-1":
		return sdk.CommandResult{}, sdk.Permanent("not your device")
	case req.Params["on"] != true || req.Account.ExternalAccountID != "acct-1":
		return sdk.CommandResult{}, sdk.Permanent("bad request %v", req)
	}
	return sdk.CommandResult{Status: sdk.CommandSent}, nil
}

// TestRefreshAndCommandsFixtureFiles: refresh.json and commands.json in a fixture
// directory are the Refresh and Commands fixtures of a plugin in any language
// (`poolhost plugins test --fixtures DIR`); a misspelt key, an unknown outcome or a
// refresh.json naming no call is an error, not a weaker test.
func TestRefreshAndCommandsFixtureFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("refresh.json", `{"discover": {"account": {"id": "1", "external_account_id": "acct-1", "credentials": {"access_token": "expired", "refresh_token": "r1"}}}}`)
	write("commands.json", `[
	  {"name": "pump-accepted", "account": {"id": "1", "external_account_id": "acct-1", "credentials": {"access_token": "a1"}},
	   "provider_device_id": "pump-1", "command": "pump.set", "params": {"on": true}, "command_id": "cmd-1", "want": "sent"},
	  {"name": "pump-other-device", "account": {"id": "1", "external_account_id": "acct-1", "credentials": {"access_token": "a1"}},
	   "provider_device_id": "not-mine", "command": "pump.set", "params": {"on": true}, "command_id": "cmd-2", "want": "permanent"},
	  {"name": "pump-revoked", "account": {"id": "1", "external_account_id": "acct-1", "credentials": {"access_token": "revoked"}},
	   "provider_device_id": "pump-1", "command": "pump.set", "params": {"on": true}, "command_id": "cmd-3", "expires_at": "2026-01-02T03:04:05Z", "want": "unauthorized"}]`)
	fx, err := sdktest.LoadFixtures(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(fx.Commands) != 3 || fx.Commands[2].Request.ExpiresAt.IsZero() || fx.Commands[0].Request.CommandID != "cmd-1" {
		t.Fatalf("commands: %+v", fx.Commands)
	}
	good := tokenWriter{writer: writer{commands: []string{"pump.set"}}, refreshes: true}
	rs := sdktest.Checks(t.Context(), sdktest.Direct(good), fx)
	for _, name := range []string{"refresh-returns-credentials", "commands/pump-accepted", "commands/pump-other-device", "commands/pump-revoked"} {
		if r := result(t, rs, name); r.Err != nil || r.Skipped != "" {
			t.Errorf("%s: %v %s", name, r.Err, r.Skipped)
		}
	}
	// What the files ask is checked: a plugin that keeps the expired token fails.
	stale := good
	stale.refreshes = false
	wantFailure(t, sdktest.Checks(t.Context(), sdktest.Direct(stale), fx), "refresh-returns-credentials", "returned no RefreshedCredentials")

	for _, tc := range []struct{ file, body, want string }{
		{"refresh.json", `{"discover": {"acount": {}}}`, `refresh.json: json: unknown field "acount"`},
		{"refresh.json", `{}`, `refresh.json: set "poll" or "discover"`},
		{"refresh.json", `{"poll": {"account": {}}, "discover": {"account": {}}}`, `refresh.json: set "poll" or "discover", not both`},
		{"commands.json", `[{"name": "a", "comand": "pump.set", "want": "sent"}]`, `commands.json: json: unknown field "comand"`},
		{"commands.json", `[{"name": "a", "command": "pump.set", "want": "accepted"}]`, `commands.json: case "a": want "accepted", not one of sent, delivered`},
		{"commands.json", `[{"command": "pump.set", "want": "sent"}]`, `commands.json: case 0: no name`},
		{"commands.json", `{"name": "a"}`, `commands.json: json: cannot unmarshal object`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := sdktest.LoadFixtures(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadFixtures: %v, want %q", err, tc.want)
			}
		})
	}
}
