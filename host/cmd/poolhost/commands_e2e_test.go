package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poolhost/poolhost/plugins/ttn/ttntest"
)

const e2eDownlinkKey = "NNSXS.E2E-DOWNLINK-KEY"

// withCommands makes dev.hcl's ttn block read-write with pump.set approved, pointed at
// the fake stack, and the dispatcher quick.
func withCommands(stackURL string) func(string) string {
	return func(s string) string {
		re := regexp.MustCompile(`(?s)provider "ttn" \{\n  enabled  = true\n`)
		s = re.ReplaceAllLiteralString(s, fmt.Sprintf(`provider "ttn" {
  enabled  = true
  access   = "read-write"
  commands = ["pump.set"]
  settings = {
    server_url    = %q
    command_ports = "pump.set:10"
  }
`, stackURL))
		return s + "\ncommand_worker {\n  interval        = \"100ms\"\n  device_interval = \"1ms\"\n}\n"
	}
}

// serveAsAdmin serves the built host on a config writeE2EConfig made with edit, waits
// until it is ready, and returns it with an API client acting as an admin made through
// the CLI: the start of every end-to-end test that drives the API.
func serveAsAdmin(t *testing.T, b e2eBuild, edit func(string) string) (e2eConfig, *served, e2eAPI) {
	t.Helper()
	c := writeE2EConfig(t, b, edit)
	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	cliOK(t, b, "users", "create", "--email", "admin@example.com", "--admin", "--config", c.path)
	return c, srv, e2eAPI{t: t, base: c.baseURL, token: cliOK(t, b, "tokens", "create", "--email", "admin@example.com", "--config", c.path)}
}

type e2eAPI struct {
	t     *testing.T
	base  string
	token string
}

func (a e2eAPI) call(method, path string, body any, header map[string]string) (int, []byte) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (a e2eAPI) must(want int, method, path string, body any, out any) {
	a.t.Helper()
	code, b := a.call(method, path, body, nil)
	if code != want {
		a.t.Fatalf("%s %s: %d %s, want %d", method, path, code, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("decode %s: %v", b, err)
		}
	}
}

type ttnAccount struct {
	id            int64
	hookPath      string
	secret        string
	deviceID      int64
	providerDevID string
}

// connectTTN links a TTN account declaring one device, with downlink inputs when
// downlinkKey is set.
func (a e2eAPI) connectTTN(device, downlinkKey string) ttnAccount {
	a.t.Helper()
	input := map[string]string{"devices": device}
	if downlinkKey != "" {
		input["application_id"], input["webhook_id"], input["downlink_api_key"] = "pool-app", "poolhost", downlinkKey
	}
	var conn struct {
		Account struct{ ID int64 } `json:"account"`
		Webhook struct{ URL, Secret string }
	}
	a.must(http.StatusCreated, "POST", "/v1/providers/ttn/connect", map[string]any{"input": input}, &conn)
	var disc struct{ Devices []struct{ ID int64 } }
	a.must(http.StatusOK, "POST", fmt.Sprintf("/v1/accounts/%d/discover", conn.Account.ID), nil, &disc)
	if len(disc.Devices) != 1 {
		a.t.Fatalf("discovered %+v", disc)
	}
	return ttnAccount{id: conn.Account.ID, hookPath: strings.TrimPrefix(conn.Webhook.URL, a.base), secret: conn.Webhook.Secret,
		deviceID: disc.Devices[0].ID, providerDevID: device}
}

// stackMessage posts one message of The Things Stack to an account's webhook URL.
func (a e2eAPI) stackMessage(acct ttnAccount, field, commandID string) {
	a.t.Helper()
	inner := fmt.Sprintf(`{"f_port":10,"confirmed":true,"priority":"NORMAL","correlation_ids":["poolhost:cmd:%s","as:downlink:01HX"]}`, commandID)
	if field == "downlink_failed" {
		inner = `{"downlink":` + inner + `,"error":{"namespace":"pkg/networkserver","name":"device_not_found","message_format":"device not found"}}`
	}
	body := fmt.Sprintf(`{"end_device_ids":{"device_id":%q,"application_ids":{"application_id":"pool-app"}},"correlation_ids":["as:up:01HX%s"],"received_at":%q,%q:%s}`,
		acct.providerDevID, field, time.Now().UTC().Format(time.RFC3339Nano), field, inner)
	req, _ := http.NewRequest("POST", a.base+acct.hookPath, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+acct.secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		a.t.Fatalf("%s webhook: %d", field, resp.StatusCode)
	}
}

type e2eCommand struct {
	ID, Status, Reason string
}

func (a e2eAPI) command(pool int64, id string) e2eCommand {
	a.t.Helper()
	var c e2eCommand
	a.must(http.StatusOK, "GET", fmt.Sprintf("/v1/pools/%d/commands/%s", pool, id), nil, &c)
	return c
}

func (a e2eAPI) waitStatus(pool int64, id string, want ...string) e2eCommand {
	a.t.Helper()
	deadline := time.Now().Add(e2eWait)
	for {
		c := a.command(pool, id)
		if slices.Contains(want, c.Status) {
			return c
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("command %s is %s (%s), want %v", id, c.Status, c.Reason, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func pushesFor(stack *ttntest.Server, commandID string) int {
	n := 0
	for _, p := range stack.Pushes() {
		for _, d := range p.Downlinks {
			if slices.Contains(d.CorrelationIDs, "poolhost:cmd:"+commandID) {
				n++
			}
		}
	}
	return n
}

// TestCommandsEndToEnd drives the built host and the real ttn plugin binary against a
// fake of The Things Stack: a pump switched on end to end, the ownership rule of
// updates, and a plugin SIGKILLed mid-send leaving its command unknown across a restart.
func TestCommandsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every binary; skipped in -short mode")
	}
	b := buildE2E(t)
	stack := ttntest.NewServer(e2eDownlinkKey)
	defer stack.Close()
	c, srv, api := serveAsAdmin(t, b, withCommands(stack.URL))

	var pool struct{ ID int64 }
	api.must(http.StatusCreated, "POST", "/v1/pools", map[string]any{"name": "Backyard"}, &pool)
	mine := api.connectTTN("pump-relay-1", e2eDownlinkKey)
	other := api.connectTTN("other-relay", "") // another account of the same provider
	api.must(http.StatusOK, "PUT", fmt.Sprintf("/v1/devices/%d/link", mine.deviceID), map[string]any{"poolId": pool.ID}, nil)
	var eq struct{ ID int64 }
	api.must(http.StatusCreated, "POST", fmt.Sprintf("/v1/pools/%d/equipment", pool.ID), map[string]any{"kind": "pump", "name": "Main pump"}, &eq)
	api.must(http.StatusOK, "PUT", fmt.Sprintf("/v1/pools/%d/equipment/%d/device", pool.ID, eq.ID), map[string]any{"deviceId": mine.deviceID}, nil)
	commandsPath := fmt.Sprintf("/v1/pools/%d/equipment/%d/commands", pool.ID, eq.ID)

	t.Run("pump switched on end to end", func(t *testing.T) {
		var cmd e2eCommand
		api.must(http.StatusAccepted, "POST", commandsPath, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, &cmd)
		api.waitStatus(pool.ID, cmd.ID, "sent")
		if n := pushesFor(stack, cmd.ID); n != 1 {
			t.Fatalf("pushes for %s = %d, want 1", cmd.ID, n)
		}
		var push ttntest.Push
		for _, p := range stack.Pushes() {
			if slices.Contains(p.Downlinks[0].CorrelationIDs, "poolhost:cmd:"+cmd.ID) {
				push = p
			}
		}
		d := push.Downlinks[0]
		if push.ApplicationID != "pool-app" || push.WebhookID != "poolhost" || push.DeviceID != "pump-relay-1" ||
			d.FPort != 10 || d.DecodedPayload["on"] != true || !d.Confirmed {
			t.Fatalf("push = %+v", push)
		}
		// Another account's downlink_failed naming this command changes nothing.
		api.stackMessage(other, "downlink_failed", cmd.ID)
		if got := api.command(pool.ID, cmd.ID); got.Status != "sent" {
			t.Fatalf("after another account's downlink_failed: %+v", got)
		}
		api.stackMessage(mine, "downlink_sent", cmd.ID)
		api.waitStatus(pool.ID, cmd.ID, "delivered")
		api.stackMessage(mine, "downlink_ack", cmd.ID)
		api.waitStatus(pool.ID, cmd.ID, "succeeded")
		var audit struct {
			Events []struct {
				Action   string
				TargetID string `json:"targetId"`
			}
		}
		api.must(http.StatusOK, "GET", "/v1/admin/audit?limit=1000", nil, &audit)
		seen := map[string]bool{}
		for _, e := range audit.Events {
			if e.TargetID == cmd.ID {
				seen[e.Action] = true
			}
		}
		for _, a := range []string{"command.queued", "command.sending", "command.sent", "command.delivered", "command.succeeded"} {
			if !seen[a] {
				t.Errorf("no %s audit row for %s: %v", a, cmd.ID, seen)
			}
		}
		if n := pushesFor(stack, cmd.ID); n != 1 {
			t.Fatalf("pushes for %s = %d, want exactly 1", cmd.ID, n)
		}
	})

	// The stack pushes a nacked confirmed downlink again until its retry limit and only
	// then reports downlink_failed: a nack followed by the retry's ack is a success.
	t.Run("a nacked downlink the stack retries, then acked, succeeds", func(t *testing.T) {
		var cmd e2eCommand
		api.must(http.StatusAccepted, "POST", commandsPath, map[string]any{"command": "pump.set", "params": map[string]any{"on": false}}, &cmd)
		api.waitStatus(pool.ID, cmd.ID, "sent")
		api.stackMessage(mine, "downlink_sent", cmd.ID)
		api.waitStatus(pool.ID, cmd.ID, "delivered")
		api.stackMessage(mine, "downlink_nack", cmd.ID)
		if got := api.command(pool.ID, cmd.ID); got.Status != "delivered" {
			t.Fatalf("after a nack: %+v, want still delivered (the stack retries)", got)
		}
		api.stackMessage(mine, "downlink_ack", cmd.ID)
		api.waitStatus(pool.ID, cmd.ID, "succeeded")
	})

	t.Run("dry run sends nothing, Idempotency-Key sends once, an unapproved command is refused and audited", func(t *testing.T) {
		before := len(stack.Pushes())
		code, body := api.call("POST", commandsPath+"?dryRun=true", map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, nil)
		if code != http.StatusOK || !strings.Contains(string(body), `"dryRun":true`) {
			t.Fatalf("dry run: %d %s", code, body)
		}
		key := map[string]string{"Idempotency-Key": "e2e-once"}
		code, body = api.call("POST", commandsPath, map[string]any{"command": "pump.set", "params": map[string]any{"on": false}}, key)
		var first e2eCommand
		if code != http.StatusAccepted || json.Unmarshal(body, &first) != nil {
			t.Fatalf("first: %d %s", code, body)
		}
		code, body = api.call("POST", commandsPath, map[string]any{"command": "pump.set", "params": map[string]any{"on": false}}, key)
		var again e2eCommand
		if code != http.StatusOK || json.Unmarshal(body, &again) != nil || again.ID != first.ID {
			t.Fatalf("same key: %d %s", code, body)
		}
		if code, body := api.call("POST", commandsPath, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, key); code != http.StatusUnprocessableEntity {
			t.Fatalf("same key, other body: %d %s", code, body)
		}
		code, body = api.call("POST", commandsPath, map[string]any{"command": "light.set", "params": map[string]any{"on": true}}, nil)
		if code != http.StatusForbidden || !strings.Contains(string(body), "command-not-approved") {
			t.Fatalf("unapproved: %d %s", code, body)
		}
		api.waitStatus(pool.ID, first.ID, "sent")
		if n := len(stack.Pushes()) - before; n != 1 {
			t.Fatalf("pushes = %d, want 1 (dry run none, the idempotent pair one)", n)
		}
		var audit struct{ Events []struct{ Action string } }
		api.must(http.StatusOK, "GET", "/v1/admin/audit?action=command.refused", nil, &audit)
		if len(audit.Events) != 1 {
			t.Fatalf("command.refused rows = %d, want 1", len(audit.Events))
		}
	})

	// The stack is webhook-only: the downlink key is the one credential the host ever
	// presents, so its 401 must surface on the account as a refused OAuth grant does.
	t.Run("a revoked downlink key marks the account reauth_required", func(t *testing.T) {
		revoked := api.connectTTN("pump-relay-2", "NNSXS.REVOKED-KEY") // a key the stack no longer knows
		api.must(http.StatusOK, "PUT", fmt.Sprintf("/v1/devices/%d/link", revoked.deviceID), map[string]any{"poolId": pool.ID}, nil)
		var eq struct{ ID int64 }
		api.must(http.StatusCreated, "POST", fmt.Sprintf("/v1/pools/%d/equipment", pool.ID), map[string]any{"kind": "pump", "name": "Spa pump"}, &eq)
		api.must(http.StatusOK, "PUT", fmt.Sprintf("/v1/pools/%d/equipment/%d/device", pool.ID, eq.ID), map[string]any{"deviceId": revoked.deviceID}, nil)
		commandsPath := fmt.Sprintf("/v1/pools/%d/equipment/%d/commands", pool.ID, eq.ID)
		var cmd e2eCommand
		api.must(http.StatusAccepted, "POST", commandsPath, map[string]any{"command": "pump.set", "params": map[string]any{"on": false}}, &cmd)
		got := api.waitStatus(pool.ID, cmd.ID, "failed")
		if !strings.Contains(got.Reason, "unauthorized") {
			t.Errorf("reason = %q, want unauthorized", got.Reason)
		}
		var acct struct{ Status string }
		api.must(http.StatusOK, "GET", fmt.Sprintf("/v1/accounts/%d", revoked.id), nil, &acct)
		if acct.Status != "reauth_required" {
			t.Fatalf("account status = %q, want reauth_required", acct.Status)
		}
		var audit struct {
			Events []struct {
				TargetID string `json:"targetId"`
			}
		}
		api.must(http.StatusOK, "GET", "/v1/admin/audit?action=integration.reauth_required", nil, &audit)
		if len(audit.Events) != 1 || audit.Events[0].TargetID != fmt.Sprint(revoked.id) {
			t.Fatalf("integration.reauth_required rows = %+v, want one for account %d", audit.Events, revoked.id)
		}
		// The next command fails before any send: the account waits for a reconnect.
		var next e2eCommand
		api.must(http.StatusAccepted, "POST", commandsPath, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, &next)
		if got := api.waitStatus(pool.ID, next.ID, "failed"); !strings.Contains(got.Reason, "reauth_required") {
			t.Fatalf("next command = %+v, want failed on a reauth_required account", got)
		}
	})

	t.Run("plugin SIGKILLed during SendCommand: unknown, never resent across a restart", func(t *testing.T) {
		release := stack.Hold()
		defer release()
		var cmd e2eCommand
		api.must(http.StatusAccepted, "POST", commandsPath, map[string]any{"command": "pump.set", "params": map[string]any{"on": false}}, &cmd)
		waitFor(t, "the stack to receive the push", func() bool { return pushesFor(stack, cmd.ID) == 1 })
		killed := 0
		for _, p := range pluginProcesses(t, b.pluginDir) {
			pid, name, _ := strings.Cut(p, " ")
			if name == "poolhost-provider-ttn" {
				var n int
				fmt.Sscan(pid, &n)
				if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed++
			}
		}
		if killed != 1 {
			t.Fatalf("killed %d ttn plugin processes", killed)
		}
		got := api.waitStatus(pool.ID, cmd.ID, "unknown", "sent")
		if got.Status != "unknown" {
			t.Fatalf("status after SIGKILL = %+v, want unknown", got)
		}
		release()

		// Restart the host: nothing is resent.
		if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := srv.wait(t); code != 0 {
			t.Fatalf("serve exited %d", code)
		}
		srv = startServe(t, b, c)
		waitHTTP(t, srv, c.baseURL+"/readyz", "")
		// A later command goes through, so the dispatcher has ticked past the unknown one.
		var next e2eCommand
		api.must(http.StatusAccepted, "POST", commandsPath, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}, &next)
		api.waitStatus(pool.ID, next.ID, "sent")
		if got := api.command(pool.ID, cmd.ID); got.Status != "unknown" {
			t.Fatalf("after restart: %+v", got)
		}
		if n := pushesFor(stack, cmd.ID); n != 1 {
			t.Fatalf("pushes of the unknown command = %d, want 1 (never resent)", n)
		}
	})
}
