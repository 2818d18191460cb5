package webhook_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/store"
)

// A plugin answering more than the host accepts — 10,001 readings, a 1 MiB raw
// payload, a 1 MiB delivery id, a 20 MiB message — has its answer refused as permanent:
// the delivery is dead-lettered with its (small) raw request and the cap it broke, and
// nothing the plugin said is stored. Through the real faulty plugin binary, over real
// HTTP, on both engines, with the default caps.
func TestOversizedPluginAnswerIsStoredNowhere(t *testing.T) {
	at := `"recorded_at": %q`
	tests := []struct {
		name, body, want string
	}{
		{"10,001 readings", `{"device_id": "probe", "repeat": 10001, "readings": [{"metric": "ph", "value": "7.1", ` + at + `}]}`,
			"10001 readings exceed plugins.max_readings_per_call (10000)"},
		{"1 MiB raw payload", `{"device_id": "probe", "readings": [{"metric": "ph", "value": "7.1", "raw_bytes": 1048576, ` + at + `}]}`,
			"raw_payload of 1048576 bytes, over plugins.max_raw_payload_bytes (65536)"},
		{"1 MiB delivery id", `{"device_id": "probe", "delivery_id_bytes": 1048576, "readings": [{"metric": "ph", "value": "7.1", ` + at + `}]}`,
			"delivery id of 1048576 bytes exceeds plugins.max_delivery_id_bytes (256)"},
		{"1 KiB provider account id", `{"device_id": "probe", "account": "` + strings.Repeat("a", 1024) + `", "readings": [{"metric": "ph", "value": "7.1", ` + at + `}]}`,
			"provider account id of 1024 bytes"},
		// Each update is a lookup: 45,000 command ids in a 1 MB delivery were seconds of work.
		{"1,000 command updates", `{"device_id": "probe", "command_updates": 1000, "readings": [{"metric": "ph", "value": "7.1", ` + at + `}]}`,
			"1000 command updates exceed 100 per answer"},
		{"long metric", `{"device_id": "probe", "readings": [{"metric": "` + strings.Repeat("m", 65) + `", "value": "7.1", ` + at + `}]}`,
			"metric of 65 bytes"},
		{"20 MiB message", `{"device_id": "probe", "repeat": 20, "readings": [{"metric": "ph", "value": "7.1", "raw_bytes": 1048576, ` + at + `}]}`,
			"larger than plugins.max_message_bytes (16777216)"},
	}
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnv(t, eng, nil)
			when := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
			for i, tt := range tests {
				body := []byte(fmt.Sprintf(tt.body, when))
				h := ingesttest.Sign(t, ingesttest.FaultySecret, fmt.Sprintf("msg_big_%d", i), time.Now(), body)
				if r := e.post(t, "/v1/webhooks/faulty", h, body); r.status != http.StatusAccepted {
					t.Fatalf("%s: %d %v, want 202 (kept as a failure)", tt.name, r.status, r.body)
				}
			}
			if n := ingesttest.CountReadings(t, e.s); n != 0 {
				t.Fatalf("%d readings stored from refused answers", n)
			}
			dead := failures(t, e.s, store.FailureDead)
			if len(dead) != len(tests) {
				t.Fatalf("%d dead letters, want %d", len(dead), len(tests))
			}
			for _, tt := range tests {
				found := false
				for _, f := range dead {
					if strings.Contains(f.LastError, tt.want) && len(f.Payload) < 4096 {
						found = true
					}
				}
				if !found {
					t.Errorf("%s: no dead letter saying %q", tt.name, tt.want)
				}
			}

			// The same plugin's ordinary answer reaches ingestion (which stores it or
			// drops it by its own rules, not the caps).
			body := []byte(fmt.Sprintf(`{"device_id": "probe", "readings": [{"metric": "ph", "value": "7.1", "raw_bytes": 100, "recorded_at": %q}]}`, when))
			h := ingesttest.Sign(t, ingesttest.FaultySecret, "msg_ok", time.Now(), body)
			r := e.post(t, "/v1/webhooks/faulty", h, body)
			dropped, _ := r.body["dropped"].(map[string]any)
			n := num(r.body["accepted"])
			for _, c := range dropped {
				n += num(c)
			}
			if r.status != http.StatusOK || n != 1 {
				t.Fatalf("ordinary answer: %d %v", r.status, r.body)
			}
		})
	}
}
