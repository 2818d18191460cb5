package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/store"
)

// TestMemberAndUnlinkAudited covers the audited actions the flow test does not.
func TestMemberAndUnlinkAudited(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		f := e.fixture()
		owner, editor := f.users["owner"], f.users["editor"]
		hdr := map[string]string{"X-Request-ID": "member-1"}
		e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/pools/%d/members/%d", f.pool, f.target.ID), token: owner.Token, body: map[string]string{"role": "editor"}, header: hdr})
		e.must(204, req{method: "DELETE", path: fmt.Sprintf("/v1/pools/%d/members/%d", f.pool, f.target.ID), token: owner.Token})
		ev := e.auditEvents("member.changed")
		if len(ev) != 2 || ev[1].RequestID != "member-1" || ev[1].Actor != store.UserActor(owner.ID) || ev[1].TargetID != strconv.FormatInt(f.pool, 10) ||
			ev[1].Details["to"] != "editor" || ev[0].Details["from"] != "editor" {
			t.Errorf("member.changed = %+v", ev)
		}
		// The last owner cannot leave.
		p := e.must(409, req{method: "DELETE", path: fmt.Sprintf("/v1/pools/%d/members/%d", f.pool, owner.ID), token: owner.Token}).problem(t)
		if p.Type != httpapi.ProblemTypeBase+"last-owner" {
			t.Errorf("last owner problem = %+v", p)
		}
		e.must(204, req{method: "DELETE", path: fmt.Sprintf("/v1/devices/%d/link", f.device), token: editor.Token, header: map[string]string{"X-Request-ID": "unlink-1"}})
		ev = e.auditEvents("device.unlinked")
		if len(ev) != 1 || ev[0].RequestID != "unlink-1" || ev[0].Actor != store.UserActor(editor.ID) || ev[0].Provider != "generic" || ev[0].TargetID != strconv.FormatInt(f.device, 10) {
			t.Errorf("device.unlinked = %+v", ev)
		}
	})
}

// TestHygiene: body limits, request ids, problem bodies for unknown routes and methods.
func TestHygiene(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/db", envOpts{})
	u := e.newUser("u", false)

	big := `{"name":"` + strings.Repeat("x", 2<<20) + `"}`
	p := e.must(413, req{method: "POST", path: "/v1/pools", token: u.Token, body: big}).problem(t)
	if p.Type != httpapi.ProblemTypeBase+"body-too-large" {
		t.Errorf("413 problem = %+v", p)
	}
	e.must(400, req{method: "POST", path: "/v1/pools", token: u.Token, body: `{"name": 1}`})
	e.must(400, req{method: "POST", path: "/v1/pools", token: u.Token, body: `{"nmae": "typo"}`})

	resp := e.must(200, req{method: "GET", path: "/healthz", header: map[string]string{"X-Request-ID": "bad id\twith tab"}})
	if id := resp.Header.Get("X-Request-ID"); id == "" || strings.ContainsAny(id, " \t") {
		t.Errorf("unsafe request id echoed: %q", id)
	}
	p = e.must(404, req{method: "GET", path: "/v1/nope", token: u.Token}).problem(t)
	if p.Type != httpapi.ProblemTypeBase+"not-found" || p.Instance != "/v1/nope" {
		t.Errorf("404 problem = %+v", p)
	}
	r405 := e.must(405, req{method: "PATCH", path: "/v1/pools", token: u.Token})
	r405.problem(t)
	if allow := r405.Header.Get("Allow"); allow != "GET, POST" {
		t.Errorf("405 Allow = %q, want %q", allow, "GET, POST")
	}
	e.must(401, req{method: "GET", path: "/v1/pools", token: "pht_wrong"}).problem(t)
	e.must(401, req{method: "GET", path: "/v1/pools", header: map[string]string{"Authorization": "Basic Zm9vOmJhcg=="}}).problem(t)
	e.must(404, req{method: "GET", path: "/v1/pools/abc", token: u.Token}).problem(t)
	// An id has one spelling: "+1" and "01" are not pool 1.
	var pool struct{ ID int64 }
	e.must(201, req{method: "POST", path: "/v1/pools", token: u.Token, body: map[string]string{"name": "P"}}).json(t, &pool)
	e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d", pool.ID), token: u.Token})
	for _, alias := range []string{"+%d", "0%d", "00%d"} {
		e.must(404, req{method: "GET", path: "/v1/pools/" + fmt.Sprintf(alias, pool.ID), token: u.Token}).problem(t)
	}
}

// TestSecretAnswersNotStored: every answer that carries a secret shown once (an account's
// webhook secret at connect and at rotation, an API token) says Cache-Control: no-store,
// so no browser, app or proxy cache keeps a copy of it.
func TestSecretAnswersNotStored(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{ingest: true})
		u, admin := e.newUser("u", false), e.newUser("admin", true)
		var conn struct {
			Account account `json:"account"`
			Webhook struct {
				Secret string `json:"secret"`
			} `json:"webhook"`
		}
		connect := e.must(201, req{method: "POST", path: "/v1/providers/generic/connect", token: u.Token,
			body: map[string]any{"input": map[string]string{"devices": "d1"}}})
		connect.json(t, &conn)
		for what, r := range map[string]response{
			"connect": connect,
			"rotate":  e.must(200, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/webhook-secret/rotate", conn.Account.ID), token: u.Token}),
			"token":   e.must(201, req{method: "POST", path: fmt.Sprintf("/v1/admin/users/%d/tokens", u.ID), token: admin.Token}),
		} {
			if !strings.Contains(string(r.Body), "whsec_") && !strings.Contains(string(r.Body), "pht_") {
				t.Errorf("%s: the answer holds no secret: %s", what, r.Body)
			}
			if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
			}
		}
	})
}

// TestControlCharactersRefusedEverywhere: a NUL or another control character in a query parameter,
// a connect's display name or a dead-letter filter is a 400 saying which field, on both
// databases. PostgreSQL refuses a NUL in text, so on it each of these was a 500.
func TestControlCharactersRefusedEverywhere(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{ingest: true})
		u, admin := e.newUser("u", false), e.newUser("admin", true)
		for _, tc := range []struct {
			r    req
			want string
		}{
			{req{method: "GET", path: "/v1/admin/audit?action=member.changed%00", token: admin.Token}, `"action"`},
			{req{method: "GET", path: "/v1/admin/audit?provider=generic%00", token: admin.Token}, `"provider"`},
			{req{method: "GET", path: "/v1/admin/failures?provider=generic%0A", token: admin.Token}, `"provider"`},
			{req{method: "POST", path: "/v1/admin/failures/requeue", token: admin.Token, body: map[string]string{"provider": "generic\x00"}}, "provider"},
			{req{method: "POST", path: "/v1/providers/generic/connect", token: u.Token,
				body: map[string]any{"input": map[string]string{"devices": "d1", "name": "probe\x00"}}}, `input "name"`},
			{req{method: "POST", path: "/v1/providers/generic/connect", token: u.Token,
				body: map[string]any{"input": map[string]string{"devices": "d1", "name": "probe\x1b[2J"}}}, `input "name"`},
		} {
			r := e.do(tc.r)
			if r.StatusCode != 400 {
				t.Errorf("%s %s: %d %s", tc.r.method, tc.r.path, r.StatusCode, r.Body)
				continue
			}
			if p := r.problem(t); !strings.Contains(p.Detail, tc.want) || !strings.Contains(p.Detail, "control character") {
				t.Errorf("%s %s: %+v does not name %s and the control character", tc.r.method, tc.r.path, p, tc.want)
			}
		}
		// A display name with characters no name holds (the user's, or a provider's
		// pool title) is stored with U+FFFD in their place: a bidi override would
		// disguise it, and there is nothing in it for the user to fix.
		var conn struct {
			Account struct {
				DisplayName string `json:"displayName"`
			} `json:"account"`
		}
		e.must(201, req{method: "POST", path: "/v1/providers/generic/connect", token: u.Token,
			body: map[string]any{"input": map[string]string{"devices": "d1", "name": "probe\u202egnp.exe"}}}).json(t, &conn)
		if got := conn.Account.DisplayName; got != "probe\ufffdgnp.exe" {
			t.Errorf("display name stored as %q", got)
		}
	})
}

// TestWebhookWrongMethod: another method than POST on a webhook URL (some providers probe
// a URL with a GET before they save it) is a 405 naming POST in Allow, as on every other
// route — not a 404 saying the URL does not exist.
func TestWebhookWrongMethod(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/db", envOpts{ingest: true})
	for _, path := range []string{"/v1/webhooks/generic", "/v1/webhooks/generic/accounts/1",
		"/v1/webhooks/generic/uplink", "/v1/webhooks/generic/accounts/1/uplink"} {
		for _, method := range []string{"GET", "PUT", "DELETE"} {
			r := e.must(405, req{method: method, path: path})
			if p := r.problem(t); p.Type != httpapi.ProblemTypeBase+"method-not-allowed" || p.Instance != path {
				t.Errorf("%s %s: problem %+v", method, path, p)
			}
			if allow := r.Header.Get("Allow"); allow != "POST" {
				t.Errorf("%s %s: Allow = %q, want POST", method, path, allow)
			}
		}
	}
	// A path no webhook route has stays a 404: a webhook URL takes one more segment (a
	// message type's path), not two.
	e.must(404, req{method: "GET", path: "/v1/webhooks/generic/elsewhere/deeper"}).problem(t)
	e.must(404, req{method: "GET", path: "/v1/webhooks/generic/accounts/1/uplink/deeper"}).problem(t)
}

// TestTwoAuthorizationHeaders: a request with two Authorization headers is refused 401
// whichever comes first — the host read the first, a proxy or a log may read another —
// as a query parameter or a JSON field given twice is refused.
func TestTwoAuthorizationHeaders(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/db", envOpts{})
	u := e.newUser("u", false)
	for _, values := range [][]string{{"Bearer " + u.Token, "Bearer pht_other"}, {"Bearer pht_other", "Bearer " + u.Token}} {
		rq, _ := http.NewRequest("GET", e.srv.URL+"/v1/pools", nil)
		rq.Header["Authorization"] = values
		resp, err := http.DefaultClient.Do(rq)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(body), "give one Authorization header, not 2") {
			t.Errorf("two Authorization headers: %d %s", resp.StatusCode, body)
		}
	}
	e.must(200, req{method: "GET", path: "/v1/pools", token: u.Token})
}
