package pools

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk/metric"
)

// Configuration vocabularies.
var (
	Kinds      = []string{"pool", "spa"}
	Locations  = []string{"outdoor", "indoor"}
	Sanitizers = []string{"chlorine", "salt", "bromine", "biguanide", "mineral", "other"}
)

// Target is a metric's target range in its canonical unit; a nil end is open.
type Target struct {
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
}

// Contains reports whether v lies in the target range, bounds included.
func (t Target) Contains(v float64) bool {
	return (t.Min == nil || v >= *t.Min) && (t.Max == nil || v <= *t.Max)
}

// sanitizerMetrics are the metrics whose healthy range (sdk/metric) is a sensible
// default target for a pool treated with each sanitizer: chlorine figures mean nothing
// in a bromine or biguanide pool, and salt matters only to a chlorine generator.
var sanitizerMetrics = map[string][]string{
	"":          {metric.PH, metric.TotalAlkalinity, metric.CalciumHardness},
	"chlorine":  {metric.PH, metric.ORP, metric.FreeChlorine, metric.CombinedChlorine, metric.CyanuricAcid, metric.TotalAlkalinity, metric.CalciumHardness},
	"salt":      {metric.PH, metric.ORP, metric.FreeChlorine, metric.CombinedChlorine, metric.CyanuricAcid, metric.TotalAlkalinity, metric.CalciumHardness, metric.Salt},
	"bromine":   {metric.PH, metric.ORP, metric.Bromine, metric.TotalAlkalinity, metric.CalciumHardness},
	"biguanide": {metric.PH, metric.TotalAlkalinity, metric.CalciumHardness},
	"mineral":   {metric.PH, metric.ORP, metric.FreeChlorine, metric.TotalAlkalinity, metric.CalciumHardness},
	"other":     {metric.PH, metric.TotalAlkalinity, metric.CalciumHardness},
}

// DefaultTargets are the targets a pool with this sanitizer gets for the metrics its
// members have not set: the healthy ranges of sdk/metric.
func DefaultTargets(sanitizer string) map[string]Target {
	out := map[string]Target{}
	for _, name := range sanitizerMetrics[sanitizer] {
		info, ok := metric.Lookup(name)
		if !ok || info.Healthy == nil {
			continue
		}
		var t Target
		if !math.IsInf(info.Healthy.Min, 0) {
			v := info.Healthy.Min
			t.Min = &v
		}
		if !math.IsInf(info.Healthy.Max, 0) {
			v := info.Healthy.Max
			t.Max = &v
		}
		out[name] = t
	}
	return out
}

// Config is a pool's configuration as the API shows it.
type Config struct {
	VolumeLiters *float64          `json:"volumeLiters"`
	Kind         string            `json:"kind,omitempty"`
	Location     string            `json:"location,omitempty"`
	Sanitizer    string            `json:"sanitizer,omitempty"`
	Targets      map[string]Target `json:"targets"`          // set by members
	Effective    map[string]Target `json:"effectiveTargets"` // Targets over the sanitizer's defaults
	// TimeZone is the pool's IANA zone: its daily summaries run from its local midnight
	// to the next. Default UTC.
	TimeZone string `json:"timeZone"`
}

func configOf(c store.PoolConfig) Config {
	out := Config{VolumeLiters: c.VolumeLiters, Kind: c.Kind, Location: c.Location, Sanitizer: c.Sanitizer, Targets: map[string]Target{}, TimeZone: c.TimeZone}
	if out.TimeZone == "" {
		out.TimeZone = store.DefaultTimeZone
	}
	if len(c.Targets) > 0 {
		_ = json.Unmarshal(c.Targets, &out.Targets) // written by UpdateConfig only
	}
	out.Effective = DefaultTargets(c.Sanitizer)
	for m, t := range out.Targets {
		out.Effective[m] = t
	}
	return out
}

// Patch is a PATCH /v1/pools/{id} body: only the fields present change. A null
// volumeLiters, kind, location or sanitizer clears it, a null timeZone is UTC; in targets, a metric set to null
// goes back to the sanitizer's default.
type Patch map[string]json.RawMessage

// MaxVolumeLiters bounds volumeLiters: a large public pool holds a few million liters.
const MaxVolumeLiters = 100_000_000

// UpdateConfig applies a patch to the pool's name and configuration. Owners and editors.
func (s *Service) UpdateConfig(ctx context.Context, a auth.Actor, poolID int64, patch Patch) (Pool, error) {
	role, err := s.Require(ctx, a, poolID, Editor)
	if err != nil {
		return Pool{}, err
	}
	p, err := s.st.GetPool(ctx, poolID)
	if err != nil {
		return Pool{}, err
	}
	name, c := p.Name, p.PoolConfig
	targets := map[string]Target{}
	if len(c.Targets) > 0 {
		if err := json.Unmarshal(c.Targets, &targets); err != nil {
			return Pool{}, err
		}
	}
	for key, raw := range patch {
		isNull := string(raw) == "null"
		switch key {
		case "name":
			if err := json.Unmarshal(raw, &name); err != nil || isNull {
				return Pool{}, host.Errorf(host.EINVALID, "name must be a string")
			}
			name = strings.TrimSpace(name)
			if name == "" || len(name) > MaxNameLength {
				return Pool{}, host.Errorf(host.EINVALID, "name must be 1 to %d characters", MaxNameLength)
			}
			if err := host.CheckText("name", name, false); err != nil {
				return Pool{}, err
			}
		case "volumeLiters":
			if isNull {
				c.VolumeLiters = nil
				continue
			}
			var v float64
			if err := json.Unmarshal(raw, &v); err != nil || !(v > 0 && v <= MaxVolumeLiters) {
				return Pool{}, host.Errorf(host.EINVALID, "volumeLiters must be a number of liters above 0 and at most %d", MaxVolumeLiters)
			}
			c.VolumeLiters = &v
		case "kind":
			if c.Kind, err = enum(key, raw, Kinds); err != nil {
				return Pool{}, err
			}
		case "location":
			if c.Location, err = enum(key, raw, Locations); err != nil {
				return Pool{}, err
			}
		case "sanitizer":
			if c.Sanitizer, err = enum(key, raw, Sanitizers); err != nil {
				return Pool{}, err
			}
		case "targets":
			if err := patchTargets(targets, raw); err != nil {
				return Pool{}, err
			}
		case "timeZone":
			if isNull {
				c.TimeZone = store.DefaultTimeZone
				continue
			}
			var z string
			if err := json.Unmarshal(raw, &z); err != nil {
				return Pool{}, host.Errorf(host.EINVALID, "timeZone must be an IANA time zone name such as America/Los_Angeles, or null for UTC")
			}
			if _, err := store.LoadZone(z); err != nil {
				return Pool{}, host.Errorf(host.EINVALID, "timeZone must be an IANA time zone name such as America/Los_Angeles, or null for UTC")
			}
			c.TimeZone = z
		default:
			return Pool{}, host.Errorf(host.EINVALID, "unknown field %q: a pool has name, volumeLiters, kind, location, sanitizer, targets and timeZone", key)
		}
	}
	tj, err := json.Marshal(targets)
	if err != nil {
		return Pool{}, err
	}
	c.Targets = tj
	up, err := s.st.UpdatePool(ctx, poolID, name, c)
	if err != nil {
		return Pool{}, err
	}
	keys := make([]string, 0, len(patch))
	for k := range patch {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s.audit.Record(ctx, audit.Entry{
		Action: audit.PoolConfigured, Actor: a, TargetType: "pool", TargetID: strconv.FormatInt(poolID, 10),
		Details: map[string]any{"fields": keys},
	})
	return Pool{ID: up.ID, Name: up.Name, Role: role, CreatedAt: up.CreatedAt, Config: configOf(up.PoolConfig)}, nil
}

// enum decodes a string field that must be one of allowed, or null ("").
func enum(field string, raw json.RawMessage, allowed []string) (string, error) {
	if string(raw) == "null" {
		return "", nil
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil || !slices.Contains(allowed, v) {
		return "", host.Errorf(host.EINVALID, "%s must be one of %s, or null", field, strings.Join(allowed, ", "))
	}
	return v, nil
}

// patchTargets merges {metric: {min, max, unit} | null} into targets, validating each
// against the metric vocabulary: a known metric, bounds converted from unit (default
// the canonical one) and within the metric's physical limits, min ≤ max.
func patchTargets(targets map[string]Target, raw json.RawMessage) error {
	var in map[string]*struct {
		Min  *float64 `json:"min"`
		Max  *float64 `json:"max"`
		Unit string   `json:"unit"`
	}
	if err := json.Unmarshal(raw, &in); err != nil || in == nil {
		return host.Errorf(host.EINVALID, `targets must be an object of metric: {"min": n, "max": n, "unit": "…"} (or null to use the default)`)
	}
	// encoding/json took "MIN" or "Max" for min and max, and let a misspelt "mx" pass
	// unread: {"ph": {"min": 7, "MIN": 9}} set 9 where a proxy's rule or the client read
	// 7, the parser differential the body's own fields refuse (httpapi.DecodeJSON). A
	// target's fields are matched as written, and no other is taken.
	var names map[string]map[string]json.RawMessage
	_ = json.Unmarshal(raw, &names) // decoded above, as objects or nulls
	for metricName, fields := range names {
		for k := range fields {
			if k != "min" && k != "max" && k != "unit" {
				return host.Errorf(host.EINVALID, "targets.%s: unknown field %q: a target has min, max and unit (case-sensitive)", metricName, k)
			}
		}
	}
	for name, t := range in {
		info, ok := metric.Lookup(name)
		if !ok {
			return host.Errorf(host.EINVALID, "targets: unknown metric %q", name)
		}
		if t == nil {
			delete(targets, name)
			continue
		}
		if t.Min == nil && t.Max == nil {
			return host.Errorf(host.EINVALID, "targets.%s needs min, max or both", name)
		}
		var out Target
		for _, b := range []struct {
			v   *float64
			dst **float64
			end string
		}{{t.Min, &out.Min, "min"}, {t.Max, &out.Max, "max"}} {
			if b.v == nil {
				continue
			}
			v, err := metric.Normalize(name, *b.v, t.Unit)
			if err != nil {
				return host.Errorf(host.EINVALID, "targets.%s.%s: %v", name, b.end, err)
			}
			if metric.Check(name, v) == metric.Absurd {
				return host.Errorf(host.EINVALID, "targets.%s.%s = %g %s is outside what %s can be (%g…%g)", name, b.end, v, info.Unit, name, info.Min, info.Max)
			}
			*b.dst = &v
		}
		if out.Min != nil && out.Max != nil && *out.Min > *out.Max {
			return host.Errorf(host.EINVALID, "targets.%s: min is above max", name)
		}
		targets[name] = out
	}
	return nil
}
