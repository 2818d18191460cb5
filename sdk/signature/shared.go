package signature

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
)

// SharedSecret verifies a static secret carried in a header, optionally after an auth
// scheme ("Authorization: Bearer <secret>"). Both sides are reduced to an HMAC-SHA256
// under a per-instance random key before a constant-time comparison, so neither the
// secret's content nor its length leaks through timing. It is safe for concurrent use.
type SharedSecret struct {
	header string
	scheme string
	mask   []byte // random HMAC key, never leaves the process
	want   []byte
}

// NewSharedSecret expects header to carry secret, preceded by scheme and a space when
// scheme is not empty (schemes compare case-insensitively, as in HTTP auth). Errors wrap
// ErrMalformedSecret for an empty secret.
func NewSharedSecret(secret, header, scheme string) (*SharedSecret, error) {
	if secret == "" {
		return nil, fmt.Errorf("shared secret: empty: %w", ErrMalformedSecret)
	}
	if header == "" {
		return nil, fmt.Errorf("shared secret: no header name")
	}
	mask := make([]byte, 32)
	if _, err := rand.Read(mask); err != nil {
		return nil, fmt.Errorf("shared secret: %w", err)
	}
	s := &SharedSecret{header: header, scheme: scheme, mask: mask}
	s.want = s.digest(secret)
	return s, nil
}

// Bearer is NewSharedSecret for "Authorization: Bearer <secret>" (The Things Stack
// webhooks with a custom Authorization header).
func Bearer(secret string) (*SharedSecret, error) {
	return NewSharedSecret(secret, "Authorization", "Bearer")
}

func (s *SharedSecret) digest(v string) []byte {
	h := hmac.New(sha256.New, s.mask)
	h.Write([]byte(v))
	return h.Sum(nil)
}

// Header is the header name this verifier reads.
func (s *SharedSecret) Header() string { return s.header }

// Verify checks the header; body is ignored (it is not signed in this scheme).
func (s *SharedSecret) Verify(headers http.Header, _ []byte) error {
	scheme := "shared secret " + s.header
	value := strings.TrimSpace(headers.Get(s.header))
	if value == "" {
		return reject(scheme, ErrMissingHeader, s.header)
	}
	presented := value
	if s.scheme != "" {
		name, rest, ok := strings.Cut(value, " ")
		if !ok || !strings.EqualFold(name, s.scheme) {
			return reject(scheme, ErrMalformedHeader, "(want "+s.scheme+" <secret>)")
		}
		presented = strings.TrimLeft(rest, " ")
	}
	if subtle.ConstantTimeCompare(s.digest(presented), s.want) != 1 {
		return reject(scheme, ErrBadSignature, "")
	}
	return nil
}

// Set puts secret into h the way Verify expects it (for tests and senders).
func (s *SharedSecret) Set(h http.Header, secret string) {
	if s.scheme != "" {
		secret = s.scheme + " " + secret
	}
	h.Set(s.header, secret)
}
