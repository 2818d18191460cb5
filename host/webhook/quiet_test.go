package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/webhook"
)

// A signed delivery without readings (a heartbeat, an event type the plugin ignores) is
// still a webhook received: 200, and exactly one audit row saying nothing was stored.
func TestEmptyDeliveryIsAudited(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnv(t, eng, nil)
			path := fmt.Sprintf("/v1/webhooks/generic/accounts/%d", e.mine.Account.ID)
			r := e.signed(t, path, accountSecret, "msg_empty", genericBody("probe"))
			if r.status != http.StatusOK || num(r.body["accepted"]) != 0 {
				t.Fatalf("empty delivery: %d %v, want 200 accepted 0", r.status, r.body)
			}
			evs := ingesttest.Audit(t, e.s, webhook.ActionReceived)
			if len(evs) != 1 {
				t.Fatalf("%d %s audit rows, want 1", len(evs), webhook.ActionReceived)
			}
			if d := evs[0].Details; num(d["accepted"]) != 0 || num(d["readings"]) != 0 || d["delivery_id"] != "msg_empty" {
				t.Fatalf("audit details %v, want 0 readings, 0 accepted, delivery msg_empty", d)
			}
			if n := ingesttest.CountReadings(t, e.s); n != 0 {
				t.Fatalf("%d readings stored", n)
			}
		})
	}
}

// A time the payload gives is a time, even 0001-01-01T00:00:00Z (the zero time.Time):
// it is judged, and dropped as too far in the past, never stamped at receipt like a
// reading that has no time.
func TestExplicitZeroTimeIsNotNoTime(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnv(t, eng, nil)
			path := fmt.Sprintf("/v1/webhooks/generic/accounts/%d", e.mine.Account.ID)
			before := time.Now().Add(-time.Second)
			r := e.signed(t, path, accountSecret, "msg_times", genericBody("probe",
				`{"metric": "ph", "value": 7.2, "recorded_at": "0001-01-01T00:00:00Z"}`,
				`{"metric": "orp", "value": 700}`))
			if r.status != http.StatusOK || num(r.body["accepted"]) != 1 {
				t.Fatalf("answer %d %v, want 200 with 1 accepted", r.status, r.body)
			}
			dropped, _ := r.body["dropped"].(map[string]any)
			if num(dropped[ingest.DropTooOld]) != 1 {
				t.Fatalf("dropped %v, want one %s", r.body["dropped"], ingest.DropTooOld)
			}
			var metric string
			var at time.Time
			row := e.s.DB().QueryRowContext(context.Background(), `SELECT metric, recorded_at FROM sensor_readings`)
			if err := row.Scan(&metric, &at); err != nil {
				t.Fatal(err)
			}
			if metric != "orp" || at.Before(before) || at.After(time.Now()) {
				t.Fatalf("stored %s at %v, want orp at the receipt time", metric, at)
			}
		})
	}
}
