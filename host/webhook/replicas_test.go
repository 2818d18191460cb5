package webhook_test

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/webhook"
)

// replica is a second host on e's database: its own plugins, ingest service (group
// commit), webhook pipeline and HTTP server, sharing nothing with e but the database.
func (e *env) replica(t *testing.T) *env {
	t.Helper()
	log := hclog.New(&hclog.LoggerOptions{Output: io.Discard})
	reg := prometheus.NewRegistry()
	h := serve(t, e.s, ingesttest.StartManager(t, ingesttest.Config(t, pluginDir, ""), log), log, reg, log, nil)
	return &env{s: e.s, svc: h.Pipeline, srv: h.Server, reg: reg, mine: e.mine, faulty: e.faulty, files: e.files, logs: e.logs}
}

// A replay is detected across replicas: a delivery stored through one host and sent
// again to another adds no row there — no webhook.received row, no second dead letter —
// and each copy is answered as the first would be. Two copies sent at once to two hosts
// store once, and both get a 200 that together count the reading once.
func TestReplaysAcrossReplicasAddNoRows(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			a := newEnv(t, eng, nil)
			b := a.replica(t)
			path := fmt.Sprintf("/v1/webhooks/generic/accounts/%d", a.mine.Account.ID)
			body := genericBody("probe", fmt.Sprintf(`{"metric": "ph", "value": 7.2, "recorded_at": %q}`,
				time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)))
			stored := ingesttest.Sign(t, accountSecret, "msg_across", time.Now(), body)
			dead := []byte(`{"device_id": "probe", "fail": "permanent"}`)
			deadHeaders := ingesttest.Sign(t, ingesttest.FaultySecret, "msg_dead_across", time.Now(), dead)

			for i, h := range []*env{a, b, a, b} {
				r := h.post(t, path, stored, body)
				first := i == 0
				if r.status != http.StatusOK || num(r.body["accepted"]) != map[bool]int{true: 1}[first] || num(r.body["duplicates"]) != map[bool]int{false: 1}[first] {
					t.Errorf("copy %d: %d %v", i, r.status, r.body)
				}
				if r := h.post(t, "/v1/webhooks/faulty", deadHeaders, dead); r.status != http.StatusAccepted || r.body["status"] != "dead" {
					t.Errorf("dead copy %d: %d %v, want 202 dead", i, r.status, r.body)
				}
			}
			if evs := ingesttest.Audit(t, a.s, webhook.ActionReceived); len(evs) != 1 {
				t.Errorf("%d %s rows after copies on two replicas, want 1", len(evs), webhook.ActionReceived)
			}
			if fs := failures(t, a.s, store.FailureDead); len(fs) != 1 {
				t.Errorf("%d dead letters after copies on two replicas, want 1", len(fs))
			}
			if n := replays(t, b, "generic"); n != 2 {
				t.Errorf("replica b's replays metric = %v, want 2", n)
			}

			// Copies at once on both replicas.
			body2 := genericBody("probe", fmt.Sprintf(`{"metric": "temperature", "value": 27, "unit": "C", "recorded_at": %q}`,
				time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)))
			both := ingesttest.Sign(t, accountSecret, "msg_at_once", time.Now(), body2)
			const copies = 8
			var wg sync.WaitGroup
			replies := make([]reply, copies)
			for i := range copies {
				h := []*env{a, b}[i%2]
				wg.Add(1)
				go func() {
					defer wg.Done()
					replies[i] = h.post(t, path, both, body2)
				}()
			}
			wg.Wait()
			accepted := 0
			for i, r := range replies {
				if r.status != http.StatusOK || num(r.body["accepted"])+num(r.body["duplicates"]) != 1 {
					t.Errorf("simultaneous copy %d: %d %v", i, r.status, r.body)
				}
				accepted += num(r.body["accepted"])
			}
			if accepted != 1 {
				t.Errorf("simultaneous copies: %d answered accepted, want 1", accepted)
			}
			if evs := ingesttest.Audit(t, a.s, webhook.ActionReceived); len(evs) != 2 {
				t.Errorf("%d %s rows after simultaneous copies, want 2 in all", len(evs), webhook.ActionReceived)
			}
			if n := ingesttest.CountReadings(t, a.s); n != 2 {
				t.Errorf("%d readings, want 2", n)
			}
		})
	}
}
