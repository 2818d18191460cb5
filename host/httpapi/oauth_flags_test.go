package httpapi_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/httpapi"
)

func (e *env) countAccounts() int {
	e.t.Helper()
	var n int
	if err := e.st.DB().GetContext(context.Background(), &n, `SELECT COUNT(*) FROM integration_accounts`); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestOAuthStateRules: replayed, expired, unknown, foreign-user and wrong-provider states
// get a clear 400 and store nothing; only the starting user's token completes a flow.
func TestOAuthStateRules(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		alice, mallory := e.newUser("alice", false), e.newUser("mallory", false)

		expect400 := func(name string, r req, wantType string) {
			t.Helper()
			before := e.countAccounts()
			p := e.must(400, r).problem(t)
			if p.Type != httpapi.ProblemTypeBase+wantType || p.RequestID == "" || p.Detail == "" {
				t.Errorf("%s: problem = %+v, want type %s", name, p, wantType)
			}
			if e.countAccounts() != before {
				t.Errorf("%s: an account was stored", name)
			}
		}

		t.Run("unknown", func(t *testing.T) {
			expect400("unknown", req{method: "GET", path: callbackPath("code", "no-such-state"), token: alice.Token}, connect.TypeStateInvalid)
			expect400("missing", req{method: "GET", path: "/v1/providers/template/callback?code=x", token: alice.Token}, connect.TypeStateInvalid)
		})
		t.Run("foreign user leaves the state usable", func(t *testing.T) {
			code, state := e.startOAuth(alice)
			expect400("foreign", req{method: "GET", path: callbackPath(code, state), token: mallory.Token}, connect.TypeStateInvalid)
			expect400("foreign post", req{method: "POST", path: "/v1/providers/template/callback", token: mallory.Token,
				body: map[string]string{"code": code, "state": state}}, connect.TypeStateInvalid)
			// Mallory's failed attempts did not spend alice's state.
			e.must(200, req{method: "GET", path: callbackPath(code, state), token: alice.Token})
		})
		t.Run("no token completes nothing and spends nothing", func(t *testing.T) {
			code, state := e.startOAuth(alice)
			before := e.countAccounts()
			p := e.must(401, req{method: "GET", path: callbackPath(code, state)}).problem(t)
			if p.Type != httpapi.ProblemTypeBase+connect.TypeCallbackUnauthenticated {
				t.Errorf("problem = %+v", p)
			}
			if e.countAccounts() != before {
				t.Error("an account was stored")
			}
			var out struct {
				Account struct{ ID int64 } `json:"account"`
			}
			e.must(200, req{method: "POST", path: "/v1/providers/template/callback", token: alice.Token,
				body: map[string]string{"code": code, "state": state}}).json(t, &out)
			if out.Account.ID == 0 {
				t.Error("no account from the posted callback")
			}
		})
		t.Run("replay", func(t *testing.T) {
			code, state := e.startOAuth(alice)
			e.must(200, req{method: "GET", path: callbackPath(code, state), token: alice.Token})
			expect400("replay", req{method: "GET", path: callbackPath(code, state), token: alice.Token}, "oauth-state-used")
		})
		t.Run("expired", func(t *testing.T) {
			code, state := e.startOAuth(alice)
			e.offset.Store(int64(connect.StateTTL + time.Minute))
			defer e.offset.Store(0)
			expect400("expired", req{method: "GET", path: callbackPath(code, state), token: alice.Token}, "oauth-state-expired")
		})
		t.Run("wrong provider", func(t *testing.T) {
			code, state := e.startOAuth(alice)
			expect400("provider", req{method: "GET", path: "/v1/providers/generic/callback?" + url.Values{"code": {code}, "state": {state}}.Encode(), token: alice.Token}, connect.TypeStateInvalid)
		})
		t.Run("invalid bearer", func(t *testing.T) {
			code, state := e.startOAuth(alice)
			e.must(401, req{method: "GET", path: callbackPath(code, state), token: "pht_forged"})
		})
	})
}

// TestCallbackReturnURL: with http.return_url the provider's redirect is passed on to the
// app (status=pending with code and state), whose page completes the flow with its
// user's token; a callback that carries the token gets the outcome there.
func TestCallbackReturnURL(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/db", envOpts{returnURL: "https://app.example.com/done?x=1"})
	u := e.newUser("u", false)
	code, state := e.startOAuth(u)
	resp := e.must(303, req{method: "GET", path: callbackPath(code, state)})
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	if loc.Host != "app.example.com" || q.Get("status") != "pending" || q.Get("code") != code || q.Get("state") != state ||
		q.Get("provider") != "template" || q.Get("x") != "1" {
		t.Errorf("redirect = %s", loc)
	}
	if e.countAccounts() != 0 {
		t.Fatal("the browser's redirect alone stored an account")
	}
	e.must(200, req{method: "POST", path: "/v1/providers/template/callback", token: u.Token,
		body: map[string]string{"code": q.Get("code"), "state": q.Get("state")}})
	resp = e.must(303, req{method: "GET", path: callbackPath(code, state), token: u.Token})
	loc, _ = url.Parse(resp.Header.Get("Location"))
	if loc.Query().Get("status") != "error" || loc.Query().Get("error") != "oauth-state-used" {
		t.Errorf("replay redirect = %s", loc)
	}
}

// TestOAuthLinkingCSRF: mallory starts a connect and gets the victim to consent at the
// provider. The victim's browser lands on the callback with mallory's state: without
// mallory's token nothing completes, and the victim's own app, posting code and state
// with the victim's token, is refused. The victim's provider account is linked to
// nobody.
func TestOAuthLinkingCSRF(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		victim, mallory := e.newUser("victim", false), e.newUser("mallory", false)
		code, state := e.startOAuth(mallory) // e.acme consents: the "victim" at the provider
		e.must(401, req{method: "GET", path: callbackPath(code, state)})
		e.must(400, req{method: "POST", path: "/v1/providers/template/callback", token: victim.Token,
			body: map[string]string{"code": code, "state": state}})
		if n := e.countAccounts(); n != 0 {
			t.Fatalf("%d accounts linked, want none", n)
		}
	})
}

// TestPilotProvider: only allow-listed users see and connect a pilot provider.
func TestPilotProvider(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		insider, outsider, byID := e.newUser("insider", false), e.newUser("outsider", false), e.newUser("byid", false)
		e.setTemplate(providerOpts{pilot: true, pilotUsers: []string{insider.Email, fmt.Sprint(byID.ID)}})

		listed := func(u user) bool {
			var out struct {
				Providers []struct{ ID string } `json:"providers"`
			}
			e.must(200, req{method: "GET", path: "/v1/providers", token: u.Token}).json(t, &out)
			for _, p := range out.Providers {
				if p.ID == "template" {
					return true
				}
			}
			return false
		}
		if !listed(insider) || !listed(byID) || listed(outsider) {
			t.Errorf("listing: insider %v byID %v outsider %v", listed(insider), listed(byID), listed(outsider))
		}
		p := e.must(403, req{method: "POST", path: "/v1/providers/template/connect", token: outsider.Token}).problem(t)
		if p.Type != httpapi.ProblemTypeBase+"provider-in-pilot" {
			t.Errorf("problem = %+v", p)
		}
		e.connectTemplate(insider)
		e.must(200, req{method: "POST", path: "/v1/providers/template/connect", token: byID.Token})
		// A flow started on the list is not completed off it: the operator took byID off
		// the pilot meanwhile.
		code, state := e.startOAuth(byID)
		e.setTemplate(providerOpts{pilot: true, pilotUsers: []string{insider.Email}})
		p = e.must(403, req{method: "GET", path: callbackPath(code, state), token: byID.Token}).problem(t)
		if p.Type != httpapi.ProblemTypeBase+"provider-in-pilot" {
			t.Errorf("callback off the pilot list: problem = %+v", p)
		}
		var accts struct {
			Accounts []account `json:"accounts"`
		}
		e.must(200, req{method: "GET", path: "/v1/accounts", token: byID.Token}).json(t, &accts)
		if len(accts.Accounts) != 0 {
			t.Errorf("%d accounts linked by a callback off the pilot list", len(accts.Accounts))
		}
		// Going GA opens it to everyone.
		e.setTemplate(providerOpts{})
		if !listed(outsider) {
			t.Error("GA provider not listed")
		}
	})
}

// TestPilotOffListDiscovers: a user the operator took off a pilot provider's list
// keeps the account linked while on it, but no longer drives the pilot's plugin with
// it: a discovery (which calls the provider, stores the devices it lists and may turn a
// reauth_required account active again) is connecting anew, refused as a connect is
// (403 provider-in-pilot), storing nothing. Leaving stays open: the account is still
// listed and can be disconnected.
func TestPilotOffListDiscovers(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		insider, leaver := e.newUser("insider", false), e.newUser("leaver", false)
		e.setTemplate(providerOpts{pilot: true, pilotUsers: []string{insider.Email, leaver.Email}})
		kept, gone := e.connectTemplate(insider), e.connectTemplate(leaver)
		e.must(200, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", gone.ID), token: leaver.Token})
		devices := func(u user, id int64) int {
			var out struct {
				Devices []struct{ ID int64 } `json:"devices"`
			}
			e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/accounts/%d/devices", id), token: u.Token}).json(t, &out)
			return len(out.Devices)
		}
		had := devices(leaver, gone.ID)
		audited := len(e.auditEvents("device.discovered"))

		e.setTemplate(providerOpts{pilot: true, pilotUsers: []string{insider.Email}})
		p := e.must(403, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", gone.ID), token: leaver.Token}).problem(t)
		if p.Type != httpapi.ProblemTypeBase+"provider-in-pilot" {
			t.Errorf("discovery off the pilot list: problem = %+v", p)
		}
		if got := devices(leaver, gone.ID); got != had {
			t.Errorf("off the list: %d devices, want the %d from before", got, had)
		}
		if got := len(e.auditEvents("device.discovered")); got != audited {
			t.Errorf("off the list: %d device.discovered rows, want %d", got, audited)
		}
		// Still on it: unchanged.
		e.must(200, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", kept.ID), token: insider.Token})
		// Leaving is always possible.
		e.must(204, req{method: "DELETE", path: fmt.Sprintf("/v1/accounts/%d", gone.ID), token: leaver.Token})
	})
}

// TestDisabledProvider: a disabled provider answers 404 provider-not-found on its own
// routes and 409 provider-disabled on its accounts' operations that need it; its
// accounts stay listed and readable to their owners (providerState "disabled"), and
// it comes back whole when re-enabled.
func TestDisabledProvider(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		ctx := context.Background()
		u := e.newUser("u", false)
		other := e.newUser("other", false)
		pool := e.createPool(u, "P")
		acct := e.connectTemplate(u)
		var disc struct {
			Devices []device `json:"devices"`
		}
		e.must(200, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", acct.ID), token: u.Token}).json(t, &disc)
		dev := disc.Devices[0]
		e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/devices/%d/link", dev.ID), token: u.Token, body: map[string]int64{"poolId": pool}})
		code, state := e.startOAuth(u) // a flow in progress when the provider is switched off

		e.setTemplate(providerOpts{disabled: true})

		for _, tc := range []struct {
			r      req
			status int
			typ    string
		}{
			{req{method: "POST", path: "/v1/providers/template/connect"}, 404, "provider-not-found"},
			{req{method: "GET", path: callbackPath(code, state)}, 404, "provider-not-found"},
			{req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", acct.ID)}, 409, "provider-disabled"},
			{req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/webhook-secret/rotate", acct.ID)}, 409, "provider-disabled"},
			{req{method: "PUT", path: fmt.Sprintf("/v1/devices/%d/link", dev.ID), body: map[string]int64{"poolId": pool}}, 409, "provider-disabled"},
		} {
			tc.r.token = u.Token
			p := e.must(tc.status, tc.r).problem(t)
			if p.Type != httpapi.ProblemTypeBase+tc.typ {
				t.Errorf("%s %s: problem = %+v, want %s", tc.r.method, tc.r.path, p, tc.typ)
			}
			if !strings.Contains(p.Detail, `provider "template" is`) || !strings.Contains(p.Detail, "disabled") {
				t.Errorf("%s %s: detail %q does not say the provider may be disabled", tc.r.method, tc.r.path, p.Detail)
			}
		}
		var provs struct {
			Providers []struct{ ID string } `json:"providers"`
		}
		e.must(200, req{method: "GET", path: "/v1/providers", token: u.Token}).json(t, &provs)
		for _, p := range provs.Providers {
			if p.ID == "template" {
				t.Error("disabled provider listed")
			}
		}
		// The owner still sees the account, marked, and its devices.
		var accts struct {
			Accounts []decomAccount `json:"accounts"`
		}
		e.must(200, req{method: "GET", path: "/v1/accounts", token: u.Token}).json(t, &accts)
		if len(accts.Accounts) != 1 || accts.Accounts[0].ID != acct.ID || accts.Accounts[0].ProviderState != "disabled" {
			t.Errorf("disabled provider's account not listed as disabled: %+v", accts.Accounts)
		}
		var one decomAccount
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/accounts/%d", acct.ID), token: u.Token}).json(t, &one)
		if one.ID != acct.ID || one.ProviderState != "disabled" || one.Status != "active" {
			t.Errorf("GET account = %+v, want it, active, providerState disabled", one)
		}
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/accounts/%d/devices", acct.ID), token: u.Token})
		// Nobody else does.
		for _, r := range []req{
			{method: "GET", path: fmt.Sprintf("/v1/accounts/%d", acct.ID)},
			{method: "GET", path: fmt.Sprintf("/v1/accounts/%d/devices", acct.ID)},
			{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", acct.ID)},
			{method: "DELETE", path: fmt.Sprintf("/v1/accounts/%d", acct.ID)},
		} {
			r.token = other.Token
			if p := e.must(404, r).problem(t); p.Type != httpapi.ProblemTypeBase+"not-found" {
				t.Errorf("another user's %s %s: problem = %+v", r.method, r.path, p)
			}
		}
		e.must(200, req{method: "GET", path: "/v1/accounts", token: other.Token}).json(t, &accts)
		if len(accts.Accounts) != 0 {
			t.Errorf("another user lists %+v", accts.Accounts)
		}
		// Data stays.
		if creds, err := e.st.AccountCredentials(ctx, acct.ID); err != nil || len(creds) == 0 {
			t.Errorf("credentials gone while disabled: %v", err)
		}
		if d, _ := e.st.GetDevice(ctx, dev.ID); d.PoolID != pool {
			t.Errorf("link gone while disabled")
		}

		e.setTemplate(providerOpts{})
		e.must(200, req{method: "GET", path: "/v1/accounts", token: u.Token}).json(t, &accts)
		if len(accts.Accounts) != 1 || accts.Accounts[0].ID != acct.ID || accts.Accounts[0].ProviderState != "enabled" {
			t.Fatalf("after re-enable accounts = %+v", accts.Accounts)
		}
		e.must(200, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", acct.ID), token: u.Token})
		var devs struct {
			Devices []device `json:"devices"`
		}
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/accounts/%d/devices", acct.ID), token: u.Token}).json(t, &devs)
		if devs.Devices[0].PoolID == nil || *devs.Devices[0].PoolID != pool {
			t.Errorf("link not back after re-enable: %+v", devs.Devices[0])
		}
	})
}

// TestReloadAudited: POST /v1/admin/reload reconciles and is audited with the actor.
func TestReloadAudited(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/db", envOpts{})
	admin := e.newUser("admin", true)
	var out struct {
		Providers []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"providers"`
	}
	e.must(200, req{method: "POST", path: "/v1/admin/reload", token: admin.Token, header: map[string]string{"X-Request-ID": "reload-1"}}).json(t, &out)
	if len(out.Providers) != 2 || out.Providers[0].State != "running" {
		t.Errorf("providers = %+v", out.Providers)
	}
	ev := e.auditEvents("provider.reloaded")
	if len(ev) != 1 || ev[0].RequestID != "reload-1" || !strings.HasPrefix(ev[0].Actor, "user:") {
		t.Errorf("audit = %+v", ev)
	}
}

// TestOAuthUsesPKCE: the host sends an S256 challenge with every redirect flow and the
// verifier at the callback; Acme (the template's provider) checks it.
func TestOAuthUsesPKCE(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/db", envOpts{})
	u := e.newUser("u", false)
	e.connectTemplate(u)
	if n := e.acme.PKCEExchanges(); n != 1 {
		t.Fatalf("%d code exchanges proved a PKCE verifier, want 1", n)
	}
}

// TestCallbackProviderDownSaysConnectAgain: a callback whose provider cannot be reached
// (its token endpoint down) spends its state like any other, so it is not a 503, whose
// Retry-After would have the app send it again only to hear "already used": it is a
// 502 oauth-callback-failed saying to connect again, without Retry-After, and nothing is
// stored.
func TestCallbackProviderDownSaysConnectAgain(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/db", envOpts{})
	alice := e.newUser("alice", false)
	code, state := e.startOAuth(alice)
	e.acme.Close()
	r := e.must(502, req{method: "GET", path: callbackPath(code, state), token: alice.Token})
	p := r.problem(t)
	if p.Type != httpapi.ProblemTypeBase+connect.TypeCallbackFailed || !strings.Contains(p.Detail, "connect again") {
		t.Errorf("problem = %+v", p)
	}
	if ra := r.Header.Get("Retry-After"); ra != "" {
		t.Errorf("Retry-After %q on a callback that cannot be retried", ra)
	}
	if n := e.countAccounts(); n != 0 {
		t.Errorf("%d accounts stored", n)
	}
	// As said: the state is spent.
	e.must(400, req{method: "GET", path: callbackPath(code, state), token: alice.Token})
}
