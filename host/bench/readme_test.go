package bench_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestREADMEQuotesTheProgram: README's "Capacity and tuning" quotes two summaries as the
// program prints them. Each of their lines, numbers aside, is a line summary prints
// today, and each target the README shows judged is judged as targets would judge that
// figure against today's bound. So a change to the summary's wording or to a target
// fails here until the README quotes a run of the program again.
func TestREADMEQuotesTheProgram(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "Its summaries as the program prints them")
	_, block, ok2 := strings.Cut(after, "```\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal(`README has no block after "Its summaries as the program prints them"`)
	}

	number := regexp.MustCompile(`\d[\d,]*(\.\d+)?`)
	shape := func(s string) string {
		return strings.ReplaceAll(number.ReplaceAllString(s, "N"), "not met", "met")
	}
	run := func(perSec float64) runResult {
		r := runResult{perSec: perSec, cpuPer: 300, util: 0.9, boxUtil: 0.92,
			hostAllocs: 80, pluginAllocs: 10, hostRSS: 90, pluginRSS: 35}
		r.before = ceilingRound{perSec: 10000, cpuPer: 150, util: 0.85, boxUtil: 0.87}
		r.after = r.before
		return r
	}
	results := map[string][]runResult{
		"inprocess": {run(7000), run(6500), run(6000)},
		"plugin":    {run(5600), run(5100), run(4600)},
	}
	printed := map[string]bool{}
	for _, eng := range []string{"postgres", "sqlite"} {
		for _, line := range strings.Split(summary(eng, targetSenders, []string{"inprocess", "plugin"}, results), "\n") {
			printed[shape(line)] = true
		}
	}

	engines := 0
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		if !printed[shape(line)] {
			t.Errorf("README quotes a line the program does not print (numbers aside):\n%s", line)
		}
		if strings.HasPrefix(line, "WebhookIngest ") {
			engines++
		}
		if _, judged, ok := strings.Cut(line, "issue 23's targets"); ok {
			checkVerdicts(t, judged)
		}
	}
	if engines != 2 {
		t.Errorf("README quotes %d engines' summaries, want postgres's and sqlite's", engines)
	}
}

// checkVerdicts re-judges a targets line as README quotes it: each figure against the
// bound targetList holds today, and the count of those met.
func checkVerdicts(t *testing.T, line string) {
	t.Helper()
	count := regexp.MustCompile(`(\d+) of (\d+) met: (.*)$`).FindStringSubmatch(line)
	if count == nil {
		t.Errorf("README's targets line has no verdict: %s", line)
		return
	}
	list := count[3]
	part := regexp.MustCompile(`^(.+) ([\d.]+), target (≥|≤) ([\d.]+)(?: \(.*\))?: (met|not met)$`)
	met, judged := 0, 0
	for _, p := range strings.Split(list, "; ") {
		m := part.FindStringSubmatch(p)
		if m == nil {
			t.Errorf("README's target %q is not judged", p)
			continue
		}
		name, figure, cmp, bound, verdict := m[1], m[2], m[3], m[4], m[5]
		i := -1
		for j, tg := range targetList {
			if tg.name == name {
				i = j
			}
		}
		if i < 0 {
			t.Errorf("README's target %q is not one of the program's", name)
			continue
		}
		tg := targetList[i]
		if want := fmt.Sprintf(tg.format, tg.bound); bound != want || (cmp == "≤") != tg.atMost {
			t.Errorf("README's %s target is %s %s; the program's is %s %s", name, cmp, bound, map[bool]string{true: "≤", false: "≥"}[tg.atMost], want)
		}
		v, err := strconv.ParseFloat(figure, 64)
		if err != nil {
			t.Errorf("README's %s figure %q: %v", name, figure, err)
			continue
		}
		want := "not met"
		if tg.atMost && v <= tg.bound || !tg.atMost && v >= tg.bound {
			want = "met"
			met++
		}
		judged++
		if verdict != want {
			t.Errorf("README says %s %s is %s; against %s %s it is %s", name, figure, verdict, cmp, bound, want)
		}
	}
	if got := fmt.Sprintf("%d of %d", met, judged); got != count[1]+" of "+count[2] {
		t.Errorf("README counts %s of %s targets met; its figures meet %s", count[1], count[2], got)
	}
}
