package command

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/poolhost/poolhost/sdk/metric"
)

// Command names.
const (
	// PumpSet switches a circulation pump: on (bool), optional speed_percent (0–100).
	PumpSet = "pump.set"
	// ChlorinatorSetOutput sets a salt chlorinator's output: percent (0–100).
	ChlorinatorSetOutput = "chlorinator.set_output"
	// HeaterSetTarget sets a heater's target: temperature in °C (10–40), with an
	// optional unit ("C" or "F"; °F is converted and the unit dropped).
	HeaterSetTarget = "heater.set_target"
	// LightSet switches a pool light: on (bool).
	LightSet = "light.set"
	// DosingDose doses a product once: product ("acid" or "chlorine"), volume_ml (1–1000).
	DosingDose = "dosing.dose"
)

// ParamType is how a parameter's value is read.
type ParamType string

const (
	Bool   ParamType = "bool"   // JSON true or false
	Number ParamType = "number" // a finite number within [Min, Max] in Unit
	Enum   ParamType = "enum"   // one of Values
)

// Param declares one parameter of a command.
type Param struct {
	Name     string
	Type     ParamType
	Required bool
	// Unit is a Number's canonical unit ("%", "C", "mL").
	Unit string
	// Min and Max bound a Number (inclusive), in Unit.
	Min, Max float64
	// Values lists an Enum's allowed strings.
	Values      []string
	Description string
}

// Info describes one command.
type Info struct {
	Name        string
	Description string
	Params      []Param
}

// unitParam is the optional unit a temperature may be given in. It is not a Param of
// its own: Validate consumes it and never passes it on.
const unitParam = "unit"

var vocabulary = []Info{
	{Name: PumpSet, Description: "switch a circulation pump", Params: []Param{
		{Name: "on", Type: Bool, Required: true, Description: "run (true) or stop (false)"},
		{Name: "speed_percent", Type: Number, Unit: metric.UnitPercent, Min: 0, Max: 100, Description: "variable-speed pumps: speed"},
	}},
	{Name: ChlorinatorSetOutput, Description: "set a chlorinator's output", Params: []Param{
		{Name: "percent", Type: Number, Required: true, Unit: metric.UnitPercent, Min: 0, Max: 100, Description: "output"},
	}},
	{Name: HeaterSetTarget, Description: "set a heater's target temperature", Params: []Param{
		{Name: "temperature", Type: Number, Required: true, Unit: metric.UnitCelsius, Min: 10, Max: 40,
			Description: `target; give "unit": "F" for °F, converted to °C`},
	}},
	{Name: LightSet, Description: "switch a pool light", Params: []Param{
		{Name: "on", Type: Bool, Required: true, Description: "on (true) or off (false)"},
	}},
	{Name: DosingDose, Description: "dose a product once", Params: []Param{
		{Name: "product", Type: Enum, Required: true, Values: []string{"acid", "chlorine"}, Description: "what to dose"},
		{Name: "volume_ml", Type: Number, Required: true, Unit: "mL", Min: 1, Max: 1000, Description: "how much"},
	}},
}

// Lookup returns the command's description.
func Lookup(name string) (Info, bool) {
	for _, in := range vocabulary {
		if in.Name == name {
			return copyInfo(in), true
		}
	}
	return Info{}, false
}

// All returns every command, sorted by name.
func All() []Info {
	out := make([]Info, 0, len(vocabulary))
	for _, in := range vocabulary {
		out = append(out, copyInfo(in))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns every command name, sorted.
func Names() []string {
	out := make([]string, 0, len(vocabulary))
	for _, in := range vocabulary {
		out = append(out, in.Name)
	}
	sort.Strings(out)
	return out
}

func copyInfo(in Info) Info {
	in.Params = slices.Clone(in.Params)
	for i := range in.Params {
		in.Params[i].Values = slices.Clone(in.Params[i].Values)
	}
	return in
}

// Errors returned by Validate; test with errors.Is.
var (
	ErrUnknownCommand = errors.New("unknown command")
	ErrInvalidParams  = errors.New("invalid parameters")
)

// ParamError says which parameter of which command is wrong and why. It matches
// ErrInvalidParams.
type ParamError struct {
	Command string
	Param   string // "" when the problem is the parameters as a whole
	Reason  string
}

func (e *ParamError) Error() string {
	if e.Param == "" {
		return fmt.Sprintf("%s: %s", e.Command, e.Reason)
	}
	return fmt.Sprintf("%s: parameter %q: %s", e.Command, e.Param, e.Reason)
}

func (e *ParamError) Is(target error) bool { return target == ErrInvalidParams }

// Params are a command's validated parameters: bool, float64 (in the parameter's
// canonical unit) or string values, keyed by parameter name.
type Params map[string]any

// Bool returns a bool parameter and whether it was given.
func (p Params) Bool(name string) (bool, bool) { v, ok := p[name].(bool); return v, ok }

// Number returns a number parameter and whether it was given.
func (p Params) Number(name string) (float64, bool) { v, ok := p[name].(float64); return v, ok }

// String returns an enum parameter and whether it was given.
func (p Params) String(name string) (string, bool) { v, ok := p[name].(string); return v, ok }

// Validate checks a command and its raw parameters (as decoded from JSON: bool, float64,
// string; Go integer types are accepted too) and returns them validated and normalized.
// An unknown command wraps ErrUnknownCommand; any parameter problem is a *ParamError
// (errors.Is ErrInvalidParams). Nothing a plugin could send is accepted on a guess: an
// unknown parameter, a missing required one, a wrong type, a non-finite number or one
// outside its range is refused.
func Validate(name string, raw map[string]any) (Params, error) {
	info, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownCommand, name)
	}
	unit := ""
	if u, given := raw[unitParam]; given {
		if name != HeaterSetTarget {
			return nil, &ParamError{Command: name, Param: unitParam, Reason: "not a parameter of this command"}
		}
		s, isString := u.(string)
		if !isString {
			return nil, &ParamError{Command: name, Param: unitParam, Reason: "must be a string"}
		}
		unit = s
	}
	for k := range raw {
		if k == unitParam {
			continue
		}
		if !slices.ContainsFunc(info.Params, func(p Param) bool { return p.Name == k }) {
			return nil, &ParamError{Command: name, Param: k, Reason: "not a parameter of this command"}
		}
	}
	out := Params{}
	for _, p := range info.Params {
		v, given := raw[p.Name]
		if !given || v == nil {
			if p.Required {
				return nil, &ParamError{Command: name, Param: p.Name, Reason: "is required"}
			}
			continue
		}
		nv, err := validateParam(name, p, v, unit)
		if err != nil {
			return nil, err
		}
		out[p.Name] = nv
	}
	return out, nil
}

func validateParam(cmd string, p Param, v any, unit string) (any, error) {
	bad := func(reason string) error { return &ParamError{Command: cmd, Param: p.Name, Reason: reason} }
	switch p.Type {
	case Bool:
		b, ok := v.(bool)
		if !ok {
			return nil, bad("must be true or false")
		}
		return b, nil
	case Enum:
		s, ok := v.(string)
		if !ok || !slices.Contains(p.Values, s) {
			return nil, bad("must be one of " + strings.Join(p.Values, ", "))
		}
		return s, nil
	case Number:
		f, ok := toFloat(v)
		if !ok {
			return nil, bad("must be a number")
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, bad("must be finite")
		}
		if p.Unit == metric.UnitCelsius {
			c, err := metric.Normalize(metric.Temperature, f, unit)
			if err != nil {
				return nil, bad(fmt.Sprintf("unit %q: %v", unit, err))
			}
			// Two decimals: 82.4 °F is 28 °C, not 28.000000000000004.
			f = math.Round(c*100) / 100
		}
		if f < p.Min || f > p.Max {
			return nil, bad(fmt.Sprintf("must be between %s and %s %s", fmtNum(p.Min), fmtNum(p.Max), p.Unit))
		}
		return f, nil
	}
	return nil, bad("has an unknown type")
}

func fmtNum(f float64) string { return strings.TrimSuffix(fmt.Sprintf("%g", f), ".0") }

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}
