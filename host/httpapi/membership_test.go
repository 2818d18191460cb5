package httpapi_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/retry"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk/signature"
)

// feeder is one "way in" world: bob, an editor of pool (or, when he is the one who
// leaves it as its owner, its creator), links two devices of his generic account to it:
// one he declared ("bob-<way>", account URL only) and the operator's fleet device
// "fleet-1" (verified: the provider-level URL reaches it). other is the pool's remaining
// owner, whose pool bob's devices must stop feeding.
type feeder struct {
	other, bob user
	pool       int64
	account    int64
	secret     string
	declaredID string
	declared   int64 // host id of bob's declared device
	fleet      int64 // host id of bob's copy of fleet-1
}

// signedTo posts body to path signed with secret, with a fresh delivery id.
func (e *env) signedTo(path, secret string, body []byte) response {
	e.t.Helper()
	v, err := signature.NewStandardWebhooks(secret)
	must(e.t, err)
	hdr := map[string]string{}
	for k, vs := range v.Headers(fmt.Sprintf("msg_%d", e.n.Add(1)), time.Now(), body) {
		hdr[k] = vs[0]
	}
	return e.do(req{method: "POST", path: path, body: body, header: hdr})
}

// newFeeder builds the world over HTTP, as the users would, and checks that bob's
// devices feed the pool: a reading and a test session on his account URL, a reading on
// the provider-level URL, and his device's suggestion accepted by the pool's owner.
func (e *env) newFeeder(way string, ownerLeaves bool) feeder {
	t := e.t
	t.Helper()
	ctx := context.Background()
	f := feeder{other: e.newUser("owner-"+way, false), bob: e.newUser("bob-"+way, false), declaredID: "bob-" + way}
	if ownerLeaves {
		f.pool = e.createPool(f.bob, "Bob's "+way)
		e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/pools/%d/members/%d", f.pool, f.other.ID), token: f.bob.Token,
			body: map[string]string{"role": "owner"}})
	} else {
		f.pool = e.createPool(f.other, "Pool "+way)
		e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/pools/%d/members/%d", f.pool, f.bob.ID), token: f.other.Token,
			body: map[string]string{"role": "editor"}})
	}
	var conn struct {
		Account account `json:"account"`
		Webhook struct {
			Secret string `json:"secret"`
		} `json:"webhook"`
	}
	e.must(201, req{method: "POST", path: "/v1/providers/generic/connect", token: f.bob.Token,
		body: map[string]any{"input": map[string]string{"devices": f.declaredID, "fleet_key": fleetKey}}}).json(t, &conn)
	f.account, f.secret = conn.Account.ID, conn.Webhook.Secret
	var devs struct {
		Devices []device `json:"devices"`
	}
	e.must(200, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", f.account), token: f.bob.Token}).json(t, &devs)
	for _, d := range devs.Devices {
		switch d.ProviderDeviceID {
		case f.declaredID:
			f.declared = d.ID
		case "fleet-1":
			f.fleet = d.ID
		}
	}
	if f.declared == 0 || f.fleet == 0 {
		t.Fatalf("discovered %+v, want %s and fleet-1", devs.Devices, f.declaredID)
	}
	// The provider suggests the pool's volume through bob's declared device (as Ondilo
	// does from its /pools); what the plugin said about the devices stays as it was.
	_, err := e.st.UpsertDevices(ctx, f.account, []store.NewDevice{
		{ProviderDeviceID: f.declaredID, Name: f.declaredID, Suggestion: &store.PoolSuggestion{VolumeLiters: 42000}},
		{ProviderDeviceID: "fleet-1", Name: "fleet-1", Verified: true},
	})
	must(t, err)
	for _, id := range []int64{f.declared, f.fleet} {
		e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/devices/%d/link", id), token: f.bob.Token,
			body: map[string]int64{"poolId": f.pool}})
	}

	// Before: both paths feed the pool, and the suggestion applies.
	got := e.delivered(e.signedTo(fmt.Sprintf("/v1/webhooks/generic/accounts/%d", f.account), f.secret, f.body(7.2, -3*time.Hour, true)))
	if got.Accepted != 1 || got.TestSessions == nil || got.TestSessions.Accepted != 1 {
		t.Fatalf("before, bob's account URL answered %+v, want 1 reading and 1 test session accepted", got)
	}
	if got := e.delivered(e.signedTo("/v1/webhooks/generic", genericWebhookSecret, fleetBody(7.2, -3*time.Hour))); got.Accepted != 1 {
		t.Fatalf("before, the provider-level URL answered %+v, want 1 accepted", got)
	}
	e.must(200, req{method: "POST", path: fmt.Sprintf("/v1/pools/%d/devices/%d/suggestion/accept", f.pool, f.declared), token: f.other.Token})
	return f
}

// body is one report of bob's declared device: a pH reading and a test session.
func (f feeder) body(ph float64, ago time.Duration, session bool) []byte {
	at := time.Now().Add(ago).UTC().Format(time.RFC3339)
	s := ""
	if session {
		s = fmt.Sprintf(`, "test_sessions": [{"taken_at": %q, "method": "strips", "results": [{"metric": "ph", "value": %g}]}]`, at, ph)
	}
	return fmt.Appendf(nil, `{"device_id": %q, "readings": [{"metric": "ph", "value": %g, "recorded_at": %q}]%s}`, f.declaredID, ph, at, s)
}

func fleetBody(ph float64, ago time.Duration) []byte {
	at := time.Now().Add(ago).UTC().Format(time.RFC3339)
	return fmt.Appendf(nil, `{"device_id": "fleet-1", "readings": [{"metric": "ph", "value": %g, "recorded_at": %q}]}`, ph, at)
}

// delivered decodes a webhook's 200 answer.
func (e *env) delivered(r response) ingest.Result {
	e.t.Helper()
	if r.StatusCode != 200 {
		e.t.Fatalf("webhook answered %d: %s", r.StatusCode, r.Body)
	}
	var res ingest.Result
	r.json(e.t, &res)
	return res
}

// inactiveAudits counts the audit events of action whose inactive_links name device in
// pool, as the device of user.
func (e *env) inactiveAudits(action string, device, pool, user int64) int {
	e.t.Helper()
	n := 0
	for _, ev := range e.auditEvents(action) {
		links, _ := ev.Details["inactive_links"].([]any)
		for _, l := range links {
			m, _ := l.(map[string]any)
			if m["deviceId"] == float64(device) && m["poolId"] == float64(pool) && m["userId"] == float64(user) && m["dropped"].(float64) >= 1 {
				n++
			}
		}
	}
	return n
}

// TestRemovedMemberDevicesStopFeeding: a device link holds only while its owner may
// still write to the pool. For each way of losing that — removed from the pool, lowered
// to viewer, disabled by an admin, the account disconnected, the owner leaving the pool
// — nothing more of bob's reaches the pool by any path that writes from a device: his
// account URL (readings and test sessions), the provider-level URL, the retry worker,
// and the owner accepting his device's suggestion. The sender hears only
// unlinked_device, the operators' audit says whose link it was, and bob's device list
// shows the link inactive.
func TestRemovedMemberDevicesStopFeeding(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{ingest: true, fleet: "fleet-1"})
		ctx := context.Background()
		ing := ingest.New(e.st, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 30 * 24 * time.Hour}, hclog.NewNullLogger(), nil)
		worker := retry.New(retry.Deps{Store: e.st, Ingest: ing, Plugins: retry.ManagerPlugins(e.mgr)}, retry.Config{})

		ways := []struct {
			name        string
			ownerLeaves bool
			// unlinked: the way also removes the link itself (a disconnect unlinks the
			// account's devices), so there is no inactive link to audit.
			unlinked bool
			apply    func(f feeder)
		}{
			{name: "removed", apply: func(f feeder) {
				e.must(204, req{method: "DELETE", path: fmt.Sprintf("/v1/pools/%d/members/%d", f.pool, f.bob.ID), token: f.other.Token})
				e.must(404, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d", f.pool), token: f.bob.Token})
			}},
			{name: "viewer", apply: func(f feeder) {
				e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/pools/%d/members/%d", f.pool, f.bob.ID), token: f.other.Token,
					body: map[string]string{"role": "viewer"}})
			}},
			{name: "disabled", apply: func(f feeder) {
				// As `poolhost users disable` does.
				if ok, err := e.st.DisableUser(ctx, f.bob.ID); err != nil || !ok {
					t.Fatalf("disable: %v %v", ok, err)
				}
			}},
			{name: "disconnected", unlinked: true, apply: func(f feeder) {
				e.must(204, req{method: "DELETE", path: fmt.Sprintf("/v1/accounts/%d", f.account), token: f.bob.Token})
			}},
			{name: "owner_left", ownerLeaves: true, apply: func(f feeder) {
				e.must(204, req{method: "DELETE", path: fmt.Sprintf("/v1/pools/%d/members/%d", f.pool, f.bob.ID), token: f.bob.Token})
			}},
		}
		for _, way := range ways {
			f := e.newFeeder(way.name, way.ownerLeaves)
			way.apply(f)

			// Bob's signed delivery to his own account URL.
			accountURL := fmt.Sprintf("/v1/webhooks/generic/accounts/%d", f.account)
			r := e.signedTo(accountURL, f.secret, f.body(4.0, -2*time.Hour, true))
			if way.unlinked {
				if r.StatusCode == 200 && containsBytes(r.Body, `"accepted":1`) {
					t.Errorf("%s: a disconnected account's URL accepted: %s", way.name, r.Body)
				}
			} else {
				got := e.delivered(r)
				if got.Accepted != 0 || got.Dropped[ingest.DropUnlinkedDevice] != 1 || len(got.Dropped) != 1 ||
					got.TestSessions == nil || got.TestSessions.Accepted != 0 || got.TestSessions.Dropped[ingest.DropUnlinkedDevice] != 1 {
					t.Errorf("%s: bob's account URL answered %s, want the reading and the session dropped as unlinked_device", way.name, r.Body)
				}
			}
			// The provider-level URL reaches bob's verified fleet device no more.
			got := e.delivered(e.signedTo("/v1/webhooks/generic", genericWebhookSecret, fleetBody(4.0, -2*time.Hour)))
			if got.Accepted != 0 {
				t.Errorf("%s: the provider-level URL answered %+v, want nothing accepted", way.name, got)
			}
			if !way.unlinked && (got.Dropped[ingest.DropUnlinkedDevice] != 1 || len(got.Dropped) != 1) {
				t.Errorf("%s: the provider-level URL answered %+v, want unlinked_device", way.name, got)
			}
			// A delivery of bob's that was queued before and is retried after.
			fl, err := e.st.EnqueueFailure(ctx, store.NewFailure{
				Provider: "generic", AccountID: f.account, Payload: f.body(4.0, -time.Hour, true),
				DeliveryID: fmt.Sprintf("queued-%s", way.name), MaxAttempts: 3, Error: "database was down",
			})
			must(t, err)
			if st, err := worker.Tick(ctx); err != nil || st.Succeeded != 1 {
				t.Fatalf("%s: retry tick %+v %v, want the queued delivery resolved", way.name, st, err)
			}
			if got, err := e.st.GetFailure(ctx, fl.ID); err != nil || got.Status != store.FailureResolved {
				t.Errorf("%s: queued delivery %+v %v, want resolved (with nothing stored)", way.name, got.Status, err)
			}
			// The owner cannot apply bob's device's suggestion any more either.
			want := 409
			if way.unlinked {
				want = 404
			}
			e.must(want, req{method: "POST", path: fmt.Sprintf("/v1/pools/%d/devices/%d/suggestion/accept", f.pool, f.declared), token: f.other.Token})

			// The pool holds only what came before: 7.2 twice (bob's device and the
			// fleet device) and one test session, nothing of the 4.0s.
			var rd struct {
				Readings []struct {
					Value float64 `json:"value"`
				} `json:"readings"`
			}
			e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/readings", f.pool), token: f.other.Token}).json(t, &rd)
			if len(rd.Readings) != 2 || rd.Readings[0].Value != 7.2 || rd.Readings[1].Value != 7.2 {
				t.Errorf("%s: the owner's readings are %+v, want only the two 7.2 from before", way.name, rd.Readings)
			}
			var st struct {
				Metrics []struct {
					Metric string   `json:"metric"`
					Value  *float64 `json:"value"`
				} `json:"metrics"`
			}
			e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/status", f.pool), token: f.other.Token}).json(t, &st)
			for _, m := range st.Metrics {
				if m.Metric == "ph" && (m.Value == nil || *m.Value != 7.2) {
					t.Errorf("%s: the owner's status shows pH %v, want 7.2", way.name, m.Value)
				}
			}
			ss, _, err := e.st.ListTestSessions(ctx, f.pool, nil, 10)
			must(t, err)
			if len(ss) != 1 {
				t.Errorf("%s: the pool has %d test sessions, want the one from before", way.name, len(ss))
			}

			if way.unlinked {
				continue
			}
			// Audited, with whose link it was: the webhooks in their webhook.received
			// rows, the retry (which records no delivery row of its own) apart.
			if n := e.inactiveAudits("webhook.received", f.declared, f.pool, f.bob.ID); n != 1 {
				t.Errorf("%s: %d webhook.received rows name bob's declared device's inactive link, want 1", way.name, n)
			}
			if n := e.inactiveAudits("webhook.received", f.fleet, f.pool, f.bob.ID); n != 1 {
				t.Errorf("%s: %d webhook.received rows name bob's fleet device's inactive link, want 1", way.name, n)
			}
			if n := e.inactiveAudits(ingest.ActionInactiveLink, f.declared, f.pool, f.bob.ID); n != 1 {
				t.Errorf("%s: %d %s rows for the retried delivery, want 1", way.name, n, ingest.ActionInactiveLink)
			}
			// Bob (while he may still sign in) sees the link inactive, not gone.
			if way.name != "disabled" {
				var devs struct {
					Devices []struct {
						ID         int64  `json:"id"`
						PoolID     *int64 `json:"poolId"`
						LinkActive bool   `json:"linkActive"`
					} `json:"devices"`
				}
				e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/accounts/%d/devices", f.account), token: f.bob.Token}).json(t, &devs)
				for _, d := range devs.Devices {
					if d.PoolID == nil || *d.PoolID != f.pool || d.LinkActive {
						t.Errorf("%s: bob's device %+v, want still linked to pool %d but inactive", way.name, d, f.pool)
					}
				}
			}
			if way.name == "removed" {
				// Made an editor again, bob could link the device at once himself: the
				// link he made comes back with the role (documented in the README).
				e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/pools/%d/members/%d", f.pool, f.bob.ID), token: f.other.Token,
					body: map[string]string{"role": "editor"}})
				if got := e.delivered(e.signedTo(accountURL, f.secret, f.body(7.3, -30*time.Minute, false))); got.Accepted != 1 {
					t.Errorf("re-added: bob's account URL answered %+v, want 1 accepted", got)
				}
			}
			// Only one fleet account at a time, or fleet-1 would be ambiguous.
			_, err = e.st.DisconnectAccount(ctx, f.account)
			must(t, err)
		}
	})
}

// TestFleetReloadUnverifies: once a reload takes a device out of generic's fleet_devices,
// the provider-level URL no longer reaches it — its verified flag follows the config in
// force, not the discovery made under the old one — while the devices still in the
// fleet keep receiving. The reload says which accounts it verified again.
func TestFleetReloadUnverifies(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{ingest: true, fleet: "fleet-1,fleet-2"})
		admin := e.newUser("admin", true)
		op := e.newUser("operator", false)
		pool := e.createPool(op, "Site A")
		var conn struct {
			Account account `json:"account"`
		}
		e.must(201, req{method: "POST", path: "/v1/providers/generic/connect", token: op.Token,
			body: map[string]any{"input": map[string]string{"fleet_key": fleetKey}}}).json(t, &conn)
		type dev struct {
			ID               int64  `json:"id"`
			ProviderDeviceID string `json:"providerDeviceId"`
			Verified         bool   `json:"verified"`
		}
		var devs struct {
			Devices []dev `json:"devices"`
		}
		e.must(200, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", conn.Account.ID), token: op.Token}).json(t, &devs)
		if len(devs.Devices) != 2 || !devs.Devices[0].Verified || !devs.Devices[1].Verified {
			t.Fatalf("discovered %+v, want fleet-1 and fleet-2 verified", devs.Devices)
		}
		for _, d := range devs.Devices {
			e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/devices/%d/link", d.ID), token: op.Token, body: map[string]int64{"poolId": pool}})
		}
		deliver := func(device string, ago time.Duration) ingest.Result {
			t.Helper()
			at := time.Now().Add(-ago).UTC().Format(time.RFC3339)
			return e.delivered(e.signedTo("/v1/webhooks/generic", genericWebhookSecret,
				fmt.Appendf(nil, `{"device_id": %q, "readings": [{"metric": "ph", "value": 7.1, "recorded_at": %q}]}`, device, at)))
		}
		if got := deliver("fleet-2", 2*time.Hour); got.Accepted != 1 {
			t.Fatalf("before the reload, fleet-2 got %+v, want 1 accepted", got)
		}

		// The operator takes fleet-2 out of the fleet and reloads.
		e.opts.fleet = "fleet-1"
		e.writeConfig()
		var rep struct {
			Changed []string `json:"changed"`
		}
		e.must(200, req{method: "POST", path: "/v1/admin/reload", token: admin.Token}).json(t, &rep)
		if !slices.Contains(rep.Changed, "provider.generic") {
			t.Fatalf("reload changed %v, want provider.generic", rep.Changed)
		}

		if got := deliver("fleet-2", time.Hour); got.Accepted != 0 || got.Dropped[ingest.DropUnverifiedDevice] != 1 {
			t.Errorf("after the reload, fleet-2 got %+v, want it dropped as unverified_device", got)
		}
		if got := deliver("fleet-1", time.Hour); got.Accepted != 1 {
			t.Errorf("after the reload, fleet-1 (still in the fleet) got %+v, want 1 accepted", got)
		}
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/accounts/%d/devices", conn.Account.ID), token: op.Token}).json(t, &devs)
		for _, d := range devs.Devices {
			if d.Verified != (d.ProviderDeviceID == "fleet-1") {
				t.Errorf("after the reload, device %+v: want only fleet-1 verified", d)
			}
		}
		evs := e.auditEvents("provider.reloaded")
		if len(evs) != 1 {
			t.Fatalf("%d provider.reloaded events", len(evs))
		}
		if ra, _ := evs[0].Details["reverifiedAccounts"].(map[string]any); ra["generic"] != float64(1) {
			t.Errorf("provider.reloaded details %v, want reverifiedAccounts generic: 1", evs[0].Details)
		}
	})
}

// TestFleetKeyReplacedUnverifies: an operator replaces a fleet_key that leaked and
// reloads. The account its holder connected with the old key must stop receiving the
// fleet's provider-level deliveries (its devices no longer verified), as a device taken
// out of fleet_devices does; an account connected with the new key receives them.
func TestFleetKeyReplacedUnverifies(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{ingest: true, fleet: "fleet-1"})
		admin := e.newUser("admin", true)
		leaker := e.newUser("leaker", false)
		op := e.newUser("operator", false)
		type dev struct {
			ID               int64  `json:"id"`
			ProviderDeviceID string `json:"providerDeviceId"`
			Verified         bool   `json:"verified"`
		}
		connect := func(u user, key string) (int64, []dev) {
			t.Helper()
			var conn struct {
				Account account `json:"account"`
			}
			e.must(201, req{method: "POST", path: "/v1/providers/generic/connect", token: u.Token,
				body: map[string]any{"input": map[string]string{"fleet_key": key}}}).json(t, &conn)
			var devs struct {
				Devices []dev `json:"devices"`
			}
			e.must(200, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", conn.Account.ID), token: u.Token}).json(t, &devs)
			return conn.Account.ID, devs.Devices
		}
		deliver := func(ago time.Duration) ingest.Result {
			t.Helper()
			at := time.Now().Add(-ago).UTC().Format(time.RFC3339)
			return e.delivered(e.signedTo("/v1/webhooks/generic", genericWebhookSecret,
				fmt.Appendf(nil, `{"device_id": "fleet-1", "readings": [{"metric": "ph", "value": 7.1, "recorded_at": %q}]}`, at)))
		}

		leakerAccount, devs := connect(leaker, fleetKey)
		if len(devs) != 1 || !devs[0].Verified {
			t.Fatalf("connected with the fleet key, discovered %+v, want fleet-1 verified", devs)
		}
		pool := e.createPool(leaker, "Leaker's")
		e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/devices/%d/link", devs[0].ID), token: leaker.Token, body: map[string]int64{"poolId": pool}})
		if got := deliver(3 * time.Hour); got.Accepted != 1 {
			t.Fatalf("before the key is replaced, fleet-1 got %+v, want 1 accepted", got)
		}

		// The operator replaces the key and reloads.
		writeFile(t, filepath.Join(e.dir, "fleet.key"), "replaced-fleet-key-0123456789abcdef0123")
		var rep struct {
			Changed []string `json:"changed"`
		}
		e.must(200, req{method: "POST", path: "/v1/admin/reload", token: admin.Token}).json(t, &rep)
		if !slices.Contains(rep.Changed, "provider.generic") {
			t.Fatalf("reload changed %v, want provider.generic", rep.Changed)
		}
		if got := deliver(2 * time.Hour); got.Accepted != 0 || got.Dropped[ingest.DropUnverifiedDevice] != 1 {
			t.Errorf("after the key was replaced, fleet-1 got %+v, want it dropped as unverified_device", got)
		}
		var after struct {
			Devices []dev `json:"devices"`
		}
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/accounts/%d/devices", leakerAccount), token: leaker.Token}).json(t, &after)
		if len(after.Devices) != 1 || after.Devices[0].Verified {
			t.Errorf("the old key's account after the reload: %+v, want fleet-1 not verified", after.Devices)
		}
		e.must(400, req{method: "POST", path: "/v1/providers/generic/connect", token: leaker.Token,
			body: map[string]any{"input": map[string]string{"fleet_key": fleetKey}}})

		// The operator's account, connected with the new key, receives.
		_, devs = connect(op, "replaced-fleet-key-0123456789abcdef0123")
		if len(devs) != 1 || !devs[0].Verified {
			t.Fatalf("connected with the new key, discovered %+v, want fleet-1 verified", devs)
		}
		opPool := e.createPool(op, "Site")
		e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/devices/%d/link", devs[0].ID), token: op.Token, body: map[string]int64{"poolId": opPool}})
		if got := deliver(time.Hour); got.Accepted != 1 {
			t.Errorf("the new key's account: fleet-1 got %+v, want 1 accepted", got)
		}
	})
}

// TestMemberEmailNotByID: any user can own a pool and add members by user id, so a
// membership answer must not turn a guessed id into that user's email: not in the PUT's
// answer, not in the pool's member list. Each member still sees their own.
func TestMemberEmailNotByID(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		alice, bob := e.newUser("alice", false), e.newUser("bob", false)
		pool := e.createPool(bob, "Bob's")
		r := e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/pools/%d/members/%d", pool, alice.ID), token: bob.Token,
			body: map[string]string{"role": "viewer"}})
		if strings.Contains(string(r.Body), alice.Email) {
			t.Errorf("adding alice by id told bob her email: %s", r.Body)
		}
		r = e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d", pool), token: bob.Token})
		if strings.Contains(string(r.Body), alice.Email) || !strings.Contains(string(r.Body), bob.Email) {
			t.Errorf("bob's view of his pool: %s", r.Body)
		}
		r = e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d", pool), token: alice.Token})
		if strings.Contains(string(r.Body), bob.Email) || !strings.Contains(string(r.Body), alice.Email) {
			t.Errorf("alice's view of bob's pool: %s", r.Body)
		}
	})
}

// TestTestSessionDeleteNeedsWriteRole: a test session's author deletes it while they may
// still write to the pool. Lowered to viewer (read-only) or removed, they may not: the
// pool's measured history is no longer theirs to change. An owner always may.
func TestTestSessionDeleteNeedsWriteRole(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		owner, vera := e.newUser("owner", false), e.newUser("vera", false)
		pool := e.createPool(owner, "P")
		member := func(role string) {
			t.Helper()
			e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/pools/%d/members/%d", pool, vera.ID), token: owner.Token,
				body: map[string]string{"role": role}})
		}
		session := func() int64 {
			t.Helper()
			var c struct {
				Session struct{ ID int64 } `json:"session"`
			}
			e.must(201, req{method: "POST", path: fmt.Sprintf("/v1/pools/%d/test-sessions", pool), token: vera.Token,
				body: map[string]any{"method": "drops", "results": []map[string]any{{"metric": "ph", "value": 7.4}}}}).json(t, &c)
			return c.Session.ID
		}
		del := func(id int64, who user) response {
			return e.do(req{method: "DELETE", path: fmt.Sprintf("/v1/pools/%d/test-sessions/%d", pool, id), token: who.Token})
		}

		member("editor")
		mine := session()
		e.must(204, req{method: "DELETE", path: fmt.Sprintf("/v1/pools/%d/test-sessions/%d", pool, mine), token: vera.Token})

		kept := session()
		member("viewer")
		r := del(kept, vera)
		if r.StatusCode != 403 {
			t.Fatalf("a viewer deleting the session she wrote as an editor: %d %s", r.StatusCode, r.Body)
		}
		if p := r.problem(t); !strings.Contains(p.Detail, "editor") {
			t.Errorf("the refusal does not say what is needed: %+v", p)
		}
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/test-sessions/%d", pool, kept), token: owner.Token})

		e.must(204, req{method: "DELETE", path: fmt.Sprintf("/v1/pools/%d/members/%d", pool, vera.ID), token: owner.Token})
		if r := del(kept, vera); r.StatusCode != 404 {
			t.Fatalf("a removed author deleting her session: %d %s", r.StatusCode, r.Body)
		}
		e.must(204, req{method: "DELETE", path: fmt.Sprintf("/v1/pools/%d/test-sessions/%d", pool, kept), token: owner.Token})
	})
}

// TestMemberLeaves: any owner can add any user to their pool by id, so every member must
// be able to leave it again (DELETE their own membership), whatever their role; the
// pool's last owner cannot. Removing someone else stays the owners' alone.
func TestMemberLeaves(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		bob, alice, carol := e.newUser("bob", false), e.newUser("alice", false), e.newUser("carol", false)
		pool := e.createPool(bob, "added without asking")
		member := func(who user, role string) {
			t.Helper()
			e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/pools/%d/members/%d", pool, who.ID), token: bob.Token,
				body: map[string]string{"role": role}})
		}
		path := func(who user) string { return fmt.Sprintf("/v1/pools/%d/members/%d", pool, who.ID) }
		member(alice, "viewer")
		member(carol, "viewer")
		if r := e.do(req{method: "DELETE", path: path(carol), token: alice.Token}); r.StatusCode != 403 {
			t.Errorf("a viewer removing another member: %d %s", r.StatusCode, r.Body)
		}
		e.must(204, req{method: "DELETE", path: path(alice), token: alice.Token})
		if r := e.do(req{method: "GET", path: fmt.Sprintf("/v1/pools/%d", pool), token: alice.Token}); r.StatusCode != 404 {
			t.Errorf("alice reads the pool she left: %d %s", r.StatusCode, r.Body)
		}
		ev := e.auditEvents("member.changed")
		if last := ev[0]; last.Actor != store.UserActor(alice.ID) || last.Details["to"] != "" {
			t.Errorf("leaving is not audited as alice's: %+v", last)
		}
		member(carol, "editor")
		e.must(204, req{method: "DELETE", path: path(carol), token: carol.Token})
		// The last owner stays; with another owner, an owner leaves too.
		p := e.must(409, req{method: "DELETE", path: path(bob), token: bob.Token}).problem(t)
		if p.Type != "https://poolhost.dev/problems/last-owner" {
			t.Errorf("the last owner leaving: %+v", p)
		}
		member(alice, "owner")
		e.must(204, req{method: "DELETE", path: path(bob), token: bob.Token})
	})
}
