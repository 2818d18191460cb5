package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/store"
)

// A key rotation end to end: credentials sealed under the old key are re-sealed by
// `credentials rewrap`, after which a config holding only the new key still opens them.
func TestCredentialsRewrap(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	url := "sqlite:" + filepath.Join(dir, "poolhost.db")
	key := func(name string, b byte) {
		writeTestFile(t, filepath.Join(dir, name), base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)))
	}
	key("old.key", 'o')
	key("new.key", 'n')
	conf := func(name, body string) string {
		path := filepath.Join(dir, name)
		writeTestFile(t, path, fmt.Sprintf("database_url = %q\nplugin_dir = %q\n%s\n", url, dir, body))
		return path
	}
	before := conf("before.hcl", `credentials_key = file("old.key")`)
	rotating := conf("rotating.hcl", "credentials_key = file(\"new.key\")\ncredentials_old_keys = [file(\"old.key\")]")
	after := conf("after.hcl", `credentials_key = file("new.key")`)

	open := func(path string) (*store.Store, *config.Config) {
		t.Helper()
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		kr, err := keyring(cfg)
		if err != nil {
			t.Fatal(err)
		}
		st, err := store.Open(ctx, url, store.WithCipher(kr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, cfg
	}
	st, oldCfg := open(before)
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, "ana@example.com", false)
	if err != nil {
		t.Fatal(err)
	}
	acc, _, err := st.UpsertAccount(ctx, store.NewAccount{UserID: u.ID, Provider: "iopool", ExternalAccountID: "key:1", Credentials: map[string]string{"api_key": "k-123"}})
	if err != nil {
		t.Fatal(err)
	}
	keyID := func() string {
		t.Helper()
		var id string
		if err := st.DB().GetContext(ctx, &id, st.DB().Rebind(`SELECT credentials_key_id FROM integration_accounts WHERE id = ?`), acc.ID); err != nil {
			t.Fatal(err)
		}
		return id
	}
	if got := keyID(); got != oldCfg.CredentialsKey.ID {
		t.Fatalf("sealed under %s, want the old key %s", got, oldCfg.CredentialsKey.ID)
	}

	var out, errOut strings.Builder
	if code := dispatch(ctx, []string{"credentials", "rewrap", "--config", rotating}, &out, &errOut); code != 0 {
		t.Fatalf("rewrap exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "re-sealed 1 ") {
		t.Errorf("rewrap output = %q", out.String())
	}
	newSt, newCfg := open(after)
	if got := keyID(); got != newCfg.CredentialsKey.ID {
		t.Fatalf("after rewrap sealed under %s, want the new key %s", got, newCfg.CredentialsKey.ID)
	}
	creds, err := newSt.AccountCredentials(ctx, acc.ID)
	if err != nil || creds["api_key"] != "k-123" {
		t.Fatalf("credentials under the new key alone = %v, %v", creds, err)
	}
	// Rewrapping again moves nothing; a config without the key is refused.
	out.Reset()
	if code := dispatch(ctx, []string{"credentials", "rewrap", "--config", after}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "re-sealed 0 ") {
		t.Errorf("second rewrap: exit %d, %q", code, out.String())
	}
	if code := dispatch(ctx, []string{"credentials", "rotate"}, &out, &errOut); code != 2 {
		t.Errorf("unknown subcommand exit %d, want 2", code)
	}
}
