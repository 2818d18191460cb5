package pools

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/metric"
)

// States of a metric in a pool's status.
const (
	StateInRange  = "in_range"
	StateLow      = "low"
	StateHigh     = "high"
	StateStale    = "stale"     // the latest value is older than the stale age
	StateNoTarget = "no_target" // fresh, but the pool has no target for the metric
	// StateUnknown: the latest value is a bound (beyond its test's range) that does not
	// tell on which side of the target the water is, e.g. "above 2" for a 1–3 target.
	StateUnknown = "unknown"
)

// DefaultStaleAfter is the age past which a metric's latest value is stale, unless the
// caller says otherwise: a day, so a daily manual test stays fresh until the next one.
const DefaultStaleAfter = 24 * time.Hour

// MetricStatus is what one metric says about the water now.
type MetricStatus struct {
	Metric  string  `json:"metric"`
	Value   float64 `json:"value"`
	Unit    string  `json:"unit"`
	Quality string  `json:"quality,omitempty"`
	// Qualifier "above" or "below": Value is a bound of the method's range, not a
	// measurement. Text then says so in words.
	Qualifier string `json:"qualifier,omitempty"`
	Text      string `json:"text,omitempty"`
	// Source is "sensor" or "test_session"; SourceID is the reading's or the session's id.
	Source     string    `json:"source"`
	SourceID   int64     `json:"sourceId"`
	MeasuredAt time.Time `json:"measuredAt"`
	AgeSeconds int64     `json:"ageSeconds"`
	Target     *Target   `json:"target,omitempty"`
	State      string    `json:"state"`
}

// Status is a pool's water now: the latest value of each measured metric.
type Status struct {
	PoolID     int64          `json:"poolId"`
	At         time.Time      `json:"at"`
	StaleAfter int64          `json:"staleAfterSeconds"`
	Metrics    []MetricStatus `json:"metrics"`
}

// Status answers "is my water OK?": for each metric, the newest value from a sensor or a
// test session, whichever is newer, judged against the pool's target range. Any member.
func (s *Service) Status(ctx context.Context, a auth.Actor, poolID int64, staleAfter time.Duration) (Status, error) {
	if _, err := s.Require(ctx, a, poolID, Viewer); err != nil {
		return Status{}, err
	}
	if staleAfter == 0 {
		staleAfter = DefaultStaleAfter
	}
	if staleAfter < time.Minute || staleAfter > 366*24*time.Hour {
		return Status{}, host.Errorf(host.EINVALID, "staleAfter must be between 1m and 8784h")
	}
	p, err := s.st.GetPool(ctx, poolID)
	if err != nil {
		return Status{}, err
	}
	targets := configOf(p.PoolConfig).Effective
	all := metric.All()
	names := make([]string, len(all))
	for i, m := range all {
		names[i] = m.Name
	}
	latest, err := s.st.LatestMeasurements(ctx, poolID, names)
	if err != nil {
		return Status{}, err
	}
	best := map[string]store.Latest{}
	for _, l := range latest {
		// The newer value wins; at the same instant a test (a person looked) wins.
		if b, ok := best[l.Metric]; !ok || l.At.After(b.At) || (l.At.Equal(b.At) && l.Source == store.SourceTestSession) {
			best[l.Metric] = l
		}
	}
	now := s.now().UTC()
	out := Status{PoolID: poolID, At: now, StaleAfter: int64(staleAfter / time.Second), Metrics: []MetricStatus{}}
	for _, name := range names { // the vocabulary's stable order
		l, ok := best[name]
		if !ok {
			continue
		}
		age := now.Sub(l.At)
		ms := MetricStatus{Metric: name, Value: l.Value, Unit: l.Unit, Quality: l.Quality, Qualifier: l.Qualifier,
			Source: l.Source, SourceID: l.RefID, MeasuredAt: l.At, AgeSeconds: int64(max(age, 0) / time.Second)}
		if l.Qualifier != "" {
			ms.Text = boundText(l.Qualifier, l.Value, l.Unit)
		}
		if t, ok := targets[name]; ok {
			ms.Target = &t
		}
		switch {
		case age > staleAfter:
			ms.State = StateStale
		case ms.Target == nil:
			ms.State = StateNoTarget
		default:
			ms.State = judgeValue(l.Value, l.Qualifier, *ms.Target)
		}
		out.Metrics = append(out.Metrics, ms)
	}
	return out, nil
}

// judgeValue places a value against a target. An exact value is low, high or in range.
// A bound says only on which side of it the water is: "above 10" is high against a
// maximum of 3 (the water is above 10 > 3), "below 0.2" is low against a minimum of 1;
// a bound that the target range straddles ("above 2" for 1–3) tells nothing: unknown.
func judgeValue(v float64, qualifier string, t Target) string {
	switch qualifier {
	case string(sdk.QualifierAbove):
		switch {
		case t.Max != nil && v >= *t.Max:
			return StateHigh
		case t.Max == nil && (t.Min == nil || v >= *t.Min):
			return StateInRange
		}
		return StateUnknown
	case string(sdk.QualifierBelow):
		switch {
		case t.Min != nil && v <= *t.Min:
			return StateLow
		case t.Min == nil && (t.Max == nil || v <= *t.Max):
			return StateInRange
		}
		return StateUnknown
	}
	switch {
	case t.Min != nil && v < *t.Min:
		return StateLow
	case t.Max != nil && v > *t.Max:
		return StateHigh
	}
	return StateInRange
}

// boundText says a bound in words, as a photometer's display would.
func boundText(qualifier string, v float64, unit string) string {
	return fmt.Sprintf("%s %s %s (beyond the test's range)", qualifier, strconv.FormatFloat(v, 'f', -1, 64), unit)
}

// Bucket sizes a summary accepts.
var Buckets = map[string]time.Duration{"1h": time.Hour, "1d": 24 * time.Hour}

// MaxBuckets bounds a summary's length.
const MaxBuckets = 2000

// SummaryQuery asks for one metric's figures per bucket over [From, To).
type SummaryQuery struct {
	PoolID   int64
	Metric   string
	Bucket   string // "1h" or "1d"; "" is 1h
	From, To time.Time
}

// SummaryBucket is one bucket's figures.
type SummaryBucket struct {
	// [Start, End): a local hour or day of the pool's zone (a day is 23 or 25 hours
	// across a DST change).
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Min   float64   `json:"min"`
	Avg   float64   `json:"avg"`
	Max   float64   `json:"max"`
	Count int64     `json:"count"`
	// Bounded counts the values beyond their test's range ("FC > 10") in the bucket,
	// which min, avg, max, count and last leave out.
	Bounded int64     `json:"bounded"`
	Last    float64   `json:"last"`
	LastAt  time.Time `json:"lastAt"`
}

// Summary is a metric's figures per bucket; buckets without a measurement are absent.
type Summary struct {
	Metric  string          `json:"metric"`
	Unit    string          `json:"unit"`
	Bucket  string          `json:"bucket"`
	From    time.Time       `json:"from"`
	To      time.Time       `json:"to"`
	Buckets []SummaryBucket `json:"buckets"`
}

// Summary computes min, avg, max, count and last per bucket of the pool's time zone (its
// local hours or days), from sensor readings and test results alike, reading the hourly
// rollups where they cover the range. Any member. Without To it is now; without From it is
// a day (1h buckets) or thirty days (1d) before To.
func (s *Service) Summary(ctx context.Context, a auth.Actor, q SummaryQuery) (Summary, error) {
	if _, err := s.Require(ctx, a, q.PoolID, Viewer); err != nil {
		return Summary{}, err
	}
	info, ok := metric.Lookup(q.Metric)
	if !ok {
		return Summary{}, host.Errorf(host.EINVALID, "metric must be one of the vocabulary's, e.g. ph, temperature")
	}
	if q.Bucket == "" {
		q.Bucket = "1h"
	}
	size, ok := Buckets[q.Bucket]
	if !ok {
		return Summary{}, host.Errorf(host.EINVALID, "bucket must be 1h or 1d")
	}
	if q.To.IsZero() {
		q.To = s.now()
	}
	if q.From.IsZero() {
		q.From = q.To.Add(-size * map[string]time.Duration{"1h": 24, "1d": 30}[q.Bucket])
	}
	if !q.From.Before(q.To) {
		return Summary{}, host.Errorf(host.EINVALID, "from must be before to")
	}
	if q.To.Sub(q.From) > size*MaxBuckets {
		return Summary{}, host.Errorf(host.EINVALID, "at most %d buckets: narrow from and to, or use 1d", MaxBuckets)
	}
	bs, err := s.st.SummarizeMeasurements(ctx, store.SummaryQuery{PoolID: q.PoolID, Metric: q.Metric, Bucket: size, From: q.From, To: q.To})
	if err != nil {
		return Summary{}, err
	}
	out := Summary{Metric: q.Metric, Unit: info.Unit, Bucket: q.Bucket, From: q.From.UTC(), To: q.To.UTC(), Buckets: make([]SummaryBucket, 0, len(bs))}
	for _, b := range bs {
		out.Buckets = append(out.Buckets, SummaryBucket{Start: b.Start, End: b.End, Min: b.Min, Avg: b.Avg, Max: b.Max, Count: b.Count, Bounded: b.Bounded, Last: b.Last, LastAt: b.LastAt})
	}
	return out, nil
}
