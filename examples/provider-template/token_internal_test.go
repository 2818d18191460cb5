package template

import (
	"testing"
	"time"
)

// TestTokenLifetimeBounded: the token endpoint's expires_in is read in seconds before it
// becomes a Duration (a template is copied: the overflow would be in every copy).
// 18446744074 seconds overflowed round to 0.29 s, so every call refreshed; 10^12 to
// centuries, so the token was never refreshed. Beyond maxTokenLifetime it is that.
func TestTokenLifetimeBounded(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   int
		want string
	}{
		{3600, now.Add(time.Hour).Format(time.RFC3339)},
		{0, ""},
		{18446744074, now.Add(maxTokenLifetime).Format(time.RFC3339)},
		{1_000_000_000_000, now.Add(maxTokenLifetime).Format(time.RFC3339)},
	} {
		creds := tokenResponse{AccessToken: "a", RefreshToken: "r", ExpiresIn: c.in}.credentials(now, nil)
		if got := creds[credExpiresAt]; got != c.want {
			t.Errorf("expires_in %d: expiry %q, want %q", c.in, got, c.want)
		}
	}
}
