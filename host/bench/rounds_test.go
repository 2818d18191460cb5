package bench_test

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Rounds. On the shared 2-core VM a one-second rate varies by ±10–20% between identical
// runs (the batched ceiling alone from 10,222 to 11,616/s in five), so one ceiling
// measured at the start and divided into single runs afterwards made every ratio a coin
// toss. Instead each end-to-end run is bracketed: the ceiling is measured just before it
// and just after it, on the run's own database (the same tables, in the state the run
// found and left them), and the run's x-ceiling is its deliveries/s ÷ the mean of the
// two. The in-process and plugin runs alternate, round after round (roundsEnv, 3 by
// default), and the summary gives every round's figures and their medians, plugin ÷ in
// process within each round, and the ceiling's rounds with their spread.
const (
	roundsEnv = "POOLHOST_BENCH_ROUNDS"
	// ceilingEnv=0 leaves the ceiling rounds out, e.g. for a profile of the host alone
	// (they run in this process and would be in it); x-ceiling is then not reported.
	ceilingEnv = "POOLHOST_BENCH_CEILING"
)

// othersComparable is the share of the box other processes may use during the rounds
// (median) before the summary says its figures are not comparable: on the idle VM the
// kernel's and the system's own work is a few hundredths.
const othersComparable = 0.1

func benchRounds(b *testing.B) int {
	v := os.Getenv(roundsEnv)
	if v == "" {
		return 3
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a count of rounds, 1 or more", roundsEnv, v)
	}
	return n
}

func bracketed() bool { return os.Getenv(ceilingEnv) != "0" }

// runResult is one end-to-end run and the ceiling rounds measured just before and after
// it on its database. The zero value is a run that did not happen (filtered out).
type runResult struct {
	perSec float64
	// cpuPer is the whole box's CPU per delivery in µs (0: not measured); util the share
	// of the box's cores the run's processes used while it posted, boxUtil the share
	// every process on the machine used (/proc/stat; -1: unknown).
	cpuPer, util, boxUtil float64
	// hostAllocs and pluginAllocs are allocations per delivery (pluginAllocs 0: in
	// process, or not measured); hostRSS and pluginRSS the peak resident sets in MiB.
	hostAllocs, pluginAllocs float64
	hostRSS, pluginRSS       float64
	before, after            ceilingRound
}

// ceiling is the mean of the two ceiling rounds around the run (0: not measured).
func (r runResult) ceiling() float64 {
	if r.before.perSec <= 0 || r.after.perSec <= 0 {
		return 0
	}
	return (r.before.perSec + r.after.perSec) / 2
}

// xCeiling is the run's deliveries/s as a fraction of the ceiling around it (0: unknown).
func (r runResult) xCeiling() float64 {
	c := r.ceiling()
	if c == 0 || r.perSec == 0 {
		return 0
	}
	return r.perSec / c
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summary sets out one engine's rounds at one number of senders: each mode's figures
// round by round and their medians, plugin ÷ in process within each round, and the
// ceiling's own rounds; a heading line and indented ones. "" when no run happened.
func summary(eng string, senders int, modes []string, results map[string][]runResult) string {
	var w strings.Builder
	fmt.Fprintf(&w, "WebhookIngest %s, %d senders, modes alternating round by round, each run between two rounds of the batched ceiling on its own database; x-ceiling = the run's deliveries/s ÷ the mean of those two.", eng, senders)
	var runLines strings.Builder // after the ceiling's line, which sums up the runs' rounds
	var ceilings, ceilingCPU, ceilingUtil, ceilingBox []float64
	// others is, for each run and ceiling round, the share of the box that processes
	// other than its own used meanwhile: box-util - util.
	var others []float64
	other := func(util, boxUtil float64) {
		if util > 0 && boxUtil >= 0 {
			others = append(others, max(0, boxUtil-util))
		}
	}
	gap := 0.0 // the largest difference between a run's two ceiling rounds, ÷ their mean
	runs := 0
	for _, mode := range modes {
		var perSec, x, cpuX, cpu, util, box []float64
		for _, r := range results[mode] {
			if r.perSec == 0 {
				continue
			}
			runs++
			perSec = append(perSec, r.perSec)
			if c := r.ceiling(); c > 0 {
				x = append(x, r.xCeiling())
				gap = max(gap, math.Abs(r.after.perSec-r.before.perSec)/c)
				for _, cr := range []ceilingRound{r.before, r.after} {
					ceilings = append(ceilings, cr.perSec)
					if cr.cpuPer > 0 {
						ceilingCPU = append(ceilingCPU, cr.cpuPer)
						ceilingUtil = append(ceilingUtil, cr.util)
					}
					if cr.boxUtil >= 0 {
						ceilingBox = append(ceilingBox, cr.boxUtil)
					}
					other(cr.util, cr.boxUtil)
				}
			}
			if r.cpuPer > 0 {
				cpu = append(cpu, r.cpuPer)
				util = append(util, r.util)
				if r.before.cpuPer > 0 && r.after.cpuPer > 0 {
					cpuX = append(cpuX, (r.before.cpuPer+r.after.cpuPer)/2/r.cpuPer)
				}
			}
			if r.boxUtil >= 0 {
				box = append(box, r.boxUtil)
			}
			other(r.util, r.boxUtil)
		}
		if len(perSec) == 0 {
			continue
		}
		// x-ceiling is about cpu-x-ceiling × (util ÷ the ceiling's util): the first is what
		// CPU per delivery allows, the second how much more or less of the box the run used.
		fmt.Fprintf(&runLines, "\n    %s, %s: deliveries/s %s; x-ceiling %s; cpu-x-ceiling (the ceiling's cpu-us/delivery ÷ the run's) %s; cpu-us/delivery (whole box) %s; util %s; box-util %s",
			mode, rounds(len(perSec)), list(perSec, "%.0f"), list(x, "%.2f"), list(cpuX, "%.2f"), list(cpu, "%.0f"), list(util, "%.2f"), list(box, "%.2f"))
	}
	if runs == 0 {
		return ""
	}
	if len(ceilings) > 0 {
		fmt.Fprintf(&w, "\n    batched ceiling, %s: deliveries/s median %.0f, %.0f–%.0f (a run's two rounds differ by up to %.0f%% of their mean); cpu-us/delivery (whole box) %s; util %s; box-util %s",
			rounds(len(ceilings)), median(ceilings), slices.Min(ceilings), slices.Max(ceilings), gap*100,
			medianOf(ceilingCPU, "%.0f"), medianOf(ceilingUtil, "%.2f"), medianOf(ceilingBox, "%.2f"))
	}
	w.WriteString(runLines.String())
	if len(others) > 0 {
		fmt.Fprintf(&w, "\n    other processes' share of the box (box-util - util) during these runs and ceiling rounds: median %.2f, highest %.2f",
			median(others), slices.Max(others))
		if median(others) > othersComparable {
			w.WriteString(": the box was busy with other work, and these figures are not comparable with an idle box's")
		}
	}
	if len(modes) == 2 {
		if ratio := withinRounds(results[modes[0]], results[modes[1]]); len(ratio) > 0 {
			fmt.Fprintf(&w, "\n    %s ÷ %s, deliveries/s within each round: %s", modes[1], modes[0], list(ratio, "%.2f"))
		}
	}
	busy := len(others) > 0 && median(others) > othersComparable
	if t := targets(eng, senders, results, busy); t != "" {
		w.WriteString("\n    " + t)
	}
	return w.String()
}

// withinRounds is b's deliveries/s ÷ a's, round by round, for the rounds where both ran.
func withinRounds(a, b []runResult) []float64 {
	var ratio []float64
	for i := range min(len(a), len(b)) {
		if a[i].perSec > 0 && b[i].perSec > 0 {
			ratio = append(ratio, b[i].perSec/a[i].perSec)
		}
	}
	return ratio
}

// list is xs in order, " / " between them, and their median: "0.55 / 0.58 / 0.54
// (median 0.55)"; "–" when empty.
func list(xs []float64, format string) string {
	if len(xs) == 0 {
		return "–"
	}
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	s := strings.Join(parts, " / ")
	if len(xs) > 1 {
		s += " (median " + fmt.Sprintf(format, median(xs)) + ")"
	}
	return s
}

func rounds(n int) string {
	if n == 1 {
		return "1 round"
	}
	return strconv.Itoa(n) + " rounds"
}

func medianOf(xs []float64, format string) string {
	if len(xs) == 0 {
		return "–"
	}
	return "median " + fmt.Sprintf(format, median(xs))
}
