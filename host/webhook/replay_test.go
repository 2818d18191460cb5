package webhook_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/webhook"
)

// The same signed delivery sent 50 times within its signature window — a provider
// retrying, or someone replaying a captured request — is answered as the first every
// time and adds no rows: one webhook.received row for a stored delivery, one dead letter
// for a payload that cannot be parsed.
func TestReplaysAddNoRows(t *testing.T) {
	const copies = 50
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnv(t, eng, nil)
			path := fmt.Sprintf("/v1/webhooks/generic/accounts/%d", e.mine.Account.ID)
			body := genericBody("probe", fmt.Sprintf(`{"metric": "ph", "value": 7.2, "recorded_at": %q}`,
				time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)))
			stored := ingesttest.Sign(t, accountSecret, "msg_replayed", time.Now(), body)

			dead := []byte(`{"device_id": "probe", "fail": "permanent"}`)
			deadHeaders := ingesttest.Sign(t, ingesttest.FaultySecret, "msg_dead", time.Now(), dead)

			for i := 0; i < copies; i++ {
				r := e.post(t, path, stored, body)
				if r.status != http.StatusOK || num(r.body["accepted"]) != 1 {
					t.Fatalf("copy %d: %d %v, want the first's answer (200, accepted 1)", i, r.status, r.body)
				}
				if r := e.post(t, "/v1/webhooks/faulty", deadHeaders, dead); r.status != http.StatusAccepted {
					t.Fatalf("dead copy %d: %d %v, want 202", i, r.status, r.body)
				}
			}
			if evs := ingesttest.Audit(t, e.s, webhook.ActionReceived); len(evs) != 1 {
				t.Errorf("%d %s rows, want 1", len(evs), webhook.ActionReceived)
			}
			if fs := failures(t, e.s, store.FailureDead); len(fs) != 1 {
				t.Errorf("%d dead letters, want 1", len(fs))
			}
			if n := ingesttest.CountReadings(t, e.s); n != 1 {
				t.Errorf("%d readings, want 1", n)
			}
			if n := replays(t, e, "generic"); n != copies-1 {
				t.Errorf("replays metric for generic = %v, want %d", n, copies-1)
			}
		})
	}
}

func replays(t *testing.T, e *env, provider string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "poolhost_webhook_replays_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "provider" && l.GetValue() == provider {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
