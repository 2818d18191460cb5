package ondilo

import (
	"testing"
	"time"
)

// TestTokenLifetimeBounded: expires_in is the token endpoint's word, read before it
// becomes a Duration. 18446744074 seconds overflowed round to 0.29 s, so every call
// refreshed the token (against Ondilo's 30 requests an hour), and 10^12 to centuries,
// so it was never refreshed; an answer beyond maxTokenLifetime is taken as that.
func TestTokenLifetimeBounded(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   int64
		want time.Duration
	}{
		{3600, time.Hour},
		{0, defaultTokenLifetime},
		{-5, defaultTokenLifetime},
		{18446744074, maxTokenLifetime},
		{1_000_000_000_000, maxTokenLifetime},
		{9223372036854775807, maxTokenLifetime},
	} {
		creds := credentialsFrom(tokenResponse{AccessToken: "a", RefreshToken: "r", ExpiresIn: c.in}, now)
		if got, want := creds[credExpiry], now.Add(c.want).Format(time.RFC3339); got != want {
			t.Errorf("expires_in %d: expiry %s, want %s", c.in, got, want)
		}
	}
}
