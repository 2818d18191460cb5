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

// checkValue runs the device-independent checks on one reading. The timestamp window is
// measured from receivedAt, not from now: a payload the retry worker parses hours after
// receipt is judged as it would have been on arrival.
func checkValue(r sdk.Reading, receivedAt time.Time, w Window) (value, string) {
	v, verdict, err := metric.Validate(r.Metric, r.Value, r.Unit)
	if err != nil {
		switch {
		case errors.Is(err, metric.ErrUnknownMetric):
			return value{}, DropUnknownMetric
		case errors.Is(err, metric.ErrNotFinite):
			return value{}, DropNonFinite
		case errors.Is(err, metric.ErrUnknownUnit):
			return value{}, DropBadUnit
		default:
			return value{}, DropAbsurdValue
		}
	}
	info, _ := metric.Lookup(r.Metric)

	at := r.RecordedAt
	if !r.HasTime() {
		at = receivedAt
	}
	if w.MaxFutureSkew > 0 && at.After(receivedAt.Add(w.MaxFutureSkew)) {
		return value{}, DropTooFarFuture
	}
	if w.MaxPastAge > 0 && at.Before(receivedAt.Add(-w.MaxPastAge)) {
		return value{}, DropTooOld
	}

	q := r.Quality
	switch q {
	case sdk.QualityUnknown, sdk.QualityGood, sdk.QualitySuspect, sdk.QualityOutOfRange:
	default:
		// A quality outside the vocabulary says the plugin doubted the value.
		q = sdk.QualitySuspect
	}
	if verdict == metric.Unhealthy && (q == sdk.QualityUnknown || q == sdk.QualityGood) {
		q = sdk.QualitySuspect
	}
	return value{
		reading: r,
		value:   v,
		unit:    info.Unit,
		quality: q,
		// Both engines must agree on the unique key, and PostgreSQL keeps microseconds.
		recordedAt: at.UTC().Truncate(time.Microsecond),
	}, ""
}
