package credentials_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/credentials"
)

func mustKey(t *testing.T) []byte {
	t.Helper()
	k, err := credentials.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustRing(t *testing.T, current []byte, old ...[]byte) *credentials.Keyring {
	t.Helper()
	r, err := credentials.NewKeyring(current, old...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRoundTripAndCiphertextHidesPlaintext(t *testing.T) {
	key := mustKey(t)
	r := mustRing(t, key)
	plain := []byte(`{"access_token":"super-secret-access-token","refresh_token":"r-123"}`)
	aad := []byte("account/1")
	ct, keyID, err := r.Encrypt(plain, aad)
	if err != nil {
		t.Fatal(err)
	}
	if keyID != credentials.KeyID(key) || keyID != r.CurrentKeyID() {
		t.Fatalf("key id = %q, want %q", keyID, credentials.KeyID(key))
	}
	for _, secret := range []string{"super-secret-access-token", "r-123", "access_token"} {
		if bytes.Contains(ct, []byte(secret)) {
			t.Fatalf("ciphertext contains %q", secret)
		}
	}
	if bytes.Contains(ct, key) || strings.Contains(string(ct), hex.EncodeToString(key)) {
		t.Fatal("ciphertext contains key material")
	}
	got, err := r.Decrypt(ct, aad)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("round trip = %q", got)
	}
	ct2, _, _ := r.Encrypt(plain, aad)
	if bytes.Equal(ct, ct2) {
		t.Fatal("two encryptions of the same plaintext are identical: nonce reuse")
	}
}

func TestDecryptFailsLoudly(t *testing.T) {
	key, other := mustKey(t), mustKey(t)
	r := mustRing(t, key)
	ct, _, err := r.Encrypt([]byte(`{"k":"v"}`), []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(ct)
	tampered[len(tampered)-1] ^= 1

	// Same id, different material: what a mistyped or swapped key file looks like.
	wrongMaterial, err := credentials.NewKeyringWithIDs(credentials.Key{ID: credentials.KeyID(key), Bytes: other})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		ring *credentials.Keyring
		ct   []byte
		aad  string
		want error
	}{
		{"unknown key id", mustRing(t, other), ct, "a", credentials.ErrUnknownKey},
		{"wrong key material", wrongMaterial, ct, "a", credentials.ErrDecrypt},
		{"other associated data", r, ct, "b", credentials.ErrDecrypt},
		{"tampered", r, tampered, "a", credentials.ErrDecrypt},
		{"garbage", r, []byte("not a ciphertext"), "a", credentials.ErrMalformed},
		{"truncated", r, ct[:10], "a", credentials.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.ring.Decrypt(tt.ct, []byte(tt.aad))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Fatalf("plaintext returned with error: %q", got)
			}
			if strings.Contains(err.Error(), string(key)) || strings.Contains(err.Error(), credentials.EncodeKey(key)) {
				t.Fatal("error leaks key material")
			}
		})
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey := mustKey(t), mustKey(t)
	before := mustRing(t, oldKey)
	ct, oldID, err := before.Encrypt([]byte("payload"), nil)
	if err != nil {
		t.Fatal(err)
	}
	after := mustRing(t, newKey, oldKey)
	got, err := after.Decrypt(ct, nil)
	if err != nil || string(got) != "payload" {
		t.Fatalf("old ciphertext after rotation: %q, %v", got, err)
	}
	ct2, newID, err := after.Encrypt([]byte("payload"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if newID == oldID || newID != credentials.KeyID(newKey) {
		t.Fatalf("new writes use key %s, want %s", newID, credentials.KeyID(newKey))
	}
	if id, _ := credentials.CiphertextKeyID(ct2); id != newID {
		t.Fatalf("ciphertext names key %s, want %s", id, newID)
	}
	if _, err := before.Decrypt(ct2, nil); !errors.Is(err, credentials.ErrUnknownKey) {
		t.Fatalf("old ring on new ciphertext: %v", err)
	}
}

func TestNewKeyringRejectsBadKeys(t *testing.T) {
	k := mustKey(t)
	tests := []struct {
		name    string
		current []byte
		old     [][]byte
	}{
		{"short", k[:16], nil},
		{"empty", nil, nil},
		{"long", append(bytes.Clone(k), 0), nil},
		{"duplicate", k, [][]byte{k}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := credentials.NewKeyring(tt.current, tt.old...); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	k := mustKey(t)
	for _, s := range []string{credentials.EncodeKey(k), hex.EncodeToString(k), " " + credentials.EncodeKey(k) + "\n"} {
		got, err := credentials.ParseKey(s)
		if err != nil || !bytes.Equal(got, k) {
			t.Fatalf("ParseKey: %v", err)
		}
	}
	for _, s := range []string{"", "abc", credentials.EncodeKey(k[:31]), "zz" + hex.EncodeToString(k)[2:]} {
		if _, err := credentials.ParseKey(s); err == nil {
			t.Fatalf("ParseKey accepted a bad key")
		} else if s != "" && len(s) > 4 && strings.Contains(err.Error(), s) {
			t.Fatal("error echoes the key")
		}
	}
}

func TestEnsureKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev", "credentials.key")
	created, err := credentials.EnsureKeyFile(path)
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if _, err := credentials.ParseKey(string(b)); err != nil {
		t.Fatalf("generated key does not parse: %v", err)
	}
	created, err = credentials.EnsureKeyFile(path)
	if err != nil || created {
		t.Fatalf("second call: created=%v err=%v", created, err)
	}
	b2, _ := os.ReadFile(path)
	if !bytes.Equal(b, b2) {
		t.Fatal("existing key file was overwritten")
	}
}

func TestKeyStringRedacts(t *testing.T) {
	k := credentials.Key{ID: "abcd1234", Bytes: []byte("0123456789abcdef0123456789abcdef")}
	for _, s := range []string{k.String(), k.GoString()} {
		if strings.Contains(s, "0123456789") {
			t.Fatalf("%q shows key material", s)
		}
	}
}
