package ingest

import (
	"errors"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/metric"
)

// Drop reasons, the keys of Result.Dropped and the "reason" label of the dropped-readings
// metric. They are part of the API: providers read them in webhook answers.
const (
	DropUnknownMetric  = "unknown_metric"
	DropNonFinite      = "non_finite"
	DropAbsurdValue    = "absurd_value"
	DropBadUnit        = "bad_unit"
	DropTooFarFuture   = "too_far_future"
	DropTooOld         = "too_old"
	DropUnknownDevice  = "unknown_device"
	DropForeignDevice  = "foreign_device"
	DropUnlinkedDevice = "unlinked_device"
	// DropUnverifiedDevice: a provider-level delivery for a device only declared by its
	// users; the provider's secret proves nothing about who owns it.
	DropUnverifiedDevice = "unverified_device"
	// DropAmbiguousDevice: a provider-level delivery for a device id the provider
	// verified for several accounts, without naming the account.
	DropAmbiguousDevice = "ambiguous_device"
)

// DropReasons lists every reason, for metrics and documentation.
var DropReasons = []string{
	DropUnknownMetric, DropNonFinite, DropAbsurdValue, DropBadUnit,
	DropTooFarFuture, DropTooOld,
	DropUnknownDevice, DropForeignDevice, DropUnlinkedDevice,
	DropUnverifiedDevice, DropAmbiguousDevice,
}

// Window bounds reading timestamps relative to the moment the host received them.
type Window struct {
	MaxFutureSkew time.Duration
	MaxPastAge    time.Duration
}

// value is a reading that passed the value checks: canonical value and unit, final
// quality and recorded time.
type value struct {
	reading    sdk.Reading
	value      float64
	unit       string
	quality    sdk.Quality
	recordedAt time.Time
}

// Measurement is a measured value that passed the vocabulary's checks: canonical value
// and unit, and its final quality.
type Measurement struct {
	Value   float64
	Unit    string
	Quality sdk.Quality
}

// CheckMeasurement is the one judgement of a measured value, whoever measured it: a
// sensor's reading (checkValue) or a result of a water test session (host/pools). It
// validates metric, value and unit against sdk/metric, converts to the canonical unit,
// and downgrades the quality of a value outside the healthy range. reason is one of the
// Drop constants when the value must be dropped, "" otherwise.
func CheckMeasurement(name string, v float64, unit string, q sdk.Quality) (Measurement, string) {
	canon, verdict, err := metric.Validate(name, v, unit)
	if err != nil {
		switch {
		case errors.Is(err, metric.ErrUnknownMetric):
			return Measurement{}, DropUnknownMetric
		case errors.Is(err, metric.ErrNotFinite):
			return Measurement{}, DropNonFinite
		case errors.Is(err, metric.ErrUnknownUnit):
			return Measurement{}, DropBadUnit
		default:
			return Measurement{}, DropAbsurdValue
		}
	}
	info, _ := metric.Lookup(name)
	switch q {
	case sdk.QualityUnknown, sdk.QualityGood, sdk.QualitySuspect, sdk.QualityOutOfRange:
	default:
		// A quality outside the vocabulary says the plugin doubted the value.
		q = sdk.QualitySuspect
	}
	if verdict == metric.Unhealthy && (q == sdk.QualityUnknown || q == sdk.QualityGood) {
		q = sdk.QualitySuspect
	}
	return Measurement{Value: canon, Unit: info.Unit, Quality: q}, ""
}

// checkValue runs the device-independent checks on one reading. The timestamp window is
// measured from receivedAt, not from now: a payload the retry worker parses hours after
// receipt is judged as it would have been on arrival.
func checkValue(r sdk.Reading, receivedAt time.Time, w Window) (value, string) {
	m, reason := CheckMeasurement(r.Metric, r.Value, r.Unit, r.Quality)
	if reason != "" {
		return value{}, reason
	}
	at := r.RecordedAt
	if !r.HasTime() {
		at = receivedAt
	}
	if reason := w.Check(at, receivedAt); reason != "" {
		return value{}, reason
	}
	return value{
		reading: r,
		value:   m.Value,
		unit:    m.Unit,
		quality: m.Quality,
		// Both engines must agree on the unique key, and PostgreSQL keeps microseconds.
		recordedAt: at.UTC().Truncate(time.Microsecond),
	}, ""
}

// Check judges a measurement time against the window around receivedAt: "" when it is
// inside, else DropTooFarFuture or DropTooOld. Readings and test sessions share it.
func (w Window) Check(at, receivedAt time.Time) string {
	if w.MaxFutureSkew > 0 && at.After(receivedAt.Add(w.MaxFutureSkew)) {
		return DropTooFarFuture
	}
	if w.MaxPastAge > 0 && at.Before(receivedAt.Add(-w.MaxPastAge)) {
		return DropTooOld
	}
	return ""
}
