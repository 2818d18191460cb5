package signature_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/signature"
)

// The published Standard Webhooks test vector, copied from the reference libraries'
// sign tests: repo standard-webhooks/standard-webhooks, files
// libraries/go/webhook_test.go (TestWebhookSign) and
// libraries/python/tests/test_webhooks.py (test_sign_function).
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorMsgID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorPayload   = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	// A well-formed but wrong signature used by the same test files ("invalid
	// signature is invalid", "valid multi sig is valid").
	vectorWrongSignature = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
)

var vectorTime = time.Unix(vectorTimestamp, 0)

func vectorHeaders() http.Header {
	h := http.Header{}
	h.Set("webhook-id", vectorMsgID)
	h.Set("webhook-timestamp", strconv.Itoa(vectorTimestamp))
	h.Set("webhook-signature", vectorSignature)
	return h
}

func mustStandard(t *testing.T, secret string, opts ...signature.Option) *signature.StandardWebhooks {
	t.Helper()
	v, err := signature.NewStandardWebhooks(secret, opts...)
	if err != nil {
		t.Fatalf("NewStandardWebhooks: %v", err)
	}
	return v
}

func TestStandardWebhooksPublishedVector(t *testing.T) {
	for _, secret := range []string{vectorSecret, strings.TrimPrefix(vectorSecret, "whsec_")} {
		v := mustStandard(t, secret)
		if got := v.Sign(vectorMsgID, vectorTime, []byte(vectorPayload)); got != vectorSignature {
			t.Errorf("Sign with %q-style secret = %q, want %q", secret[:6], got, vectorSignature)
		}
		if err := v.VerifyAt(vectorHeaders(), []byte(vectorPayload), vectorTime); err != nil {
			t.Errorf("VerifyAt(published vector): %v", err)
		}
	}
}

// assertRejected checks the error contract: kind rejected, the given reason, and no
// secret material in the message.
func assertRejected(t *testing.T, err, reason error, forbidden ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("verification succeeded, want rejection")
	}
	if !sdk.IsKind(err, sdk.KindRejected) {
		t.Errorf("error %q is not of kind rejected (kind %v)", err, sdk.KindOf(err))
	}
	if !errors.Is(err, reason) {
		t.Errorf("error %q does not wrap %q", err, reason)
	}
	for _, f := range forbidden {
		if f != "" && strings.Contains(err.Error(), f) {
			t.Errorf("error %q leaks %q", err, f)
		}
	}
}

func TestStandardWebhooksVerify(t *testing.T) {
	v := mustStandard(t, vectorSecret)
	// The base64 part of the correct signature must never appear in a message.
	expectedB64 := strings.TrimPrefix(vectorSignature, "v1,")
	secretB64 := strings.TrimPrefix(vectorSecret, "whsec_")

	tests := []struct {
		name   string
		modify func(h http.Header, body *[]byte, now *time.Time)
		reason error // nil: accepted
	}{
		{"published vector", nil, nil},
		{"tampered body", func(h http.Header, b *[]byte, _ *time.Time) { *b = []byte(`{"test": 2432232315}`) }, signature.ErrBadSignature},
		{"tampered id", func(h http.Header, _ *[]byte, _ *time.Time) { h.Set("webhook-id", "msg_other") }, signature.ErrBadSignature},
		{"tampered timestamp", func(h http.Header, _ *[]byte, now *time.Time) {
			h.Set("webhook-timestamp", strconv.Itoa(vectorTimestamp+1))
		}, signature.ErrBadSignature},
		{"wrong signature", func(h http.Header, _ *[]byte, _ *time.Time) { h.Set("webhook-signature", vectorWrongSignature) }, signature.ErrBadSignature},
		{"partial signature", func(h http.Header, _ *[]byte, _ *time.Time) { h.Set("webhook-signature", "v1,") }, signature.ErrBadSignature},
		{"right signature, unknown version", func(h http.Header, _ *[]byte, _ *time.Time) {
			h.Set("webhook-signature", "v2,"+expectedB64)
		}, signature.ErrBadSignature},
		{"rotation: second entry matches", func(h http.Header, _ *[]byte, _ *time.Time) {
			h.Set("webhook-signature", vectorWrongSignature+" "+vectorSignature)
		}, nil},
		{"reference multi-signature header", func(h http.Header, _ *[]byte, _ *time.Time) {
			h.Set("webhook-signature", strings.Join([]string{
				vectorWrongSignature,
				"v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
				vectorSignature,
				vectorWrongSignature,
			}, " "))
		}, nil},
		{"unknown versions ignored", func(h http.Header, _ *[]byte, _ *time.Time) {
			h.Set("webhook-signature", "v1a,xyz garbage "+vectorSignature)
		}, nil},
		{"missing id", func(h http.Header, _ *[]byte, _ *time.Time) { h.Del("webhook-id") }, signature.ErrMissingHeader},
		{"missing timestamp", func(h http.Header, _ *[]byte, _ *time.Time) { h.Del("webhook-timestamp") }, signature.ErrMissingHeader},
		{"missing signature", func(h http.Header, _ *[]byte, _ *time.Time) { h.Del("webhook-signature") }, signature.ErrMissingHeader},
		{"timestamp not a number", func(h http.Header, _ *[]byte, _ *time.Time) { h.Set("webhook-timestamp", "hello") }, signature.ErrMalformedHeader},
		{"timestamp with sign", func(h http.Header, _ *[]byte, _ *time.Time) { h.Set("webhook-timestamp", "+1614265330") }, signature.ErrMalformedHeader},
		{"timestamp in milliseconds", func(h http.Header, _ *[]byte, _ *time.Time) { h.Set("webhook-timestamp", "1614265330000") }, signature.ErrTimestamp},
		{"stale: 5m1s old", func(_ http.Header, _ *[]byte, now *time.Time) { *now = vectorTime.Add(5*time.Minute + time.Second) }, signature.ErrTimestamp},
		{"future: 5m1s ahead", func(_ http.Header, _ *[]byte, now *time.Time) { *now = vectorTime.Add(-5*time.Minute - time.Second) }, signature.ErrTimestamp},
		{"exactly 5m old is accepted", func(_ http.Header, _ *[]byte, now *time.Time) { *now = vectorTime.Add(5 * time.Minute) }, nil},
		{"exactly 5m ahead is accepted", func(_ http.Header, _ *[]byte, now *time.Time) { *now = vectorTime.Add(-5 * time.Minute) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, body, now := vectorHeaders(), []byte(vectorPayload), vectorTime
			if tt.modify != nil {
				tt.modify(h, &body, &now)
			}
			err := v.VerifyAt(h, body, now)
			if tt.reason == nil {
				if err != nil {
					t.Fatalf("VerifyAt: %v", err)
				}
				return
			}
			assertRejected(t, err, tt.reason, expectedB64, secretB64, vectorSecret)
		})
	}
}

func TestStandardWebhooksClockAndTolerance(t *testing.T) {
	clock := vectorTime.Add(time.Hour)
	v := mustStandard(t, vectorSecret, signature.WithClock(func() time.Time { return clock }))
	assertRejected(t, v.Verify(vectorHeaders(), []byte(vectorPayload)), signature.ErrTimestamp)

	clock = vectorTime.Add(30 * time.Second)
	if err := v.Verify(vectorHeaders(), []byte(vectorPayload)); err != nil {
		t.Fatalf("Verify with injected clock: %v", err)
	}

	wide := mustStandard(t, vectorSecret, signature.WithTolerance(2*time.Hour),
		signature.WithClock(func() time.Time { return vectorTime.Add(time.Hour) }))
	if err := wide.Verify(vectorHeaders(), []byte(vectorPayload)); err != nil {
		t.Fatalf("Verify with 2h tolerance: %v", err)
	}
}

func TestStandardWebhooksHeadersRoundTrip(t *testing.T) {
	secret, err := signature.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("GenerateSecret() = %q..., want whsec_ prefix", secret[:6])
	}
	v := mustStandard(t, secret)
	now := time.Now()
	body := []byte(`{"readings":[]}`)
	h := v.Headers("msg_1", now, body)
	if err := v.VerifyAt(h, body, now); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	other := mustStandard(t, vectorSecret)
	assertRejected(t, other.VerifyAt(h, body, now), signature.ErrBadSignature, secret)
}

func TestStandardWebhooksMalformedSecret(t *testing.T) {
	for _, secret := range []string{"", "whsec_", "whsec_not base64!!", "whsec_%%%%"} {
		_, err := signature.NewStandardWebhooks(secret)
		if !errors.Is(err, signature.ErrMalformedSecret) {
			t.Errorf("NewStandardWebhooks(%q) error = %v, want ErrMalformedSecret", secret, err)
		}
		if err != nil && secret != "" && secret != "whsec_" && strings.Contains(err.Error(), strings.TrimPrefix(secret, "whsec_")) {
			t.Errorf("error %q leaks the secret", err)
		}
	}
}

func TestVerifyRequestUsesReceivedAt(t *testing.T) {
	v := mustStandard(t, vectorSecret) // real clock: the 2021 vector is stale now
	req := sdk.WebhookRequest{Headers: vectorHeaders(), Body: []byte(vectorPayload), ReceivedAt: vectorTime}
	if err := signature.VerifyRequest(v, req); err != nil {
		t.Fatalf("VerifyRequest with ReceivedAt: %v", err)
	}
	req.ReceivedAt = time.Time{}
	assertRejected(t, signature.VerifyRequest(v, req), signature.ErrTimestamp)
}

// TestVerifyAllocations: verifying a delivery allocates nothing once the verifier's
// pooled HMAC state exists (the signature it compares against is on the stack).
func TestVerifyAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	s, err := signature.NewStandardWebhooks(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(strings.Repeat(`{"metric":"ph","value":7.4}`, 25))
	h := s.Headers(vectorMsgID, vectorTime, body)
	n := testing.AllocsPerRun(100, func() {
		if err := s.VerifyAt(h, body, vectorTime); err != nil {
			t.Fatal(err)
		}
	})
	if n > 0 {
		t.Errorf("%.0f allocations per verification, want none", n)
	}
}
