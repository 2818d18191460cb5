// Package credentials seals provider-account credentials at rest with AES-256-GCM.
//
// A Keyring holds one current key, which encrypts, and any number of older keys, which
// still decrypt, so keys can be rotated without downtime: add a new current key, keep
// the old one as an old key, rewrap (store.RewrapCredentials), then drop it.
//
// Each ciphertext names its key: "phc1" | len(id) | id | 12-byte nonce | sealed data.
// The header is authenticated together with the caller's associated data. Opening with
// an unknown key id, a wrong key, other associated data or a tampered byte fails with a
// loud error — never an empty result. Key material never appears in errors or logs.
package credentials

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the AES-256 key length in bytes.
const KeySize = 32

var magic = []byte("phc1")

var (
	// ErrUnknownKey: the ciphertext names a key the keyring does not hold — a key was
	// dropped too early or the wrong key set is configured.
	ErrUnknownKey = errors.New("credentials: ciphertext was sealed with a key that is not configured")
	// ErrDecrypt: authentication failed — wrong key material under a known id, or the
	// ciphertext or its associated data was altered.
	ErrDecrypt = errors.New("credentials: ciphertext does not authenticate (wrong key or tampered data)")
	// ErrMalformed: not a ciphertext this package wrote.
	ErrMalformed = errors.New("credentials: malformed ciphertext")
)

// Key is AES-256 key material with its id.
type Key struct {
	ID    string
	Bytes []byte
}

// String and GoString never show the material.
func (k Key) String() string   { return "key:" + k.ID }
func (k Key) GoString() string { return "credentials.Key{ID:" + k.ID + "}" }

// KeyID derives a key's id: the first 8 hex characters of its SHA-256 (the same as
// host/config). It names the key without revealing it.
func KeyID(material []byte) string {
	sum := sha256.Sum256(material)
	return hex.EncodeToString(sum[:])[:8]
}

// Keyring encrypts with its current key and decrypts with any of its keys.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
}

// NewKeyring builds a keyring from raw key material; ids are derived with KeyID.
func NewKeyring(current []byte, old ...[]byte) (*Keyring, error) {
	keys := make([]Key, 0, len(old))
	for _, o := range old {
		keys = append(keys, Key{ID: KeyID(o), Bytes: o})
	}
	return NewKeyringWithIDs(Key{ID: KeyID(current), Bytes: current}, keys...)
}

// NewKeyringWithIDs builds a keyring from keys with explicit ids.
func NewKeyringWithIDs(current Key, old ...Key) (*Keyring, error) {
	k := &Keyring{current: current.ID, aeads: map[string]cipher.AEAD{}}
	for i, key := range append([]Key{current}, old...) {
		if key.ID == "" || len(key.ID) > 64 || strings.ContainsAny(key.ID, " \t\r\n") {
			return nil, fmt.Errorf("credentials: key %d: invalid key id %q", i, key.ID)
		}
		if len(key.Bytes) != KeySize {
			// The length is safe to report; the bytes are not.
			return nil, fmt.Errorf("credentials: key %s: want %d bytes of key material, got %d", key.ID, KeySize, len(key.Bytes))
		}
		if _, dup := k.aeads[key.ID]; dup {
			return nil, fmt.Errorf("credentials: key id %s configured twice", key.ID)
		}
		block, err := aes.NewCipher(key.Bytes)
		if err != nil {
			return nil, fmt.Errorf("credentials: key %s: %w", key.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("credentials: key %s: %w", key.ID, err)
		}
		k.aeads[key.ID] = aead
	}
	return k, nil
}

// CurrentKeyID is the id new ciphertexts carry.
func (k *Keyring) CurrentKeyID() string { return k.current }

// KeyIDs lists every key id the keyring can decrypt, current first.
func (k *Keyring) KeyIDs() []string {
	ids := []string{k.current}
	for id := range k.aeads {
		if id != k.current {
			ids = append(ids, id)
		}
	}
	return ids
}

func header(keyID string) []byte {
	h := make([]byte, 0, len(magic)+1+len(keyID))
	h = append(h, magic...)
	h = append(h, byte(len(keyID)))
	return append(h, keyID...)
}

// Encrypt seals plaintext with the current key under a fresh random nonce, binding aad
// (which is not stored; Decrypt needs the same). It returns the ciphertext and the key
// id it carries.
func (k *Keyring) Encrypt(plaintext, aad []byte) ([]byte, string, error) {
	aead := k.aeads[k.current]
	h := header(k.current)
	out := make([]byte, len(h), len(h)+aead.NonceSize()+len(plaintext)+aead.Overhead())
	copy(out, h)
	nonce := out[len(h) : len(h)+aead.NonceSize()]
	out = out[:len(h)+aead.NonceSize()]
	if _, err := rand.Read(nonce); err != nil {
		return nil, "", fmt.Errorf("credentials: nonce: %w", err)
	}
	out = aead.Seal(out, nonce, plaintext, additional(h, aad))
	return out, k.current, nil
}

// Decrypt opens a ciphertext from Encrypt with the key it names.
func (k *Keyring) Decrypt(ciphertext, aad []byte) ([]byte, error) {
	keyID, err := CiphertextKeyID(ciphertext)
	if err != nil {
		return nil, err
	}
	aead, ok := k.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("%w: key id %s (configured: %s)", ErrUnknownKey, keyID, strings.Join(k.KeyIDs(), ", "))
	}
	h := header(keyID)
	rest := ciphertext[len(h):]
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrMalformed
	}
	plain, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], additional(h, aad))
	if err != nil {
		return nil, fmt.Errorf("%w: key id %s", ErrDecrypt, keyID)
	}
	return plain, nil
}

// CiphertextKeyID reads the key id a ciphertext carries without decrypting it.
func CiphertextKeyID(ciphertext []byte) (string, error) {
	if len(ciphertext) < len(magic)+1 || string(ciphertext[:len(magic)]) != string(magic) {
		return "", ErrMalformed
	}
	n := int(ciphertext[len(magic)])
	if n == 0 || len(ciphertext) < len(magic)+1+n {
		return "", ErrMalformed
	}
	return string(ciphertext[len(magic)+1 : len(magic)+1+n]), nil
}

// additional authenticates the header with the caller's aad, length-prefixed so the
// two cannot be shifted into each other.
func additional(h, aad []byte) []byte {
	out := make([]byte, 0, len(h)+1+len(aad))
	out = append(out, byte(len(h)))
	out = append(out, h...)
	return append(out, aad...)
}

// GenerateKey returns fresh random key material.
func GenerateKey() ([]byte, error) {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("credentials: generate key: %w", err)
	}
	return b, nil
}

// EncodeKey is the text form of key material used in key files and env variables.
func EncodeKey(material []byte) string { return base64.StdEncoding.EncodeToString(material) }

// ParseKey decodes key material given as base64 (standard or URL, padded or not) or
// hex, and checks its length. Errors never echo the input.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == hex.EncodedLen(KeySize) {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("credentials: key must be %d bytes, got %d", KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("credentials: key is neither base64 nor hex of %d bytes", KeySize)
}

// EnsureKeyFile writes a fresh base64 key to path (mode 0600, parent dirs 0700) unless
// the file exists. It is for development (`make run`); production keys come from a
// secret store. created reports whether a key was written.
func EnsureKeyFile(path string) (created bool, err error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("credentials: key file: %w", err)
	}
	key, err := GenerateKey()
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, fmt.Errorf("credentials: key file dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return false, nil // another process won the race; its key stands
	}
	if err != nil {
		return false, fmt.Errorf("credentials: key file: %w", err)
	}
	if _, err := f.WriteString(EncodeKey(key) + "\n"); err != nil {
		f.Close()
		return false, fmt.Errorf("credentials: write key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("credentials: write key file: %w", err)
	}
	return true, nil
}
