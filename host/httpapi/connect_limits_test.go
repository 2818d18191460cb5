package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestConnectInputIsBounded: oversized connect input is refused with a 400 saying what
// was too large, before any plugin sees it, and stores nothing: the attacker's review
// linked accounts with a 500 KB display name and a 50,001-entry device list. The real
// generic plugin runs behind real HTTP, on both engines.
func TestConnectInputIsBounded(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		u := e.newUser("u", false)
		ids := make([]string, 50001)
		for i := range ids {
			ids[i] = fmt.Sprintf("probe-%d", i)
		}
		many := map[string]string{}
		for i := range 33 {
			many[fmt.Sprintf("k%d", i)] = "v"
		}
		tests := []struct {
			name  string
			input map[string]string
			want  string
		}{
			{"500 KB display name", map[string]string{"devices": "probe-1", "name": strings.Repeat("n", 500<<10)}, `input "name" is 512000 bytes`},
			{"50,001 devices", map[string]string{"devices": strings.Join(ids, ",")}, `input "devices" is`},
			{"33 keys", many, "input has 33 keys"},
			{"long key", map[string]string{strings.Repeat("k", 65): "v"}, "input key is 65 bytes"},
			{"201-character display name", map[string]string{"devices": "probe-1", "name": strings.Repeat("é", 201)}, "display name is 201 characters"},
		}
		for _, tt := range tests {
			p := e.must(400, req{method: "POST", path: "/v1/providers/generic/connect", token: u.Token,
				body: map[string]any{"input": tt.input}}).problem(t)
			if !strings.Contains(p.Detail, tt.want) || !strings.Contains(p.Detail, "at most") {
				t.Errorf("%s: detail %q, want %q and the limit", tt.name, p.Detail, tt.want)
			}
		}
		var accts struct {
			Accounts []account `json:"accounts"`
		}
		e.must(200, req{method: "GET", path: "/v1/accounts", token: u.Token}).json(t, &accts)
		if len(accts.Accounts) != 0 || len(e.auditEvents("integration.connected")) != 0 {
			t.Fatalf("refused connects stored %d accounts", len(accts.Accounts))
		}
		// At the limits, it links.
		e.must(201, req{method: "POST", path: "/v1/providers/generic/connect", token: u.Token,
			body: map[string]any{"input": map[string]string{"devices": "probe-1", "name": strings.Repeat("é", 200)}}})
	})
}

// TestProvidersDisplayNameIsShortened: the name a provider gives an account is not the
// user's to shorten: iopool's and Ondilo's plugins name it after its pools ("iopool: A,
// B, C"), and a user whose three pools have long names got a 400 "display name is 252
// characters" from the built host, no account linked. A provider's name over the limit
// is cut, the last character "…"; a name the user typed is still theirs to shorten
// (TestConnectInputIsBounded).
func TestProvidersDisplayNameIsShortened(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		u := e.newUser("u", false)
		e.acme.SetAccountName(strings.Repeat("é", 300))
		acct := e.connectTemplate(u)
		if want := strings.Repeat("é", 199) + "…"; acct.DisplayName != want {
			t.Fatalf("display name %q (%d characters), want 199 characters and …", acct.DisplayName, len([]rune(acct.DisplayName)))
		}
	})
}
