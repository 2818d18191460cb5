package template

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/metric"
)

// acmeMetrics maps Acme's measurement types to poolhost metric names. This table is the
// heart of most adapters. An Acme type missing from it is passed through unchanged: the
// host drops and counts it as unknown_metric (poolhost_readings_dropped_total), so a new
// Acme type shows up on the operator's dashboard instead of vanishing in the plugin, and
// the conformance kit accepts it in a valid fixture (a near miss such as "pH" it fails).
var acmeMetrics = map[string]string{
	"ph":         metric.PH,
	"orp":        metric.ORP,
	"water_temp": metric.Temperature,
	"free_cl":    metric.FreeChlorine,
	"total_cl":   metric.TotalChlorine,
	"salt":       metric.Salt,
	"battery":    metric.Battery,
}

// maxMetricBytes is the host's default cap on a metric name (plugins.max_metric_bytes):
// an answer with a longer one is refused whole.
const maxMetricBytes = 64

// acmeQuality maps Acme's per-reading status. A probe that is calibrating reports
// numbers, but they are not to be trusted yet.
var acmeQuality = map[string]sdk.Quality{
	"ok":          sdk.QualityGood,
	"calibrating": sdk.QualitySuspect,
}

// toReading normalizes one Acme reading. Units are passed through as Acme spells them
// ("F", "mV", "ppm"): the host converts every spelling sdk/metric knows to the canonical
// unit, and drops what it cannot convert. ok is false for a reading without a value,
// which Acme sends while a probe warms up; it is not an error.
func toReading(deviceID string, raw json.RawMessage) (r sdk.Reading, ok bool, err error) {
	var in acmeReading
	if err := json.Unmarshal(raw, &in); err != nil {
		return sdk.Reading{}, false, sdk.Permanent("malformed acme reading: %v", err)
	}
	if in.Value == nil {
		return sdk.Reading{}, false, nil
	}
	if in.Type == "" {
		return sdk.Reading{}, false, nil // nothing to name: not a measurement
	}
	name, known := acmeMetrics[strings.ToLower(in.Type)]
	switch {
	case known:
	case len(in.Type) <= maxMetricBytes && utf8.ValidString(in.Type):
		name = in.Type // passed through: the host drops and counts it as unknown_metric
	default:
		// A name the host would refuse the whole answer for (longer than its metric cap,
		// or not UTF-8): skipped, and logged bounded, so one odd reading does not cost
		// the delivery's others.
		sdk.Logger().Warn("skipping an acme reading whose type no metric name can be", "type", truncate(in.Type, 40))
		return sdk.Reading{}, false, nil
	}
	var at time.Time
	if in.MeasuredAt != "" {
		if at, err = time.Parse(time.RFC3339Nano, in.MeasuredAt); err != nil {
			return sdk.Reading{}, false, sdk.Permanent("acme reading has a malformed measured_at %q", in.MeasuredAt)
		}
	}
	return sdk.Reading{
		ProviderDeviceID: deviceID,
		Metric:           name,
		Value:            *in.Value,
		Unit:             in.Unit,
		RecordedAt:       at,
		Quality:          acmeQuality[in.Status],
		RawPayload:       raw, // kept by the host for audit; never put credentials here
	}, true, nil
}

// toReadings normalizes a list of Acme readings for one device.
func toReadings(deviceID string, raws []json.RawMessage) ([]sdk.Reading, error) {
	out := make([]sdk.Reading, 0, len(raws))
	for _, raw := range raws {
		r, ok, err := toReading(deviceID, raw)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
