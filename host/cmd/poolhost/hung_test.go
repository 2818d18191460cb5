package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHungPluginInHost: the generic plugin stopped with SIGSTOP in a real host is seen
// as unresponsive on /readyz and the providers API within seconds (health_interval +
// health_timeout, 4 s with examples/dev.hcl), a webhook meanwhile is answered 503 with
// Retry-After at once instead of after its deadline, and the plugin is killed,
// restarted and the restart audited with the reason.
func TestHungPluginInHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary; skipped in -short mode")
	}
	b := buildE2E(t)
	c := writeE2EConfig(t, b, nil)
	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	base := c.baseURL

	cliOK(t, b, "users", "create", "--email", "admin@example.com", "--admin", "--config", c.path)
	cliOK(t, b, "users", "create", "--email", "ana@example.com", "--config", c.path)
	admin := cliOK(t, b, "tokens", "create", "--email", "admin@example.com", "--config", c.path)
	user := cliOK(t, b, "tokens", "create", "--email", "ana@example.com", "--config", c.path)
	status, body := postJSON(t, base+"/v1/providers/generic/connect", user, map[string]any{"input": map[string]string{"devices": "pool-probe-1"}})
	if status != http.StatusCreated && status != http.StatusOK {
		t.Fatalf("connect generic: %d %s", status, body)
	}
	var conn struct{ Webhook struct{ URL, Secret string } }
	if err := json.Unmarshal(body, &conn); err != nil || conn.Webhook.URL == "" {
		t.Fatalf("connect answer %s: %v", body, err)
	}
	deliver := func(i int) (*http.Response, time.Duration) {
		t.Helper()
		id, ts := fmt.Sprintf("msg_hung_%d", i), strconv.FormatInt(time.Now().Unix(), 10)
		payload := []byte(`{"device_id":"pool-probe-1","readings":[{"metric":"ph","value":7.2,"recorded_at":"` + time.Now().UTC().Format(time.RFC3339) + `"}]}`)
		req, _ := http.NewRequest(http.MethodPost, conn.Webhook.URL, bytes.NewReader(payload))
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", ts)
		req.Header.Set("webhook-signature", signStandard(t, conn.Webhook.Secret, id, ts, payload))
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp, time.Since(start)
	}
	if resp, _ := deliver(0); resp.StatusCode != http.StatusOK {
		t.Fatalf("a delivery to the running plugin: %d", resp.StatusCode)
	}

	type provider struct {
		ID, State, LastError string
		PID                  int
	}
	generic := func() provider {
		t.Helper()
		status, body := get(t, base+"/v1/admin/providers", admin)
		if status != http.StatusOK {
			t.Fatalf("providers: %d %s", status, body)
		}
		var out struct{ Providers []provider }
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("providers %s: %v", body, err)
		}
		for _, p := range out.Providers {
			if p.ID == "generic" {
				return p
			}
		}
		t.Fatalf("no generic provider in %s", body)
		return provider{}
	}
	first := generic()
	if first.State != "running" || first.PID == 0 {
		t.Fatalf("generic before: %+v", first)
	}
	t.Cleanup(func() { _ = syscall.Kill(first.PID, syscall.SIGCONT) })
	if err := syscall.Kill(first.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	readyz := func() (int, string) {
		status, body, err := tryGet(base+"/readyz", "")
		if err != nil {
			t.Fatal(err)
		}
		var r struct{ Providers map[string]string }
		_ = json.Unmarshal(body, &r)
		return status, r.Providers["generic"]
	}
	deadline := time.Now().Add(e2eWait)
	for {
		if _, state := readyz(); state == "unresponsive" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("generic not reported unresponsive on /readyz within %v", e2eWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// 4 s with the example's settings; logged rather than asserted, so that a loaded
	// box cannot fail the test — the supervisor's logic is what is under test.
	t.Logf("/readyz says unresponsive %v after SIGSTOP", time.Since(stopped).Round(time.Millisecond))
	if code, _ := readyz(); code != http.StatusOK {
		t.Errorf("/readyz answers %d while one plugin is unresponsive, want 200 (degraded)", code)
	}
	// The providers API agrees (unless the grace is already over and it restarts).
	if p := generic(); p.State == "running" && p.PID == first.PID {
		t.Errorf("the providers API says %+v while /readyz says unresponsive", p)
	}

	// A delivery now: refused before the plugin is asked, so it does not wait out the
	// webhook deadline (verify_webhook + webhook, 7 s by default).
	resp, took := deliver(1)
	t.Logf("a webhook to the unresponsive plugin answered %d in %v", resp.StatusCode, took.Round(time.Millisecond))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a webhook while the plugin is unresponsive: %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if took >= 7*time.Second {
		t.Errorf("the webhook waited %v: the plugin's deadline, not a refusal", took)
	}

	deadline = time.Now().Add(e2eWait)
	for {
		p := generic()
		if p.State == "running" && p.PID != first.PID && p.PID != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("generic not restarted within %v: %+v", e2eWait, p)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp, _ := deliver(2); resp.StatusCode != http.StatusOK {
		t.Errorf("a delivery to the restarted plugin: %d", resp.StatusCode)
	}
	status, body = get(t, base+"/v1/admin/audit?action=plugin.restarted", admin)
	if status != http.StatusOK || !strings.Contains(string(body), `"provider":"generic"`) || !strings.Contains(string(body), "unresponsive") ||
		!strings.Contains(string(body), `"actor":"system:supervisor"`) {
		t.Errorf("the restart's audit row: %d %s", status, body)
	}
}
