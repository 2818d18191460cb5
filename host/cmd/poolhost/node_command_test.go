package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNodeSendCommand: a Node.js plugin on @poolhost/plugin sends commands, and each
// outcome reaches the host as adapter.proto's SendCommand contract says: accepted; a
// refusal the plugin is sure of inside the response (permanent, reauth, temporary with
// its Retry-After); outcomeUnknown as a status. The package served no SendCommand
// before: a Node plugin declaring write answered UNIMPLEMENTED to every command.
func TestNodeSendCommand(t *testing.T) {
	needNode(t)
	root := t.TempDir()
	for _, dir := range []string{"sdk/node", "sdk/proto"} {
		copyTree(t, filepath.Join(repoRoot, dir), filepath.Join(root, dir))
	}
	npm(t, filepath.Join(root, "sdk", "node"), "ci")
	fixtures := t.TempDir()
	if err := os.WriteFile(filepath.Join(fixtures, "configure.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	type acct struct {
		ID          string            `json:"id"`
		External    string            `json:"external_account_id"`
		Credentials map[string]string `json:"credentials"`
	}
	var cases []map[string]any
	for _, c := range []struct{ name, device, key, want string }{
		{"accepted", "pump-1", "key-1", "sent"},
		{"other-device", "pump-9", "key-1", "permanent"},
		{"revoked-key", "pump-1", "revoked", "unauthorized"},
		{"quota", "pump-busy", "key-1", "temporary"},
		{"gateway", "pump-5xx", "key-1", "unknown"},
	} {
		cases = append(cases, map[string]any{"name": c.name, "account": acct{"1", "acct-1", map[string]string{"api_key": c.key}},
			"provider_device_id": c.device, "command": "pump.set", "params": map[string]any{"on": true},
			"command_id": "cmd-" + c.name, "want": c.want})
	}
	b, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fixtures, "commands.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := runPluginsTest(t.Context(), filepath.Join(root, "sdk", "node", "test", "command-plugin"), fixtures, "", &out, &errOut)
	if code != 0 || strings.Contains(out.String(), "FAIL") {
		t.Fatalf("plugins test exited %d\n%s\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"ok    commands/declared: 1 command(s)", "ok    commands/accepted: sent",
		"ok    commands/other-device: permanent", "ok    commands/revoked-key: unauthorized",
		"ok    commands/quota: temporary", "ok    commands/gateway: unknown"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plugins test output lacks %q:\n%s", want, out.String())
		}
	}
}
