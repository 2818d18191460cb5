package signature_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/signature"
)

// GitHub's published test values, from "Validating webhook deliveries"
// (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries,
// source repo github/docs, content/webhooks/using-webhooks/validating-webhook-deliveries.md,
// section "Testing the webhook payload validation").
const (
	githubSecret    = "It's a Secret to Everybody"
	githubPayload   = "Hello, World!"
	githubSignature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

func TestHexHMACGitHubVector(t *testing.T) {
	v, err := signature.GitHub(githubSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Sign([]byte(githubPayload)); got != githubSignature {
		t.Fatalf("Sign = %q, want %q", got, githubSignature)
	}
	expectedHex := strings.TrimPrefix(githubSignature, "sha256=")

	tests := []struct {
		name   string
		header http.Header
		body   string
		reason error
	}{
		{"published vector", http.Header{"X-Hub-Signature-256": {githubSignature}}, githubPayload, nil},
		{"upper-case hex and prefix", http.Header{"X-Hub-Signature-256": {"SHA256=" + strings.ToUpper(expectedHex)}}, githubPayload, nil},
		{"second header value matches", http.Header{"X-Hub-Signature-256": {"sha256=00", githubSignature}}, githubPayload, nil},
		{"tampered body", http.Header{"X-Hub-Signature-256": {githubSignature}}, "Hello, World?", signature.ErrBadSignature},
		{"truncated signature", http.Header{"X-Hub-Signature-256": {githubSignature[:23]}}, githubPayload, signature.ErrBadSignature},
		{"missing header", http.Header{}, githubPayload, signature.ErrMissingHeader},
		{"empty header", http.Header{"X-Hub-Signature-256": {""}}, githubPayload, signature.ErrMissingHeader},
		{"sha1 legacy prefix", http.Header{"X-Hub-Signature-256": {"sha1=" + expectedHex}}, githubPayload, signature.ErrMalformedHeader},
		{"not hex", http.Header{"X-Hub-Signature-256": {"sha256=zz"}}, githubPayload, signature.ErrMalformedHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Verify(tt.header, []byte(tt.body))
			if tt.reason == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			assertRejected(t, err, tt.reason, expectedHex, githubSecret)
		})
	}
}

func TestHexHMACCustomHeader(t *testing.T) {
	v, err := signature.NewHexHMAC("s3cret", "X-Signature", "")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"ph":7.4}`)
	sig := v.Sign(body)
	if len(sig) != 64 {
		t.Fatalf("Sign without prefix = %q, want 64 hex chars", sig)
	}
	if err := v.Verify(http.Header{"X-Signature": {sig}}, body); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	err = v.Verify(http.Header{"X-Hub-Signature-256": {sig}}, body)
	assertRejected(t, err, signature.ErrMissingHeader)
	if !strings.Contains(err.Error(), "X-Signature") {
		t.Errorf("error %q does not name the header", err)
	}
	if !sdk.IsKind(err, sdk.KindRejected) {
		t.Errorf("kind = %v", sdk.KindOf(err))
	}
}

func TestHexHMACConstructorErrors(t *testing.T) {
	if _, err := signature.NewHexHMAC("", "X-Signature", "sha256="); err == nil {
		t.Error("empty secret accepted")
	}
	if _, err := signature.NewHexHMAC("s", "", "sha256="); err == nil {
		t.Error("empty header name accepted")
	}
}
