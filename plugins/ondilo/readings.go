package ondilo

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/metric"
)

// metricOf maps Ondilo data types to poolhost metrics and the unit Ondilo reports them
// in. Salt is mg/L (= ppm) and rssi is a percentage, not dBm.
var metricOf = map[string]struct{ metric, unit string }{
	"temperature": {metric.Temperature, metric.UnitCelsius},
	"ph":          {metric.PH, metric.UnitPH},
	"orp":         {metric.ORP, metric.UnitMillivolt},
	"salt":        {metric.Salt, metric.UnitPPM},
	"tds":         {metric.TDS, metric.UnitPPM},
	"battery":     {metric.Battery, metric.UnitPercent},
	"rssi":        {metric.Signal, metric.UnitPercent},
}

// valueTimeLayout is Ondilo's value_time: no zone, and the zone is UTC.
const valueTimeLayout = "2006-01-02 15:04:05"

// parseValueTime reads value_time as UTC, accepting RFC 3339 too in case Ondilo ever
// adds a zone. A time outside years 1-9999 once in UTC ("0000-01-01T00:00:00+01:00") is
// unreadable: the cursor could not record it (JSON times stop there), and encoding it
// panicked the plugin on every poll of that account.
func parseValueTime(s string) (time.Time, bool) {
	t, err := time.ParseInLocation(valueTimeLayout, s, time.UTC)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, s); err != nil {
			return time.Time{}, false
		}
		t = t.UTC()
	}
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, false
	}
	return t, true
}

// readingsFrom turns one pool's last measures into readings for deviceID, skipping
// null values, unknown types, unreadable times and anything not newer than seen (the
// latest value_time already returned per data type). It returns the updated seen map.
func readingsFrom(deviceID string, ms []measure, seen map[string]time.Time) ([]sdk.Reading, map[string]time.Time) {
	next := make(map[string]time.Time, len(seen)+len(ms))
	for k, v := range seen {
		next[k] = v
	}
	var out []sdk.Reading
	for _, m := range ms {
		typ := strings.ToLower(m.DataType)
		mu, known := metricOf[typ]
		if !known || m.Value == nil {
			continue
		}
		at, ok := parseValueTime(m.ValueTime)
		if !ok {
			continue
		}
		if last, ok := next[typ]; ok && !at.After(last) {
			continue
		}
		next[typ] = at
		out = append(out, sdk.Reading{
			ProviderDeviceID: deviceID,
			Metric:           mu.metric,
			Value:            *m.Value,
			Unit:             mu.unit,
			RecordedAt:       at,
			Quality:          quality(m),
			RawPayload:       m.raw,
		})
	}
	return out, next
}

// quality maps Ondilo's validity flags: a measure Ondilo excluded (is_valid false or an
// exclusion_reason) is suspect, a valid one good, and one without flags unknown.
func quality(m measure) sdk.Quality {
	excluded := len(m.ExclusionReason) > 0 && string(m.ExclusionReason) != "null" && string(m.ExclusionReason) != `""`
	switch {
	case excluded || (m.IsValid != nil && !*m.IsValid):
		return sdk.QualitySuspect
	case m.IsValid != nil:
		return sdk.QualityGood
	}
	return sdk.QualityUnknown
}

const cursorVersion = 1

// cursor is the adapter's poll state, opaque to the host. See the package doc.
type cursor struct {
	V     int                   `json:"v"`
	Pools map[string]poolCursor `json:"pools"`
	// Calls are the polls of the last hour and the API requests each made, oldest
	// first: what the account has spent of its hourly quota (see quotaFree).
	Calls []pollCalls `json:"calls,omitempty"`
}

type pollCalls struct {
	At time.Time `json:"at"`
	N  int       `json:"n"`
}

type poolCursor struct {
	Device          string               `json:"device,omitempty"`
	DeviceCheckedAt time.Time            `json:"device_checked_at"`
	Seen            map[string]time.Time `json:"seen,omitempty"`
	// ReadAt is when a poll last asked for the pool's measures (or its ICO, when it
	// has none or is out of reach): the rotation reads the oldest first. Absent from
	// cursors written before the rotation, which is read as never: those pools come
	// first, by pool id.
	ReadAt time.Time `json:"read_at,omitzero"`
}

// decodeCursor reads a cursor; an empty, foreign or corrupt one starts afresh, which at
// worst returns the latest measures again (the host deduplicates them).
func decodeCursor(s string) cursor {
	var c cursor
	if s == "" || json.Unmarshal([]byte(s), &c) != nil || c.V != cursorVersion {
		return cursor{V: cursorVersion}
	}
	return c
}

func (c cursor) encode() string {
	b, err := json.Marshal(c)
	if err != nil {
		// Only maps of strings and times: cannot fail.
		panic("encode ondilo cursor: " + err.Error())
	}
	return string(b)
}
