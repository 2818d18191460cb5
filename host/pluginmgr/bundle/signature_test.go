package bundle_test

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/pluginmgr/bundle"
)

func newKey(t *testing.T) (ed25519.PrivateKey, ed25519.PublicKey) {
	t.Helper()
	privPEM, pub, err := bundle.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := bundle.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

// TestSignatureVerdicts: a signature of a bundle's pin by a trusted key is accepted;
// an untrusted key, a signature of another pin (the bundle changed after signing) and
// an altered signature file are each refused with their own reason, and a missing
// file is ErrUnsigned.
func TestSignatureVerdicts(t *testing.T) {
	dir := nodeBundle(t)
	m, _, err := bundle.Generate(dir, "run.sh", nil)
	if err != nil {
		t.Fatal(err)
	}
	pin, err := bundle.Write(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	priv, pub := newKey(t)
	otherPriv, otherPub := newKey(t)
	trusted := []ed25519.PublicKey{pub}
	sigPath := bundle.SignaturePath(dir, true)
	sign := func(p ed25519.PrivateKey, pin string) {
		t.Helper()
		if err := os.WriteFile(sigPath, bundle.Sign(p, pin).Marshal(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reason := func(err error) string {
		var se *bundle.SignatureError
		if errors.As(err, &se) {
			return se.Reason
		}
		if errors.Is(err, bundle.ErrUnsigned) {
			return "unsigned"
		}
		return "other: " + errString(err)
	}

	if err := bundle.CheckSignature(dir, true, pin, trusted); reason(err) != "unsigned" {
		t.Errorf("no signature file: %v", err)
	}
	sign(priv, pin)
	if err := bundle.CheckSignature(dir, true, pin, trusted); err != nil {
		t.Errorf("signed by a trusted key: %v", err)
	}
	// The signature file is not part of the bundle: regenerating keeps the pin.
	if m2, _, err := bundle.Generate(dir, "run.sh", nil); err != nil || bundle.Pin(m2.Marshal()) != pin {
		t.Errorf("the signature changed the pin: %v", err)
	}
	if un, _ := bundle.Unlisted(dir, m); len(un) != 1 || un[0] != "node_modules/.bin/tool" {
		t.Errorf("unlisted = %v, want only the symlink (not the signature)", un)
	}
	if err := bundle.CheckSignature(dir, true, pin, []ed25519.PublicKey{otherPub}); reason(err) != "untrusted_key" ||
		!strings.Contains(err.Error(), bundle.FormatPublicKey(pub)+", which is not in plugins.trusted_keys") {
		t.Errorf("untrusted key: %v", err)
	}
	if err := bundle.CheckSignature(dir, true, strings.Repeat("0", 64), trusted); reason(err) != "wrong_sha256" ||
		!strings.Contains(err.Error(), "the plugin changed after it was signed") {
		t.Errorf("another pin: %v", err)
	}
	// Someone re-signs with their own key but claims the trusted one.
	forged := bundle.Sign(otherPriv, pin)
	forged.Key = bundle.FormatPublicKey(pub)
	if err := os.WriteFile(sigPath, forged.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := bundle.CheckSignature(dir, true, pin, trusted); reason(err) != "bad_signature" {
		t.Errorf("forged signature: %v", err)
	}
	// A signature of one pin edited to name another does not verify either.
	s := bundle.Sign(priv, strings.Repeat("1", 64))
	s.SHA256 = pin
	if err := os.WriteFile(sigPath, s.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := bundle.CheckSignature(dir, true, pin, trusted); reason(err) != "bad_signature" {
		t.Errorf("edited sha256: %v", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(bundle.Sign(priv, pin).Marshal(), &raw); err != nil || raw["format"] != float64(1) {
		t.Errorf("signature file %v: %v", raw, err)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestKeysInterchangeWithOpenSSL: a key made by `openssl genpkey -algorithm ed25519`
// signs, and its `openssl pkey -pubout` public key is a trusted key, as PLUGINS.md says.
func TestKeysInterchangeWithOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl")
	}
	dir := t.TempDir()
	key, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	for _, args := range [][]string{{"genpkey", "-algorithm", "ed25519", "-out", key}, {"pkey", "-in", key, "-pubout", "-out", pub}} {
		if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	privPEM, _ := os.ReadFile(key)
	pubPEM, _ := os.ReadFile(pub)
	priv, err := bundle.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := bundle.ParsePublicKey(string(pubPEM))
	if err != nil {
		t.Fatal(err)
	}
	line, err := bundle.ParsePublicKey(bundle.FormatPublicKey(pk))
	if err != nil || !line.Equal(pk) || !pk.Equal(priv.Public()) {
		t.Fatalf("one-line form %v: %v", line, err)
	}
	pin := strings.Repeat("ab", 32)
	s := bundle.Sign(priv, pin)
	if err := bundle.VerifySignature("k.sig", s, pin, []ed25519.PublicKey{pk}); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "ed25519:AAAA", "ssh-ed25519 AAAA", string(privPEM)} {
		if _, err := bundle.ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", bad)
		}
	}
}
