package webhook_test

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/webhook"
)

// The device-id oracle: on one's own account URL, naming another user's device id
// answered dropped {"foreign_device": 1}, and an id nobody has {"unknown_device": 1} — so
// one account's secret was enough to learn which serial numbers other users own. Both
// now answer the same bytes; operators still tell them apart in the audit trail and the
// dropped-readings metric.
func TestForeignAndUnknownDeviceAnswerAlike(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnv(t, eng, nil)
			url := fmt.Sprintf("/v1/webhooks/generic/accounts/%d", e.mine.Account.ID)
			at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second).Format(time.RFC3339)
			body := func(device string) []byte {
				// A reading and a water test: both carry a device drop reason.
				return []byte(fmt.Sprintf(`{"device_id": %q,
					"readings": [{"metric": "orp", "value": 710, "recorded_at": %q}],
					"test_sessions": [{"taken_at": %q, "method": "strips", "results": [{"metric": "ph", "value": 7.2}]}]}`,
					device, at, at))
			}

			foreign := e.signed(t, url, accountSecret, "msg_foreign", body("theirs")) // "other"'s linked device
			unknown := e.signed(t, url, accountSecret, "msg_unknown", body("nobody-has-this"))
			if foreign.status != http.StatusOK || unknown.status != http.StatusOK {
				t.Fatalf("statuses %d and %d, want 200 both", foreign.status, unknown.status)
			}
			if !reflect.DeepEqual(foreign.body, unknown.body) {
				t.Fatalf("a foreign device answers %v, an unknown one %v; want the same answer", foreign.body, unknown.body)
			}
			if num(droppedOf(foreign)[ingest.DropUnknownDevice]) != 1 || droppedOf(foreign)[ingest.DropForeignDevice] != nil {
				t.Fatalf("answer %v, want the reading dropped as %s", foreign.body, ingest.DropUnknownDevice)
			}
			ts, _ := foreign.body["testSessions"].(map[string]any)
			tsDropped, _ := ts["dropped"].(map[string]any)
			if num(tsDropped[ingest.DropUnknownDevice]) != 1 || tsDropped[ingest.DropForeignDevice] != nil {
				t.Fatalf("test sessions answer %v, want the session dropped as %s", ts, ingest.DropUnknownDevice)
			}

			// Operators still see what happened.
			evs := ingesttest.Audit(t, e.s, webhook.ActionReceived)
			reasons := map[string]bool{}
			for _, ev := range evs {
				d, _ := ev.Details["dropped"].(map[string]any)
				for r := range d {
					reasons[r] = true
				}
			}
			if !reasons[ingest.DropForeignDevice] || !reasons[ingest.DropUnknownDevice] {
				t.Fatalf("audited drop reasons %v, want both %s and %s", reasons, ingest.DropForeignDevice, ingest.DropUnknownDevice)
			}
			if dropped(t, e.reg, ingest.DropForeignDevice) != 1 || dropped(t, e.reg, ingest.DropUnknownDevice) != 1 {
				t.Fatalf("dropped metric foreign %v, unknown %v; want 1 each",
					dropped(t, e.reg, ingest.DropForeignDevice), dropped(t, e.reg, ingest.DropUnknownDevice))
			}
		})
	}
}

// dropped reads poolhost_readings_dropped_total{provider="generic",reason}.
func dropped(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "poolhost_readings_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["provider"] == "generic" && labels["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
