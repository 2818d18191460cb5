package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/store"
)

// TestAccountsOfProvidersNotEnabled: the Accounts page lists, per provider disabled or
// removed from the config, its accounts still connected (their credentials stored
// until each owner disconnects), and leaves out enabled providers' healthy accounts
// and disconnected ones.
func TestAccountsOfProvidersNotEnabled(t *testing.T) {
	e := newEnv(t, "http://x")
	e.cfg.Providers = append(e.cfg.Providers, config.Provider{ID: "old", Enabled: false, Stage: "ga", Access: "read-only"})
	ctx := context.Background()
	u, err := e.st.CreateUser(ctx, "pool-owner@example.com", false)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, p := range []string{"acme", "old", "gone", "gone-disconnected"} {
		prov := strings.TrimSuffix(p, "-disconnected")
		a, _, err := e.st.UpsertAccount(ctx, store.NewAccount{UserID: u.ID, Provider: prov, ExternalAccountID: p,
			DisplayName: "account " + p, Credentials: map[string]string{"api_key": "k"}})
		if err != nil {
			t.Fatal(err)
		}
		ids[p] = a.ID
	}
	if _, err := e.st.DisconnectAccount(ctx, ids["gone-disconnected"]); err != nil {
		t.Fatal(err)
	}

	cookie := e.signIn(t, e.admin).Cookies()[0]
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/ui/accounts", nil)
	req.AddCookie(cookie)
	resp, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`id="orphaned-old"`, `state-disabled">disabled`, fmt.Sprintf(`id="orphaned-account-%d"`, ids["old"]),
		`id="orphaned-gone"`, `state-removed">removed`, fmt.Sprintf(`id="orphaned-account-%d"`, ids["gone"]),
		"pool-owner@example.com", "1 connected",
		"No account needs attention", // the attention list is still there, empty
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the accounts page lacks %q", want)
		}
	}
	for _, not := range []string{
		`id="orphaned-acme"`, fmt.Sprintf(`id="orphaned-account-%d"`, ids["acme"]),
		fmt.Sprintf(`id="orphaned-account-%d"`, ids["gone-disconnected"]),
	} {
		if strings.Contains(body, not) {
			t.Errorf("the accounts page shows %q", not)
		}
	}
}
