package drill_test

import (
	"strings"
	"testing"
	"time"
)

// TestCheckPolls holds the replica drill's poll check to what a run longer than the
// poll interval must show, on made-up upstream logs (no clock involved): an account
// polled again after its interval is counted, not flagged; one polled twice within it
// is flagged, unless it is the killed replica's held poll taken over after its lease;
// and one whose next poll fell before the work settled but was never polled again is
// flagged — the check used to count one poll per account as enough.
func TestCheckPolls(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	settled := t0.Add(12 * time.Minute)
	lease := t0.Add(20 * time.Second)
	for name, tc := range map[string]struct {
		at        []time.Time
		held      bool
		next      time.Time
		again     int
		repolled  int
		wantError string
	}{
		"polled once, not due again":         {at: []time.Time{t0.Add(9 * time.Minute)}, next: t0.Add(14 * time.Minute)},
		"polled again after the interval":    {at: []time.Time{t0, t0.Add(5 * time.Minute), t0.Add(10 * time.Minute)}, next: t0.Add(15 * time.Minute), again: 2},
		"due again, never polled again":      {at: []time.Time{t0}, next: t0.Add(5 * time.Minute), wantError: "due again"},
		"twice within the interval":          {at: []time.Time{t0, t0.Add(time.Minute)}, next: t0.Add(13 * time.Minute), wantError: "polled twice"},
		"held at the kill, after the lease":  {at: []time.Time{t0, t0.Add(30 * time.Second), t0.Add(330 * time.Second)}, held: true, next: t0.Add(630*time.Second + 5*time.Minute), again: 1, repolled: 1},
		"held at the kill, before the lease": {at: []time.Time{t0, t0.Add(10 * time.Second)}, held: true, next: t0.Add(13 * time.Minute), wantError: "polled twice"},
		"never polled":                       {next: t0, wantError: "never polled"},
	} {
		t.Run(name, func(t *testing.T) {
			held := map[int64]time.Time{}
			if tc.held {
				held[1] = lease
			}
			calls := map[string][]time.Time{}
			if tc.at != nil {
				calls["k"] = tc.at
			}
			pc := checkPolls(calls, map[string]int64{"k": 1}, held, map[int64]time.Time{1: tc.next}, settled)
			if pc.again != tc.again || pc.repolled != tc.repolled || pc.polls != len(tc.at) {
				t.Errorf("counted %+v, want %d polls, %d again, %d repolled", pc, len(tc.at), tc.again, tc.repolled)
			}
			switch {
			case tc.wantError == "" && len(pc.errs) != 0:
				t.Errorf("flagged %v", pc.errs)
			case tc.wantError != "" && (len(pc.errs) != 1 || !strings.Contains(pc.errs[0], tc.wantError)):
				t.Errorf("flagged %v, want one error about %q", pc.errs, tc.wantError)
			}
		})
	}
}
