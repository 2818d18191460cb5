package signature_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/poolhost/poolhost/sdk/signature"
)

func TestSharedSecretBearer(t *testing.T) {
	const secret = "tts-webhook-secret-0123456789"
	v, err := signature.Bearer(secret)
	if err != nil {
		t.Fatal(err)
	}
	set := http.Header{}
	v.Set(set, secret)
	if got := set.Get("Authorization"); got != "Bearer "+secret {
		t.Fatalf("Set wrote %q", got)
	}

	tests := []struct {
		name   string
		value  []string // nil: header absent
		reason error
	}{
		{"exact", []string{"Bearer " + secret}, nil},
		{"scheme is case-insensitive", []string{"bearer " + secret}, nil},
		{"extra spaces after scheme", []string{"Bearer   " + secret}, nil},
		{"wrong secret", []string{"Bearer wrong"}, signature.ErrBadSignature},
		{"prefix of secret", []string{"Bearer " + secret[:10]}, signature.ErrBadSignature},
		{"secret plus suffix", []string{"Bearer " + secret + "x"}, signature.ErrBadSignature},
		{"empty credential", []string{"Bearer "}, signature.ErrMalformedHeader},
		{"wrong scheme", []string{"Basic " + secret}, signature.ErrMalformedHeader},
		{"no scheme", []string{secret}, signature.ErrMalformedHeader},
		{"missing", nil, signature.ErrMissingHeader},
		{"empty", []string{""}, signature.ErrMissingHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.value != nil {
				h["Authorization"] = tt.value
			}
			err := v.Verify(h, nil)
			if tt.reason == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			assertRejected(t, err, tt.reason, secret)
		})
	}
}

func TestSharedSecretPlainHeader(t *testing.T) {
	v, err := signature.NewSharedSecret("k3y", "X-Webhook-Token", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(http.Header{"X-Webhook-Token": {"k3y"}}, nil); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	assertRejected(t, v.Verify(http.Header{"X-Webhook-Token": {"k3y2"}}, nil), signature.ErrBadSignature)
	assertRejected(t, v.Verify(http.Header{"X-Webhook-Token": {"Bearer k3y"}}, nil), signature.ErrBadSignature)
}

func TestSharedSecretEmpty(t *testing.T) {
	if _, err := signature.NewSharedSecret("", "Authorization", "Bearer"); !errors.Is(err, signature.ErrMalformedSecret) {
		t.Fatalf("empty secret: err = %v, want ErrMalformedSecret", err)
	}
}
