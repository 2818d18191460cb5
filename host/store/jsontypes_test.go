package store

import (
	"encoding/json"
	"testing"
)

// Details.Value writes the audit details of a delivery without json.Marshal when it
// can (appendPlainJSON); the text must be json.Marshal's to the byte, since SQLite
// keeps it as written.
func TestDetailsValueIsJSONMarshal(t *testing.T) {
	for _, d := range []Details{
		{},
		{"readings": 10, "accepted": 10, "duplicates": 0, "delivery_id": "msg_drill_1", "account_id": int64(42)},
		{"readings": -1, "big": int64(-9223372036854775808), "z": "", "a": "x y.z:1_2-3/4"},
		{"dropped": map[string]int{"unknown_metric": 2, "bad_unit": 1}, "readings": 3},
		{"dropped": map[string]int{}, "nil_dropped": map[string]int(nil)},
		// What json.Marshal escapes, or writes otherwise: marshalled.
		{"html": "<script>&"},
		{"quote": `say "hi"`, "backslash": `a\b`},
		{"newline": "a\nb", "unicode": "Ünïcödé", "sep": "\u2028"},
		{"invalid": "\xff"},
		{"<key>": 1},
		{"dropped": map[string]int{"a&b": 1}},
		{"float": 1.5, "bool": true, "nil": nil, "list": []string{"a"}},
		{"unowned_devices": map[string][]string{"unverified_device": {"d1"}}},
	} {
		got, err := d.Value()
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(map[string]any(d))
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("Details%v.Value() = %s, json.Marshal = %s", map[string]any(d), got, want)
		}
	}
}
