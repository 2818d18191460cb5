package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// GitHub's header and prefix, the usual defaults for hex HMAC schemes.
const (
	HeaderHubSignature256 = "X-Hub-Signature-256"
	PrefixSHA256          = "sha256="
)

// HexHMAC verifies a header carrying prefix + hex(HMAC-SHA256(secret, body)). The key is
// the secret's bytes as given. It is safe for concurrent use.
type HexHMAC struct {
	key    []byte
	header string
	prefix string
}

// NewHexHMAC verifies header (e.g. "X-Signature") holding prefix (may be empty)
// followed by the hex digest. Errors wrap ErrMalformedSecret for an empty secret.
func NewHexHMAC(secret, header, prefix string) (*HexHMAC, error) {
	if secret == "" {
		return nil, fmt.Errorf("hex hmac secret: empty: %w", ErrMalformedSecret)
	}
	if header == "" {
		return nil, fmt.Errorf("hex hmac: no header name")
	}
	return &HexHMAC{key: []byte(secret), header: header, prefix: prefix}, nil
}

// GitHub is NewHexHMAC with GitHub's "X-Hub-Signature-256: sha256=<hex>".
func GitHub(secret string) (*HexHMAC, error) {
	return NewHexHMAC(secret, HeaderHubSignature256, PrefixSHA256)
}

func (v *HexHMAC) sum(body []byte) []byte {
	h := hmac.New(sha256.New, v.key)
	h.Write(body)
	return h.Sum(nil)
}

// Sign returns the header value for body.
func (v *HexHMAC) Sign(body []byte) string {
	return v.prefix + hex.EncodeToString(v.sum(body))
}

// Header is the header name this verifier reads.
func (v *HexHMAC) Header() string { return v.header }

// Verify accepts the delivery when any value of the header matches. The prefix is
// matched case-insensitively and the hex may be upper or lower case.
func (v *HexHMAC) Verify(headers http.Header, body []byte) error {
	scheme := "hmac " + v.header
	values := headers.Values(v.header)
	if strings.TrimSpace(strings.Join(values, "")) == "" {
		return reject(scheme, ErrMissingHeader, v.header)
	}
	want := v.sum(body)
	malformed := true
	for _, value := range values {
		value = strings.TrimSpace(value)
		if len(value) < len(v.prefix) || !strings.EqualFold(value[:len(v.prefix)], v.prefix) {
			continue
		}
		got, err := hex.DecodeString(value[len(v.prefix):])
		if err != nil {
			continue
		}
		malformed = false
		if hmac.Equal(got, want) {
			return nil
		}
	}
	if malformed {
		return reject(scheme, ErrMalformedHeader, "(want "+v.prefix+"<hex>)")
	}
	return reject(scheme, ErrBadSignature, "")
}
