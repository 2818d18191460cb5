package judge

import (
	"errors"
	"slices"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/metric"
)

// Drop reasons this package decides. They are part of the API: the host counts drops
// by them and providers read them in webhook answers.
const (
	UnknownMetric = "unknown_metric"
	NonFinite     = "non_finite"
	AbsurdValue   = "absurd_value"
	BadUnit       = "bad_unit"
	TooFarFuture  = "too_far_future"
	TooOld        = "too_old"
	// NoResults: none of a test session's results could be kept, so the session is.
	NoResults = "no_results"
	// DuplicateMetric: a session has one result per metric; a repeated one is dropped.
	DuplicateMetric = "duplicate_metric"
	// BadQualifier: a qualifier other than "", "above" or "below". Guessing which side of
	// the bound the value lies on would store a wrong judgement, so the value is dropped.
	BadQualifier = "bad_qualifier"
)

// Qualifier is the one judgement of a value's qualifier: "" when q is exact, above or
// below, else BadQualifier.
func Qualifier(q sdk.Qualifier) string {
	switch q {
	case sdk.QualifierExact, sdk.QualifierAbove, sdk.QualifierBelow:
		return ""
	}
	return BadQualifier
}

// Measurement is a measured value that passed the vocabulary's checks: canonical value
// and unit, and its final quality.
type Measurement struct {
	Value   float64
	Unit    string
	Quality sdk.Quality
}

// Measure is the one judgement of a measured value, whoever measured it: a sensor's
// reading or a result of a water test session. It validates metric, value and unit
// against sdk/metric, converts to the canonical unit, and downgrades the quality of a
// value outside the healthy range. reason is a drop reason when the value must be
// dropped, "" otherwise.
func Measure(name string, v float64, unit string, q sdk.Quality) (Measurement, string) {
	canon, verdict, err := metric.Validate(name, v, unit)
	if err != nil {
		switch {
		case errors.Is(err, metric.ErrUnknownMetric):
			return Measurement{}, UnknownMetric
		case errors.Is(err, metric.ErrNotFinite):
			return Measurement{}, NonFinite
		case errors.Is(err, metric.ErrUnknownUnit):
			return Measurement{}, BadUnit
		default:
			return Measurement{}, AbsurdValue
		}
	}
	switch q {
	case sdk.QualityUnknown, sdk.QualityGood, sdk.QualitySuspect, sdk.QualityOutOfRange:
	default:
		// A quality outside the vocabulary says the plugin doubted the value.
		q = sdk.QualitySuspect
	}
	if verdict == metric.Unhealthy && (q == sdk.QualityUnknown || q == sdk.QualityGood) {
		q = sdk.QualitySuspect
	}
	return Measurement{Value: canon, Unit: metric.Unit(name), Quality: q}, ""
}

// Window bounds measurement times relative to the moment the host received them.
type Window struct {
	MaxFutureSkew time.Duration
	MaxPastAge    time.Duration
}

// DefaultWindow is the host's default window (ingest { max_future_skew, max_past_age }).
var DefaultWindow = Window{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 30 * 24 * time.Hour}

// Check judges a measurement time against the window around receivedAt: "" when it is
// inside, else TooFarFuture or TooOld. Readings and test sessions share it.
func (w Window) Check(at, receivedAt time.Time) string {
	if w.MaxFutureSkew > 0 && at.After(receivedAt.Add(w.MaxFutureSkew)) {
		return TooFarFuture
	}
	if w.MaxPastAge > 0 && at.Before(receivedAt.Add(-w.MaxPastAge)) {
		return TooOld
	}
	return ""
}

// Kept is a reading that passed: its measurement and the time it is stored at.
type Kept struct {
	Measurement
	// At is the reading's time, or receivedAt when it has none, truncated to the
	// microsecond both database engines keep.
	At time.Time
	// Qualifier is the reading's, checked: the value is a bound when it is set.
	Qualifier sdk.Qualifier
}

// Reading runs the device-independent checks on one reading. The window is measured from
// receivedAt, not from now: a payload parsed hours after receipt is judged as it would
// have been on arrival.
func Reading(r sdk.Reading, receivedAt time.Time, w Window) (Kept, string) {
	m, reason := Measure(r.Metric, r.Value, r.Unit, r.Quality)
	if reason == "" {
		reason = Qualifier(r.Qualifier)
	}
	if reason != "" {
		return Kept{}, reason
	}
	at := r.RecordedAt
	if !r.HasTime() {
		at = receivedAt
	}
	if reason := w.Check(at, receivedAt); reason != "" {
		return Kept{}, reason
	}
	return Kept{Measurement: m, At: at.UTC().Truncate(time.Microsecond), Qualifier: r.Qualifier}, ""
}

// Methods are the methods of a water test. A session with another method, or none, is
// stored as "other" (see [Method]).
var Methods = []string{"strips", "drops", "photometer", "lab", "other"}

// Method is the method a session is stored under.
func Method(m string) string {
	if slices.Contains(Methods, m) {
		return m
	}
	return "other"
}

// Result is a test result that passed, in its canonical unit.
type Result struct {
	Metric  string
	Value   float64
	Unit    string
	Quality sdk.Quality
	// Qualifier: the value is a bound of the method's range when it is set.
	Qualifier sdk.Qualifier
}

// DroppedResult says why one submitted result was not kept.
type DroppedResult struct {
	Index  int    `json:"index"`
	Metric string `json:"metric"`
	Reason string `json:"reason"`
}

// Results judges a session's results exactly as readings' values are ([Measure]): the
// kept ones in canonical units, and the dropped ones with their reasons. A metric given
// twice keeps its first result. Members' sessions and providers' go through it alike.
func Results(in []sdk.TestResult) ([]Result, []DroppedResult) {
	kept := []Result{}
	dropped := []DroppedResult{}
	var seen []string
	for i, r := range in {
		m, reason := Measure(r.Metric, r.Value, r.Unit, sdk.QualityUnknown)
		if reason == "" {
			reason = Qualifier(r.Qualifier)
		}
		if reason == "" && slices.Contains(seen, r.Metric) {
			reason = DuplicateMetric
		}
		if reason != "" {
			dropped = append(dropped, DroppedResult{Index: i, Metric: r.Metric, Reason: reason})
			continue
		}
		seen = append(seen, r.Metric)
		kept = append(kept, Result{Metric: r.Metric, Value: m.Value, Unit: m.Unit, Quality: m.Quality, Qualifier: r.Qualifier})
	}
	return kept, dropped
}

// KeptSession is a provider's test session that passed the device-independent checks.
type KeptSession struct {
	// TakenAt is the session's time, or receivedAt when it has none (Untimed).
	TakenAt time.Time
	Untimed bool
	Method  string
	Results []Result
}

// Session runs the device-independent checks on one provider test session: its results
// ([Results]; the dropped ones are returned whatever becomes of the session), then the
// session itself — NoResults when none was kept, else the time window. reason is ""
// when the session is kept.
func Session(s sdk.TestSession, receivedAt time.Time, w Window) (KeptSession, []DroppedResult, string) {
	kept, dropped := Results(s.Results)
	if len(kept) == 0 {
		return KeptSession{}, dropped, NoResults
	}
	at, untimed := s.TakenAt, s.TakenAt.IsZero()
	if untimed {
		at = receivedAt
	}
	if reason := w.Check(at, receivedAt); reason != "" {
		return KeptSession{}, dropped, reason
	}
	return KeptSession{TakenAt: at.UTC().Truncate(time.Microsecond), Untimed: untimed, Method: Method(s.Method), Results: kept}, dropped, ""
}
