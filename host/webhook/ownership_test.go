package webhook_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/webhook"
)

func poolReadings(t *testing.T, s *store.Store, poolID int64) int {
	t.Helper()
	var n int
	if err := s.DB().Get(&n, s.DB().Rebind(`SELECT COUNT(*) FROM sensor_readings WHERE pool_id = ?`), poolID); err != nil {
		t.Fatal(err)
	}
	return n
}

func droppedOf(r reply) map[string]any {
	d, _ := r.body["dropped"].(map[string]any)
	return d
}

// The reported hole: two users declare the same device id; a delivery for it on the
// provider-level URL, signed with the provider's secret, reached both. A declared id is
// only a user's word, so it now reaches neither there — and when the provider did vouch
// for one owner's device, only that owner — whichever user connected first.
func TestProviderLevelDeliveriesReachOnlyProvenOwners(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			for _, order := range []string{"owner first", "squatter first"} {
				t.Run(order, func(t *testing.T) {
					e := newEnv(t, eng, nil)
					var a, b ingesttest.World
					seedA := func() {
						a = ingesttest.Seed(t, e.s, "generic", "a-"+order+"@example.com", map[string]string{"webhook_secret": accountSecret}, []string{"probe-1"}, nil)
					}
					seedB := func() {
						b = ingesttest.Seed(t, e.s, "generic", "b-"+order+"@example.com", map[string]string{"webhook_secret": accountSecret}, []string{"probe-1"}, nil)
						ingesttest.Declare(t, e.s, b.Account.ID, "probe-1") // B typed A's serial in
					}
					if order == "owner first" {
						seedA()
						seedB()
					} else {
						seedB()
						seedA()
					}
					at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
					body := genericBody("probe-1", fmt.Sprintf(`{"metric": "ph", "value": 7.2, "recorded_at": %q}`, at))

					// A's device is verified (the provider vouched): A's reading reaches A only.
					r := e.signed(t, "/v1/webhooks/generic", ingesttest.GenericSecret, "msg_own_1", body)
					if r.status != http.StatusOK || num(r.body["accepted"]) != 1 {
						t.Fatalf("verified owner: %d %v, want 200 with 1 accepted", r.status, r.body)
					}
					if poolReadings(t, e.s, a.Pool.ID) != 1 || poolReadings(t, e.s, b.Pool.ID) != 0 {
						t.Fatalf("A's pool %d readings, B's %d; want 1 and 0", poolReadings(t, e.s, a.Pool.ID), poolReadings(t, e.s, b.Pool.ID))
					}

					// The reproduction: both declared. Nobody receives; the answer says why.
					ingesttest.Declare(t, e.s, a.Account.ID, "probe-1")
					body2 := genericBody("probe-1", fmt.Sprintf(`{"metric": "orp", "value": 700, "recorded_at": %q}`, at))
					r = e.signed(t, "/v1/webhooks/generic", ingesttest.GenericSecret, "msg_own_2", body2)
					if r.status != http.StatusOK || num(r.body["accepted"]) != 0 || num(droppedOf(r)[ingest.DropUnverifiedDevice]) != 1 {
						t.Fatalf("declared by both: %d %v, want 200, 0 accepted, 1 %s", r.status, r.body, ingest.DropUnverifiedDevice)
					}
					if poolReadings(t, e.s, a.Pool.ID) != 1 || poolReadings(t, e.s, b.Pool.ID) != 0 {
						t.Fatal("a declared device received a provider-level delivery")
					}
					// Operators see which device had no proven owner.
					evs := ingesttest.Audit(t, e.s, webhook.ActionReceived)
					unowned, _ := evs[0].Details["unowned_devices"].(map[string]any)
					if fmt.Sprint(unowned[ingest.DropUnverifiedDevice]) != "[probe-1]" {
						t.Fatalf("audit details %v, want unowned_devices naming probe-1", evs[0].Details)
					}

					// Each account's own URL still works for its own device: its secret
					// proves the account.
					r = e.signed(t, fmt.Sprintf("/v1/webhooks/generic/accounts/%d", b.Account.ID), accountSecret, "msg_own_3", body2)
					if r.status != http.StatusOK || num(r.body["accepted"]) != 1 || poolReadings(t, e.s, b.Pool.ID) != 1 {
						t.Fatalf("B's own URL: %d %v, want its reading stored in B's pool", r.status, r.body)
					}
					if poolReadings(t, e.s, a.Pool.ID) != 1 {
						t.Fatal("B's account-scoped delivery reached A")
					}
				})
			}
		})
	}
}

// Two accounts the provider verified the same device id for (two provider accounts):
// a payload that names one provider account reaches only it; one that names none is not
// fanned out but dropped as ambiguous, and audited.
func TestAmbiguousDeviceIsNotFannedOut(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnv(t, eng, nil)
			x := ingesttest.Seed(t, e.s, "faulty", "x@example.com", nil, []string{"shared"}, nil)
			y := ingesttest.Seed(t, e.s, "faulty", "y@example.com", nil, []string{"shared"}, nil)
			at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
			post := func(id, account, metric string) reply {
				body := []byte(fmt.Sprintf(`{"device_id": "shared", "account": %q, "readings": [{"metric": %q, "value": "7.2", "recorded_at": %q}]}`,
					account, metric, at))
				return e.post(t, "/v1/webhooks/faulty", ingesttest.Sign(t, ingesttest.FaultySecret, id, time.Now(), body), body)
			}

			r := post("msg_named", x.Account.ExternalAccountID, "ph")
			if r.status != http.StatusOK || num(r.body["accepted"]) != 1 {
				t.Fatalf("named account: %d %v, want 1 accepted", r.status, r.body)
			}
			if poolReadings(t, e.s, x.Pool.ID) != 1 || poolReadings(t, e.s, y.Pool.ID) != 0 {
				t.Fatalf("x %d, y %d readings; want 1 and 0", poolReadings(t, e.s, x.Pool.ID), poolReadings(t, e.s, y.Pool.ID))
			}

			r = post("msg_unnamed", "", "orp")
			if r.status != http.StatusOK || num(r.body["accepted"]) != 0 || num(droppedOf(r)[ingest.DropAmbiguousDevice]) != 1 {
				t.Fatalf("unnamed account: %d %v, want 0 accepted, 1 %s", r.status, r.body, ingest.DropAmbiguousDevice)
			}
			if poolReadings(t, e.s, x.Pool.ID) != 1 || poolReadings(t, e.s, y.Pool.ID) != 0 {
				t.Fatal("an ambiguous delivery was stored")
			}
			evs := ingesttest.Audit(t, e.s, webhook.ActionReceived)
			unowned, _ := evs[0].Details["unowned_devices"].(map[string]any)
			if fmt.Sprint(unowned[ingest.DropAmbiguousDevice]) != "[shared]" {
				t.Fatalf("audit details %v, want unowned_devices naming shared", evs[0].Details)
			}

			// A payload naming an account that has no such device reaches nobody.
			if r := post("msg_other", "ext-nobody", "salt"); num(r.body["accepted"]) != 0 {
				t.Fatalf("unknown named account: %v", r.body)
			}
		})
	}
}
