package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/store"
)

// decomAccount is an account as the API shows it, with its provider's state.
type decomAccount struct {
	account
	ProviderState string `json:"providerState"`
	WebhookURL    string `json:"webhookUrl"`
}

// reload rewrites the config file from e.opts and reloads, as an operator would.
func (e *env) reload() {
	e.t.Helper()
	cfg := e.loadConfig()
	e.cfg.Store(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.mgr.Reload(ctx, cfg); err != nil {
		e.t.Fatalf("reload: %v", err)
	}
}

// TestDisconnectDisabledProvider: the owner of an account of a disabled provider
// disconnects it as any other: credentials erased, devices unlinked, readings kept,
// audited, with providerState in the audit row. The plugin is not called.
func TestDisconnectDisabledProvider(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		ctx := context.Background()
		u := e.newUser("u", false)
		pool := e.createPool(u, "P")
		acct := e.connectTemplate(u)
		var disc struct {
			Devices []device `json:"devices"`
		}
		e.must(200, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", acct.ID), token: u.Token}).json(t, &disc)
		dev := disc.Devices[0]
		e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/devices/%d/link", dev.ID), token: u.Token, body: map[string]int64{"poolId": pool}})

		e.setTemplate(providerOpts{disabled: true})
		other := e.newUser("other", false)
		e.must(404, req{method: "DELETE", path: fmt.Sprintf("/v1/accounts/%d", acct.ID), token: other.Token})
		if _, err := e.st.AccountCredentials(ctx, acct.ID); err != nil {
			t.Fatalf("another user's DELETE touched the credentials: %v", err)
		}

		e.must(204, req{method: "DELETE", path: fmt.Sprintf("/v1/accounts/%d", acct.ID), token: u.Token})
		if _, err := e.st.AccountCredentials(ctx, acct.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("credentials after disconnect: err = %v, want erased (ErrNotFound)", err)
		}
		if d, err := e.st.GetDevice(ctx, dev.ID); err != nil || d.PoolID != 0 {
			t.Errorf("device after disconnect = %+v, %v: want kept and unlinked", d, err)
		}
		var accts struct {
			Accounts []decomAccount `json:"accounts"`
		}
		e.must(200, req{method: "GET", path: "/v1/accounts", token: u.Token}).json(t, &accts)
		if len(accts.Accounts) != 0 {
			t.Errorf("disconnected account still listed: %+v", accts.Accounts)
		}
		e.must(404, req{method: "GET", path: fmt.Sprintf("/v1/accounts/%d", acct.ID), token: u.Token})
		evs := e.auditEvents("integration.disconnected")
		if len(evs) != 1 || evs[0].TargetID != fmt.Sprint(acct.ID) || fmt.Sprint(evs[0].Details["providerState"]) != "disabled" ||
			fmt.Sprint(evs[0].Details["unlinkedDevices"]) != "1" {
			t.Fatalf("audit = %+v, want one integration.disconnected with providerState disabled, unlinkedDevices 1", evs)
		}
		// The template account has no webhook URL of its own: nothing was registered.
		if _, ok := evs[0].Details["unsubscribeError"]; ok {
			t.Errorf("audit details %v claim an unsubscribe failure for an account with nothing registered", evs[0].Details)
		}
	})
}

// TestDisconnectRemovedProvider: the operator removes the block of a provider whose
// plugin registered the account's URL with the provider's cloud. The owner still sees
// the account ("removed", without a webhook URL) and disconnects it; the plugin cannot
// unsubscribe, so the provider's cloud is not called and the audit row says the
// registration could not be removed.
func TestDisconnectRemovedProvider(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		cloud := newSubscriptionCloud(t)
		e := newEnv(t, dbURL, envOpts{ingest: true, faulty: true, faultySettings: map[string]string{"subscribe_url": cloud.URL}})
		ctx := context.Background()
		u := e.newUser("u", false)
		out, _ := e.connectFaulty(u, "k1")
		accPath := fmt.Sprintf("/v1/accounts/%d", out.Account.ID)
		if c := cloud.calls(); c != "POST "+out.Account.WebhookURL {
			t.Fatalf("cloud saw %q, want the account URL subscribed", c)
		}

		e.opts.faulty = false
		e.reload()

		var one decomAccount
		e.must(200, req{method: "GET", path: accPath, token: u.Token}).json(t, &one)
		if one.ProviderState != "removed" || one.WebhookURL != "" {
			t.Errorf("account of a removed provider = %+v, want providerState removed and no webhookUrl", one)
		}
		p := e.must(409, req{method: "POST", path: accPath + "/discover", token: u.Token}).problem(t)
		if p.Type != httpapi.ProblemTypeBase+"provider-disabled" || !strings.Contains(p.Detail, "no longer configured") {
			t.Errorf("discover = %+v, want 409 provider-disabled saying it is no longer configured", p)
		}

		e.must(204, req{method: "DELETE", path: accPath, token: u.Token})
		if _, err := e.st.AccountCredentials(ctx, out.Account.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("credentials after disconnect: err = %v, want erased", err)
		}
		if c := cloud.calls(); c != "POST "+out.Account.WebhookURL {
			t.Errorf("cloud saw %q: nothing should reach it once the provider is removed", c)
		}
		evs := e.auditEvents("integration.disconnected")
		if len(evs) != 1 {
			t.Fatalf("%d integration.disconnected events", len(evs))
		}
		if fmt.Sprint(evs[0].Details["providerState"]) != "removed" ||
			!strings.Contains(fmt.Sprint(evs[0].Details["unsubscribeError"]), "could not be removed") {
			t.Errorf("audit details %v, want providerState removed and an unsubscribeError saying the registration could not be removed", evs[0].Details)
		}
	})
}

// TestOperatorDisconnectsDecommissionedProvider: `poolhost accounts disconnect`'s
// service. While the provider is enabled it is refused and changes nothing; a user who
// is not an admin is refused. Once the operator disabled it, every account of it is
// disconnected as its owner could (credentials erased, devices unlinked), each audited
// as the operator's with the provider's state, without calling the plugin; again, it
// finds none.
func TestOperatorDisconnectsDecommissionedProvider(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		ctx := context.Background()
		ana, bob := e.newUser("ana", false), e.newUser("bob", false)
		pool := e.createPool(ana, "P")
		accts := []int64{e.connectTemplate(ana).ID, e.connectTemplate(bob).ID}
		var disc struct {
			Devices []device `json:"devices"`
		}
		e.must(200, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", accts[0]), token: ana.Token}).json(t, &disc)
		dev := disc.Devices[0]
		e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/devices/%d/link", dev.ID), token: ana.Token, body: map[string]int64{"poolId": pool}})

		cli := auth.System("cli")
		if n, err := e.connect.DisconnectProvider(ctx, cli, "template"); n != 0 || host.ErrorCode(err) != host.ECONFLICT || !strings.Contains(host.ErrorMessage(err), "enabled = false") {
			t.Fatalf("disconnect an enabled provider's accounts = %d, %v; want a conflict saying to disable it", n, err)
		}
		e.setTemplate(providerOpts{disabled: true})
		if _, err := e.connect.DisconnectProvider(ctx, auth.Actor{UserID: ana.ID}, "template"); host.ErrorCode(err) != host.EFORBIDDEN {
			t.Fatalf("a user who is no admin: %v, want forbidden", err)
		}
		for _, id := range accts {
			if _, err := e.st.AccountCredentials(ctx, id); err != nil {
				t.Fatalf("account %d's credentials before the operator's disconnect: %v", id, err)
			}
		}

		if n, err := e.connect.DisconnectProvider(ctx, cli, "template"); n != 2 || err != nil {
			t.Fatalf("disconnect a disabled provider's accounts = %d, %v; want 2", n, err)
		}
		for _, id := range accts {
			if _, err := e.st.AccountCredentials(ctx, id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("account %d's credentials: %v, want erased", id, err)
			}
		}
		if d, err := e.st.GetDevice(ctx, dev.ID); err != nil || d.PoolID != 0 {
			t.Errorf("device after disconnect = %+v, %v: want kept and unlinked", d, err)
		}
		evs := e.auditEvents("integration.disconnected")
		if len(evs) != 2 {
			t.Fatalf("%d integration.disconnected events, want 2", len(evs))
		}
		for _, ev := range evs {
			if ev.Actor != "system:cli" || fmt.Sprint(ev.Details["providerState"]) != "disabled" {
				t.Errorf("audit %+v, want by system:cli with providerState disabled", ev)
			}
		}
		if n, err := e.connect.DisconnectProvider(ctx, cli, "template"); n != 0 || err != nil {
			t.Errorf("again = %d, %v; want none left", n, err)
		}
	})
}
