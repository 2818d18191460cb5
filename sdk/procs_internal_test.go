package sdk

import "testing"

// TestSetProcs: a plugin runs on a quarter of the CPUs Go would use, at least one, unless
// the operator set GOMAXPROCS (which the runtime already applied).
func TestSetProcs(t *testing.T) {
	for _, tc := range []struct {
		env         string
		procs, want int // want 0: left alone
	}{
		{"", 2, 1}, {"", 8, 2}, {"", 16, 4}, {"", 1, 0}, {"", 3, 1},
		{"2", 2, 0}, {"8", 8, 0},
	} {
		set := 0
		setProcs(tc.env, func(n int) int {
			if n > 0 {
				set = n
			}
			return tc.procs
		})
		if set != tc.want {
			t.Errorf("GOMAXPROCS=%q on %d: set %d, want %d (0: left alone)", tc.env, tc.procs, set, tc.want)
		}
	}
}
