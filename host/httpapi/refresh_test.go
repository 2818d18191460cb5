package httpapi_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"testing"
	"time"
)

// TestDiscoverKeepsCredentialsRefreshedBeforeAFailure: the template plugin refreshes
// Acme's rotating tokens, then the device list answers 503. The discovery fails (503),
// but the new tokens travel back on the error and are stored, so the next discovery
// works; without them the account would need reconnecting (the old refresh token is
// dead).
func TestDiscoverKeepsCredentialsRefreshedBeforeAFailure(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		ctx := context.Background()
		owner := e.newUser("owner", false)
		acct := e.connectTemplate(owner)
		discover := req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", acct.ID), token: owner.Token}

		// Mark the stored access token expired so the plugin refreshes before its first
		// API request, which then fails.
		old, err := e.st.AccountCredentials(ctx, acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		expired := maps.Clone(old)
		expired["expires_at"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
		if err := e.st.UpdateAccountCredentials(ctx, acct.ID, expired); err != nil {
			t.Fatal(err)
		}
		e.acme.FailNext(http.StatusServiceUnavailable)

		e.must(http.StatusServiceUnavailable, discover)
		stored, err := e.st.AccountCredentials(ctx, acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored["refresh_token"] == "" || stored["refresh_token"] == old["refresh_token"] ||
			stored["access_token"] == old["access_token"] {
			t.Fatal("the tokens refreshed before the failure were not stored")
		}

		var disc struct {
			Devices []device `json:"devices"`
		}
		e.must(http.StatusOK, discover).json(t, &disc)
		if len(disc.Devices) != 2 {
			t.Fatalf("devices = %+v", disc.Devices)
		}
		var list struct {
			Accounts []account `json:"accounts"`
		}
		e.must(http.StatusOK, req{method: "GET", path: "/v1/accounts", token: owner.Token}).json(t, &list)
		if len(list.Accounts) != 1 || list.Accounts[0].Status != "active" {
			t.Errorf("accounts = %+v, want one active", list.Accounts)
		}
	})
}

// TestDiscoverWithNoDevicesIsRecorded: an account without devices yet is the quiet path
// of discovery. It answers 200 with an empty list and still keeps the tokens the plugin
// refreshed on the way (the old pair is dead) and the account active.
func TestDiscoverWithNoDevicesIsRecorded(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		ctx := context.Background()
		owner := e.newUser("owner", false)
		acct := e.connectTemplate(owner)
		old, err := e.st.AccountCredentials(ctx, acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		expired := maps.Clone(old)
		expired["expires_at"] = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
		if err := e.st.UpdateAccountCredentials(ctx, acct.ID, expired); err != nil {
			t.Fatal(err)
		}
		e.acme.SetDevices()

		var disc struct {
			Devices []device `json:"devices"`
		}
		e.must(http.StatusOK, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", acct.ID), token: owner.Token}).json(t, &disc)
		if disc.Devices == nil || len(disc.Devices) != 0 {
			t.Fatalf("devices = %#v, want an empty list", disc.Devices)
		}
		stored, err := e.st.AccountCredentials(ctx, acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored["refresh_token"] == old["refresh_token"] || stored["access_token"] == old["access_token"] {
			t.Fatal("the tokens refreshed by a discovery that found no devices were not stored")
		}
	})
}
