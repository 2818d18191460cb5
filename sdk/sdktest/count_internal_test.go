package sdktest

import "testing"

// TestCountInTheSingular: the checks' details count one as one — "accepted, 1 reading",
// "1 more reading in 1 more poll" — where they read "1 readings", "1 test sessions" and
// "1 more poll(s)".
func TestCountInTheSingular(t *testing.T) {
	for _, tc := range []struct {
		n          int
		what, want string
	}{{0, "reading", "0 readings"}, {1, "reading", "1 reading"}, {1, "test session", "1 test session"},
		{2, "test session", "2 test sessions"}, {1, "more poll", "1 more poll"}} {
		if got := count(tc.n, tc.what); got != tc.want {
			t.Errorf("count(%d, %q) = %q, want %q", tc.n, tc.what, got, tc.want)
		}
	}
}
