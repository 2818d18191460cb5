package pools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk/metric"
)

// field is one config setting of an equipment kind: a number in [min, max] (integer
// when whole), a boolean, or one of a list of words.
type field struct {
	min, max float64
	whole    bool
	boolean  bool
	words    []string
}

func num(lo, hi float64) field   { return field{min: lo, max: hi} }
func count(lo, hi float64) field { return field{min: lo, max: hi, whole: true} }
func words(w ...string) field    { return field{words: w} }

var flag = field{boolean: true}

// EquipmentKinds are the kinds and their config settings. Configuration only: what a
// piece of equipment is and how it is set up, never what it measured.
var EquipmentKinds = map[string]map[string]field{
	"pump":        {"powerWatts": num(1, 20000), "speeds": count(1, 100), "variableSpeed": flag, "flowM3PerHour": num(0.1, 1000)},
	"filter":      {"media": words("sand", "glass", "cartridge", "diatomaceous_earth", "zeolite", "other"), "areaM2": num(0.01, 100)},
	"heater":      {"powerWatts": num(1, 200000), "fuel": words("gas", "electric", "oil", "solar", "wood", "other")},
	"heat_pump":   {"powerWatts": num(1, 200000), "cop": num(1, 20)},
	"chlorinator": {"outputGramsPerHour": num(0.1, 1000), "chemical": words("tablets", "liquid", "granular", "other")},
	"salt_cell":   {"outputGramsPerHour": num(0.1, 1000), "maxSaltPpm": num(100, 60000)},
	"dosing_pump": {"chemical": words("chlorine", "ph_minus", "ph_plus", "acid", "flocculant", "algaecide", "bromine", "other"), "flowLitersPerHour": num(0.01, 1000)},
	"uv":          {"powerWatts": num(1, 10000), "lampHours": count(1, 100000)},
	"cleaner":     {"type": words("robotic", "suction", "pressure", "manual", "other")},
	"other":       {"description": {}},
}

// Equipment is a piece of pool equipment.
type Equipment struct {
	ID        int64           `json:"id"`
	PoolID    int64           `json:"poolId"`
	Kind      string          `json:"kind"`
	Name      string          `json:"name"`
	Config    json.RawMessage `json:"config"`
	CreatedAt time.Time       `json:"createdAt"`
	UpdatedAt time.Time       `json:"updatedAt"`
}

func equipmentOf(e store.Equipment) Equipment {
	return Equipment{ID: e.ID, PoolID: e.PoolID, Kind: e.Kind, Name: e.Name, Config: json.RawMessage(e.Config),
		CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC()}
}

// measuredWords name measured values: a setting called so is a measurement sent to the
// wrong place, answered with a problem saying where it belongs.
var measuredWords = []string{"value", "reading", "measured", "measurement", "current", "actual", "level"}

// checkConfig validates an equipment config against its kind.
func checkConfig(kind string, raw json.RawMessage) (store.RawJSON, error) {
	fields, ok := EquipmentKinds[kind]
	if !ok {
		kinds := make([]string, 0, len(EquipmentKinds))
		for k := range EquipmentKinds {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		return nil, host.Errorf(host.EINVALID, "kind must be one of %s", strings.Join(kinds, ", "))
	}
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		return store.RawJSON("{}"), nil
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, host.Errorf(host.EINVALID, "config must be a JSON object")
	}
	for key, v := range in {
		lower := strings.ToLower(key)
		if _, isMetric := metric.Lookup(lower); isMetric || slices.ContainsFunc(measuredWords, func(w string) bool { return strings.Contains(lower, w) }) {
			return nil, host.Errorf(host.EINVALID, "config.%s looks like a measured value: equipment holds configuration only; "+
				"measurements belong in sensor readings or a test session (POST /v1/pools/{poolId}/test-sessions)", key)
		}
		f, ok := fields[key]
		if !ok {
			names := make([]string, 0, len(fields))
			for n := range fields {
				names = append(names, n)
			}
			sort.Strings(names)
			return nil, host.Errorf(host.EINVALID, "config.%s is not a setting of a %s (it has %s)", key, kind, strings.Join(names, ", "))
		}
		if err := f.check(key, v); err != nil {
			return nil, err
		}
	}
	out, err := json.Marshal(in)
	return out, err
}

func (f field) check(key string, raw json.RawMessage) error {
	switch {
	case f.boolean:
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return host.Errorf(host.EINVALID, "config.%s must be true or false", key)
		}
	case f.words != nil:
		var w string
		if json.Unmarshal(raw, &w) != nil || !slices.Contains(f.words, w) {
			return host.Errorf(host.EINVALID, "config.%s must be one of %s", key, strings.Join(f.words, ", "))
		}
	case f.max > 0:
		var n float64
		if json.Unmarshal(raw, &n) != nil || n < f.min || n > f.max || (f.whole && n != math.Trunc(n)) {
			kind := "a number"
			if f.whole {
				kind = "a whole number"
			}
			return host.Errorf(host.EINVALID, "config.%s must be %s from %g to %g", key, kind, f.min, f.max)
		}
	default: // free text
		var s string
		if json.Unmarshal(raw, &s) != nil || len(s) > 500 {
			return host.Errorf(host.EINVALID, "config.%s must be text of at most 500 characters", key)
		}
		return host.CheckText("config."+key, s, true)
	}
	return nil
}

// EquipmentInput is a create or update body.
type EquipmentInput struct {
	Kind   string          `json:"kind"`
	Name   string          `json:"name"`
	Config json.RawMessage `json:"config"`
}

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if len(name) > MaxNameLength {
		return "", host.Errorf(host.EINVALID, "name must be at most %d characters", MaxNameLength)
	}
	return name, host.CheckText("name", name, false)
}

// CreateEquipment adds equipment to a pool. Owners and editors.
func (s *Service) CreateEquipment(ctx context.Context, a auth.Actor, poolID int64, in EquipmentInput) (Equipment, error) {
	if _, err := s.Require(ctx, a, poolID, Editor); err != nil {
		return Equipment{}, err
	}
	cfg, err := checkConfig(in.Kind, in.Config)
	if err != nil {
		return Equipment{}, err
	}
	name, err := checkName(in.Name)
	if err != nil {
		return Equipment{}, err
	}
	e, err := s.st.CreateEquipment(ctx, poolID, in.Kind, name, cfg)
	if err != nil {
		return Equipment{}, err
	}
	s.recordEquipment(ctx, a, poolID, e.ID, "created")
	return equipmentOf(e), nil
}

// ListEquipment lists a pool's equipment. Any member.
func (s *Service) ListEquipment(ctx context.Context, a auth.Actor, poolID int64) ([]Equipment, error) {
	if _, err := s.Require(ctx, a, poolID, Viewer); err != nil {
		return nil, err
	}
	es, err := s.st.ListEquipment(ctx, poolID)
	if err != nil {
		return nil, err
	}
	out := make([]Equipment, 0, len(es))
	for _, e := range es {
		out = append(out, equipmentOf(e))
	}
	return out, nil
}

func notFoundEquipment(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return host.Wrap(host.ENOTFOUND, err, "no such equipment")
	}
	return err
}

// GetEquipment returns one piece of equipment. Any member.
func (s *Service) GetEquipment(ctx context.Context, a auth.Actor, poolID, id int64) (Equipment, error) {
	if _, err := s.Require(ctx, a, poolID, Viewer); err != nil {
		return Equipment{}, err
	}
	e, err := s.st.GetEquipment(ctx, poolID, id)
	if err != nil {
		return Equipment{}, notFoundEquipment(err)
	}
	return equipmentOf(e), nil
}

// UpdateEquipment changes a piece of equipment's name and/or config (the kind stays).
// Owners and editors.
func (s *Service) UpdateEquipment(ctx context.Context, a auth.Actor, poolID, id int64, patch map[string]json.RawMessage) (Equipment, error) {
	if _, err := s.Require(ctx, a, poolID, Editor); err != nil {
		return Equipment{}, err
	}
	e, err := s.st.GetEquipment(ctx, poolID, id)
	if err != nil {
		return Equipment{}, notFoundEquipment(err)
	}
	name, cfg := e.Name, e.Config
	for key, raw := range patch {
		switch key {
		case "name":
			var n string
			if json.Unmarshal(raw, &n) != nil {
				return Equipment{}, host.Errorf(host.EINVALID, "name must be a string")
			}
			if name, err = checkName(n); err != nil {
				return Equipment{}, err
			}
		case "config":
			if cfg, err = checkConfig(e.Kind, raw); err != nil {
				return Equipment{}, err
			}
		case "kind":
			var k string
			if json.Unmarshal(raw, &k) != nil || k != e.Kind {
				return Equipment{}, host.Errorf(host.EINVALID, "kind cannot change: delete the equipment and add it again")
			}
		default:
			return Equipment{}, host.Errorf(host.EINVALID, "unknown field %q: equipment has name and config", key)
		}
	}
	up, err := s.st.UpdateEquipment(ctx, poolID, id, name, cfg)
	if err != nil {
		return Equipment{}, notFoundEquipment(err)
	}
	s.recordEquipment(ctx, a, poolID, id, "updated")
	return equipmentOf(up), nil
}

// DeleteEquipment removes a piece of equipment. Owners and editors.
func (s *Service) DeleteEquipment(ctx context.Context, a auth.Actor, poolID, id int64) error {
	if _, err := s.Require(ctx, a, poolID, Editor); err != nil {
		return err
	}
	if err := s.st.DeleteEquipment(ctx, poolID, id); err != nil {
		return notFoundEquipment(err)
	}
	s.recordEquipment(ctx, a, poolID, id, "deleted")
	return nil
}

func (s *Service) recordEquipment(ctx context.Context, a auth.Actor, poolID, id int64, what string) {
	s.audit.Record(ctx, audit.Entry{
		Action: audit.EquipmentChanged, Actor: a, TargetType: "pool", TargetID: strconv.FormatInt(poolID, 10),
		Details: map[string]any{"equipmentId": id, "change": what},
	})
}
