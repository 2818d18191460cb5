package metric

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Metric names. A reading's Metric must be one of these; the host drops anything else.
const (
	PH               = "ph"
	ORP              = "orp"
	Temperature      = "temperature"
	FreeChlorine     = "free_chlorine"
	TotalChlorine    = "total_chlorine"
	CombinedChlorine = "combined_chlorine"
	Bromine          = "bromine"
	CyanuricAcid     = "cyanuric_acid"
	TotalAlkalinity  = "total_alkalinity"
	CalciumHardness  = "calcium_hardness"
	Salt             = "salt"
	TDS              = "tds"
	Conductivity     = "conductivity"
	Battery          = "battery"
	// Signal is link quality as a percentage (0–100).
	Signal = "signal"
	// SignalDBm is received signal strength in dBm (e.g. a LoRaWAN gateway's rssi).
	SignalDBm = "signal_dbm"
)

// Canonical units. Values are stored in these; the strings are ASCII on purpose so
// that they survive every terminal, CSV export and JSON client unchanged.
const (
	UnitPH          = "pH"
	UnitMillivolt   = "mV"
	UnitCelsius     = "C"
	UnitPPM         = "ppm" // = mg/L for dilute water
	UnitMicroSiemen = "uS/cm"
	UnitPercent     = "%"
	UnitDBm         = "dBm"
)

// Errors returned by Normalize and Validate; test with errors.Is.
var (
	ErrUnknownMetric = errors.New("unknown metric")
	ErrUnknownUnit   = errors.New("unknown or unconvertible unit")
	ErrNotFinite     = errors.New("value is not finite")
	ErrAbsurd        = errors.New("value is physically impossible")
)

// Range is a closed interval [Min, Max]. An open end is ±Inf.
type Range struct {
	Min, Max float64
}

// Contains reports whether v lies in the range, bounds included.
func (r Range) Contains(v float64) bool { return v >= r.Min && v <= r.Max }

// Info describes one metric.
type Info struct {
	Name string
	// Unit is the canonical unit values are normalized to.
	Unit string
	// Min and Max are the hard bounds (inclusive) in the canonical unit; outside them a
	// value is absurd and is dropped.
	Min, Max float64
	// Healthy is the acceptable band for pool water, nil when there is none (battery,
	// temperature, …). Outside it a value is kept but flagged.
	Healthy *Range
	// Description is a short human label.
	Description string
}

// conversion maps one unit spelling to the canonical unit.
type conversion struct {
	aliases []string // compared case-insensitively, see foldUnit
	to      func(float64) float64
}

func identity(v float64) float64 { return v }

func scale(k float64) func(float64) float64 { return func(v float64) float64 { return v * k } }

// Unit families. The empty unit always means "already canonical" and is handled in
// Normalize, so it appears in none of these lists.
var (
	phUnits = []conversion{{aliases: []string{"ph"}, to: identity}}

	voltUnits = []conversion{
		{aliases: []string{"mv", "millivolt", "millivolts"}, to: identity},
		{aliases: []string{"v", "volt", "volts"}, to: scale(1000)},
	}

	temperatureUnits = []conversion{
		{aliases: []string{"c", "°c", "℃", "degc", "deg c", "celsius", "degrees celsius"}, to: identity},
		{aliases: []string{"f", "°f", "℉", "degf", "deg f", "fahrenheit", "degrees fahrenheit"},
			to: func(v float64) float64 { return (v - 32) * 5 / 9 }},
		{aliases: []string{"k", "kelvin"}, to: func(v float64) float64 { return v - 273.15 }},
	}

	// Concentrations: in pool water 1 mg/L = 1 ppm (density 1 kg/L).
	concentrationUnits = []conversion{
		{aliases: []string{"ppm", "mg/l", "mg/litre", "mg/liter", "mg l-1", "mgl"}, to: identity},
		{aliases: []string{"ppb", "ug/l", "µg/l", "μg/l"}, to: scale(0.001)},
		{aliases: []string{"g/l", "kg/m3", "kg/m³"}, to: scale(1000)}, // salt is often shown in g/L
	}

	conductivityUnits = []conversion{
		{aliases: []string{"us/cm", "µs/cm", "μs/cm", "microsiemens/cm"}, to: identity},
		{aliases: []string{"ms/cm", "millisiemens/cm"}, to: scale(1000)},
		{aliases: []string{"s/m"}, to: scale(10000)},
		{aliases: []string{"ms/m"}, to: scale(10)},
	}

	percentUnits = []conversion{{aliases: []string{"%", "percent", "pct"}, to: identity}}

	dbmUnits = []conversion{{aliases: []string{"dbm"}, to: identity}}
)

type definition struct {
	info  Info
	units []conversion
}

func healthy(lo, hi float64) *Range { return &Range{Min: lo, Max: hi} }

var inf = math.Inf(1)

// definitions lists every metric in a stable order (All returns them in this order).
// Hard bounds are deliberately generous: shock chlorination, seawater pools and
// LoRaWAN links at the edge of range are all real and must not be dropped.
var definitions = []definition{
	{Info{PH, UnitPH, 0, 14, healthy(7.2, 7.8), "pH"}, phUnits},
	{Info{ORP, UnitMillivolt, -2000, 2000, healthy(650, inf), "oxidation-reduction potential"}, voltUnits},
	{Info{Temperature, UnitCelsius, -5, 50, nil, "water temperature"}, temperatureUnits},
	{Info{FreeChlorine, UnitPPM, 0, 100, healthy(2, 8), "free chlorine"}, concentrationUnits},
	{Info{TotalChlorine, UnitPPM, 0, 100, nil, "total chlorine"}, concentrationUnits},
	{Info{CombinedChlorine, UnitPPM, 0, 100, healthy(0, 0.5), "combined chlorine (chloramines)"}, concentrationUnits},
	{Info{Bromine, UnitPPM, 0, 200, healthy(2, 10), "bromine"}, concentrationUnits},
	{Info{CyanuricAcid, UnitPPM, 0, 1000, healthy(0, 100), "cyanuric acid (stabilizer)"}, concentrationUnits},
	{Info{TotalAlkalinity, UnitPPM, 0, 1000, healthy(60, 220), "total alkalinity"}, concentrationUnits},
	{Info{CalciumHardness, UnitPPM, 0, 5000, healthy(150, 1000), "calcium hardness"}, concentrationUnits},
	{Info{Salt, UnitPPM, 0, 60000, healthy(2700, 3400), "salt (chlorine generator)"}, concentrationUnits},
	{Info{TDS, UnitPPM, 0, 100000, nil, "total dissolved solids"}, concentrationUnits},
	{Info{Conductivity, UnitMicroSiemen, 0, 200000, nil, "electrical conductivity"}, conductivityUnits},
	{Info{Battery, UnitPercent, 0, 100, nil, "battery level"}, percentUnits},
	{Info{Signal, UnitPercent, 0, 100, nil, "signal quality (%)"}, percentUnits},
	{Info{SignalDBm, UnitDBm, -200, 30, nil, "received signal strength (dBm)"}, dbmUnits},
}

var byName = func() map[string]*definition {
	m := make(map[string]*definition, len(definitions))
	for i := range definitions {
		m[definitions[i].info.Name] = &definitions[i]
	}
	return m
}()

// copyInfo keeps callers from mutating the shared table through Healthy.
func copyInfo(in Info) Info {
	if in.Healthy != nil {
		h := *in.Healthy
		in.Healthy = &h
	}
	return in
}

// Lookup returns the metric called name (exact, lowercase).
func Lookup(name string) (Info, bool) {
	d, ok := byName[name]
	if !ok {
		return Info{}, false
	}
	return copyInfo(d.info), true
}

// Unit is the canonical unit of the metric called name, "" for an unknown one. Unlike
// Lookup it copies nothing: the host judges every reading with it (sdk/judge), and
// Lookup's copy of Info was 10 of its allocations per 10-reading delivery (host/bench).
func Unit(name string) string {
	if d, ok := byName[name]; ok {
		return d.info.Unit
	}
	return ""
}

// All lists every metric in a stable order.
func All() []Info {
	out := make([]Info, len(definitions))
	for i, d := range definitions {
		out[i] = copyInfo(d.info)
	}
	return out
}

// foldUnit canonicalizes a unit spelling for comparison: trimmed and lowercased (the
// alias lists carry both the micro sign and the Greek mu). Case is ignored because
// providers are inconsistent ("MV", "Ms/cm") and no two units one metric accepts differ
// only by case.
func foldUnit(u string) string {
	return strings.ToLower(strings.TrimSpace(u))
}

// Normalize converts value, expressed in unit, to metric's canonical unit. An empty unit
// means the value is already canonical. It does not check ranges (see Check and
// Validate). Errors wrap ErrUnknownMetric, ErrUnknownUnit or ErrNotFinite.
func Normalize(metric string, value float64, unit string) (float64, error) {
	d, ok := byName[metric]
	if !ok {
		return 0, fmt.Errorf("normalize %q: %w", metric, ErrUnknownMetric)
	}
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return 0, fmt.Errorf("normalize %s: %w", metric, ErrNotFinite)
	}
	if unit == "" || unit == d.info.Unit {
		return value, nil
	}
	u := foldUnit(unit)
	for _, c := range d.units {
		for _, a := range c.aliases {
			if u == a {
				out := c.to(value)
				if math.IsNaN(out) || math.IsInf(out, 0) {
					return 0, fmt.Errorf("normalize %s from %q: %w", metric, unit, ErrNotFinite)
				}
				return out, nil
			}
		}
	}
	err := fmt.Errorf("normalize %s from %q to %s: %w", metric, unit, d.info.Unit, ErrUnknownUnit)
	if metric == Signal && u == "dbm" {
		err = fmt.Errorf("%w (use metric %s for dBm)", err, SignalDBm)
	}
	return 0, err
}

// Verdict is the outcome of Check.
type Verdict int

const (
	// OK: within the hard bounds and within the healthy range (or the metric has none).
	OK Verdict = iota
	// Unhealthy: possible, but outside the healthy range. Keep it and flag it
	// (sdk.QualitySuspect).
	Unhealthy
	// Absurd: outside the hard bounds or not finite. Drop it.
	Absurd
	// Unknown: not a metric of this vocabulary. Drop it.
	Unknown
)

func (v Verdict) String() string {
	switch v {
	case OK:
		return "ok"
	case Unhealthy:
		return "unhealthy"
	case Absurd:
		return "absurd"
	case Unknown:
		return "unknown_metric"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// Check classifies a value already in metric's canonical unit.
func Check(metric string, value float64) Verdict {
	d, ok := byName[metric]
	if !ok {
		return Unknown
	}
	if math.IsNaN(value) || math.IsInf(value, 0) || value < d.info.Min || value > d.info.Max {
		return Absurd
	}
	if d.info.Healthy != nil && !d.info.Healthy.Contains(value) {
		return Unhealthy
	}
	return OK
}

// Validate is Normalize followed by Check, the host's one call per reading. It returns
// the canonical value and its verdict; err is non-nil exactly when the reading must be
// dropped, and wraps ErrUnknownMetric, ErrUnknownUnit, ErrNotFinite or ErrAbsurd so the
// drop can be counted by reason (the verdict is then Unknown for an unknown metric and
// Absurd otherwise; count by the error, not the verdict).
func Validate(metric string, value float64, unit string) (float64, Verdict, error) {
	v, err := Normalize(metric, value, unit)
	if err != nil {
		if errors.Is(err, ErrUnknownMetric) {
			return 0, Unknown, err
		}
		return 0, Absurd, err
	}
	verdict := Check(metric, v)
	if verdict == Absurd {
		info := byName[metric].info
		return v, Absurd, fmt.Errorf("validate %s = %g %s (allowed %g…%g): %w",
			metric, v, info.Unit, info.Min, info.Max, ErrAbsurd)
	}
	return v, verdict, nil
}
