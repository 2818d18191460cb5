package httpapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/ingest"
)

// TestDeletePool: only an owner deletes a pool (204). A second user who knows its id
// learns nothing: a stranger or an admin gets the very 404 of a pool that never was,
// an editor or a viewer a 403; every refusal is a problem. Once deleted it is a 404 to
// its owner too (so deleting it again is a 404), it no longer counts toward the
// owner's pool limit, its device stays with its account and may be linked to another
// pool, and the device's next delivery is dropped as unlinked_device; pool.deleted is
// audited.
func TestDeletePool(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{ingest: true})
		cfg := *e.cfg.Load()
		cfg.Ingest.MaxPoolsPerUser = 1
		e.cfg.Store(&cfg)
		f := e.fixture()
		owner := f.users["owner"]
		path := fmt.Sprintf("/v1/pools/%d", f.pool)
		accountURL := fmt.Sprintf("/v1/webhooks/generic/accounts/%d", f.account)
		body := func(minutesAgo int) []byte {
			return []byte(fmt.Sprintf(`{"device_id": "d1", "readings": [{"metric": "ph", "value": 7.2, "recorded_at": %q}]}`,
				time.Now().Add(-time.Duration(minutesAgo)*time.Minute).UTC().Format(time.RFC3339)))
		}
		if got := e.delivered(e.signedTo(accountURL, genericWebhookSecret, body(10))); got.Accepted != 1 {
			t.Fatalf("a reading before the delete: %+v", got)
		}
		e.must(409, req{method: "POST", path: "/v1/pools", token: owner.Token, body: map[string]string{"name": "another"}})

		never := e.must(404, req{method: "DELETE", path: "/v1/pools/987654321", token: f.users["stranger"].Token}).problem(t)
		for _, who := range []string{"stranger", "admin"} {
			p := e.must(404, req{method: "DELETE", path: path, token: f.users[who].Token}).problem(t)
			if p.Type != never.Type || p.Title != never.Title || p.Detail != never.Detail {
				t.Errorf("%s deleting someone else's pool: %+v; a pool that never was: %+v", who, p, never)
			}
		}
		for _, who := range []string{"editor", "viewer"} {
			e.must(403, req{method: "DELETE", path: path, token: f.users[who].Token}).problem(t)
		}
		e.must(401, req{method: "DELETE", path: path}).problem(t)
		e.must(200, req{method: "GET", path: path, token: owner.Token}) // the refusals deleted nothing

		e.must(204, req{method: "DELETE", path: path, token: owner.Token})
		e.must(404, req{method: "GET", path: path, token: owner.Token}).problem(t)
		again := e.must(404, req{method: "DELETE", path: path, token: owner.Token}).problem(t)
		if again.Type != never.Type || again.Detail != never.Detail {
			t.Errorf("deleting it again: %+v, want the 404 of a pool that never was", again)
		}
		e.must(404, req{method: "GET", path: path + "/readings", token: owner.Token})

		// The device's delivery after the delete: dropped, stored nowhere.
		got := e.delivered(e.signedTo(accountURL, genericWebhookSecret, body(5)))
		if got.Accepted != 0 || got.Dropped[ingest.DropUnlinkedDevice] != 1 {
			t.Errorf("a delivery after the delete: %+v, want unlinked_device", got)
		}
		// The cap has room again, and the device may feed the new pool.
		next := e.createPool(owner, "the new one")
		e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/devices/%d/link", f.device), token: owner.Token, body: map[string]int64{"poolId": next}})
		if got := e.delivered(e.signedTo(accountURL, genericWebhookSecret, body(1))); got.Accepted != 1 {
			t.Errorf("a delivery to the new pool: %+v", got)
		}
		es := e.auditEvents("pool.deleted")
		if len(es) != 1 || es[0].TargetID != fmt.Sprint(f.pool) || es[0].Actor != fmt.Sprintf("user:%d", owner.ID) {
			t.Fatalf("pool.deleted audit rows: %+v", es)
		}
	})
}
