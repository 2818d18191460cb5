package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/credentials"
)

// TestServeSaysCredentialsKeyMissing: a host started with a credentials_key that does not
// open what is stored (a backup restored without its key, an old key retired before the
// rewrap) says so at start, naming the missing key's id and how many accounts it seals,
// instead of leaving the first 500 of one of those accounts to say it; with the key
// among credentials_old_keys again it says nothing.
func TestServeSaysCredentialsKeyMissing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	b := buildE2E(t)
	c := writeE2EConfig(t, b, nil)
	keyFile := filepath.Join(filepath.Dir(c.path), "data", "dev-credentials.key")
	oldKey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	oldMaterial, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(oldKey)))
	if err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	newSender(t, b, c, c.baseURL) // a user who connected a generic account: its credentials sealed
	stop := func(s *served) {
		t.Helper()
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		if code := s.wait(t); code != 0 {
			t.Fatalf("serve exited %d:\n%s", code, s.out.String())
		}
	}
	stop(srv)

	// Another key in its place, the old one not kept.
	material, _ := credentials.GenerateKey()
	if err := os.WriteFile(keyFile, []byte(credentials.EncodeKey(material)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv = startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	out := srv.out.String()
	if !strings.Contains(out, "sealed with a key neither credentials_key nor credentials_old_keys holds") ||
		!strings.Contains(out, "key_id="+credentials.KeyID(oldMaterial)) || !strings.Contains(out, "accounts=1") {
		t.Fatalf("serve did not say which key the stored credentials need:\n%s", out)
	}
	stop(srv)

	// The old key among credentials_old_keys: nothing to say.
	if err := os.WriteFile(filepath.Join(filepath.Dir(c.path), "data", "old.key"), oldKey, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(c.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.path, append(cfg, []byte("\ncredentials_old_keys = [file(\"data/old.key\")]\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	srv = startServe(t, b, c)
	waitHTTP(t, srv, c.baseURL+"/readyz", "")
	time.Sleep(100 * time.Millisecond)
	if out := srv.out.String(); strings.Contains(out, "sealed with a key neither") {
		t.Fatalf("serve complains with the old key configured:\n%s", out)
	}
}
