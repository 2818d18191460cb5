package sdktest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/judge"
)

// judgeAnswer judges a valid delivery's answer as the host would (sdk/judge, the package
// the host's ingest calls): refused whole with the cap named, or each reading, test
// session and result the host would drop, with the host's reason. One drop is not a
// failure: a provider type outside the vocabulary that the plugin passed through
// unmapped, as PLUGINS.md asks (the host drops and counts it where operators see a new
// type appear); its names are returned. A near miss of a vocabulary name ("pH") is a bug
// and fails.
func judgeAnswer(f Fixtures, receivedAt time.Time, a judge.Answer) ([]string, error) {
	return explain(judge.Judge(f.Caps, window(f), receivedAt, a), a)
}

// window is the time window the fixtures' answers are judged in.
func window(f Fixtures) judge.Window {
	if f.Window == (judge.Window{}) {
		return judge.DefaultWindow
	}
	return f.Window
}

// explain is judgeAnswer's verdict told: the unknown metrics passed through, or what
// the host would not keep.
func explain(v judge.Verdict, a judge.Answer) ([]string, error) {
	var unknown []string
	passedThrough := func(name, reason string) bool {
		if reason != judge.UnknownMetric {
			return reason == ""
		}
		if _, near := judge.NearMetric(name); near {
			return false
		}
		if !slices.Contains(unknown, name) {
			unknown = append(unknown, name)
		}
		return true
	}
	ok := v.Refused == nil
	for i, reason := range v.Readings {
		ok = passedThrough(a.Readings[i].Metric, reason) && ok
	}
	for i, reason := range v.Sessions {
		ok = reason == "" && ok
		for _, d := range v.Results[i] {
			ok = passedThrough(d.Metric, d.Reason) && ok
		}
	}
	if ok {
		return unknown, nil
	}
	problems := listed(v, a).Problems(a)
	const show = 10
	more := ""
	if len(problems) > show {
		more = fmt.Sprintf("\n… and %d more", len(problems)-show)
		problems = problems[:show]
	}
	if len(unknown) > 0 {
		more += fmt.Sprintf("\n(not a problem: the provider types passed through unmapped (%s), which the host drops and counts as unknown_metric)", strings.Join(unknown, ", "))
	}
	return nil, fmt.Errorf("the host would not keep all of it:\n%s%s", strings.Join(problems, "\n"), more)
}

// listed is v without the drops that are no failure: readings, and results of a kept
// session, of a provider type passed through unmapped. Listed with the host's advice to
// map the name, they read as failures to fix, against PLUGINS.md. A session dropped as
// no_results keeps its results' lines: they say why it has none.
func listed(v judge.Verdict, a judge.Answer) judge.Verdict {
	passed := func(name, reason string) bool {
		_, near := judge.NearMetric(name)
		return reason == judge.UnknownMetric && !near
	}
	out := judge.Verdict{Refused: v.Refused, Sessions: v.Sessions, Readings: slices.Clone(v.Readings)}
	for i, reason := range out.Readings {
		if passed(a.Readings[i].Metric, reason) {
			out.Readings[i] = ""
		}
	}
	for i, ds := range v.Results {
		if v.Sessions[i] != "" {
			out.Results = append(out.Results, ds)
			continue
		}
		out.Results = append(out.Results, slices.DeleteFunc(slices.Clone(ds), func(d judge.DroppedResult) bool { return passed(d.Metric, d.Reason) }))
	}
	return out
}

// checkReadings is what judgeAnswer leaves to the host's database, checked as far as the
// kit can: every reading and test session names its device (the host drops one without
// as unknown_device), a reading's quality is one of the vocabulary's (the host stores
// another as suspect), and every command update names a command and a status the host
// applies (it skips another without a word: the command would stay sent forever).
func checkReadings(rs []sdk.Reading, ss []sdk.TestSession, us []sdk.CommandUpdate) error {
	for i, u := range us {
		if err := u.Skipped(); err != nil {
			return fmt.Errorf("command update %d: %v; the host ignores it", i, err)
		}
	}
	for i, r := range rs {
		if r.ProviderDeviceID == "" {
			return fmt.Errorf("reading %d (%s): no provider device id; the host would drop it as unknown_device", i, r.Metric)
		}
		switch r.Quality {
		case sdk.QualityUnknown, sdk.QualityGood, sdk.QualitySuspect, sdk.QualityOutOfRange:
		default:
			return fmt.Errorf("reading %d (%s): unknown quality %q; the host would store it as suspect", i, r.Metric, r.Quality)
		}
	}
	for i, s := range ss {
		if s.ProviderDeviceID == "" {
			return fmt.Errorf("test session %d: no provider device id; the host would drop it as unknown_device", i)
		}
	}
	return nil
}
