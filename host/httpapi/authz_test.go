package httpapi_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk/signature"
)

// fixture is a fresh little world per matrix cell: a pool with an owner (who also owns
// a generic account whose device feeds the pool), an editor and a viewer, plus a
// stranger, an admin who is no member, a spare user admin routes act on, and a dead
// webhook delivery for the failure routes.
type fixture struct {
	users   map[string]user
	target  user
	pool    int64
	account int64
	device  int64
	failure int64
	// squatPool is the stranger's own pool, linked to a device the stranger declared
	// with the owner's device id: a provider-level delivery must never reach it.
	squatPool int64
	session   int64 // a test session the editor entered
	equip     int64
}

func (e *env) fixture() fixture {
	e.t.Helper()
	ctx := context.Background()
	f := fixture{users: map[string]user{
		"owner": e.newUser("owner", false), "editor": e.newUser("editor", false), "viewer": e.newUser("viewer", false),
		"stranger": e.newUser("stranger", false), "admin": e.newUser("admin", true),
	}, target: e.newUser("target", false)}
	p, err := e.st.CreatePool(ctx, "P", f.users["owner"].ID)
	must(e.t, err)
	f.pool = p.ID
	_, err = e.st.SetPoolMember(ctx, p.ID, f.users["editor"].ID, store.RoleEditor)
	must(e.t, err)
	_, err = e.st.SetPoolMember(ctx, p.ID, f.users["viewer"].ID, store.RoleViewer)
	must(e.t, err)
	acc, _, err := e.st.UpsertAccount(ctx, store.NewAccount{UserID: f.users["owner"].ID, Provider: "generic",
		ExternalAccountID: fmt.Sprintf("gen_%d", e.n.Add(1)), Credentials: map[string]string{"devices": "d1", "webhook_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}})
	must(e.t, err)
	f.account = acc.ID
	// The owner's d1 is verified (the operator's fleet, say).
	// Its provider suggests the pool's configuration (as Ondilo does from /pools).
	ds, err := e.st.UpsertDevices(ctx, acc.ID, []store.NewDevice{{ProviderDeviceID: "d1", Verified: true,
		Suggestion: &store.PoolSuggestion{VolumeLiters: 15000, Kind: "pool", Location: "outdoor"}}})
	must(e.t, err)
	f.device = ds[0].ID
	_, err = e.st.LinkDevice(ctx, f.device, f.pool, f.users["owner"].ID)
	must(e.t, err)

	stranger := f.users["stranger"]
	sp, err := e.st.CreatePool(ctx, "S", stranger.ID)
	must(e.t, err)
	f.squatPool = sp.ID
	sacc, _, err := e.st.UpsertAccount(ctx, store.NewAccount{UserID: stranger.ID, Provider: "generic",
		ExternalAccountID: fmt.Sprintf("gen_%d", e.n.Add(1)), Credentials: map[string]string{"devices": "d1", "webhook_secret": "whsec_c3F1YXR0ZXItc2VjcmV0LWZvci10ZXN0cy0xMjM0NTY="}})
	must(e.t, err)
	sds, err := e.st.UpsertDevices(ctx, sacc.ID, []store.NewDevice{{ProviderDeviceID: "d1"}})
	must(e.t, err)
	_, err = e.st.LinkDevice(ctx, sds[0].ID, sp.ID, stranger.ID)
	must(e.t, err)
	f.failure = e.enqueue("generic", true).ID
	editor := f.users["editor"].ID
	ts, _, err := e.st.InsertTestSession(ctx, store.TestSession{PoolID: f.pool, TakenAt: time.Now().Add(-time.Hour), Method: "strips",
		AuthorID: &editor, Results: []store.TestResult{{Metric: "ph", Value: 7.4, Unit: "pH"}}})
	must(e.t, err)
	f.session = ts.ID
	eq, err := e.st.CreateEquipment(ctx, f.pool, "pump", "main pump", store.RawJSON(`{"speeds": 2}`))
	must(e.t, err)
	f.equip = eq.ID
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// foreign is the caller whose Authorization header holds a bearer token that is not
// poolhost's, as The Things Stack sends its webhook secret. It is refused (401) on every
// route but the webhooks, whose plugin judges the delivery.
var roles = []string{"anonymous", "stranger", "viewer", "editor", "admin", "owner", "foreign"}

const foreignToken = "not-a-poolhost-token"

// expect lists statuses in roles order.
func expect(anon, stranger, viewer, editor, admin, owner int) map[string]int {
	return map[string]int{"anonymous": anon, "stranger": stranger, "viewer": viewer, "editor": editor, "admin": admin, "owner": owner}
}

// signedDelivery is a generic reading for device d1, signed with the generic secret
// (both the provider's and the fixture account's). Each fixture has its own account, so
// the delivery id is fresh for every cell.
func signedDelivery(f fixture, path string) req {
	body := []byte(`{"device_id": "d1", "readings": [{"metric": "ph", "value": 7.2}]}`)
	v, _ := signature.NewStandardWebhooks(genericWebhookSecret)
	hdr := map[string]string{}
	for k, vs := range v.Headers(fmt.Sprintf("msg_authz_%d", f.account), time.Now(), body) {
		hdr[k] = vs[0]
	}
	return req{method: "POST", path: path, body: body, header: hdr}
}

// TestAuthorizationMatrix runs every route as every kind of caller, each in a fresh
// fixture, and checks the status. Someone else's pool, account or device is 404, never
// 403; admin routes are 403 to non-admins; anonymous is 401 except on public routes;
// a token that is not poolhost's is 401 except on the webhooks, where bearer tokens are
// not looked at and the plugin's verdict on the signature is the answer.
func TestAuthorizationMatrix(t *testing.T) {
	type route struct {
		op   string // "METHOD /template", matched against the router
		req  func(f fixture) req
		want map[string]int
	}
	all := func(s int) map[string]int { return expect(s, s, s, s, s, s) }
	webhook := func(s int) map[string]int { m := all(s); m["foreign"] = s; return m }
	admin := func(s int) map[string]int { return expect(401, 403, 403, 403, s, 403) }
	users := func(s int) map[string]int { return expect(401, s, s, s, s, s) }
	routes := []route{
		{"GET /healthz", func(fixture) req { return req{method: "GET", path: "/healthz"} }, all(200)},
		{"GET /readyz", func(fixture) req { return req{method: "GET", path: "/readyz"} }, all(200)},
		{"GET /metrics", func(fixture) req { return req{method: "GET", path: "/metrics"} }, all(200)},
		{"GET /openapi.yaml", func(fixture) req { return req{method: "GET", path: "/openapi.yaml"} }, all(200)},
		{"POST /v1/pools", func(fixture) req { return req{method: "POST", path: "/v1/pools", body: map[string]string{"name": "N"}} }, users(201)},
		{"GET /v1/pools", func(fixture) req { return req{method: "GET", path: "/v1/pools"} }, users(200)},
		{"GET /v1/pools/{poolId}", func(f fixture) req { return req{method: "GET", path: fmt.Sprintf("/v1/pools/%d", f.pool)} },
			expect(401, 404, 200, 200, 404, 200)},
		// Owners only; someone else (a stranger, an admin) learns nothing of the pool.
		{"DELETE /v1/pools/{poolId}", func(f fixture) req { return req{method: "DELETE", path: fmt.Sprintf("/v1/pools/%d", f.pool)} },
			expect(401, 404, 403, 403, 404, 204)},
		{"PUT /v1/pools/{poolId}/members/{userId}", func(f fixture) req {
			return req{method: "PUT", path: fmt.Sprintf("/v1/pools/%d/members/%d", f.pool, f.target.ID), body: map[string]string{"role": "viewer"}}
		}, expect(401, 404, 403, 403, 404, 200)},
		// The viewer's membership: the owner removes it, the viewer may leave (hence 204),
		// the editor may not remove it. TestMemberLeaves has more.
		{"DELETE /v1/pools/{poolId}/members/{userId}", func(f fixture) req {
			return req{method: "DELETE", path: fmt.Sprintf("/v1/pools/%d/members/%d", f.pool, f.users["viewer"].ID)}
		}, expect(401, 404, 204, 403, 404, 204)},
		{"GET /v1/pools/{poolId}/readings", func(f fixture) req { return req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/readings", f.pool)} },
			expect(401, 404, 200, 200, 404, 200)},
		{"PATCH /v1/pools/{poolId}", func(f fixture) req {
			return req{method: "PATCH", path: fmt.Sprintf("/v1/pools/%d", f.pool), body: map[string]any{"volumeLiters": 50000, "sanitizer": "salt"}}
		}, expect(401, 404, 403, 200, 404, 200)},
		{"POST /v1/pools/{poolId}/devices/{deviceId}/suggestion/accept", func(f fixture) req {
			return req{method: "POST", path: fmt.Sprintf("/v1/pools/%d/devices/%d/suggestion/accept", f.pool, f.device)}
		}, expect(401, 404, 403, 200, 404, 200)},
		{"GET /v1/pools/{poolId}/status", func(f fixture) req { return req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/status", f.pool)} },
			expect(401, 404, 200, 200, 404, 200)},
		{"GET /v1/pools/{poolId}/readings/summary", func(f fixture) req {
			return req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/readings/summary?metric=ph&bucket=1d", f.pool)}
		}, expect(401, 404, 200, 200, 404, 200)},
		{"GET /v1/pools/{poolId}/test-sessions", func(f fixture) req {
			return req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/test-sessions", f.pool)}
		}, expect(401, 404, 200, 200, 404, 200)},
		{"POST /v1/pools/{poolId}/test-sessions", func(f fixture) req {
			return req{method: "POST", path: fmt.Sprintf("/v1/pools/%d/test-sessions", f.pool), body: map[string]any{
				"method": "drops", "results": []map[string]any{{"metric": "free_chlorine", "value": 2.5, "unit": "mg/L"}}}}
		}, expect(401, 404, 403, 201, 404, 201)},
		{"GET /v1/pools/{poolId}/test-sessions/{sessionId}", func(f fixture) req {
			return req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/test-sessions/%d", f.pool, f.session)}
		}, expect(401, 404, 200, 200, 404, 200)},
		// The author (here the editor) or an owner may delete; a viewer may not.
		{"DELETE /v1/pools/{poolId}/test-sessions/{sessionId}", func(f fixture) req {
			return req{method: "DELETE", path: fmt.Sprintf("/v1/pools/%d/test-sessions/%d", f.pool, f.session)}
		}, expect(401, 404, 403, 204, 404, 204)},
		{"GET /v1/pools/{poolId}/equipment", func(f fixture) req {
			return req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/equipment", f.pool)}
		}, expect(401, 404, 200, 200, 404, 200)},
		{"POST /v1/pools/{poolId}/equipment", func(f fixture) req {
			return req{method: "POST", path: fmt.Sprintf("/v1/pools/%d/equipment", f.pool), body: map[string]any{
				"kind": "filter", "config": map[string]any{"media": "sand"}}}
		}, expect(401, 404, 403, 201, 404, 201)},
		{"GET /v1/pools/{poolId}/equipment/{equipmentId}", func(f fixture) req {
			return req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/equipment/%d", f.pool, f.equip)}
		}, expect(401, 404, 200, 200, 404, 200)},
		{"PATCH /v1/pools/{poolId}/equipment/{equipmentId}", func(f fixture) req {
			return req{method: "PATCH", path: fmt.Sprintf("/v1/pools/%d/equipment/%d", f.pool, f.equip), body: map[string]any{"config": map[string]any{"speeds": 3}}}
		}, expect(401, 404, 403, 200, 404, 200)},
		{"DELETE /v1/pools/{poolId}/equipment/{equipmentId}", func(f fixture) req {
			return req{method: "DELETE", path: fmt.Sprintf("/v1/pools/%d/equipment/%d", f.pool, f.equip)}
		}, expect(401, 404, 403, 204, 404, 204)},
		{"GET /v1/pools/{poolId}/equipment/{equipmentId}/device", func(f fixture) req {
			return req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/equipment/%d/device", f.pool, f.equip)}
		}, expect(401, 404, 200, 200, 404, 200)},
		{"PUT /v1/pools/{poolId}/equipment/{equipmentId}/device", func(f fixture) req {
			return req{method: "PUT", path: fmt.Sprintf("/v1/pools/%d/equipment/%d/device", f.pool, f.equip), body: map[string]any{"deviceId": f.device}}
		}, expect(401, 404, 403, 200, 404, 200)},
		{"DELETE /v1/pools/{poolId}/equipment/{equipmentId}/device", func(f fixture) req {
			return req{method: "DELETE", path: fmt.Sprintf("/v1/pools/%d/equipment/%d/device", f.pool, f.equip)}
		}, expect(401, 404, 403, 204, 404, 204)},
		// The fixture's equipment is bound to no device: members who may command get 409.
		{"POST /v1/pools/{poolId}/equipment/{equipmentId}/commands", func(f fixture) req {
			return req{method: "POST", path: fmt.Sprintf("/v1/pools/%d/equipment/%d/commands", f.pool, f.equip),
				body: map[string]any{"command": "pump.set", "params": map[string]any{"on": true}}}
		}, expect(401, 404, 403, 409, 404, 409)},
		{"GET /v1/pools/{poolId}/commands", func(f fixture) req {
			return req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/commands", f.pool)}
		}, expect(401, 404, 200, 200, 404, 200)},
		{"GET /v1/pools/{poolId}/commands/{commandId}", func(f fixture) req {
			return req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/commands/cmd_none", f.pool)}
		}, expect(401, 404, 404, 404, 404, 404)},
		{"POST /v1/pools/{poolId}/commands/{commandId}/cancel", func(f fixture) req {
			return req{method: "POST", path: fmt.Sprintf("/v1/pools/%d/commands/cmd_none/cancel", f.pool)}
		}, expect(401, 404, 403, 404, 404, 404)},
		{"GET /v1/providers", func(fixture) req { return req{method: "GET", path: "/v1/providers"} }, users(200)},
		{"POST /v1/providers/{provider}/connect", func(fixture) req {
			return req{method: "POST", path: "/v1/providers/generic/connect", body: map[string]any{"input": map[string]string{"devices": "x"}}}
		}, users(201)},
		// The callback is public (the provider's redirect lands there), but only the
		// starting user's token completes it: anonymous is 401, a forged state 400.
		{"GET /v1/providers/{provider}/callback", func(fixture) req {
			return req{method: "GET", path: "/v1/providers/template/callback?code=c&state=forged"}
		}, users(400)},
		{"POST /v1/providers/{provider}/callback", func(fixture) req {
			return req{method: "POST", path: "/v1/providers/template/callback", body: map[string]string{"code": "c", "state": "forged"}}
		}, users(400)},
		{"GET /v1/accounts", func(fixture) req { return req{method: "GET", path: "/v1/accounts"} }, users(200)},
		{"GET /v1/accounts/{accountId}", func(f fixture) req { return req{method: "GET", path: fmt.Sprintf("/v1/accounts/%d", f.account)} },
			expect(401, 404, 404, 404, 404, 200)},
		// Only the account's owner rotates its secret; everyone else gets the 404 of an
		// account they cannot see.
		{"POST /v1/accounts/{accountId}/webhook-secret/rotate", func(f fixture) req {
			return req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/webhook-secret/rotate", f.account)}
		}, expect(401, 404, 404, 404, 404, 200)},
		{"DELETE /v1/accounts/{accountId}", func(f fixture) req { return req{method: "DELETE", path: fmt.Sprintf("/v1/accounts/%d", f.account)} },
			expect(401, 404, 404, 404, 404, 204)},
		{"POST /v1/accounts/{accountId}/discover", func(f fixture) req {
			return req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", f.account)}
		}, expect(401, 404, 404, 404, 404, 200)},
		{"GET /v1/accounts/{accountId}/devices", func(f fixture) req {
			return req{method: "GET", path: fmt.Sprintf("/v1/accounts/%d/devices", f.account)}
		}, expect(401, 404, 404, 404, 404, 200)},
		// Linking needs the account (owner only); pool members other than the owner see
		// the device through the pool, hence 403 rather than 404.
		{"PUT /v1/devices/{deviceId}/link", func(f fixture) req {
			return req{method: "PUT", path: fmt.Sprintf("/v1/devices/%d/link", f.device), body: map[string]int64{"poolId": f.pool}}
		}, expect(401, 404, 403, 403, 404, 200)},
		{"DELETE /v1/devices/{deviceId}/link", func(f fixture) req {
			return req{method: "DELETE", path: fmt.Sprintf("/v1/devices/%d/link", f.device)}
		}, expect(401, 404, 403, 204, 404, 204)},
		{"GET /v1/admin/providers", func(fixture) req { return req{method: "GET", path: "/v1/admin/providers"} }, expect(401, 403, 403, 403, 200, 403)},
		{"POST /v1/admin/reload", func(fixture) req { return req{method: "POST", path: "/v1/admin/reload"} }, expect(401, 403, 403, 403, 200, 403)},
		{"GET /v1/admin/overview", func(fixture) req { return req{method: "GET", path: "/v1/admin/overview"} }, admin(200)},
		{"GET /v1/admin/audit", func(fixture) req { return req{method: "GET", path: "/v1/admin/audit"} }, expect(401, 403, 403, 403, 200, 403)},
		{"POST /v1/admin/users", func(f fixture) req {
			return req{method: "POST", path: "/v1/admin/users", body: map[string]any{"email": fmt.Sprintf("new-%d@example.com", f.target.ID)}}
		}, expect(401, 403, 403, 403, 201, 403)},
		{"POST /v1/admin/users/{userId}/tokens", func(f fixture) req {
			return req{method: "POST", path: fmt.Sprintf("/v1/admin/users/%d/tokens", f.target.ID)}
		}, expect(401, 403, 403, 403, 201, 403)},
		{"DELETE /v1/admin/users/{userId}/tokens", func(f fixture) req {
			return req{method: "DELETE", path: fmt.Sprintf("/v1/admin/users/%d/tokens", f.target.ID)}
		}, expect(401, 403, 403, 403, 200, 403)},
		{"GET /v1/admin/failures", func(fixture) req { return req{method: "GET", path: "/v1/admin/failures"} }, admin(200)},
		{"POST /v1/admin/failures/requeue", func(fixture) req {
			return req{method: "POST", path: "/v1/admin/failures/requeue", body: map[string]string{"provider": "generic"}}
		}, admin(200)},
		{"GET /v1/admin/failures/{failureId}", func(f fixture) req { return req{method: "GET", path: fmt.Sprintf("/v1/admin/failures/%d", f.failure)} }, admin(200)},
		{"POST /v1/admin/failures/{failureId}/requeue", func(f fixture) req {
			return req{method: "POST", path: fmt.Sprintf("/v1/admin/failures/%d/requeue", f.failure)}
		}, admin(200)},
		{"DELETE /v1/admin/failures/{failureId}", func(f fixture) req {
			return req{method: "DELETE", path: fmt.Sprintf("/v1/admin/failures/%d", f.failure)}
		}, admin(204)},
		// Webhooks: no bearer token is needed, and one that is sent (poolhost's or not) is
		// the provider's business. The signature decides.
		{"POST /v1/webhooks/{provider}", func(f fixture) req { return signedDelivery(f, "/v1/webhooks/generic") }, webhook(200)},
		{"POST /v1/webhooks/{provider}/accounts/{accountId}", func(f fixture) req {
			return signedDelivery(f, fmt.Sprintf("/v1/webhooks/generic/accounts/%d", f.account))
		}, webhook(200)},
		{"POST /v1/webhooks/{provider}/{event}", func(f fixture) req { return signedDelivery(f, "/v1/webhooks/generic/uplink") }, webhook(200)},
		{"POST /v1/webhooks/{provider}/accounts/{accountId}/{event}", func(f fixture) req {
			return signedDelivery(f, fmt.Sprintf("/v1/webhooks/generic/accounts/%d/uplink", f.account))
		}, webhook(200)},
	}
	for _, r := range routes {
		if _, ok := r.want["foreign"]; !ok {
			r.want["foreign"] = 401
		}
	}

	// Every operation of the fully wired router, and every documented one, is in the
	// matrix (and nothing else is).
	routed, err := httpapi.RoutedOperations(httpapi.New(httpapi.Deps{}, httpapi.WithWebhooks(nil), httpapi.WithFailures(nil)).Mux())
	must(t, err)
	spec, err := httpapi.SpecOperations()
	must(t, err)
	var documented []string
	for _, ops := range spec {
		documented = append(documented, ops...)
	}
	slices.Sort(documented)
	var covered []string
	for _, r := range routes {
		covered = append(covered, r.op)
	}
	slices.Sort(covered)
	if !slices.Equal(routed, covered) || !slices.Equal(documented, covered) {
		t.Fatalf("matrix covers\n%v\nrouter has\n%v\nopenapi.yaml has\n%v", covered, routed, documented)
	}

	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{ingest: true})
		for _, r := range routes {
			for _, role := range roles {
				f := e.fixture()
				rq := r.req(f)
				switch role {
				case "anonymous":
				case "foreign":
					rq.token = foreignToken
				default:
					rq.token = f.users[role].Token
				}
				resp := e.do(rq)
				if resp.StatusCode != r.want[role] {
					t.Errorf("%s as %s: status %d, want %d: %s", r.op, role, resp.StatusCode, r.want[role], resp.Body)
				}
				// Whoever sends it, no delivery reaches the pool of the stranger who
				// declared the owner's device id.
				var squatted int
				must(t, e.st.DB().Get(&squatted, e.st.DB().Rebind(`SELECT COUNT(*) FROM sensor_readings WHERE pool_id = ?`), f.squatPool))
				if squatted != 0 {
					t.Errorf("%s as %s: %d readings reached the pool of a user who only declared the device", r.op, role, squatted)
				}
				if resp.StatusCode >= 400 {
					p := resp.problem(t)
					if p.Status != resp.StatusCode || p.RequestID == "" || p.RequestID != resp.Header.Get("X-Request-ID") {
						t.Errorf("%s as %s: problem %+v", r.op, role, p)
					}
				}
			}
		}
	})
}
