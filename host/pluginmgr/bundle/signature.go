package bundle

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A release is signed with ed25519 over its pin: the sha256 of a bundle's manifest (which
// holds the hash of every file) or of a binary. Signing the pin rather than the files
// keeps the signature small and lets it be checked wherever the pin is, at install and
// at every launch, with no second read of the files.
//
// The signature file travels with the plugin: inside a bundle, beside its manifest, as
// SignatureName (the manifest never lists it, so signing does not change the pin); for a
// binary, beside it as the binary's name + SignatureExt.

// SignatureName is a bundle's signature file, at its root.
const SignatureName = "poolhost-plugin.sig"

// SignatureExt is appended to a binary's path for its signature file.
const SignatureExt = ".sig"

// keyPrefix starts a public key's one-line form, as trusted_keys and the signature
// file name it.
const keyPrefix = "ed25519:"

// maxSignatureBytes bounds what is read of a signature file (a real one is ~300 bytes).
const maxSignatureBytes = 64 << 10

// signedContext separates what a release key signs from anything else the same key
// might sign.
const signedContext = "poolhost plugin release v1\nsha256 "

// Signature is the content of a signature file.
type Signature struct {
	Format int `json:"format"`
	// Key is the signer's public key, "ed25519:<base64>": which trusted key to check it
	// with, and what an error names when the key is not trusted.
	Key string `json:"key"`
	// SHA256 is the pin signed.
	SHA256 string `json:"sha256"`
	// Signature is ed25519 over signedContext + SHA256 + "\n", base64.
	Signature string `json:"signature"`
}

// SignaturePath is where the signature of the plugin at path lives.
func SignaturePath(path string, isBundle bool) string {
	if isBundle {
		return filepath.Join(path, SignatureName)
	}
	return path + SignatureExt
}

func signedMessage(pin string) []byte { return []byte(signedContext + pin + "\n") }

// FormatPublicKey is pub's one-line form, "ed25519:<base64>".
func FormatPublicKey(pub ed25519.PublicKey) string {
	return keyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey reads a trusted key: the one-line form, or a PEM "PUBLIC KEY" block as
// `poolhost plugins keygen` and `openssl pkey -pubout` write.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if b64, ok := strings.CutPrefix(s, keyPrefix); ok {
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("public key %q: want ed25519: and the base64 of %d bytes", s, ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(raw), nil
	}
	blk, _ := pem.Decode([]byte(s))
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New(`public key: want "ed25519:<base64>" or a PEM PUBLIC KEY block (poolhost plugins keygen writes both)`)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key: a %T, want ed25519", k)
	}
	return pub, nil
}

// GenerateKey makes a signing key: the private key as a PKCS #8 PEM block (what
// `openssl genpkey -algorithm ed25519` writes) and its public key.
func GenerateKey() (privatePEM []byte, pub ed25519.PublicKey, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), pub, nil
}

// PublicKeyPEM is pub as a PEM PUBLIC KEY block.
func PublicKeyPEM(pub ed25519.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err) // an ed25519 key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParsePrivateKey reads a PKCS #8 PEM ed25519 private key.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("private key: want a PEM PRIVATE KEY block (poolhost plugins keygen, or openssl genpkey -algorithm ed25519)")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key: a %T, want ed25519", k)
	}
	return priv, nil
}

// Sign signs pin with priv.
func Sign(priv ed25519.PrivateKey, pin string) *Signature {
	return &Signature{
		Format:    1,
		Key:       FormatPublicKey(priv.Public().(ed25519.PublicKey)),
		SHA256:    pin,
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, signedMessage(pin))),
	}
}

// Marshal encodes s as its file's content.
func (s *Signature) Marshal() []byte {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(err) // only strings and an int
	}
	return append(b, '\n')
}

// ErrUnsigned says a plugin has no signature file.
var ErrUnsigned = errors.New("unsigned")

// ReadSignature reads the signature file at path; ErrUnsigned (wrapped) if there is none.
func ReadSignature(path string) (*Signature, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no signature file %s (sign releases with `poolhost plugins sign`)", ErrUnsigned, path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxSignatureBytes+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxSignatureBytes {
		return nil, fmt.Errorf("signature file %s is over %d bytes", path, maxSignatureBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var s Signature
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("signature file %s: %w", path, err)
	}
	if s.Format != 1 {
		return nil, fmt.Errorf("signature file %s: format %d, this host reads format 1", path, s.Format)
	}
	return &s, nil
}

// SignatureError says why a signature does not vouch for a plugin.
type SignatureError struct {
	Path   string // the signature file
	Reason string // "untrusted_key", "wrong_sha256", "bad_signature"
	Detail string
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("signature %s refused (%s): %s", e.Path, e.Reason, e.Detail)
}

// VerifySignature checks that s, read from path, is a signature of pin by one of
// trusted.
func VerifySignature(path string, s *Signature, pin string, trusted []ed25519.PublicKey) error {
	key, err := ParsePublicKey(s.Key)
	if err != nil {
		return &SignatureError{Path: path, Reason: "bad_signature", Detail: err.Error()}
	}
	found := false
	for _, k := range trusted {
		if k.Equal(key) {
			found = true
			break
		}
	}
	if !found {
		return &SignatureError{Path: path, Reason: "untrusted_key", Detail: fmt.Sprintf("signed by %s, which is not in plugins.trusted_keys", FormatPublicKey(key))}
	}
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil || !ed25519.Verify(key, signedMessage(s.SHA256), sig) {
		return &SignatureError{Path: path, Reason: "bad_signature", Detail: fmt.Sprintf("the signature does not verify with %s: the signature file was altered", FormatPublicKey(key))}
	}
	if s.SHA256 != pin {
		return &SignatureError{Path: path, Reason: "wrong_sha256", Detail: fmt.Sprintf("it signs sha256 %s, the plugin's is %s: the plugin changed after it was signed", s.SHA256, pin)}
	}
	return nil
}

// CheckSignature reads the signature of the plugin at path (a bundle or a binary whose
// pin is pin) and verifies it against trusted.
func CheckSignature(path string, isBundle bool, pin string, trusted []ed25519.PublicKey) error {
	sp := SignaturePath(path, isBundle)
	s, err := ReadSignature(sp)
	if err != nil {
		return err
	}
	return VerifySignature(sp, s, pin, trusted)
}
