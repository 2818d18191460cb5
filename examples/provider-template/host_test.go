package template_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	template "github.com/poolhost/poolhost/examples/provider-template"
	"github.com/poolhost/poolhost/examples/provider-template/acmetest"
	"github.com/poolhost/poolhost/sdk/sdktest"
	"github.com/poolhost/poolhost/sdk/sdktest/hosttest"
)

// TestInHost runs the plugin inside the real poolhost (sdktest/hosttest) against the
// fake Acme: a user connects through OAuth2, links a device to a pool, Acme posts a
// signed webhook to the provider-level URL, and the host polls Acme's API. It asserts
// what was stored and what was dropped and why. The host binary comes from POOLHOST_BIN or PATH; in this repository
// it is built from the checkout when neither is set.
func TestInHost(t *testing.T) {
	fake := acmetest.NewServer()
	defer fake.Close()
	h := hosttest.Start(t, hosttest.Config{
		Provider:    template.ID,
		Binary:      sdktest.BuildBinary(t, "./cmd/poolhost-provider-template"),
		Settings:    map[string]string{template.SettingBaseURL: fake.URL, template.SettingClientID: acmetest.ClientID},
		Secrets:     map[string]string{template.SecretClientSecret: acmetest.ClientSecret, template.SecretWebhookSecret: acmetest.WebhookSecret},
		Webhooks:    true,
		PoolhostBin: poolhostFromCheckout(t),
	})

	acct := h.Connect(nil)
	accountID := h.Authorize(acct)
	devices := h.Discover(accountID)
	pool := h.CreatePool("Backyard")
	h.Link(devices["dev-1"], pool)

	now := time.Now().UTC().Truncate(time.Second)
	body := acmetest.ReadingsEvent("dev-1",
		acmetest.Reading{Type: "ph", Value: 7.2, MeasuredAt: now},
		acmetest.Reading{Type: "ph", Value: 7.3, MeasuredAt: now.AddDate(-1, 0, 0)}, // older than ingest.max_past_age
	)
	headers, err := acmetest.SignWebhook(acmetest.WebhookSecret, "msg_host_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	ans := h.PostWebhook(h.URL+"/v1/webhooks/"+template.ID, headers, body)
	if ans.Status != http.StatusOK || ans.Accepted != 1 || ans.Dropped["too_old"] != 1 {
		t.Fatalf("signed webhook: %d %s", ans.Status, ans.Body)
	}
	if rs := h.Readings(pool); len(rs) != 1 || rs[0].Metric != "ph" || rs[0].Value != 7.2 {
		t.Errorf("stored readings: %+v", rs)
	}
	// Signed with another secret: rejected, nothing stored, and the audit log says why.
	forged, _ := acmetest.SignWebhook("whsec_"+"QUJDREVGR0hJSktMTU5PUFFSU1RVVldY", "msg_host_2", now, body)
	if ans := h.PostWebhook(h.URL+"/v1/webhooks/"+template.ID, forged, body); ans.Status != http.StatusUnauthorized {
		t.Errorf("forged webhook: %d %s", ans.Status, ans.Body)
	}
	if ev := h.Audit("webhook.rejected"); len(ev) == 0 || ev[0].Details["reason_code"] != "bad_signature" {
		t.Errorf("webhook.rejected audit: %+v", ev)
	}

	// The poll path: a new measure in Acme's API, polling turned on once the device is
	// linked (so the first poll is not spent before the link), and the polled reading
	// stored beside the webhook's. Acme's own older readings are past the host's window.
	fake.AddReading("dev-1", acmetest.Reading{Type: "orp", Value: 701, Unit: "mV", MeasuredAt: now.Add(-time.Minute)})
	h.StartPolling()
	var polled bool
	for _, r := range h.WaitReadings(pool, 2) {
		polled = polled || (r.Metric == "orp" && r.Value == 701)
	}
	if !polled {
		t.Errorf("the polled orp reading is not stored: %+v", h.Readings(pool))
	}
}

// poolhostFromCheckout builds poolhost from this repository when POOLHOST_BIN is not
// set. Out of the repository (a copy made by `poolhost plugins new`), return "" and let
// hosttest find poolhost on POOLHOST_BIN or PATH, or skip.
func poolhostFromCheckout(t *testing.T) string {
	t.Helper()
	if os.Getenv(hosttest.BinEnv) != "" || testing.Short() {
		return ""
	}
	if _, err := os.Stat("../../host/cmd/poolhost"); err != nil {
		return ""
	}
	bin := filepath.Join(t.TempDir(), "poolhost")
	cmd := exec.Command("go", "build", "-o", bin, "./host/cmd/poolhost")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build poolhost: %v\n%s", err, out)
	}
	return bin
}
