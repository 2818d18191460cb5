package webhook_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/retry"
	"github.com/poolhost/poolhost/host/webhook"
)

// TestWebhookReplayWithoutTimestamps: readings without recorded_at are stamped with the
// delivery's first receipt (webhook-id is the idempotency key), so a redelivery inserts
// nothing — whether the first copy was stored at once, or queued and then stored by the
// retry worker before or after the redelivery arrived.
func TestWebhookReplayWithoutTimestamps(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			var mgr *pluginmgr.Manager
			var ing *ingest.Service
			e := newEnv(t, eng, func(d *webhook.Deps, i *ingest.Service) {
				mgr = d.Plugins.(*pluginmgr.Manager)
				ing = i
			})
			rw := config.DefaultRetryWorker
			rw.Lease = time.Minute
			worker := retry.New(retry.Deps{Store: e.s, Ingest: ing, Plugins: retry.ManagerPlugins(mgr), Logger: hclog.NewNullLogger()},
				retry.Config{RetryWorker: rw, Owner: "test-worker"})
			ctx := context.Background()

			expect := func(t *testing.T, r reply, status, accepted, duplicates int) {
				t.Helper()
				if r.status != status || (status == http.StatusOK && (num(r.body["accepted"]) != accepted || num(r.body["duplicates"]) != duplicates)) {
					t.Fatalf("got %d %v, want %d with %d accepted, %d duplicates", r.status, r.body, status, accepted, duplicates)
				}
			}
			tick := func(t *testing.T) {
				t.Helper()
				st, err := worker.Tick(ctx)
				if err != nil || st.Claimed != 1 || st.Succeeded != 1 {
					t.Fatalf("retry tick = %+v, %v; want one row claimed and resolved", st, err)
				}
			}
			// The replay must come at a later microsecond than the first copy, or the bug
			// this guards against would hide behind equal receipt times.
			later := func() { time.Sleep(5 * time.Millisecond) }
			untimed := []byte(`{"device_id": "probe", "readings": [{"metric": "ph", "value": "7.4"}]}`)

			t.Run("stored, then replayed", func(t *testing.T) {
				body := genericBody("probe", `{"metric": "ph", "value": 7.4}`)
				before := ingesttest.CountReadings(t, e.s)
				expect(t, e.signed(t, "/v1/webhooks/generic", ingesttest.GenericSecret, "msg_1", body), http.StatusOK, 1, 0)
				later()
				expect(t, e.signed(t, "/v1/webhooks/generic", ingesttest.GenericSecret, "msg_1", body), http.StatusOK, 0, 1)
				if n := ingesttest.CountReadings(t, e.s) - before; n != 1 {
					t.Fatalf("%d rows for one delivery, want 1", n)
				}
				// A new delivery id with the same body is a new measurement.
				later()
				expect(t, e.signed(t, "/v1/webhooks/generic", ingesttest.GenericSecret, "msg_2", body), http.StatusOK, 1, 0)
			})

			t.Run("queued, replayed, then retried", func(t *testing.T) {
				before := ingesttest.CountReadings(t, e.s)
				stop := e.touch(t, "fail")
				expect(t, e.signed(t, "/v1/webhooks/faulty", ingesttest.FaultySecret, "msg_q1", untimed), http.StatusAccepted, 0, 0)
				stop()
				later()
				expect(t, e.signed(t, "/v1/webhooks/faulty", ingesttest.FaultySecret, "msg_q1", untimed), http.StatusOK, 1, 0)
				tick(t)
				ok := ingesttest.Audit(t, e.s, retry.ActionRetrySucceeded)
				if len(ok) == 0 || ok[0].Details["accepted"] != float64(0) || ok[0].Details["duplicates"] != float64(1) {
					t.Fatalf("retry_succeeded audit: %+v, want 0 accepted, 1 duplicate", ok)
				}
				if n := ingesttest.CountReadings(t, e.s) - before; n != 1 {
					t.Fatalf("%d rows for one delivery, want 1", n)
				}
			})

			t.Run("queued, retried, then replayed", func(t *testing.T) {
				before := ingesttest.CountReadings(t, e.s)
				stop := e.touch(t, "fail")
				expect(t, e.signed(t, "/v1/webhooks/faulty", ingesttest.FaultySecret, "msg_q2", untimed), http.StatusAccepted, 0, 0)
				stop()
				queued := failures(t, e.s, "resolved")
				tick(t)
				later()
				expect(t, e.signed(t, "/v1/webhooks/faulty", ingesttest.FaultySecret, "msg_q2", untimed), http.StatusOK, 0, 1)
				if n := ingesttest.CountReadings(t, e.s) - before; n != 1 {
					t.Fatalf("%d rows for one delivery, want 1", n)
				}
				// The row carries the original receipt, the time the provider sent it.
				resolved := failures(t, e.s, "resolved")
				if len(resolved) != len(queued)+1 {
					t.Fatalf("resolved failures %d -> %d", len(queued), len(resolved))
				}
				var at time.Time
				if err := e.s.DB().Get(&at, e.s.DB().Rebind(`SELECT recorded_at FROM sensor_readings WHERE device_id = ? ORDER BY id DESC LIMIT 1`),
					e.faulty.Devices["probe"].ID); err != nil {
					t.Fatal(err)
				}
				if !at.Equal(resolved[0].ReceivedAt) {
					t.Fatalf("recorded_at %v, want the first receipt %v", at, resolved[0].ReceivedAt)
				}
			})
		})
	}
}
