package ttn

import (
	"fmt"
	"maps"
	"strings"

	"github.com/poolhost/poolhost/sdk/metric"
)

// field says which metric a decoded_payload key holds, and in what unit ("" for the
// metric's canonical unit). An empty metric means "ignore this key".
type field struct {
	metric, unit string
}

// fieldMap maps decoded_payload keys (dotted for nested objects) to fields.
type fieldMap map[string]field

// defaultFields covers the names payload formatters commonly emit. Operators extend or
// override them with the field_map setting. "battery" is a percentage here; a device
// reporting volts needs "battery:-" (or a formatter that reports percent).
var defaultFields = fieldMap{
	"temperature":       {metric.Temperature, ""},
	"temp":              {metric.Temperature, ""},
	"water_temperature": {metric.Temperature, ""},
	"water_temp":        {metric.Temperature, ""},
	"ph":                {metric.PH, ""},
	"orp":               {metric.ORP, metric.UnitMillivolt},
	"redox":             {metric.ORP, metric.UnitMillivolt},
	"chlorine":          {metric.FreeChlorine, ""},
	"free_chlorine":     {metric.FreeChlorine, ""},
	"total_chlorine":    {metric.TotalChlorine, ""},
	"bromine":           {metric.Bromine, ""},
	"salt":              {metric.Salt, ""},
	"tds":               {metric.TDS, ""},
	"conductivity":      {metric.Conductivity, ""},
	"ec":                {metric.Conductivity, ""},
	"battery":           {metric.Battery, metric.UnitPercent},
}

// merge returns a copy of m with spec applied. spec is a comma-separated list of
// key:metric[:unit]; metric "-" ignores the key. Metrics and units are checked against
// sdk/metric so a typo fails Configure instead of dropping every reading later.
func (m fieldMap) merge(spec string) (fieldMap, error) {
	out := maps.Clone(m)
	for _, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		parts := strings.Split(entry, ":")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("entry %q: want key:metric or key:metric:unit", entry)
		}
		f := field{metric: parts[1]}
		if len(parts) == 3 {
			f.unit = parts[2]
		}
		if f.metric == "-" {
			out[parts[0]] = field{}
			continue
		}
		if _, ok := metric.Lookup(f.metric); !ok {
			return nil, fmt.Errorf("entry %q: unknown metric %q", entry, f.metric)
		}
		if _, err := metric.Normalize(f.metric, 1, f.unit); err != nil {
			return nil, fmt.Errorf("entry %q: unit %q does not fit metric %s", entry, f.unit, f.metric)
		}
		out[parts[0]] = f
	}
	return out, nil
}

// lookup finds a dotted key in a decoded payload.
func lookup(payload map[string]any, key string) (any, bool) {
	if v, ok := payload[key]; ok {
		return v, true // a literal key containing dots wins
	}
	var cur any = payload
	for part := range strings.SplitSeq(key, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}
