package httpapi_test

import (
	"path/filepath"
	"strings"
	"testing"
)

type providerInfo struct {
	ID     string `json:"id"`
	Inputs []struct {
		Key      string `json:"key"`
		Type     string `json:"type"`
		Help     string `json:"help"`
		Secret   bool   `json:"secret"`
		Required bool   `json:"required"`
	} `json:"inputs"`
	WebhookURL string `json:"webhookUrl"`
}

func (e *env) providers(u user) map[string]providerInfo {
	e.t.Helper()
	var out struct {
		Providers []providerInfo `json:"providers"`
	}
	e.must(200, req{method: "GET", path: "/v1/providers", token: u.Token}).json(e.t, &out)
	m := map[string]providerInfo{}
	for _, p := range out.Providers {
		m[p.ID] = p
	}
	return m
}

// TestConnectInputsAreDeclared: GET /v1/providers lists the inputs each plugin declares,
// and a connect that lacks a required input, names an undeclared one or gives one that
// does not parse is refused with a 400 before the plugin is called, storing nothing.
func TestConnectInputsAreDeclared(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{iopool: true})
		u := e.newUser("u", false)

		ps := e.providers(u)
		io := ps["iopool"]
		if len(io.Inputs) != 1 || io.Inputs[0].Key != "api_key" || !io.Inputs[0].Secret || !io.Inputs[0].Required || io.Inputs[0].Help == "" {
			t.Errorf("iopool inputs = %+v, want the required secret api_key with help", io.Inputs)
		}
		var keys []string
		for _, in := range ps["generic"].Inputs {
			keys = append(keys, in.Key)
		}
		if strings.Join(keys, ",") != "name,devices,fleet_key" {
			t.Errorf("generic inputs = %v", keys)
		}
		if len(ps["template"].Inputs) != 0 {
			t.Errorf("template (oauth2) declares no inputs, got %+v", ps["template"].Inputs)
		}

		tests := []struct {
			provider string
			input    map[string]string
			want     string
		}{
			// iopool's plugin would call iopool's API (unreachable here) if it were asked.
			{"iopool", map[string]string{}, `"api_key" is required`},
			{"iopool", map[string]string{"api_key": ""}, `"api_key" is required`},
			{"iopool", map[string]string{"apikey": "k"}, `"api_key" is required; iopool accepts no input "apikey"`},
			{"generic", map[string]string{"devcies": "probe-1"}, `generic accepts no input "devcies"`},
		}
		for _, tt := range tests {
			p := e.must(400, req{method: "POST", path: "/v1/providers/" + tt.provider + "/connect", token: u.Token,
				body: map[string]any{"input": tt.input}}).problem(t)
			if !strings.Contains(p.Detail, tt.want) || !strings.HasSuffix(p.Type, "/connect-input-invalid") {
				t.Errorf("%s %v: %s %q, want connect-input-invalid with %q", tt.provider, tt.input, p.Type, p.Detail, tt.want)
			}
			if strings.Contains(p.Detail, "probe-1") {
				t.Errorf("the problem echoes an input value: %q", p.Detail)
			}
		}
		var accts struct {
			Accounts []account `json:"accounts"`
		}
		e.must(200, req{method: "GET", path: "/v1/accounts", token: u.Token}).json(t, &accts)
		if len(accts.Accounts) != 0 {
			t.Fatalf("refused connects stored %d accounts", len(accts.Accounts))
		}
		// Declared inputs pass.
		e.must(201, req{method: "POST", path: "/v1/providers/generic/connect", token: u.Token,
			body: map[string]any{"input": map[string]string{"devices": "probe-1", "name": "Back garden"}}})
	})
}

// TestProviderLevelWebhookURLIsShown: a provider with webhooks on whose accounts have no
// URL of their own shows the provider-level URL in the listing and the connect answer;
// a webhook_secret provider shows each account's own URL instead.
func TestProviderLevelWebhookURLIsShown(t *testing.T) {
	e := newEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "poolhost.db"), envOpts{template: providerOpts{webhooks: true}, ingest: true})
	u := e.newUser("u", false)
	want := e.srv.URL + "/v1/webhooks/template"
	ps := e.providers(u)
	if got := ps["template"].WebhookURL; got != want {
		t.Errorf("template webhookUrl = %q, want %q", got, want)
	}
	if got := ps["generic"].WebhookURL; got != "" {
		t.Errorf("generic (account URLs) webhookUrl = %q, want none", got)
	}
	var cr struct {
		AuthorizeURL       string `json:"authorizeUrl"`
		ProviderWebhookURL string `json:"providerWebhookUrl"`
	}
	e.must(200, req{method: "POST", path: "/v1/providers/template/connect", token: u.Token}).json(t, &cr)
	if cr.AuthorizeURL == "" || cr.ProviderWebhookURL != want {
		t.Errorf("connect answered %+v, want the authorize URL and providerWebhookUrl %q", cr, want)
	}

	e.setTemplate(providerOpts{webhooks: false})
	if got := e.providers(u)["template"].WebhookURL; got != "" {
		t.Errorf("with webhooks off, webhookUrl = %q", got)
	}
}
