package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/plugins/ttn/ttntest"
)

// sweepResp is one answer of the served host.
type sweepResp struct {
	status int
	header http.Header
	body   []byte
}

// sweepDo sends one request. The sweep sends many from one address and token, so an
// answer of the rate limiter (429) is waited out as its Retry-After says and the
// request sent again: the sweep is about what the route answers.
func sweepDo(t *testing.T, method, u, token string, body any, header map[string]string) sweepResp {
	t.Helper()
	for {
		r := sweepOnce(t, method, u, token, body, header)
		if r.status != http.StatusTooManyRequests {
			return r
		}
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || secs <= 0 || secs > 60 {
			t.Fatalf("%s %s: 429 with Retry-After %q", method, u, r.header.Get("Retry-After"))
		}
		time.Sleep(time.Duration(secs) * time.Second)
	}
}

func sweepOnce(t *testing.T, method, u, token string, body any, header map[string]string) sweepResp {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return sweepResp{status: resp.StatusCode, header: resp.Header, body: b}
}

// sweepWorld is user A's (alice's) little world on a served host, as the attackers know it.
type sweepWorld struct {
	base                                  string
	tokens                                map[string]string // alice, bob, carol, admin, revoked, disabled
	aliceID, bobID, carolID               int64
	pool, account, device, equip, session int64
	carolAccount, carolDevice             int64
	aliceSecret, carolSecret              string
	devSecret                             string // generic's provider-level webhook secret
	aliceDevice                           string // her device's id at the provider
	// Commands: alice's pump on a TTN relay, with one command sent (cmdSent) and one
	// held queued (cmdQueued); carol's equipment in alice's pool on carol's own relay,
	// with the command carol sent while she was an editor (carolCmd).
	cmdEquip, carolEquip         int64
	cmdSent, cmdQueued, carolCmd string
	// stackCalls counts every request that reached the fake Things Stack.
	stackCalls *atomic.Int64
	// secrets are the markers that even a member of alice's pool must never see: her
	// email, her account's id at the provider, her webhook secret.
	secrets []string
	// markers are strings only alice's world holds: no answer to anyone else may
	// contain one.
	markers []string
}

// TestAuthzSweep is an attacker's sweep of the API through a real `poolhost serve`:
// every route the router has, tried with alice's ids as anonymous, as bob (an ordinary
// user who never belonged to alice's pool) and as carol (an editor alice removed, whose
// own device she had linked to alice's pool), and the admin routes as non-admins. Each
// answer must be 401, 403 or 404 as a problem+json body (or, on the routes about the
// caller's own things, a success), and none may carry anything of alice's. A route the
// router gains without a case here fails the test.
func TestAuthzSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every binary; skipped in -short mode")
	}
	b := buildE2E(t)
	// ttn is read-write with pump.set approved, its downlinks going to a fake of The
	// Things Stack behind a counter: an attacker's command must never reach it.
	stack := ttntest.NewServer(e2eDownlinkKey)
	defer stack.Close()
	stackURL, _ := url.Parse(stack.URL)
	toStack := httputil.NewSingleHostReverseProxy(stackURL)
	var stackCalls atomic.Int64
	counted := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		stackCalls.Add(1)
		toStack.ServeHTTP(rw, r)
	}))
	defer counted.Close()
	c := writeE2EConfig(t, b, withCommands(counted.URL))
	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	w := newSweepWorld(t, b, c, stack, &stackCalls)

	type kind int
	const (
		public   kind = iota // anyone: 200, nothing of alice's in it
		self                 // any user, about their own things: 2xx, nothing of alice's
		owned                // alice's pool, account, device...: 404 to others
		admin                // 403 to non-admins
		callback             // the OAuth callback: a forged state is 400
		webhook              // no bearer token looked at: an unsigned delivery is 401
	)
	type sweepCase struct {
		kind   kind
		method string
		path   string
		body   any
	}
	p := func(format string, a ...any) string { return fmt.Sprintf(format, a...) }
	cases := map[string]sweepCase{
		"GET /healthz":      {public, "GET", "/healthz", nil},
		"GET /readyz":       {public, "GET", "/readyz", nil},
		"GET /metrics":      {public, "GET", "/metrics", nil},
		"GET /openapi.yaml": {public, "GET", "/openapi.yaml", nil},

		"POST /v1/pools":    {self, "POST", "/v1/pools", map[string]any{"name": "mine"}},
		"GET /v1/pools":     {self, "GET", "/v1/pools", nil},
		"GET /v1/providers": {self, "GET", "/v1/providers", nil},
		"GET /v1/accounts":  {self, "GET", "/v1/accounts", nil},
		"POST /v1/providers/{provider}/connect": {self, "POST", "/v1/providers/generic/connect",
			map[string]any{"input": map[string]string{"devices": "mine-1"}}},
		"GET /v1/providers/{provider}/callback":  {callback, "GET", "/v1/providers/template/callback?code=c&state=forged", nil},
		"POST /v1/providers/{provider}/callback": {callback, "POST", "/v1/providers/template/callback", map[string]string{"code": "c", "state": "forged"}},

		"GET /v1/pools/{poolId}":                                {owned, "GET", p("/v1/pools/%d", w.pool), nil},
		"PATCH /v1/pools/{poolId}":                              {owned, "PATCH", p("/v1/pools/%d", w.pool), map[string]any{"timeZone": "UTC", "volumeLiters": 1}},
		"DELETE /v1/pools/{poolId}":                             {owned, "DELETE", p("/v1/pools/%d", w.pool), nil},
		"PUT /v1/pools/{poolId}/members/{userId}":               {owned, "PUT", p("/v1/pools/%d/members/%d", w.pool, w.bobID), map[string]string{"role": "owner"}},
		"DELETE /v1/pools/{poolId}/members/{userId}":            {owned, "DELETE", p("/v1/pools/%d/members/%d", w.pool, w.aliceID), nil},
		"GET /v1/pools/{poolId}/readings":                       {owned, "GET", p("/v1/pools/%d/readings?limit=1", w.pool), nil},
		"GET /v1/pools/{poolId}/readings/summary":               {owned, "GET", p("/v1/pools/%d/readings/summary?metric=ph&bucket=1d", w.pool), nil},
		"GET /v1/pools/{poolId}/status":                         {owned, "GET", p("/v1/pools/%d/status", w.pool), nil},
		"GET /v1/pools/{poolId}/test-sessions":                  {owned, "GET", p("/v1/pools/%d/test-sessions", w.pool), nil},
		"POST /v1/pools/{poolId}/test-sessions":                 {owned, "POST", p("/v1/pools/%d/test-sessions", w.pool), map[string]any{"method": "drops", "results": []map[string]any{{"metric": "ph", "value": 7.1, "unit": "pH"}}}},
		"GET /v1/pools/{poolId}/test-sessions/{sessionId}":      {owned, "GET", p("/v1/pools/%d/test-sessions/%d", w.pool, w.session), nil},
		"DELETE /v1/pools/{poolId}/test-sessions/{sessionId}":   {owned, "DELETE", p("/v1/pools/%d/test-sessions/%d", w.pool, w.session), nil},
		"GET /v1/pools/{poolId}/equipment":                      {owned, "GET", p("/v1/pools/%d/equipment", w.pool), nil},
		"POST /v1/pools/{poolId}/equipment":                     {owned, "POST", p("/v1/pools/%d/equipment", w.pool), map[string]any{"kind": "pump"}},
		"GET /v1/pools/{poolId}/equipment/{equipmentId}":        {owned, "GET", p("/v1/pools/%d/equipment/%d", w.pool, w.equip), nil},
		"PATCH /v1/pools/{poolId}/equipment/{equipmentId}":      {owned, "PATCH", p("/v1/pools/%d/equipment/%d", w.pool, w.equip), map[string]any{"config": map[string]any{}}},
		"DELETE /v1/pools/{poolId}/equipment/{equipmentId}":     {owned, "DELETE", p("/v1/pools/%d/equipment/%d", w.pool, w.equip), nil},
		"GET /v1/pools/{poolId}/equipment/{equipmentId}/device": {owned, "GET", p("/v1/pools/%d/equipment/%d/device", w.pool, w.equip), nil},
		// carol binds alice's equipment to carol's own device, still linked to the pool.
		"PUT /v1/pools/{poolId}/equipment/{equipmentId}/device":    {owned, "PUT", p("/v1/pools/%d/equipment/%d/device", w.pool, w.equip), map[string]any{"deviceId": w.carolDevice}},
		"DELETE /v1/pools/{poolId}/equipment/{equipmentId}/device": {owned, "DELETE", p("/v1/pools/%d/equipment/%d/device", w.pool, w.equip), nil},
		// alice's real pump, command ids and queued command; sweepCommands tries more.
		"POST /v1/pools/{poolId}/equipment/{equipmentId}/commands":     {owned, "POST", p("/v1/pools/%d/equipment/%d/commands", w.pool, w.cmdEquip), map[string]any{"command": "pump.set", "params": map[string]any{"on": false}}},
		"GET /v1/pools/{poolId}/commands":                              {owned, "GET", p("/v1/pools/%d/commands", w.pool), nil},
		"GET /v1/pools/{poolId}/commands/{commandId}":                  {owned, "GET", p("/v1/pools/%d/commands/%s", w.pool, w.cmdSent), nil},
		"POST /v1/pools/{poolId}/commands/{commandId}/cancel":          {owned, "POST", p("/v1/pools/%d/commands/%s/cancel", w.pool, w.cmdQueued), nil},
		"POST /v1/pools/{poolId}/devices/{deviceId}/suggestion/accept": {owned, "POST", p("/v1/pools/%d/devices/%d/suggestion/accept", w.pool, w.device), nil},

		"GET /v1/accounts/{accountId}":                        {owned, "GET", p("/v1/accounts/%d", w.account), nil},
		"DELETE /v1/accounts/{accountId}":                     {owned, "DELETE", p("/v1/accounts/%d", w.account), nil},
		"POST /v1/accounts/{accountId}/discover":              {owned, "POST", p("/v1/accounts/%d/discover", w.account), nil},
		"POST /v1/accounts/{accountId}/webhook-secret/rotate": {owned, "POST", p("/v1/accounts/%d/webhook-secret/rotate", w.account), nil},
		"GET /v1/accounts/{accountId}/devices":                {owned, "GET", p("/v1/accounts/%d/devices", w.account), nil},
		"PUT /v1/devices/{deviceId}/link":                     {owned, "PUT", p("/v1/devices/%d/link", w.device), map[string]any{"poolId": w.pool}},
		"DELETE /v1/devices/{deviceId}/link":                  {owned, "DELETE", p("/v1/devices/%d/link", w.device), nil},

		"GET /v1/admin/providers":                                   {admin, "GET", "/v1/admin/providers", nil},
		"POST /v1/admin/reload":                                     {admin, "POST", "/v1/admin/reload", nil},
		"GET /v1/admin/overview":                                    {admin, "GET", "/v1/admin/overview", nil},
		"GET /v1/admin/audit":                                       {admin, "GET", "/v1/admin/audit?by=people", nil},
		"POST /v1/admin/users":                                      {admin, "POST", "/v1/admin/users", map[string]any{"email": "mallory@example.com", "admin": true}},
		"POST /v1/admin/users/{userId}/tokens":                      {admin, "POST", p("/v1/admin/users/%d/tokens", w.aliceID), nil},
		"DELETE /v1/admin/users/{userId}/tokens":                    {admin, "DELETE", p("/v1/admin/users/%d/tokens", w.aliceID), nil},
		"GET /v1/admin/failures":                                    {admin, "GET", "/v1/admin/failures", nil},
		"POST /v1/admin/failures/requeue":                           {admin, "POST", "/v1/admin/failures/requeue", map[string]string{"provider": "generic"}},
		"GET /v1/admin/failures/{failureId}":                        {admin, "GET", "/v1/admin/failures/1", nil},
		"POST /v1/admin/failures/{failureId}/requeue":               {admin, "POST", "/v1/admin/failures/1/requeue", nil},
		"DELETE /v1/admin/failures/{failureId}":                     {admin, "DELETE", "/v1/admin/failures/1", nil},
		"POST /v1/webhooks/{provider}":                              {webhook, "POST", "/v1/webhooks/generic", []byte(`{"device_id":"x","readings":[]}`)},
		"POST /v1/webhooks/{provider}/accounts/{accountId}":         {webhook, "POST", p("/v1/webhooks/generic/accounts/%d", w.account), []byte(`{"device_id":"x","readings":[]}`)},
		"POST /v1/webhooks/{provider}/{event}":                      {webhook, "POST", "/v1/webhooks/generic/uplink", []byte(`{"device_id":"x","readings":[]}`)},
		"POST /v1/webhooks/{provider}/accounts/{accountId}/{event}": {webhook, "POST", p("/v1/webhooks/generic/accounts/%d/uplink", w.account), []byte(`{"device_id":"x","readings":[]}`)},
	}

	// Every operation of the fully wired router has a case, and nothing else does.
	routed, err := httpapi.RoutedOperations(httpapi.New(httpapi.Deps{}, httpapi.WithWebhooks(nil), httpapi.WithFailures(nil)).Mux())
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range routed {
		if _, ok := cases[op]; !ok {
			t.Errorf("route %s has no case in the sweep", op)
		}
	}
	if len(routed) != len(cases) {
		t.Errorf("the sweep has %d cases, the router %d operations: %v", len(cases), len(routed), routed)
	}

	// revoked and disabled were editors of alice's pool when their token was revoked and
	// their user disabled: their tokens open nothing, public routes included.
	callers := []string{"anonymous", "bob", "carol", "revoked", "disabled"}
	for _, op := range routed {
		sc, ok := cases[op]
		if !ok {
			continue
		}
		for _, who := range callers {
			token := w.tokens[who]
			r := sweepDo(t, sc.method, w.base+sc.path, token, sc.body, nil)
			var want []int
			switch {
			case sc.kind == public && (who == "revoked" || who == "disabled"):
				want = []int{http.StatusUnauthorized} // a token given must be valid
			case sc.kind == public:
				want = []int{http.StatusOK}
			case sc.kind == webhook:
				want = []int{http.StatusUnauthorized}
			case who == "anonymous", who == "revoked", who == "disabled":
				want = []int{http.StatusUnauthorized}
			case sc.kind == self:
				want = []int{http.StatusOK, http.StatusCreated}
			case sc.kind == owned:
				want = []int{http.StatusNotFound}
			case sc.kind == admin:
				want = []int{http.StatusForbidden}
			case sc.kind == callback:
				want = []int{http.StatusBadRequest}
			}
			if !containsInt(want, r.status) {
				t.Errorf("%s as %s: %d, want %v: %s", op, who, r.status, want, r.body)
			}
			if r.status >= 400 {
				checkProblem(t, op+" as "+who, r)
			}
			w.checkNoLeak(t, op+" as "+who, r)
		}
	}

	// vera, a viewer of alice's pool, on every route about alice's things: she reads
	// the pool (200) and is refused every change (403, or 404 for alice's account and
	// what only its owner sees), and no answer carries alice's email, her account's id
	// at the provider or her webhook secret. The check at the end says nothing changed.
	for _, op := range routed {
		sc, ok := cases[op]
		if !ok || sc.kind != owned {
			continue
		}
		r := sweepDo(t, sc.method, w.base+sc.path, w.tokens["vera"], sc.body, nil)
		want := []int{http.StatusForbidden, http.StatusNotFound}
		if sc.method == http.MethodGet {
			want = []int{http.StatusOK, http.StatusNotFound}
		}
		if !containsInt(want, r.status) {
			t.Errorf("%s as vera (viewer): %d, want %v: %s", op, r.status, want, r.body)
		}
		if r.status >= 400 {
			checkProblem(t, op+" as vera", r)
		}
		for _, m := range w.secrets {
			if bytes.Contains(r.body, []byte(m)) {
				t.Errorf("%s as vera (viewer): answer carries alice's %q: %s", op, m, r.body)
			}
		}
	}

	w.sweepDevicesAndWebhooks(t)
	w.sweepExistence(t)
	w.sweepCommands(t)

	// bob owns a pool of his own and adds alice to it by her id: that must not tell him
	// who she is.
	var bobPool struct{ ID int64 }
	r0 := sweepDo(t, "POST", w.base+"/v1/pools", w.tokens["bob"], map[string]any{"name": "bob's"}, nil)
	if err := json.Unmarshal(r0.body, &bobPool); r0.status != http.StatusCreated || err != nil {
		t.Fatalf("bob's pool: %d %s", r0.status, r0.body)
	}
	for _, rq := range []struct {
		method, path string
		body         any
	}{
		{"PUT", fmt.Sprintf("/v1/pools/%d/members/%d", bobPool.ID, w.aliceID), map[string]string{"role": "viewer"}},
		{"GET", fmt.Sprintf("/v1/pools/%d", bobPool.ID), nil},
	} {
		r := sweepDo(t, rq.method, w.base+rq.path, w.tokens["bob"], rq.body, nil)
		if r.status != http.StatusOK {
			t.Errorf("bob %s %s: %d %s", rq.method, rq.path, r.status, r.body)
		}
		w.checkNoLeak(t, "bob "+rq.method+" "+rq.path, r)
	}
	w.sweepConsole(t)

	// Nothing any of them tried changed alice's world: she still owns her pool, her
	// account, device, equipment binding and test session.
	for _, path := range []string{
		fmt.Sprintf("/v1/pools/%d", w.pool), fmt.Sprintf("/v1/accounts/%d", w.account),
		fmt.Sprintf("/v1/pools/%d/test-sessions/%d", w.pool, w.session),
		fmt.Sprintf("/v1/pools/%d/equipment/%d/device", w.pool, w.equip),
	} {
		if r := sweepDo(t, "GET", w.base+path, w.tokens["alice"], nil, nil); r.status != http.StatusOK {
			t.Errorf("alice GET %s after the sweep: %d %s", path, r.status, r.body)
		}
	}
	// The markers are real: alice's own answers carry them.
	var all []byte
	for _, path := range []string{fmt.Sprintf("/v1/pools/%d", w.pool), fmt.Sprintf("/v1/accounts/%d/devices", w.account),
		fmt.Sprintf("/v1/pools/%d/equipment", w.pool), fmt.Sprintf("/v1/pools/%d/readings", w.pool), fmt.Sprintf("/v1/accounts/%d", w.account),
		fmt.Sprintf("/v1/pools/%d/commands", w.pool)} {
		all = append(all, sweepDo(t, "GET", w.base+path, w.tokens["alice"], nil, nil).body...)
	}
	for _, m := range w.markers {
		if m != strings.TrimPrefix(w.aliceSecret, "whsec_") && !bytes.Contains(all, []byte(m)) {
			t.Errorf("alice's own answers do not carry her marker %q", m)
		}
	}
	r := sweepDo(t, "GET", fmt.Sprintf("%s/v1/pools/%d/equipment/%d/device", w.base, w.pool, w.equip), w.tokens["alice"], nil, nil)
	if !bytes.Contains(r.body, []byte(fmt.Sprintf(`"deviceId":%d`, w.device))) {
		t.Errorf("alice's equipment binding changed: %s", r.body)
	}
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// checkProblem: an error answer is problem+json with its own status and a request id.
func checkProblem(t *testing.T, what string, r sweepResp) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("%s: %d answered as %q: %s", what, r.status, ct, r.body)
		return
	}
	var pb struct {
		Status    int    `json:"status"`
		Title     string `json:"title"`
		Detail    string `json:"detail"`
		RequestID string `json:"requestId"`
	}
	if err := json.Unmarshal(r.body, &pb); err != nil || pb.Status != r.status || pb.Title == "" {
		t.Errorf("%s: problem body %s (%v)", what, r.body, err)
	}
}

// checkNoLeak fails when an answer to someone other than alice carries one of her
// markers: her email, pool name, time zone, device and account ids at the provider,
// equipment name, webhook secret.
func (w *sweepWorld) checkNoLeak(t *testing.T, what string, r sweepResp) {
	t.Helper()
	for _, m := range w.markers {
		if bytes.Contains(r.body, []byte(m)) {
			t.Errorf("%s: answer carries alice's %q: %s", what, m, r.body)
		}
		for k, vs := range r.header {
			for _, v := range vs {
				if strings.Contains(v, m) {
					t.Errorf("%s: header %s carries alice's %q", what, k, m)
				}
			}
		}
	}
}

// newSweepWorld makes, through the CLI and the API of the served host: alice with a
// pool (its name, time zone and equipment hers alone), a generic account whose verified
// device feeds the pool and has a reading and a test session; bob, a stranger; carol,
// whom alice made an editor, who linked her own generic device to alice's pool, and
// whom alice then removed; and an admin.
func newSweepWorld(t *testing.T, b e2eBuild, c e2eConfig, stack *ttntest.Server, stackCalls *atomic.Int64) *sweepWorld {
	t.Helper()
	w := &sweepWorld{base: c.baseURL, tokens: map[string]string{}, stackCalls: stackCalls}
	sec, err := os.ReadFile(filepath.Join(filepath.Dir(c.path), "data", "dev-webhook.secret"))
	if err != nil {
		t.Fatal(err)
	}
	w.devSecret = strings.TrimSpace(string(sec))
	tag := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	ids := map[string]int64{}
	for _, name := range []string{"alice", "bob", "carol", "admin", "revoked", "disabled", "vera"} {
		email := fmt.Sprintf("%s-%s@example.com", name, tag)
		args := []string{"users", "create", "--email", email, "--config", c.path}
		if name == "admin" {
			args = append(args, "--admin")
		}
		out := strings.Fields(cliOK(t, b, args...))
		if len(out) < 3 {
			t.Fatalf("users create printed %v", out)
		}
		id, err := strconv.ParseInt(out[2], 10, 64)
		if err != nil {
			t.Fatalf("users create printed %v", out)
		}
		ids[name] = id
		w.tokens[name] = cliOK(t, b, "tokens", "create", "--email", email, "--config", c.path)
	}
	w.aliceID, w.bobID, w.carolID = ids["alice"], ids["bob"], ids["carol"]
	alice, carol := w.tokens["alice"], w.tokens["carol"]

	must2 := func(r sweepResp, want int, what string) sweepResp {
		t.Helper()
		if r.status != want {
			t.Fatalf("%s: %d %s", what, r.status, r.body)
		}
		return r
	}
	decode := func(r sweepResp, v any) {
		t.Helper()
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("decode %s: %v", r.body, err)
		}
	}
	poolName := "alices-pool-" + tag
	var pool struct{ ID int64 }
	decode(must2(sweepDo(t, "POST", w.base+"/v1/pools", alice, map[string]any{"name": poolName}, nil), 201, "create pool"), &pool)
	w.pool = pool.ID
	must2(sweepDo(t, "PATCH", fmt.Sprintf("%s/v1/pools/%d", w.base, w.pool), alice, map[string]any{"timeZone": "Pacific/Chatham"}, nil), 200, "pool time zone")

	connect := func(token, dev string) (acc int64, secret string, devID int64) {
		t.Helper()
		var conn struct {
			Account struct {
				ID                int64  `json:"id"`
				ExternalAccountID string `json:"externalAccountId"`
			} `json:"account"`
			Webhook struct{ Secret string } `json:"webhook"`
		}
		decode(must2(sweepDo(t, "POST", w.base+"/v1/providers/generic/connect", token, map[string]any{"input": map[string]string{"devices": dev}}, nil), 201, "connect"), &conn)
		var disc struct{ Devices []struct{ ID int64 } }
		decode(must2(sweepDo(t, "POST", fmt.Sprintf("%s/v1/accounts/%d/discover", w.base, conn.Account.ID), token, nil, nil), 200, "discover"), &disc)
		if len(disc.Devices) != 1 {
			t.Fatalf("discovered %+v", disc)
		}
		must2(sweepDo(t, "PUT", fmt.Sprintf("%s/v1/devices/%d/link", w.base, disc.Devices[0].ID), token, map[string]any{"poolId": w.pool}, nil), 200, "link")
		if token == alice {
			w.markers = append(w.markers, conn.Account.ExternalAccountID)
			w.secrets = append(w.secrets, conn.Account.ExternalAccountID)
		}
		return conn.Account.ID, conn.Webhook.Secret, disc.Devices[0].ID
	}
	aliceDev := "alices-probe-" + tag
	w.account, w.aliceSecret, w.device = connect(alice, aliceDev)
	w.aliceDevice = aliceDev

	equipName := "alices-pump-" + tag
	var eq struct{ ID int64 }
	decode(must2(sweepDo(t, "POST", fmt.Sprintf("%s/v1/pools/%d/equipment", w.base, w.pool), alice, map[string]any{"kind": "pump", "name": equipName}, nil), 201, "equipment"), &eq)
	w.equip = eq.ID
	must2(sweepDo(t, "PUT", fmt.Sprintf("%s/v1/pools/%d/equipment/%d/device", w.base, w.pool, w.equip), alice, map[string]any{"deviceId": w.device}, nil), 200, "bind")
	var ts struct {
		Session struct{ ID int64 } `json:"session"`
	}
	decode(must2(sweepDo(t, "POST", fmt.Sprintf("%s/v1/pools/%d/test-sessions", w.base, w.pool), alice,
		map[string]any{"method": "drops", "results": []map[string]any{{"metric": "ph", "value": 7.3, "unit": "pH"}}}, nil), 201, "test session"), &ts)
	w.session = ts.Session.ID
	if code := w.post(t, fmt.Sprintf("/v1/webhooks/generic/accounts/%d", w.account), w.aliceSecret, aliceDev, aliceValue); code != 200 {
		t.Fatalf("alice's reading: %d", code)
	}

	// carol, an editor for a while, links her own device to alice's pool; then alice
	// removes her.
	must2(sweepDo(t, "PUT", fmt.Sprintf("%s/v1/pools/%d/members/%d", w.base, w.pool, w.carolID), alice, map[string]string{"role": "editor"}, nil), 200, "add carol")
	w.carolAccount, w.carolSecret, w.carolDevice = connect(carol, "carols-probe-"+tag)
	must2(sweepDo(t, "GET", fmt.Sprintf("%s/v1/pools/%d", w.base, w.pool), carol, nil, nil), 200, "carol reads the pool while a member")

	// Commands. alice's pump on her TTN relay: one command sent, then one the stack
	// refuses for an hour (429), so it stays queued and cancelable. carol, still an
	// editor, puts her own relay and pump in alice's pool and switches it once.
	relay := "alices-relay-" + tag
	pumpCmd := func(token string, equip int64, on bool) string {
		t.Helper()
		var cmd e2eCommand
		decode(must2(sweepDo(t, "POST", fmt.Sprintf("%s/v1/pools/%d/equipment/%d/commands", w.base, w.pool, equip), token,
			map[string]any{"command": "pump.set", "params": map[string]any{"on": on}, "expiresInSeconds": 86400}, nil), 202, "command"), &cmd)
		return cmd.ID
	}
	commandable := func(token, device, equipName string) int64 {
		t.Helper()
		acct := e2eAPI{t: t, base: w.base, token: token}.connectTTN(device, e2eDownlinkKey)
		must2(sweepDo(t, "PUT", fmt.Sprintf("%s/v1/devices/%d/link", w.base, acct.deviceID), token, map[string]any{"poolId": w.pool}, nil), 200, "link relay")
		var eq struct{ ID int64 }
		decode(must2(sweepDo(t, "POST", fmt.Sprintf("%s/v1/pools/%d/equipment", w.base, w.pool), token, map[string]any{"kind": "pump", "name": equipName}, nil), 201, "pump"), &eq)
		must2(sweepDo(t, "PUT", fmt.Sprintf("%s/v1/pools/%d/equipment/%d/device", w.base, w.pool, eq.ID), token, map[string]any{"deviceId": acct.deviceID}, nil), 200, "bind pump")
		return eq.ID
	}
	aliceAPI := e2eAPI{t: t, base: w.base, token: alice}
	w.cmdEquip = commandable(alice, relay, "alices-main-pump-"+tag)
	w.cmdSent = pumpCmd(alice, w.cmdEquip, true)
	aliceAPI.waitStatus(w.pool, w.cmdSent, "sent")
	stack.Force(http.StatusTooManyRequests, "3600")
	w.cmdQueued = pumpCmd(alice, w.cmdEquip, false)
	waitFor(t, "alice's second command refused for now", func() bool {
		c := aliceAPI.command(w.pool, w.cmdQueued)
		if c.Status != "queued" && c.Status != "sending" {
			t.Fatalf("alice's second command is %s (%s), want it held queued", c.Status, c.Reason)
		}
		return c.Status == "queued" && c.Reason != ""
	})
	stack.Force(0, "")
	w.carolEquip = commandable(carol, "carols-relay-"+tag, "carols-pump-"+tag)
	w.carolCmd = pumpCmd(carol, w.carolEquip, true)
	aliceAPI.waitStatus(w.pool, w.carolCmd, "sent")
	w.markers = append(w.markers, relay)
	must2(sweepDo(t, "DELETE", fmt.Sprintf("%s/v1/pools/%d/members/%d", w.base, w.pool, w.carolID), alice, nil, nil), 204, "remove carol")

	// Two more editors of alice's pool, who read it once; then an admin revokes the
	// one's token and the CLI disables the other.
	for _, who := range []string{"revoked", "disabled"} {
		must2(sweepDo(t, "PUT", fmt.Sprintf("%s/v1/pools/%d/members/%d", w.base, w.pool, ids[who]), alice, map[string]string{"role": "editor"}, nil), 200, "add "+who)
		must2(sweepDo(t, "GET", fmt.Sprintf("%s/v1/pools/%d", w.base, w.pool), w.tokens[who], nil, nil), 200, who+" reads the pool while a member")
	}
	must2(sweepDo(t, "DELETE", fmt.Sprintf("%s/v1/admin/users/%d/tokens", w.base, ids["revoked"]), w.tokens["admin"], nil, nil), 200, "revoke")
	cliOK(t, b, "users", "disable", "--user", strconv.FormatInt(ids["disabled"], 10), "--config", c.path)

	// vera is a viewer of alice's pool: she reads it, and changes nothing.
	must2(sweepDo(t, "PUT", fmt.Sprintf("%s/v1/pools/%d/members/%d", w.base, w.pool, ids["vera"]), alice, map[string]string{"role": "viewer"}, nil), 200, "add vera")

	w.markers = append(w.markers, fmt.Sprintf("alice-%s@", tag), poolName, "Pacific/Chatham", aliceDev, equipName,
		strings.TrimPrefix(w.aliceSecret, "whsec_"), strconv.FormatFloat(aliceValue, 'g', -1, 64))
	w.secrets = append(w.secrets, fmt.Sprintf("alice-%s@", tag), strings.TrimPrefix(w.aliceSecret, "whsec_"))
	return w
}

// aliceValue is the value of alice's reading, one of her markers. Nine decimals, so that
// no answer carries it by chance: with 7.123, a pool bob created at hh:mm:57.123… carried
// "7.123" in its createdAt.
const aliceValue = 7.123456789

// post sends one signed generic delivery of a ph reading and returns the status.
func (w *sweepWorld) post(t *testing.T, path, secret, device string, value float64) int {
	t.Helper()
	body := []byte(fmt.Sprintf(`{"device_id":%q,"readings":[{"metric":"ph","value":%g}]}`, device, value))
	id, ts := fmt.Sprintf("msg_sweep_%d", time.Now().UnixNano()), strconv.FormatInt(time.Now().Unix(), 10)
	r := sweepDo(t, "POST", w.base+path, "", body, map[string]string{
		"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": signStandard(t, secret, id, ts, body)})
	return r.status
}

// readings counts alice's pool's readings, as alice sees them.
func (w *sweepWorld) readings(t *testing.T) int {
	t.Helper()
	r := sweepDo(t, "GET", fmt.Sprintf("%s/v1/pools/%d/readings?limit=1000", w.base, w.pool), w.tokens["alice"], nil, nil)
	var page struct {
		Readings []json.RawMessage `json:"readings"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &page) != nil {
		t.Fatalf("alice's readings: %d %s", r.status, r.body)
	}
	return len(page.Readings)
}

// sweepDevicesAndWebhooks: carol, removed, cannot reach alice's pool through the device
// she linked earlier, and a delivery signed with someone else's secret proves nothing.
func (w *sweepWorld) sweepDevicesAndWebhooks(t *testing.T) {
	t.Helper()
	carol := w.tokens["carol"]
	before := w.readings(t)
	for _, tc := range []struct {
		what         string
		method, path string
		body         any
		want         int
	}{
		{"relink her device to alice's pool", "PUT", fmt.Sprintf("/v1/devices/%d/link", w.carolDevice), map[string]any{"poolId": w.pool}, 404},
		{"accept her device's suggestion for alice's pool", "POST", fmt.Sprintf("/v1/pools/%d/devices/%d/suggestion/accept", w.pool, w.carolDevice), nil, 404},
		{"bind alice's equipment to her device", "PUT", fmt.Sprintf("/v1/pools/%d/equipment/%d/device", w.pool, w.equip), map[string]any{"deviceId": w.carolDevice}, 404},
	} {
		r := sweepDo(t, tc.method, w.base+tc.path, carol, tc.body, nil)
		if r.status != tc.want {
			t.Errorf("removed carol: %s: %d, want %d: %s", tc.what, r.status, tc.want, r.body)
		}
		checkProblem(t, "removed carol: "+tc.what, r)
		w.checkNoLeak(t, "removed carol: "+tc.what, r)
	}
	// Her own account and device are still hers to see, and say nothing of alice's.
	for _, path := range []string{fmt.Sprintf("/v1/accounts/%d/devices", w.carolAccount), "/v1/accounts", "/v1/pools"} {
		r := sweepDo(t, "GET", w.base+path, carol, nil, nil)
		if r.status != 200 {
			t.Errorf("carol GET %s: %d %s", path, r.status, r.body)
		}
		w.checkNoLeak(t, "carol GET "+path, r)
	}
	// Her device's deliveries no longer reach alice's pool, whatever they name.
	if code := w.post(t, fmt.Sprintf("/v1/webhooks/generic/accounts/%d", w.carolAccount), w.carolSecret, "carols-probe-x", 6.5); code >= 500 {
		t.Errorf("carol's delivery: %d", code)
	}
	// Her account's secret does not open alice's account URL, nor does the
	// provider-level secret: it proves the provider, not who owns a device.
	if code := w.post(t, fmt.Sprintf("/v1/webhooks/generic/accounts/%d", w.account), w.carolSecret, "x", 6.6); code != 401 {
		t.Errorf("alice's account URL with carol's secret: %d, want 401", code)
	}
	if code := w.post(t, fmt.Sprintf("/v1/webhooks/generic/accounts/%d", w.account), w.devSecret, "x", 6.7); code != 401 {
		t.Errorf("alice's account URL with the provider-level secret: %d, want 401", code)
	}
	// The provider-level URL, signed with the provider's own secret, naming alice's
	// device (one she declared at connect, which the provider never vouched for).
	// It is authentic (200), and its reading is dropped: unverified_device.
	if code := w.post(t, "/v1/webhooks/generic", w.devSecret, w.aliceDevice, 6.8); code != 200 {
		t.Errorf("provider-level delivery naming alice's device: %d, want 200", code)
	}
	if after := w.readings(t); after != before {
		t.Errorf("alice's pool went from %d to %d readings during carol's and bob's tries", before, after)
	}
}

// sweepConsole: the operators' console is for admins only. A page without a session
// goes to sign-in; a non-admin's token opens no session.
func (w *sweepWorld) sweepConsole(t *testing.T) {
	t.Helper()
	for _, path := range []string{"/ui/", "/ui/providers", "/ui/failures", "/ui/failures/1", "/ui/failures/1/payload",
		"/ui/accounts", "/ui/audit?by=people", "/ui/audit?by=system", "/ui/commands"} {
		r := sweepDo(t, "GET", w.base+path, "", nil, nil)
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/ui/signin") {
			t.Errorf("console GET %s without a session: %d %s", path, r.status, r.header.Get("Location"))
		}
		w.checkNoLeak(t, "console GET "+path, r)
	}
	for _, who := range []string{"bob", "carol", "revoked", "disabled"} {
		want := http.StatusForbidden // a valid token, not an admin's
		if who == "revoked" || who == "disabled" {
			want = http.StatusUnauthorized
		}
		form := url.Values{"token": {w.tokens[who]}, "next": {"/ui/"}}
		req, _ := http.NewRequest("POST", w.base+"/ui/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", w.base)
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests { // sign-in attempts are rate-limited per address
			secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			time.Sleep(time.Duration(max(secs, 1)) * time.Second)
			req, _ = http.NewRequest("POST", w.base+"/ui/signin", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", w.base)
			if resp, err = client.Do(req); err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if resp.StatusCode != want || len(resp.Cookies()) != 0 {
			t.Errorf("console sign-in as %s: %d, cookies %v", who, resp.StatusCode, resp.Cookies())
		}
		w.checkNoLeak(t, "console sign-in as "+who, sweepResp{status: resp.StatusCode, header: resp.Header, body: body})
	}
}

// sweepExistence: where the code hides whether something exists, alice's thing and one
// that does not exist get the same answer (status, type, title, detail) — for bob, for
// removed carol, and on the account-scoped webhook URL for anyone.
func (w *sweepWorld) sweepExistence(t *testing.T) {
	t.Helper()
	const none = 987654
	type problem struct{ Type, Title, Detail string }
	answer := func(r sweepResp) (int, problem) {
		var p problem
		_ = json.Unmarshal(r.body, &p)
		return r.status, p
	}
	pairs := [][2]string{
		{fmt.Sprintf("/v1/pools/%d", w.pool), fmt.Sprintf("/v1/pools/%d", none)},
		{fmt.Sprintf("/v1/pools/%d/test-sessions/%d", w.pool, w.session), fmt.Sprintf("/v1/pools/%d/test-sessions/%d", none, none)},
		{fmt.Sprintf("/v1/pools/%d/equipment/%d", w.pool, w.equip), fmt.Sprintf("/v1/pools/%d/equipment/%d", none, none)},
		{fmt.Sprintf("/v1/accounts/%d", w.account), fmt.Sprintf("/v1/accounts/%d", none)},
		{fmt.Sprintf("/v1/accounts/%d/devices", w.account), fmt.Sprintf("/v1/accounts/%d/devices", none)},
	}
	for _, who := range []string{"bob", "carol"} {
		for _, pr := range pairs {
			s1, p1 := answer(sweepDo(t, "GET", w.base+pr[0], w.tokens[who], nil, nil))
			s2, p2 := answer(sweepDo(t, "GET", w.base+pr[1], w.tokens[who], nil, nil))
			if s1 != s2 || p1 != p2 {
				t.Errorf("%s tells %s from %s: %d %+v vs %d %+v", who, pr[0], pr[1], s1, p1, s2, p2)
			}
		}
		// A device: linking alice's and linking none.
		s1, p1 := answer(sweepDo(t, "PUT", fmt.Sprintf("%s/v1/devices/%d/link", w.base, w.device), w.tokens[who], map[string]any{"poolId": w.pool}, nil))
		s2, p2 := answer(sweepDo(t, "PUT", fmt.Sprintf("%s/v1/devices/%d/link", w.base, none), w.tokens[who], map[string]any{"poolId": w.pool}, nil))
		if s1 != s2 || p1 != p2 {
			t.Errorf("%s tells alice's device from none: %d %+v vs %d %+v", who, s1, p1, s2, p2)
		}
	}
	body := []byte(`{"device_id":"x","readings":[]}`)
	hdr := map[string]string{"webhook-id": "msg_x", "webhook-timestamp": strconv.FormatInt(time.Now().Unix(), 10), "webhook-signature": "v1,AAAA"}
	s1, p1 := answer(sweepDo(t, "POST", fmt.Sprintf("%s/v1/webhooks/generic/accounts/%d", w.base, w.account), "", body, hdr))
	s2, p2 := answer(sweepDo(t, "POST", fmt.Sprintf("%s/v1/webhooks/generic/accounts/%d", w.base, none), "", body, hdr))
	if s1 != s2 || p1 != p2 {
		t.Errorf("the account webhook URL tells alice's account from none: %d %+v vs %d %+v", s1, p1, s2, p2)
	}
}

// sweepCommands: the command routes tried with real ids by bob (a stranger who knows
// alice's pool, pump and command ids) and by carol (removed, with the pump and relay she
// put in alice's pool and the command she sent while an editor): each is the same 404
// as for ids that do not exist, and none queues, cancels or sends anything — the fake
// stack hears nothing more, and alice's commands are as they were.
func (w *sweepWorld) sweepCommands(t *testing.T) {
	t.Helper()
	before := w.stackCalls.Load()
	const none = 987654
	const noCmd = "cmd_00000000000000000000000a"
	type problem struct{ Type, Title, Detail string }
	pump := func(on bool) map[string]any {
		return map[string]any{"command": "pump.set", "params": map[string]any{"on": on}}
	}
	type try struct {
		what         string
		method, path string
		body         any
		// fake is the same request with ids that do not exist: its answer must match.
		fake string
	}
	p := fmt.Sprintf
	tries := []try{
		{"switch alice's pump", "POST", p("/v1/pools/%d/equipment/%d/commands", w.pool, w.cmdEquip), pump(true), p("/v1/pools/%d/equipment/%d/commands", none, none)},
		{"dry-run alice's pump", "POST", p("/v1/pools/%d/equipment/%d/commands?dryRun=true", w.pool, w.cmdEquip), pump(true), p("/v1/pools/%d/equipment/%d/commands?dryRun=true", none, none)},
		{"switch carol's pump in alice's pool", "POST", p("/v1/pools/%d/equipment/%d/commands", w.pool, w.carolEquip), pump(false), p("/v1/pools/%d/equipment/%d/commands", none, none)},
		{"list alice's commands", "GET", p("/v1/pools/%d/commands", w.pool), nil, p("/v1/pools/%d/commands", none)},
		{"list alice's queued commands", "GET", p("/v1/pools/%d/commands?status=queued", w.pool), nil, p("/v1/pools/%d/commands?status=queued", none)},
		{"read alice's sent command", "GET", p("/v1/pools/%d/commands/%s", w.pool, w.cmdSent), nil, p("/v1/pools/%d/commands/%s", none, noCmd)},
		{"read alice's queued command", "GET", p("/v1/pools/%d/commands/%s", w.pool, w.cmdQueued), nil, p("/v1/pools/%d/commands/%s", none, noCmd)},
		{"read carol's own earlier command", "GET", p("/v1/pools/%d/commands/%s", w.pool, w.carolCmd), nil, p("/v1/pools/%d/commands/%s", none, noCmd)},
		{"cancel alice's queued command", "POST", p("/v1/pools/%d/commands/%s/cancel", w.pool, w.cmdQueued), nil, p("/v1/pools/%d/commands/%s/cancel", none, noCmd)},
		{"cancel carol's own earlier command", "POST", p("/v1/pools/%d/commands/%s/cancel", w.pool, w.carolCmd), nil, p("/v1/pools/%d/commands/%s/cancel", none, noCmd)},
	}
	for _, who := range []string{"bob", "carol"} {
		for _, tr := range tries {
			r := sweepDo(t, tr.method, w.base+tr.path, w.tokens[who], tr.body, nil)
			if r.status != http.StatusNotFound {
				t.Errorf("%s: %s: %d, want 404: %s", who, tr.what, r.status, r.body)
			}
			checkProblem(t, who+": "+tr.what, r)
			w.checkNoLeak(t, who+": "+tr.what, r)
			f := sweepDo(t, tr.method, w.base+tr.fake, w.tokens[who], tr.body, nil)
			var p1, p2 problem
			_ = json.Unmarshal(r.body, &p1)
			_ = json.Unmarshal(f.body, &p2)
			if r.status != f.status || p1 != p2 {
				t.Errorf("%s: %s tells alice's ids from none: %d %+v vs %d %+v", who, tr.what, r.status, p1, f.status, p2)
			}
		}
	}
	// carol's relay is hers still: her account lists it, and that is all she sees.
	r := sweepDo(t, "GET", w.base+"/v1/accounts", w.tokens["carol"], nil, nil)
	w.checkNoLeak(t, "carol GET /v1/accounts", r)

	// Nothing happened: alice's pool has the three commands it had, the queued one still
	// queued (a command queued by them would be listed here whether or not the
	// dispatcher had sent it yet), and no request reached the stack.
	var list struct {
		Commands []e2eCommand `json:"commands"`
	}
	rl := sweepDo(t, "GET", fmt.Sprintf("%s/v1/pools/%d/commands", w.base, w.pool), w.tokens["alice"], nil, nil)
	if err := json.Unmarshal(rl.body, &list); rl.status != 200 || err != nil {
		t.Fatalf("alice's commands: %d %s", rl.status, rl.body)
	}
	got := map[string]string{}
	for _, c := range list.Commands {
		got[c.ID] = c.Status
	}
	want := map[string]string{w.cmdSent: "sent", w.cmdQueued: "queued", w.carolCmd: "sent"}
	if len(got) != len(want) {
		t.Errorf("alice's pool has commands %v, want only %v", got, want)
	}
	for id, st := range want {
		if got[id] != st {
			t.Errorf("alice's command %s is %q, want %q", id, got[id], st)
		}
	}
	if after := w.stackCalls.Load(); after != before {
		t.Errorf("the stack got %d requests during bob's and carol's tries", after-before)
	}
}
