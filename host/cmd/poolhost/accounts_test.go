package main

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/credentials"
	"github.com/poolhost/poolhost/host/store"
)

// TestAccountsDisconnect runs `poolhost accounts disconnect` as an operator would after
// decommissioning a provider: refused while its block is enabled, then, with
// enabled = false, every account of it disconnected and its credentials erased, another
// provider's left alone, and a provider missing from the flag refused.
func TestAccountsDisconnect(t *testing.T) {
	dir := t.TempDir()
	key, _ := credentials.GenerateKey()
	writeTestFile(t, filepath.Join(dir, "k.key"), credentials.EncodeKey(key)+"\n")
	db := "sqlite:" + filepath.Join(dir, "poolhost.db")
	conf := func(enabled string) string {
		path := filepath.Join(dir, "poolhost-"+enabled+".hcl")
		writeTestFile(t, path, `database_url = "`+db+`"
credentials_key = file("k.key")
provider "acme" {
  enabled = `+enabled+`
}
`)
		return path
	}
	on, off := conf("true"), conf("false")
	if code, _, stderr := cli(t, "migrate", "up", "--config", off); code != 0 {
		t.Fatalf("migrate up = %d %q", code, stderr)
	}
	ring, err := credentials.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, db, store.WithCipher(ring))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.CreateUser(ctx, "ana@example.com", false)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, p := range []string{"acme", "acme", "other"} {
		a, _, err := st.UpsertAccount(ctx, store.NewAccount{UserID: u.ID, Provider: p, ExternalAccountID: "ext-" + p + string(rune('a'+len(ids))),
			DisplayName: p, Credentials: map[string]string{"api_key": "secret"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}

	if code, _, stderr := cli(t, "accounts", "disconnect", "--provider", "acme", "--config", on); code != 1 || !strings.Contains(stderr, `provider "acme" is enabled`) {
		t.Fatalf("disconnect an enabled provider = %d %q, want a refusal", code, stderr)
	}
	if _, err := st.AccountCredentials(ctx, ids[0]); err != nil {
		t.Fatalf("the refused command touched credentials: %v", err)
	}
	if code, _, stderr := cli(t, "accounts", "disconnect", "--config", off); code != 2 || !strings.Contains(stderr, "provider") {
		t.Fatalf("no --provider = %d %q", code, stderr)
	}
	// The file says disabled, but a host not yet reloaded with it still serves acme: its
	// accounts are still their users'. Each replica's heartbeat says what it runs; a
	// stopped one, or one silent past http.heartbeat_gone_after, does not count. The
	// command went by the file alone and disconnected them.
	now := time.Now()
	beat := func(id, status string, seen time.Time, providers *string) {
		t.Helper()
		r := store.Replica{ID: id, Hostname: "host-" + id, Version: "test", StartedAt: now.Add(-time.Hour), LastSeenAt: seen, Status: status}
		if providers != nil {
			r.EnabledProviders = sql.NullString{String: *providers, Valid: true}
		}
		if err := st.BeatReplica(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	runs := func(s string) *string { return &s }
	beat("gone", store.ReplicaReady, now.Add(-10*time.Minute), runs("acme"))
	beat("done", store.ReplicaStopped, now, runs("acme"))
	beat("legacy", store.ReplicaReady, now, nil)
	refusedWith := func(want string, args ...string) {
		t.Helper()
		code, stdout, stderr := cli(t, append([]string{"accounts", "disconnect", "--provider", "acme", "--config", off}, args...)...)
		if code != 1 || stdout != "" || !strings.Contains(stderr, want) || !strings.Contains(stderr, "Nothing was disconnected") {
			t.Fatalf("disconnect while a replica may serve acme = %d %q %q, want a refusal saying %q", code, stdout, stderr, want)
		}
		if _, err := st.AccountCredentials(ctx, ids[0]); err != nil {
			t.Fatalf("the refused command touched credentials: %v", err)
		}
	}
	refusedWith("serve process legacy on host-legacy, last seen 0s ago, does not say which providers it runs")
	beat("legacy", store.ReplicaStopped, now, nil)
	beat("live", store.ReplicaReady, now, runs("other,acme"))
	refusedWith(`serve process live on host-live, last seen 0s ago, still runs provider "acme" enabled: reload it`)
	beat("live", store.ReplicaReady, now, runs("other")) // reloaded with the file

	code, stdout, stderr := cli(t, "accounts", "disconnect", "--provider", "acme", "--config", off)
	if code != 0 || !strings.Contains(stdout, "disconnected 2 account(s) of provider acme") {
		t.Fatalf("disconnect = %d %q %q", code, stdout, stderr)
	}
	for i, id := range ids {
		_, err := st.AccountCredentials(ctx, id)
		if erased := errors.Is(err, store.ErrNotFound); erased != (i < 2) {
			t.Errorf("account %d (%d): credentials erased %v (%v)", i, id, erased, err)
		}
	}

	// Run again: nothing left to do, said so (it printed "disconnected 0 account(s) ...
	// credentials erased"). "other" is in no config block but has an account: removed,
	// and disconnected the same way.
	if code, stdout, stderr := cli(t, "accounts", "disconnect", "--provider", "acme", "--config", off); code != 0 || stdout != "no connected account of provider acme: nothing to disconnect\n" {
		t.Errorf("disconnect again = %d %q %q", code, stdout, stderr)
	}
	// "live" still runs "other": refused, unless forced.
	if code, _, stderr := cli(t, "accounts", "disconnect", "--provider", "other", "--config", off); code != 1 || !strings.Contains(stderr, `still runs provider "other" enabled`) {
		t.Errorf("disconnect a provider a live replica runs = %d %q", code, stderr)
	}
	if code, stdout, stderr := cli(t, "accounts", "disconnect", "--provider", "other", "--force", "--config", off); code != 0 || !strings.Contains(stdout, "disconnected 1 account(s) of provider other") {
		t.Errorf("disconnect a removed provider's account = %d %q %q", code, stdout, stderr)
	}
	// A typo: no block and no account of that id ever. It exited 0 saying it had
	// disconnected 0 accounts, as if the decommissioned provider's credentials were gone.
	if code, stdout, stderr := cli(t, "accounts", "disconnect", "--provider", "acmee", "--config", off); code != 1 || stdout != "" ||
		!strings.Contains(stderr, `no account of provider "acmee" was ever connected`) || !strings.Contains(stderr, "its providers: acme") {
		t.Errorf("disconnect a provider id that never existed = %d %q %q", code, stdout, stderr)
	}
}
