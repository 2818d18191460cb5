package metric_test

import (
	"errors"
	"math"
	"testing"

	"github.com/poolhost/poolhost/sdk/metric"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name   string
		metric string
		value  float64
		unit   string
		want   float64
	}{
		{"empty unit is canonical", metric.PH, 7.4, "", 7.4},
		{"canonical pH", metric.PH, 7.4, "pH", 7.4},
		{"pH lowercase", metric.PH, 7.4, "ph", 7.4},
		{"celsius symbol", metric.Temperature, 25, "°C", 25},
		{"celsius word", metric.Temperature, 25, "celsius", 25},
		{"celsius degC", metric.Temperature, 25, "degC", 25},
		{"fahrenheit F", metric.Temperature, 77, "F", 25},
		{"fahrenheit °F", metric.Temperature, 77, "°F", 25},
		{"fahrenheit word", metric.Temperature, 32, "Fahrenheit", 0},
		{"kelvin K", metric.Temperature, 298.15, "K", 25},
		{"kelvin word", metric.Temperature, 273.15, "kelvin", 0},
		{"mV", metric.ORP, 650, "mV", 650},
		{"volts to mV", metric.ORP, 0.65, "V", 650},
		{"mg/L is ppm", metric.FreeChlorine, 3, "mg/L", 3},
		{"mg/l is ppm", metric.Salt, 3200, "mg/l", 3200},
		{"g/L salt", metric.Salt, 3.2, "g/L", 3200},
		{"ppb", metric.FreeChlorine, 1500, "ppb", 1.5},
		{"whitespace and case", metric.TDS, 845, "  PPM ", 845},
		{"uS/cm", metric.Conductivity, 5000, "uS/cm", 5000},
		{"µS/cm micro sign", metric.Conductivity, 5000, "\u00b5S/cm", 5000},
		{"μS/cm greek mu", metric.Conductivity, 5000, "\u03bcS/cm", 5000},
		{"mS/cm", metric.Conductivity, 5.2, "mS/cm", 5200},
		{"S/m", metric.Conductivity, 0.5, "S/m", 5000},
		{"battery percent", metric.Battery, 50, "%", 50},
		{"signal percent", metric.Signal, 60, "percent", 60},
		{"signal dBm", metric.SignalDBm, -35, "dBm", -35},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := metric.Normalize(tt.metric, tt.value, tt.unit)
			if err != nil {
				t.Fatalf("Normalize(%q, %v, %q): %v", tt.metric, tt.value, tt.unit, err)
			}
			if math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Normalize(%q, %v, %q) = %v, want %v", tt.metric, tt.value, tt.unit, got, tt.want)
			}
		})
	}
}

func TestNormalizeErrors(t *testing.T) {
	tests := []struct {
		name   string
		metric string
		value  float64
		unit   string
		want   error
	}{
		{"unknown metric", "chlorine", 1, "", metric.ErrUnknownMetric},
		{"metric names are exact", "PH", 7, "", metric.ErrUnknownMetric},
		{"unknown unit", metric.Temperature, 25, "rankine", metric.ErrUnknownUnit},
		{"unit of another dimension", metric.PH, 7, "mV", metric.ErrUnknownUnit},
		{"dBm is not a percentage", metric.Signal, -70, "dBm", metric.ErrUnknownUnit},
		{"percent is not dBm", metric.SignalDBm, 60, "%", metric.ErrUnknownUnit},
		{"volts are not a battery level", metric.Battery, 3.6, "V", metric.ErrUnknownUnit},
		{"NaN", metric.PH, math.NaN(), "", metric.ErrNotFinite},
		{"+Inf", metric.ORP, math.Inf(1), "mV", metric.ErrNotFinite},
		{"-Inf", metric.Temperature, math.Inf(-1), "F", metric.ErrNotFinite},
		{"overflow while converting", metric.ORP, math.MaxFloat64, "V", metric.ErrNotFinite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := metric.Normalize(tt.metric, tt.value, tt.unit)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Normalize(%q, %v, %q) error = %v, want %v", tt.metric, tt.value, tt.unit, err, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		metric string
		value  float64
		want   metric.Verdict
	}{
		{metric.PH, 7.4, metric.OK},
		{metric.PH, 7.2, metric.OK}, // bounds are inclusive
		{metric.PH, 7.8, metric.OK},
		{metric.PH, 9.29, metric.Unhealthy}, // Ondilo's documented example: real, keep it
		{metric.PH, 0, metric.Unhealthy},
		{metric.PH, 14, metric.Unhealthy},
		{metric.PH, -0.1, metric.Absurd},
		{metric.PH, 14.1, metric.Absurd},
		{metric.PH, math.NaN(), metric.Absurd},
		{metric.ORP, 650, metric.OK},
		{metric.ORP, 1200, metric.OK}, // healthy range is open above
		{metric.ORP, 647, metric.Unhealthy},
		{metric.ORP, 156, metric.Unhealthy},
		{metric.ORP, -2001, metric.Absurd},
		{metric.ORP, 2001, metric.Absurd},
		{metric.Temperature, 19, metric.OK},
		{metric.Temperature, -5, metric.OK},
		{metric.Temperature, 50, metric.OK},
		{metric.Temperature, -5.1, metric.Absurd},
		{metric.Temperature, 50.1, metric.Absurd},
		{metric.FreeChlorine, 3, metric.OK},
		{metric.FreeChlorine, 1, metric.Unhealthy},
		{metric.FreeChlorine, 20, metric.Unhealthy}, // shock level: real
		{metric.FreeChlorine, -0.01, metric.Absurd},
		{metric.CombinedChlorine, 0.5, metric.OK},
		{metric.CombinedChlorine, 0.6, metric.Unhealthy},
		{metric.Bromine, 5, metric.OK},
		{metric.Bromine, 11, metric.Unhealthy},
		{metric.CyanuricAcid, 0, metric.OK},
		{metric.CyanuricAcid, 150, metric.Unhealthy},
		{metric.TotalAlkalinity, 59, metric.Unhealthy},
		{metric.TotalAlkalinity, 100, metric.OK},
		{metric.CalciumHardness, 1001, metric.Unhealthy},
		{metric.CalciumHardness, 300, metric.OK},
		{metric.Salt, 3200, metric.OK},
		{metric.Salt, 2600, metric.Unhealthy},
		{metric.Salt, 35000, metric.Unhealthy}, // seawater pool: real
		{metric.Salt, -1, metric.Absurd},
		{metric.TDS, 845, metric.OK},
		{metric.TotalChlorine, -1, metric.Absurd},
		{metric.Conductivity, -1, metric.Absurd},
		{metric.Battery, 0, metric.OK},
		{metric.Battery, 100, metric.OK},
		{metric.Battery, 101, metric.Absurd},
		{metric.Battery, -1, metric.Absurd},
		{metric.Signal, 60, metric.OK},
		{metric.Signal, 120, metric.Absurd},
		{metric.SignalDBm, -35, metric.OK},
		{metric.SignalDBm, -140, metric.OK},
		{metric.SignalDBm, 60, metric.Absurd},
		{"no_such_metric", 1, metric.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.metric+"/"+tt.want.String(), func(t *testing.T) {
			if got := metric.Check(tt.metric, tt.value); got != tt.want {
				t.Errorf("Check(%q, %v) = %v, want %v", tt.metric, tt.value, got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name        string
		metric      string
		value       float64
		unit        string
		wantValue   float64
		wantVerdict metric.Verdict
		wantErr     error
	}{
		{"ok after conversion", metric.Temperature, 77, "°F", 25, metric.OK, nil},
		{"unhealthy kept", metric.PH, 9.29, "", 9.29, metric.Unhealthy, nil},
		{"absurd after conversion", metric.Temperature, 212, "F", 100, metric.Absurd, metric.ErrAbsurd},
		{"absurd negative concentration", metric.FreeChlorine, -2, "mg/L", -2, metric.Absurd, metric.ErrAbsurd},
		{"unknown metric", "luminosity", 0.64, "", 0, metric.Unknown, metric.ErrUnknownMetric},
		{"unknown unit", metric.ORP, 650, "mA", 0, metric.Absurd, metric.ErrUnknownUnit},
		{"not finite", metric.ORP, math.NaN(), "", 0, metric.Absurd, metric.ErrNotFinite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, verdict, err := metric.Validate(tt.metric, tt.value, tt.unit)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Validate error = %v, want %v", err, tt.wantErr)
			}
			if verdict != tt.wantVerdict {
				t.Errorf("verdict = %v, want %v", verdict, tt.wantVerdict)
			}
			if math.Abs(v-tt.wantValue) > 1e-9 {
				t.Errorf("value = %v, want %v", v, tt.wantValue)
			}
		})
	}
}

func TestLookupAndAll(t *testing.T) {
	all := metric.All()
	want := []string{
		metric.PH, metric.ORP, metric.Temperature, metric.FreeChlorine, metric.TotalChlorine,
		metric.CombinedChlorine, metric.Bromine, metric.CyanuricAcid, metric.TotalAlkalinity,
		metric.CalciumHardness, metric.Salt, metric.TDS, metric.Conductivity, metric.Battery,
		metric.Signal, metric.SignalDBm,
	}
	if len(all) != len(want) {
		t.Fatalf("All() has %d metrics, want %d", len(all), len(want))
	}
	for i, info := range all {
		if info.Name != want[i] {
			t.Errorf("All()[%d] = %q, want %q", i, info.Name, want[i])
		}
		got, ok := metric.Lookup(info.Name)
		if !ok || got.Name != info.Name || got.Unit != info.Unit {
			t.Errorf("Lookup(%q) = %+v, %v", info.Name, got, ok)
		}
		if info.Unit == "" || info.Min >= info.Max {
			t.Errorf("%s: bad table entry %+v", info.Name, info)
		}
		if h := info.Healthy; h != nil && (h.Min < info.Min || h.Min > h.Max) {
			t.Errorf("%s: healthy range %+v not inside hard range", info.Name, *h)
		}
		// The canonical unit itself is always accepted.
		if _, err := metric.Normalize(info.Name, info.Min, info.Unit); err != nil {
			t.Errorf("%s: canonical unit %q refused: %v", info.Name, info.Unit, err)
		}
	}
	if _, ok := metric.Lookup("nope"); ok {
		t.Error("Lookup(nope) found something")
	}

	wantUnits := map[string]string{
		metric.PH: "pH", metric.ORP: "mV", metric.Temperature: "C", metric.Salt: "ppm",
		metric.Conductivity: "uS/cm", metric.Battery: "%", metric.Signal: "%", metric.SignalDBm: "dBm",
	}
	for name, unit := range wantUnits {
		if info, _ := metric.Lookup(name); info.Unit != unit {
			t.Errorf("%s canonical unit = %q, want %q", name, info.Unit, unit)
		}
	}
}

func TestLookupReturnsCopies(t *testing.T) {
	info, _ := metric.Lookup(metric.PH)
	info.Healthy.Min = 0
	again, _ := metric.Lookup(metric.PH)
	if again.Healthy.Min != 7.2 {
		t.Fatalf("mutating a returned Info changed the table: healthy min = %v", again.Healthy.Min)
	}
}

func TestUnitIsLookupsUnit(t *testing.T) {
	for _, info := range metric.All() {
		if got := metric.Unit(info.Name); got != info.Unit {
			t.Errorf("Unit(%q) = %q, want %q", info.Name, got, info.Unit)
		}
	}
	if got := metric.Unit("nope"); got != "" {
		t.Errorf("Unit(nope) = %q, want \"\"", got)
	}
}
