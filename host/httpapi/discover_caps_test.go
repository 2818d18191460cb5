package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/examples/provider-template/acmetest"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/store"
)

// A hostile (or broken) upstream's device list goes through the real template plugin to
// the host: one discovery stored 30,000 devices and 30,000 audit rows, another a
// 5,000-byte device id (plugins.max_device_id_bytes is 256) and a 500,000-character name.
// The whole answer is now refused with the cap named, as webhook and poll answers are,
// and nothing of it is stored.
func TestDiscoverRefusesAnswersOverTheCaps(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		owner := e.newUser("owner", false)
		acct := e.connectTemplate(owner)
		discover := req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", acct.ID), token: owner.Token}

		many := make([]acmetest.Device, 30000)
		for i := range many {
			many[i] = acmetest.Device{ID: fmt.Sprintf("dev-%05d", i), Name: "probe", Model: "AcmeProbe"}
		}
		tests := []struct {
			name    string
			devices []acmetest.Device
			cap     string
		}{
			{"30,000 devices", many, "plugins.max_devices_per_call (10000)"},
			{"5,000-byte device id", []acmetest.Device{{ID: strings.Repeat("i", 5000), Name: "probe"}}, "plugins.max_device_id_bytes (256)"},
			{"500,000-character name", []acmetest.Device{{ID: "dev-1", Name: strings.Repeat("n", 500000)}}, "plugins.max_device_name_bytes (1024)"},
			{"megabyte model", []acmetest.Device{{ID: "dev-1", Name: "probe", Model: strings.Repeat("m", 1<<20)}}, "plugins.max_device_name_bytes (1024)"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.acme.SetDevices(tt.devices...)
				r := e.must(http.StatusBadGateway, discover)
				p := r.problem(t)
				if !strings.HasSuffix(p.Type, pluginmgr.TypeAnswerRefused) || !strings.Contains(p.Detail, tt.cap) {
					t.Fatalf("problem %+v, want type %s naming %s", p, pluginmgr.TypeAnswerRefused, tt.cap)
				}
				ds, err := e.st.ListDevices(context.Background(), acct.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(ds) != 0 || len(e.auditEvents("device.discovered")) != 0 {
					t.Fatalf("%d devices and %d device.discovered rows stored from a refused answer", len(ds), len(e.auditEvents("device.discovered")))
				}
			})
		}

		// An answer within the caps is stored as always.
		e.acme.SetDevices(acmetest.Device{ID: strings.Repeat("i", 256), Name: strings.Repeat("n", 1024)})
		e.must(http.StatusOK, discover)
		if ds, _ := e.st.ListDevices(context.Background(), acct.ID); len(ds) != 1 {
			t.Fatalf("%d devices after an answer within the caps, want 1", len(ds))
		}
	})
}

// The account a callback links is judged like any answer (judge.Caps.CheckLinkage): an
// upstream that names the account with 5,000 bytes, or with a NUL (which PostgreSQL
// refuses: a 500 on every try) or an escape sequence, gets the callback refused with the
// cap named, and no account is stored. The same account with a plain id then links.
func TestCallbackRefusesAnAccountIDOverTheCaps(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		owner := e.newUser("owner", false)
		for _, tt := range []struct {
			name, id, typ, says string
			status              int
		}{
			{"5,000-byte id", strings.Repeat("i", 5000), pluginmgr.TypeAnswerRefused, "plugins.max_device_id_bytes (256)", http.StatusBadGateway},
			// The SDK refuses these in the plugin already (sdk.CheckID), as a failure of the
			// request; the host's judge applies the same rule to a plugin without the SDK
			// (sdk/judge's TestCapsCheckLinkage).
			{"NUL", "acct\x00-42", "invalid-request", "control character", http.StatusBadRequest},
			{"escape sequence", "acct\x1b[2J", "invalid-request", "control character", http.StatusBadRequest},
		} {
			t.Run(tt.name, func(t *testing.T) {
				e.acme.SetAccountID(tt.id)
				code, state := e.startOAuth(owner)
				p := e.must(tt.status, req{method: "GET", path: callbackPath(code, state), token: owner.Token}).problem(t)
				if !strings.HasSuffix(p.Type, tt.typ) || !strings.Contains(p.Detail, tt.says) {
					t.Fatalf("problem %+v, want type %s saying %q", p, tt.typ, tt.says)
				}
				if strings.Contains(p.Detail, tt.id) {
					t.Fatalf("the problem repeats the provider's id: %q", p.Detail)
				}
				var out struct {
					Accounts []struct{ ID int64 } `json:"accounts"`
				}
				e.must(http.StatusOK, req{method: "GET", path: "/v1/accounts", token: owner.Token}).json(t, &out)
				if len(out.Accounts) != 0 {
					t.Fatalf("%d accounts stored from a refused callback", len(out.Accounts))
				}
			})
		}
		e.acme.SetAccountID("")
		e.connectTemplate(owner)
	})
}

// A discovery whose plugin refreshed the account's tokens hands them back to be stored
// in place of the account's, and sent on every later call. An upstream answering a
// 900 KB access token had it stored (as the account a callback links, tokens are capped
// by plugins.max_raw_payload_bytes): the answer is refused with the cap named, no device
// and no token of it stored, and the account keeps its credentials.
func TestDiscoverRefusesRefreshedTokensOverTheCaps(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{ingest: true, faulty: true,
			faultySettings: map[string]string{"discover_refresh": "tokens", "discover_token_bytes": "900000"}})
		u := e.newUser("u", false)
		var out struct {
			Account struct{ ID int64 } `json:"account"`
		}
		e.must(http.StatusCreated, req{method: "POST", path: "/v1/providers/faulty/connect", token: u.Token,
			body: map[string]any{"input": map[string]string{"api_key": "k1"}}}).json(t, &out)
		before, err := e.st.AccountCredentials(context.Background(), out.Account.ID)
		must(t, err)

		p := e.must(http.StatusBadGateway, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", out.Account.ID), token: u.Token}).problem(t)
		if !strings.HasSuffix(p.Type, pluginmgr.TypeAnswerRefused) || !strings.Contains(p.Detail, "plugins.max_raw_payload_bytes (65536)") {
			t.Fatalf("problem %+v, want type %s naming plugins.max_raw_payload_bytes", p, pluginmgr.TypeAnswerRefused)
		}
		after, err := e.st.AccountCredentials(context.Background(), out.Account.ID)
		must(t, err)
		if len(after) != len(before) || after["token"] != before["token"] || after["api_key"] != "k1" {
			t.Fatalf("credentials of %d keys (token of %d bytes) after a refused discovery, want the connect's %d", len(after), len(after["token"]), len(before))
		}
		if ds, _ := e.st.ListDevices(context.Background(), out.Account.ID); len(ds) != 0 {
			t.Fatalf("%d devices stored from a refused answer", len(ds))
		}
	})
}

// An account keeps the devices a discovery no longer lists (their links and readings
// with them), so an upstream listing fresh ids on every call grew the account's devices,
// one list answer and an audit row each, by up to 10,000 a discovery without end (4,500
// and a 5.3 MB device list after five discoveries of the built host). A discovery that
// would leave the account with more than store.MaxDevicesPerAccount devices is refused
// with the cap named, nothing of it stored; one within the cap still works.
func TestDiscoverRefusesDevicesPastTheAccountsCap(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		owner := e.newUser("owner", false)
		acct := e.connectTemplate(owner)
		discover := req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", acct.ID), token: owner.Token}
		// The devices earlier discoveries left, all but ten places of the cap, put in
		// directly: discovering them one by one is minutes under the race detector.
		held := store.MaxDevicesPerAccount - 10
		for start := 0; start < held; start += 500 {
			var rows []string
			var args []any
			for i := start; i < min(start+500, held); i++ {
				rows = append(rows, "(?, 'template', ?)")
				args = append(args, acct.ID, fmt.Sprintf("gone-%05d", i))
			}
			_, err := e.st.DB().Exec(e.st.DB().Rebind(`INSERT INTO integration_devices (account_id, provider, provider_device_id) VALUES `+
				strings.Join(rows, ", ")), args...)
			must(t, err)
		}
		fresh := func(n int) []acmetest.Device {
			ds := make([]acmetest.Device, n)
			for i := range ds {
				ds[i] = acmetest.Device{ID: fmt.Sprintf("new-%d-%05d", n, i), Name: "probe", Model: "AcmeProbe"}
			}
			return ds
		}
		e.acme.SetDevices(fresh(11)...)
		p := e.must(http.StatusBadGateway, discover).problem(t)
		if !strings.HasSuffix(p.Type, pluginmgr.TypeAnswerRefused) || !strings.Contains(p.Detail, fmt.Sprint(store.MaxDevicesPerAccount)) {
			t.Fatalf("problem %+v, want type %s naming the cap", p, pluginmgr.TypeAnswerRefused)
		}
		ds, err := e.st.ListDevices(context.Background(), acct.ID)
		must(t, err)
		if len(ds) != held || len(e.auditEvents("device.discovered")) != 0 {
			t.Fatalf("%d devices and %d device.discovered rows after the refused discovery, want %d and none", len(ds), len(e.auditEvents("device.discovered")), held)
		}
		// Ten new ones fill the cap.
		e.acme.SetDevices(fresh(10)...)
		e.must(http.StatusOK, discover)
	})
}
