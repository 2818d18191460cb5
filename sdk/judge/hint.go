package judge

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/metric"
)

// why says, after a drop reason, what the value was and what the host wanted instead, so
// a plugin author reading `plugins test` knows what to change without looking the reason
// up. Only the kit prints it (Problems): the host counts reasons, it does not explain them.
// ref names the time a reading's own time was judged against (Answer.reference).
func why(reason, name string, v float64, unit string, q sdk.Qualifier, at time.Time, ref string) string {
	num := strconv.FormatFloat(v, 'g', -1, 64)
	switch reason {
	case UnknownMetric:
		if near, ok := NearMetric(name); ok {
			return fmt.Sprintf(": metric names are exact, lowercase: %q", near)
		}
		return ": not a metric of sdk/metric; map the provider's name to one of its constants (PLUGINS.md, Metric vocabulary)"
	case NonFinite:
		return ": the value is " + num
	case BadUnit:
		return fmt.Sprintf(": %s does not take unit %q (its unit is %s; PLUGINS.md lists the spellings each metric accepts)", name, unit, metric.Unit(name))
	case AbsurdValue:
		info, ok := metric.Lookup(name)
		if !ok {
			return ""
		}
		got := num + " " + info.Unit
		if c, err := metric.Normalize(name, v, unit); err == nil && unit != "" && c != v {
			got = fmt.Sprintf("%s %s = %s %s", num, unit, strconv.FormatFloat(c, 'g', 4, 64), info.Unit)
		}
		return fmt.Sprintf(": %s is outside %s's range %s…%s %s", got, name, strconv.FormatFloat(info.Min, 'g', -1, 64), strconv.FormatFloat(info.Max, 'g', -1, 64), info.Unit)
	case BadQualifier:
		return fmt.Sprintf(": qualifier %q (want %q, %q or none)", q, sdk.QualifierAbove, sdk.QualifierBelow)
	case TooOld, TooFarFuture:
		return ": measured at " + at.UTC().Format(time.RFC3339) + ", judged against " + ref
	}
	return ""
}

// NearMetric is the vocabulary's metric that name misspells by case, spaces or hyphens
// ("pH", "Free Chlorine", "free-chlorine"): a plugin meant that metric, and the host drops
// the reading as unknown_metric all the same. ok is false for a name that is simply not
// in the vocabulary, such as a provider type passed through unmapped.
func NearMetric(name string) (string, bool) {
	folded := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return '_'
		}
		return r
	}, strings.ToLower(strings.TrimSpace(name)))
	if folded == name {
		return "", false
	}
	info, ok := metric.Lookup(folded)
	return info.Name, ok
}
