package ingest

import (
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/judge"
)

// Drop reasons, the keys of Result.Dropped and the "reason" label of the dropped-readings
// metric. They are part of the API: providers read them in webhook answers. The
// measurement and time ones are sdk/judge's, which the conformance kit calls too, so a
// plugin the kit passes is one the host keeps; the device ones need the host's database.
const (
	DropUnknownMetric  = judge.UnknownMetric
	DropNonFinite      = judge.NonFinite
	DropAbsurdValue    = judge.AbsurdValue
	DropBadUnit        = judge.BadUnit
	DropTooFarFuture   = judge.TooFarFuture
	DropTooOld         = judge.TooOld
	DropBadQualifier   = judge.BadQualifier
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
	DropTooFarFuture, DropTooOld, DropBadQualifier,
	DropUnknownDevice, DropForeignDevice, DropUnlinkedDevice,
	DropUnverifiedDevice, DropAmbiguousDevice,
}

// Window bounds reading timestamps relative to the moment the host received them.
type Window = judge.Window

// value is a reading that passed the value checks: canonical value and unit, final
// quality and recorded time. It points at the request's reading rather than copying it:
// a copy was 1.5 KB more of the host's garbage per 10-reading delivery, 5% of all it
// allocated (host/bench, postgres/c64/plugin; TestPrepareBytes).
type value struct {
	reading    *sdk.Reading
	value      float64
	unit       string
	quality    sdk.Quality
	recordedAt time.Time
}

// Measurement is a measured value that passed the vocabulary's checks: canonical value
// and unit, and its final quality.
type Measurement = judge.Measurement

// CheckMeasurement is the one judgement of a measured value, whoever measured it: a
// sensor's reading (checkValue) or a result of a water test session (host/pools). It is
// judge.Measure: reason is one of the Drop constants when the value must be dropped.
func CheckMeasurement(name string, v float64, unit string, q sdk.Quality) (Measurement, string) {
	return judge.Measure(name, v, unit, q)
}

// checkValue runs the device-independent checks on one reading (judge.Reading).
func checkValue(r *sdk.Reading, receivedAt time.Time, w Window) (value, string) {
	k, reason := judge.Reading(*r, receivedAt, w)
	if reason != "" {
		return value{}, reason
	}
	return value{reading: r, value: k.Value, unit: k.Unit, quality: k.Quality, recordedAt: k.At}, ""
}
