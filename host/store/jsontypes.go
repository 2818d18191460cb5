package store

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// JSON columns are JSONB on PostgreSQL and TEXT on SQLite; drivers hand them back as
// []byte or string. These types scan either and write JSON text, which both engines
// accept (PostgreSQL casts the untyped parameter to jsonb).

func scanJSON(src any, dst any) error {
	var b []byte
	switch s := src.(type) {
	case nil:
		return nil
	case []byte:
		b = s
	case string:
		b = []byte(s)
	default:
		return fmt.Errorf("scan json: unsupported type %T", src)
	}
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, dst)
}

func jsonValue(v any) (driver.Value, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// Metadata is a device's free-form string attributes.
type Metadata map[string]string

func (m *Metadata) Scan(src any) error { *m = nil; return scanJSON(src, m) }

func (m Metadata) Value() (driver.Value, error) {
	if m == nil {
		return "{}", nil
	}
	return jsonValue(map[string]string(m))
}

// PoolSuggestion is a provider's suggestion for the configuration of the pool a device
// measures (sdk.PoolSuggestion), kept with the device until a user accepts it.
type PoolSuggestion struct {
	VolumeLiters float64 `json:"volumeLiters,omitempty"`
	Kind         string  `json:"kind,omitempty"`
	Location     string  `json:"location,omitempty"`
	Sanitizer    string  `json:"sanitizer,omitempty"`
}

// Suggestion is the nullable JSON column holding a *PoolSuggestion.
type Suggestion struct{ *PoolSuggestion }

func (s *Suggestion) Scan(src any) error {
	s.PoolSuggestion = nil
	var p PoolSuggestion
	if src == nil {
		return nil
	}
	if err := scanJSON(src, &p); err != nil {
		return err
	}
	s.PoolSuggestion = &p
	return nil
}

func (s Suggestion) Value() (driver.Value, error) {
	if s.PoolSuggestion == nil {
		return nil, nil
	}
	return jsonValue(s.PoolSuggestion)
}

// Headers are HTTP headers kept with a failed delivery (http.Header converts to it).
type Headers map[string][]string

func (h *Headers) Scan(src any) error { *h = nil; return scanJSON(src, h) }

func (h Headers) Value() (driver.Value, error) {
	if h == nil {
		return "{}", nil
	}
	return jsonValue(map[string][]string(h))
}

// Details are an audit event's extra fields.
type Details map[string]any

func (d *Details) Scan(src any) error { *d = nil; return scanJSON(src, d) }

func (d Details) Value() (driver.Value, error) {
	if d == nil {
		return "{}", nil
	}
	if b, ok := appendPlainJSON(make([]byte, 0, 256), d); ok {
		return string(b), nil
	}
	return jsonValue(map[string]any(d))
}

// appendPlainJSON appends d to b exactly as json.Marshal writes it, when every value is
// an int, an int64, a string or a map[string]int and every string is plain (see
// plainJSON); ok is false otherwise, and the caller marshals. Every webhook delivery
// writes such an audit row (webhook.received): json.Marshal's reflection over its
// details is 11 allocations, this is 3 (testing.AllocsPerRun).
func appendPlainJSON(b []byte, d map[string]any) (_ []byte, ok bool) {
	b = append(b, '{')
	for i, k := range sortedKeys(d) { // json.Marshal sorts map keys too
		if !plainJSON(k) {
			return nil, false
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), k...), '"', ':')
		switch v := d[k].(type) {
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case string:
			if !plainJSON(v) {
				return nil, false
			}
			b = append(append(append(b, '"'), v...), '"')
		case map[string]int:
			if v == nil {
				b = append(b, "null"...)
				continue
			}
			b = append(b, '{')
			for j, kk := range sortedKeys(v) {
				if !plainJSON(kk) {
					return nil, false
				}
				if j > 0 {
					b = append(b, ',')
				}
				b = append(append(append(b, '"'), kk...), '"', ':')
				b = strconv.AppendInt(b, int64(v[kk]), 10)
			}
			b = append(b, '}')
		default:
			return nil, false
		}
	}
	return append(b, '}'), true
}

// sortedKeys is m's keys in order, in one allocation (slices.Sorted(maps.Keys(m))
// grows its slice as it goes).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// plainJSON reports whether json.Marshal writes s between quotes as it is: printable
// ASCII without the quote, the backslash and the characters it escapes for HTML.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// ErrorHistory is a failure's list of past errors, oldest first.
type ErrorHistory []FailureError

// FailureError is one failed attempt.
type FailureError struct {
	At      string `json:"at"` // RFC 3339
	Attempt int    `json:"attempt"`
	Error   string `json:"error"`
}

func (e *ErrorHistory) Scan(src any) error { *e = nil; return scanJSON(src, e) }

// RawJSON is a JSON document kept as is (equipment config). It marshals as raw JSON.
type RawJSON []byte

func (r *RawJSON) Scan(src any) error {
	switch s := src.(type) {
	case nil:
		*r = nil
	case []byte:
		*r = append(RawJSON(nil), s...)
	case string:
		*r = RawJSON(s)
	default:
		return fmt.Errorf("scan json: unsupported type %T", src)
	}
	return nil
}

func (r RawJSON) Value() (driver.Value, error) {
	if len(r) == 0 {
		return "{}", nil
	}
	if !json.Valid(r) {
		return nil, fmt.Errorf("%w: not JSON", ErrInvalid)
	}
	return string(r), nil
}

// MarshalJSON emits r unchanged ({} when empty).
func (r RawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("{}"), nil
	}
	return r, nil
}

// UnmarshalJSON keeps the document as is.
func (r *RawJSON) UnmarshalJSON(b []byte) error {
	*r = append(RawJSON(nil), b...)
	return nil
}
