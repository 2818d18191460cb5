package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

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
}
