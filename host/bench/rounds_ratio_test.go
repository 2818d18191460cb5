package bench_test

import (
	"strings"
	"testing"
)

// TestRunRatiosAgainstTheirOwnCeiling: a run's x-ceiling is its rate over the mean of the
// ceiling rounds just before and after it, not over another run's ceiling; plugin ÷ in
// process pairs the runs of one round; the summary gives each round and the medians, and
// leaves out a run that did not happen.
func TestRunRatiosAgainstTheirOwnCeiling(t *testing.T) {
	ceil := func(before, after float64) (ceilingRound, ceilingRound) {
		return ceilingRound{perSec: before, cpuPer: 100, util: 0.5, boxUtil: 0.6},
			ceilingRound{perSec: after, cpuPer: 120, util: 0.5, boxUtil: 0.6}
	}
	run := func(perSec, before, after float64) runResult {
		r := runResult{perSec: perSec, cpuPer: 300, util: 0.9, boxUtil: 0.95}
		r.before, r.after = ceil(before, after)
		return r
	}
	results := map[string][]runResult{
		"inprocess": {run(7000, 10000, 12000), run(6000, 10000, 10000), run(6600, 11000, 11000)},
		"plugin":    {run(6000, 12000, 8000), {}, run(6300, 9000, 9000)},
	}
	if got := results["plugin"][0].xCeiling(); got != 0.6 {
		t.Errorf("x-ceiling %v, want 6000 ÷ mean(12000, 8000) = 0.6", got)
	}
	if got := (runResult{perSec: 6000}).xCeiling(); got != 0 {
		t.Errorf("x-ceiling without a ceiling %v, want 0 (unknown)", got)
	}
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median %v", got)
	}
	if got := median([]float64{4, 1, 2, 3}); got != 2.5 {
		t.Errorf("median %v", got)
	}
	s := summary("postgres", 64, []string{"inprocess", "plugin"}, results)
	for _, want := range []string{
		"inprocess, 3 rounds: deliveries/s 7000 / 6000 / 6600 (median 6600); x-ceiling 0.64 / 0.60 / 0.60 (median 0.60); " +
			// The ceiling's CPU per delivery, mean(100, 120), ÷ the run's 300.
			"cpu-x-ceiling (the ceiling's cpu-us/delivery ÷ the run's) 0.37 / 0.37 / 0.37 (median 0.37)",
		"plugin, 2 rounds: deliveries/s 6000 / 6300 (median 6150); x-ceiling 0.60 / 0.70 (median 0.65)",
		// Rounds 1 and 3: 6000/7000 and 6300/6600; round 2 has no plugin run.
		"plugin ÷ inprocess, deliveries/s within each round: 0.86 / 0.95 (median 0.91)",
		// Ten rounds, 8000 to 12000; the plugin's first run's pair differs by 40% of its mean.
		"batched ceiling, 10 rounds: deliveries/s median 10000, 8000–12000 (a run's two rounds differ by up to 40% of their mean); cpu-us/delivery (whole box) median 110",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	// Runs at util 0.9 with box-util 0.95, ceilings at 0.5 with 0.6: others used 0.05
	// and 0.1.
	if want := "other processes' share of the box (box-util - util) during these runs and ceiling rounds: median 0.10, highest 0.10\n"; !strings.Contains(s, want) {
		t.Errorf("summary lacks %q:\n%s", want, s)
	}
	busy := map[string][]runResult{"plugin": {run(6000, 9000, 9000)}}
	busy["plugin"][0].boxUtil, busy["plugin"][0].util = 1, 0.4
	busy["plugin"][0].before.boxUtil, busy["plugin"][0].after.boxUtil = 1, 1
	if s := summary("postgres", 64, []string{"plugin"}, busy); !strings.Contains(s, "not comparable") || !strings.Contains(s, "plugin, 1 round:") {
		t.Errorf("a summary of runs beside other work (util 0.4 and 0.5, box-util 1) does not say so:\n%s", s)
	}
	if s := summary("sqlite", 16, []string{"inprocess", "plugin"}, map[string][]runResult{"plugin": {{}}}); s != "" {
		t.Errorf("summary of no run: %q", s)
	}
}
