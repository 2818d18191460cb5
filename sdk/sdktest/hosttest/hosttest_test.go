package hosttest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk/sdktest/hosttest"
	"github.com/poolhost/poolhost/sdk/signature"
)

// repoRoot is this repository's root, where the host module and the generic plugin live.
const repoRoot = "../../.."

// buildFromRepo builds a main package of the host module (this test's only tie to it:
// a `go build` in a subprocess, never an import).
func buildFromRepo(t *testing.T, pkg string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds poolhost and a plugin")
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "host", "cmd", "poolhost")); err != nil {
		t.Skipf("not in the poolhost repository: %v", err)
	}
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, "./"+pkg)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// TestHostInTheLoop drives the real host with the generic plugin (a webhook_secret
// provider) as a provider team would drive theirs: connect, link, signed webhooks, then
// what was stored, what was dropped and why, and what was rejected and why.
func TestHostInTheLoop(t *testing.T) {
	poolhost := os.Getenv(hosttest.BinEnv)
	if poolhost == "" {
		poolhost = buildFromRepo(t, "host/cmd/poolhost")
	}
	h := hosttest.Start(t, hosttest.Config{
		Provider:    "generic",
		Binary:      buildFromRepo(t, "plugins/generic/cmd/poolhost-provider-generic"),
		Webhooks:    true,
		PoolhostBin: poolhost,
	})

	acct := h.Connect(map[string]string{"devices": "probe-1,spa-1", "name": "Backyard"})
	if acct.ID == 0 || acct.WebhookURL == "" || !strings.HasPrefix(acct.WebhookSecret, "whsec_") {
		t.Fatalf("connect answer: %s", acct.Raw)
	}
	devices := h.Discover(acct.ID)
	if len(devices) != 2 {
		t.Fatalf("discovered %v, want probe-1 and spa-1", devices)
	}
	pool := h.CreatePool("Backyard")
	h.Link(devices["probe-1"], pool) // spa-1 stays unlinked

	now := time.Now().UTC().Truncate(time.Second)
	body := []byte(fmt.Sprintf(`[
	  {"device_id": "probe-1", "readings": [
	    {"metric": "ph", "value": 7.4, "recorded_at": %[1]q},
	    {"metric": "ph", "value": 42, "recorded_at": %[1]q}]},
	  {"device_id": "spa-1", "readings": [{"metric": "temperature", "value": 30, "recorded_at": %[1]q}]}
	]`, now.Format(time.RFC3339)))
	sign, err := signature.NewStandardWebhooks(acct.WebhookSecret)
	if err != nil {
		t.Fatal(err)
	}

	// Stored: the good pH. Dropped, with the reason: an absurd pH and an unlinked device.
	ans := h.PostWebhook(acct.WebhookURL, sign.Headers("msg_1", now, body), body)
	if ans.Status != http.StatusOK || ans.Accepted != 1 || ans.Dropped["absurd_value"] != 1 || ans.Dropped["unlinked_device"] != 1 {
		t.Fatalf("signed webhook: %d %s", ans.Status, ans.Body)
	}
	rs := h.Readings(pool)
	if len(rs) != 1 || rs[0].Metric != "ph" || rs[0].Value != 7.4 || !rs[0].RecordedAt.Equal(now) {
		t.Errorf("stored readings: %+v", rs)
	}
	// The same delivery again: nothing new.
	if ans := h.PostWebhook(acct.WebhookURL, sign.Headers("msg_1", now, body), body); ans.Status != http.StatusOK || ans.Accepted != 0 {
		t.Errorf("replayed webhook: %d %s", ans.Status, ans.Body)
	}
	// The audit log keeps each delivery's counts.
	if ev := h.Audit("webhook.received"); len(ev) == 0 || fmt.Sprint(ev[len(ev)-1].Details["accepted"]) != "1" {
		t.Errorf("webhook.received audit: %+v", ev)
	}

	// Rejected, with the plugin's reason: a tampered body, and no signature at all.
	tampered := []byte(strings.Replace(string(body), "7.4", "7.9", 1))
	if ans := h.PostWebhook(acct.WebhookURL, sign.Headers("msg_2", now, body), tampered); ans.Status != http.StatusUnauthorized || !strings.HasSuffix(ans.Problem, "webhook-rejected") {
		t.Errorf("tampered webhook: %d %s", ans.Status, ans.Body)
	}
	if ans := h.PostWebhook(acct.WebhookURL, nil, body); ans.Status != http.StatusUnauthorized {
		t.Errorf("unsigned webhook: %d %s", ans.Status, ans.Body)
	}
	// The audit log says why (its rejection rows are rate-limited per provider, so the
	// second one may be folded into a later summary row).
	if ev := h.Audit("webhook.rejected"); len(ev) == 0 || ev[len(ev)-1].Details["reason_code"] != "bad_signature" {
		t.Errorf("webhook.rejected audit: %+v", ev)
	}
	if rs := h.Readings(pool); len(rs) != 1 {
		t.Errorf("a rejected delivery stored readings: %+v", rs)
	}

	// A photometer's test session: stored as a test session of the pool, its unknown
	// result left out with the host's reason.
	tests := []byte(fmt.Sprintf(`{"device_id": "probe-1", "test_sessions": [{"taken_at": %q, "method": "photometer",
	  "results": [{"metric": "free_chlorine", "value": 1.4, "unit": "mg/L"}, {"metric": "fc", "value": 1.4}]}]}`, now.Format(time.RFC3339)))
	ans = h.PostWebhook(acct.WebhookURL, sign.Headers("msg_3", now, tests), tests)
	if ts := ans.TestSessions; ans.Status != http.StatusOK || ts == nil || ts.Accepted != 1 || ts.ResultsDropped["unknown_metric"] != 1 {
		t.Fatalf("test session webhook: %d %s", ans.Status, ans.Body)
	}
	ss := h.TestSessions(pool)
	if len(ss) != 1 || ss[0].Source != "provider" || ss[0].Method != "photometer" || !ss[0].TakenAt.Equal(now) ||
		len(ss[0].Results) != 1 || ss[0].Results[0].Metric != "free_chlorine" || ss[0].Results[0].Value != 1.4 || ss[0].Results[0].Unit != "ppm" {
		t.Errorf("stored test sessions: %+v", ss)
	}
	// Resent: a duplicate, nothing new.
	if ans := h.PostWebhook(acct.WebhookURL, sign.Headers("msg_4", now, tests), tests); ans.TestSessions == nil || ans.TestSessions.Duplicates != 1 {
		t.Errorf("resent test session: %d %s", ans.Status, ans.Body)
	}
}

// TestCommandThroughHost sends commands through the real host to a plugin that offers
// them (The Things Stack's, pushing downlinks to a fake Application Server that counts
// them): the operator approves pump.set, the owner binds a pump to a linked device and
// sends it with an Idempotency-Key; the dispatcher calls SendCommand once, and the same
// key again is the same command, not a second downlink. A downlink the stack answers
// 503 may have been queued: the command is unknown, and never sent again, not even once
// the stack is back and the device's next command goes out.
func TestCommandThroughHost(t *testing.T) {
	poolhost := os.Getenv(hosttest.BinEnv)
	if poolhost == "" {
		poolhost = buildFromRepo(t, "host/cmd/poolhost")
	}
	var mu sync.Mutex
	pushes := map[string]int{} // by device
	failWith := 0              // the stack's answer to a push, 0 for 200
	stack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const prefix = "/api/v3/as/applications/app-1/webhooks/hook-1/devices/"
		device, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, prefix), "/down/push")
		if r.Method != http.MethodPost || !ok || r.Header.Get("Authorization") != "Bearer NNSXS.key" {
			http.Error(w, "unexpected request", http.StatusNotFound)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		pushes[device]++
		if failWith != 0 {
			w.WriteHeader(failWith)
			return
		}
		w.Write([]byte(`{}`))
	}))
	defer stack.Close()
	count := func(device string) int {
		mu.Lock()
		defer mu.Unlock()
		return pushes[device]
	}

	h := hosttest.Start(t, hosttest.Config{
		Provider:    "ttn",
		Binary:      buildFromRepo(t, "plugins/ttn/cmd/poolhost-provider-ttn"),
		Webhooks:    true,
		Settings:    map[string]string{"server_url": stack.URL, "command_ports": "pump.set:10"},
		Commands:    []string{"pump.set"},
		PoolhostBin: poolhost,
	})
	acct := h.Connect(map[string]string{"devices": "relay-1,relay-2", "application_id": "app-1", "webhook_id": "hook-1", "downlink_api_key": "NNSXS.key"})
	devices := h.Discover(acct.ID)
	pool := h.CreatePool("Backyard")
	h.Link(devices["relay-1"], pool)
	pump := h.CreateEquipment(pool, "pump", "Main pump")

	// Bound to no device yet: refused, nothing sent.
	if ans := h.SendCommand(pool, pump, "pump.set", map[string]any{"on": true}, "k-0"); ans.Status != http.StatusConflict {
		t.Errorf("a command to unbound equipment: %d %s", ans.Status, ans.Body)
	}
	h.Bind(pool, pump, devices["relay-1"], "2")

	ans := h.SendCommand(pool, pump, "pump.set", map[string]any{"on": true}, "k-1")
	if ans.Status != http.StatusAccepted || ans.Command.ID == "" {
		t.Fatalf("send pump.set: %d %s", ans.Status, ans.Body)
	}
	c := h.WaitCommand(pool, ans.Command.ID)
	if c.Status != "sent" || c.ProviderDeviceID != "relay-1" || c.Channel != "2" {
		t.Fatalf("pump.set settled as %s: %s", c.Status, c.Raw)
	}
	if n := count("relay-1"); n != 1 {
		t.Fatalf("the plugin pushed %d downlinks, want 1", n)
	}
	// The same request with the same key: the same command, already sent.
	again := h.SendCommand(pool, pump, "pump.set", map[string]any{"on": true}, "k-1")
	if again.Status != http.StatusOK || again.Command.ID != c.ID || again.Command.Status != "sent" {
		t.Errorf("resent with the same Idempotency-Key: %d %s", again.Status, again.Body)
	}

	// A command the operator did not approve: 403, nothing sent.
	if ans := h.SendCommand(pool, pump, "light.set", map[string]any{"on": true}, "k-2"); ans.Status != http.StatusForbidden || !strings.HasSuffix(ans.Problem, "command-not-approved") {
		t.Errorf("an unapproved command: %d %s", ans.Status, ans.Body)
	}

	// The stack fails mid-push: the downlink may be queued, so the command is unknown,
	// and the host does not try again.
	mu.Lock()
	failWith = http.StatusServiceUnavailable
	mu.Unlock()
	ans = h.SendCommand(pool, pump, "pump.set", map[string]any{"on": false}, "k-3")
	if ans.Status != http.StatusAccepted {
		t.Fatalf("send pump.set off: %d %s", ans.Status, ans.Body)
	}
	if c := h.WaitCommand(pool, ans.Command.ID); c.Status != "unknown" {
		t.Errorf("a push answered 503 settled as %s, want unknown: %s", c.Status, c.Raw)
	}
	if n := count("relay-1"); n != 2 {
		t.Errorf("the plugin pushed %d downlinks, want 2: one each", n)
	}
	// The stack is back: the next command goes out after the unknown one (a device's
	// commands go in order), which is not pushed again.
	mu.Lock()
	failWith = 0
	mu.Unlock()
	ans = h.SendCommand(pool, pump, "pump.set", map[string]any{"on": true}, "k-4")
	if c := h.WaitCommand(pool, ans.Command.ID); c.Status != "sent" {
		t.Errorf("the command after it settled as %s: %s", c.Status, c.Raw)
	}
	if n := count("relay-1"); n != 3 {
		t.Errorf("the plugin pushed %d downlinks, want 3: one each", n)
	}
	if got := h.Audit("command.sent"); len(got) != 2 {
		t.Errorf("command.sent audit rows: %d, want 2", len(got))
	}
	if got := h.Audit("command.unknown"); len(got) != 1 {
		t.Errorf("command.unknown audit rows: %d, want 1", len(got))
	}
}
