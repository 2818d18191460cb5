package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/examples/provider-template/acmetest"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/store"
)

type account struct {
	ID                int64  `json:"id"`
	Provider          string `json:"provider"`
	ExternalAccountID string `json:"externalAccountId"`
	DisplayName       string `json:"displayName"`
	Status            string `json:"status"`
}

type device struct {
	ID               int64  `json:"id"`
	ProviderDeviceID string `json:"providerDeviceId"`
	PoolID           *int64 `json:"poolId"`
}

// connectTemplate runs the OAuth dance for u and returns the callback's answer.
func (e *env) startOAuth(u user) (code, state string) {
	e.t.Helper()
	var cr struct {
		AuthorizeURL string `json:"authorizeUrl"`
	}
	e.must(200, req{method: "POST", path: "/v1/providers/template/connect", token: u.Token}).json(e.t, &cr)
	if cr.AuthorizeURL == "" {
		e.t.Fatal("no authorizeUrl")
	}
	au, _ := url.Parse(cr.AuthorizeURL)
	if got, want := au.Query().Get("redirect_uri"), e.srv.URL+"/v1/providers/template/callback"; got != want {
		e.t.Fatalf("redirect_uri %q, want %q (built from public_url)", got, want)
	}
	code, state, err := e.acme.Authorize(cr.AuthorizeURL)
	if err != nil {
		e.t.Fatal(err)
	}
	return code, state
}

func callbackPath(code, state string) string {
	return "/v1/providers/template/callback?" + url.Values{"code": {code}, "state": {state}}.Encode()
}

func (e *env) connectTemplate(u user) account {
	e.t.Helper()
	code, state := e.startOAuth(u)
	var out struct {
		Account account `json:"account"`
	}
	e.must(200, req{method: "GET", path: callbackPath(code, state), token: u.Token}).json(e.t, &out)
	return out.Account
}

func (e *env) createPool(u user, name string) int64 {
	e.t.Helper()
	var p struct {
		ID int64 `json:"id"`
	}
	e.must(201, req{method: "POST", path: "/v1/pools", token: u.Token, body: map[string]string{"name": name}}).json(e.t, &p)
	return p.ID
}

// TestConnectToReadingsFlow is the whole user journey over HTTP with the real template
// plugin: connect → callback → discover → link → readings → disconnect.
func TestConnectToReadingsFlow(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		ctx := context.Background()
		owner := e.newUser("owner", false)
		pool := e.createPool(owner, "Backyard")

		var provs struct {
			Providers []struct {
				ID      string `json:"id"`
				Connect string `json:"connect"`
			} `json:"providers"`
		}
		e.must(200, req{method: "GET", path: "/v1/providers", token: owner.Token}).json(t, &provs)
		if len(provs.Providers) != 2 || provs.Providers[0].ID != "template" || provs.Providers[0].Connect != "oauth2" {
			t.Fatalf("providers = %+v", provs.Providers)
		}

		// connect → callback, carrying our own request id into the audit trail.
		code, state := e.startOAuth(owner)
		var cb struct {
			Account account `json:"account"`
		}
		resp := e.must(200, req{method: "GET", path: callbackPath(code, state), token: owner.Token, header: map[string]string{"X-Request-ID": "req-callback-1"}})
		resp.json(t, &cb)
		if resp.Header.Get("X-Request-ID") != "req-callback-1" {
			t.Errorf("X-Request-ID not echoed: %q", resp.Header.Get("X-Request-ID"))
		}
		acct := cb.Account
		if acct.ExternalAccountID != acmetest.AccountID || acct.Status != "active" {
			t.Fatalf("account = %+v", acct)
		}
		ev := e.auditEvents("integration.connected")
		if len(ev) != 1 || ev[0].Actor != store.UserActor(owner.ID) || ev[0].Provider != "template" ||
			ev[0].TargetID != strconv.FormatInt(acct.ID, 10) || ev[0].RequestID != "req-callback-1" {
			t.Fatalf("integration.connected audit = %+v", ev)
		}
		// Credentials are stored encrypted, never as plaintext.
		var ct []byte
		if err := e.st.DB().GetContext(ctx, &ct, e.st.DB().Rebind(`SELECT credentials_ciphertext FROM integration_accounts WHERE id = ?`), acct.ID); err != nil {
			t.Fatal(err)
		}
		creds, err := e.st.AccountCredentials(ctx, acct.ID)
		if err != nil || len(creds) == 0 {
			t.Fatalf("credentials: %v %v", creds, err)
		}
		for _, v := range creds {
			if len(v) > 3 && containsBytes(ct, v) {
				t.Fatalf("ciphertext contains a credential in clear")
			}
		}

		// discover, with a forced token refresh: the new tokens must be stored.
		e.acme.ExpireAccessTokens()
		var disc struct {
			Devices []device `json:"devices"`
		}
		e.must(200, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", acct.ID), token: owner.Token, header: map[string]string{"X-Request-ID": "req-discover"}}).json(t, &disc)
		if len(disc.Devices) != 2 {
			t.Fatalf("devices = %+v", disc.Devices)
		}
		newCreds, _ := e.st.AccountCredentials(ctx, acct.ID)
		if fmt.Sprint(newCreds) == fmt.Sprint(creds) {
			t.Errorf("refreshed credentials were not stored")
		}
		if ev := e.auditEvents("device.discovered"); len(ev) != 2 || ev[0].RequestID != "req-discover" || ev[0].Provider != "template" {
			t.Errorf("device.discovered audit = %+v", ev)
		}
		// Discovering again adds nothing.
		e.must(200, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", acct.ID), token: owner.Token})
		if ev := e.auditEvents("device.discovered"); len(ev) != 2 {
			t.Errorf("re-discovery audited again: %d events", len(ev))
		}
		var devs struct {
			Devices []device `json:"devices"`
		}
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/accounts/%d/devices", acct.ID), token: owner.Token}).json(t, &devs)
		if len(devs.Devices) != 2 {
			t.Fatalf("devices = %+v", devs.Devices)
		}
		dev := devs.Devices[0]

		// link
		var linked device
		e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/devices/%d/link", dev.ID), token: owner.Token, body: map[string]int64{"poolId": pool}}).json(t, &linked)
		if linked.PoolID == nil || *linked.PoolID != pool {
			t.Fatalf("linked = %+v", linked)
		}
		if ev := e.auditEvents("device.linked"); len(ev) != 1 || ev[0].TargetID != strconv.FormatInt(dev.ID, 10) || ev[0].Actor != store.UserActor(owner.ID) {
			t.Errorf("device.linked audit = %+v", ev)
		}

		// readings, inserted through the store, paged with an opaque cursor.
		t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		var rs []store.Reading
		for i := range 5 {
			rs = append(rs, store.Reading{DeviceID: dev.ID, PoolID: pool, Metric: "ph", Value: 7 + float64(i)/10, Unit: "pH", RecordedAt: t0.Add(time.Duration(i) * time.Minute)})
		}
		rs = append(rs, store.Reading{DeviceID: dev.ID, PoolID: pool, Metric: "temperature", Value: 26, Unit: "°C", RecordedAt: t0})
		if _, err := e.st.InsertReadings(ctx, rs); err != nil {
			t.Fatal(err)
		}
		var got []float64
		next := ""
		for page := 0; ; page++ {
			path := fmt.Sprintf("/v1/pools/%d/readings?metric=ph&limit=2", pool)
			if next != "" {
				path += "&cursor=" + url.QueryEscape(next)
			}
			var out struct {
				Readings []struct {
					Value float64 `json:"value"`
				} `json:"readings"`
				NextCursor string `json:"nextCursor"`
			}
			e.must(200, req{method: "GET", path: path, token: owner.Token}).json(t, &out)
			for _, r := range out.Readings {
				got = append(got, r.Value)
			}
			if out.NextCursor == "" || page > 5 {
				break
			}
			next = out.NextCursor
		}
		if fmt.Sprint(got) != "[7 7.1 7.2 7.3 7.4]" {
			t.Errorf("paged readings = %v", got)
		}
		from := url.QueryEscape(t0.Add(time.Minute).Format(time.RFC3339))
		to := url.QueryEscape(t0.Add(3 * time.Minute).Format(time.RFC3339))
		var window struct {
			Readings []struct{} `json:"readings"`
		}
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/readings?metric=ph&from=%s&to=%s", pool, from, to), token: owner.Token}).json(t, &window)
		if len(window.Readings) != 2 {
			t.Errorf("from/to window: %d readings, want 2", len(window.Readings))
		}
		// The zero time reads as "not given": to= of it would answer every reading.
		if p := e.must(400, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/readings?metric=ph&to=0001-01-01T00:00:00Z", pool), token: owner.Token}).problem(t); !strings.Contains(p.Detail, "to must be later than") {
			t.Errorf("zero to problem = %+v", p)
		}
		if p := e.must(400, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/readings?cursor=garbage!", pool), token: owner.Token}).problem(t); p.Type != httpapi.ProblemTypeBase+"invalid-request" {
			t.Errorf("bad cursor problem = %+v", p)
		}

		// disconnect: credentials erased, devices unlinked, readings kept.
		e.must(204, req{method: "DELETE", path: fmt.Sprintf("/v1/accounts/%d", acct.ID), token: owner.Token})
		if _, err := e.st.AccountCredentials(ctx, acct.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("credentials after disconnect: %v", err)
		}
		d, _ := e.st.GetDevice(ctx, dev.ID)
		if d.PoolID != 0 {
			t.Errorf("device still linked to %d", d.PoolID)
		}
		if n, _ := e.st.CountReadings(ctx, pool); n != 6 {
			t.Errorf("readings after disconnect = %d, want 6", n)
		}
		e.must(200, req{method: "GET", path: fmt.Sprintf("/v1/pools/%d/readings", pool), token: owner.Token})
		e.must(404, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", acct.ID), token: owner.Token})
		var accts struct {
			Accounts []account `json:"accounts"`
		}
		e.must(200, req{method: "GET", path: "/v1/accounts", token: owner.Token}).json(t, &accts)
		if len(accts.Accounts) != 0 {
			t.Errorf("accounts after disconnect = %+v", accts.Accounts)
		}
		if ev := e.auditEvents("integration.disconnected"); len(ev) != 1 || ev[0].Actor != store.UserActor(owner.ID) || ev[0].Provider != "template" || ev[0].RequestID == "" {
			t.Errorf("integration.disconnected audit = %+v", ev)
		}
	})
}

func containsBytes(b []byte, s string) bool {
	return len(s) > 0 && len(b) >= len(s) && (string(b) == s || indexOf(b, s) >= 0)
}

func indexOf(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

// TestAPIKeyStyleConnect links a webhook-secret provider (generic) at once: 201 with the
// account, and the account-scoped webhook URL and secret shown once.
func TestAPIKeyStyleConnect(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		u := e.newUser("u", false)
		var out struct {
			Account account `json:"account"`
			Webhook struct {
				URL    string `json:"url"`
				Secret string `json:"secret"`
			} `json:"webhook"`
		}
		e.must(201, req{method: "POST", path: "/v1/providers/generic/connect", token: u.Token,
			body: map[string]any{"input": map[string]string{"devices": "probe-1,probe-2", "name": "My probes"}}}).json(t, &out)
		if out.Account.ID == 0 || out.Account.Provider != "generic" || out.Account.Status != "active" {
			t.Fatalf("account = %+v", out.Account)
		}
		if want := fmt.Sprintf("%s/v1/webhooks/generic/accounts/%d", e.srv.URL, out.Account.ID); out.Webhook.URL != want || out.Webhook.Secret == "" {
			t.Errorf("webhook = %+v, want url %s", out.Webhook, want)
		}
		var devs struct {
			Devices []device `json:"devices"`
		}
		e.must(200, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", out.Account.ID), token: u.Token}).json(t, &devs)
		if len(devs.Devices) != 2 {
			t.Errorf("devices = %+v", devs.Devices)
		}
		// Bad input is the user's problem: 400 with the plugin's explanation.
		p := e.must(400, req{method: "POST", path: "/v1/providers/generic/connect", token: u.Token,
			body: map[string]any{"input": map[string]string{"devices": "bad id!"}}}).problem(t)
		if p.Detail == "" {
			t.Errorf("problem without detail: %+v", p)
		}
		if ev := e.auditEvents("integration.connected"); len(ev) != 1 || ev[0].Provider != "generic" {
			t.Errorf("audit = %+v", ev)
		}
	})
}
