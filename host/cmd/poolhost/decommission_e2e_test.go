package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDecommissionEndToEnd: on a served host (examples/dev.hcl), an operator sets
// generic's enabled = false and sends SIGHUP. Ana's generic account stays hers: listed
// with providerState "disabled", readable; its discovery is 409 provider-disabled, its
// webhook URL refuses deliveries, Bob cannot see it; she disconnects it (204), which
// is audited saying the provider-side registration could not be removed.
func TestDecommissionEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary; skipped in -short mode")
	}
	b := buildE2E(t)
	c := writeE2EConfig(t, b, nil)
	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	cliOK(t, b, "users", "create", "--email", "ops@example.com", "--admin", "--config", c.path)
	cliOK(t, b, "users", "create", "--email", "ana@example.com", "--config", c.path)
	cliOK(t, b, "users", "create", "--email", "bob@example.com", "--config", c.path)
	admin := cliOK(t, b, "tokens", "create", "--email", "ops@example.com", "--config", c.path)
	ana := cliOK(t, b, "tokens", "create", "--email", "ana@example.com", "--config", c.path)
	bob := cliOK(t, b, "tokens", "create", "--email", "bob@example.com", "--config", c.path)

	status, body := postJSON(t, c.baseURL+"/v1/providers/generic/connect", ana, map[string]any{"input": map[string]string{"devices": "probe-1"}})
	var conn struct {
		Account struct{ ID int64 } `json:"account"`
		Webhook struct{ URL, Secret string }
	}
	if status != http.StatusCreated || json.Unmarshal(body, &conn) != nil || conn.Webhook.URL == "" {
		t.Fatalf("connect generic: %d %s", status, body)
	}
	accURL := fmt.Sprintf("%s/v1/accounts/%d", c.baseURL, conn.Account.ID)

	// The operator disables generic and reloads.
	text, err := os.ReadFile(c.path)
	if err != nil {
		t.Fatal(err)
	}
	block := "provider \"generic\" {\n  enabled  = true\n"
	if !strings.Contains(string(text), block) {
		t.Fatalf("examples/dev.hcl no longer opens generic's block with %q", block)
	}
	writeTestFile(t, c.path, strings.Replace(string(text), block, "provider \"generic\" {\n  enabled  = false\n", 1))
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var one struct {
		ID            int64  `json:"id"`
		ProviderState string `json:"providerState"`
		WebhookURL    string `json:"webhookUrl"`
	}
	for deadline := time.Now().Add(e2eWait); ; time.Sleep(100 * time.Millisecond) {
		status, body = get(t, accURL, ana)
		one.WebhookURL = "" // omitted once disabled: an earlier read's must not stay
		if status != http.StatusOK || json.Unmarshal(body, &one) != nil {
			t.Fatalf("GET her account: %d %s", status, body)
		}
		if one.ProviderState == "disabled" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP her account still reads %s", body)
		}
	}
	if one.ID != conn.Account.ID || one.WebhookURL != "" {
		t.Errorf("her account of the disabled provider: %+v, want it without a webhook URL", one)
	}
	status, body = get(t, c.baseURL+"/v1/accounts", ana)
	if status != http.StatusOK || !strings.Contains(string(body), `"providerState":"disabled"`) {
		t.Errorf("GET /v1/accounts: %d %s, want her account marked disabled", status, body)
	}
	if status, body = get(t, accURL, bob); status != http.StatusNotFound {
		t.Errorf("Bob reads her account: %d %s", status, body)
	}
	if r := sweepDo(t, http.MethodPost, accURL+"/discover", ana, nil, nil); r.status != http.StatusConflict || !bytes.Contains(r.body, []byte("/provider-disabled")) {
		t.Errorf("discover: %d %s, want 409 provider-disabled", r.status, r.body)
	}
	// While the reload is still stopping the plugin, a delivery is 503 (retry later, so
	// nothing is lost); once it has, the provider's routes answer as for an unknown one.
	for deadline := time.Now().Add(e2eWait); ; time.Sleep(100 * time.Millisecond) {
		status, _ = postJSON(t, conn.Webhook.URL, "", map[string]any{"device": "probe-1"})
		if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
	}
	if status != http.StatusNotFound {
		t.Errorf("a delivery to her account URL while disabled: %d, want 404", status)
	}

	if r := sweepDo(t, http.MethodDelete, accURL, bob, nil, nil); r.status != http.StatusNotFound {
		t.Errorf("Bob disconnects her account: %d %s", r.status, r.body)
	}
	if r := sweepDo(t, http.MethodDelete, accURL, ana, nil, nil); r.status != http.StatusNoContent {
		t.Fatalf("she disconnects it: %d %s", r.status, r.body)
	}
	if status, _ = get(t, accURL, ana); status != http.StatusNotFound {
		t.Errorf("GET after disconnect: %d", status)
	}
	status, body = get(t, c.baseURL+"/v1/admin/audit?action=integration.disconnected", admin)
	var page struct {
		Events []struct {
			Details map[string]any `json:"details"`
		}
	}
	if status != http.StatusOK || json.Unmarshal(body, &page) != nil || len(page.Events) != 1 {
		t.Fatalf("audit: %d %s", status, body)
	}
	d := page.Events[0].Details
	if d["providerState"] != "disabled" || !strings.Contains(fmt.Sprint(d["unsubscribeError"]), "could not be removed") {
		t.Errorf("audit details %v, want providerState disabled and an unsubscribeError saying so", d)
	}
	if bytes.Contains(body, []byte(conn.Webhook.Secret)) {
		t.Error("the audit row holds the account's secret")
	}

	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := srv.wait(t); code != 0 {
		t.Errorf("serve exited %d", code)
	}
}
