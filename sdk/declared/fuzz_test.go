package declared_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/declared"
)

// FuzzParse: whatever a user types at connect, Parse either refuses it as invalid input
// or returns distinct, well-formed ids that survive the Join/Parse round trip the
// credentials take.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "probe-1", "probe-1, probe-2 ,probe-1", " , ,", "a:b.c_d-e", "probe 1", "é", "a,\x00",
		strings.Repeat("x", declared.MaxIDLen+1), strings.Repeat("d,", declared.MaxDevices+1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		ids, err := declared.Parse(list)
		if err != nil {
			if !sdk.IsKind(err, sdk.KindInvalidInput) {
				t.Fatalf("Parse(%q) error %v is not invalid input", list, err)
			}
			return
		}
		if len(ids) > declared.MaxDevices {
			t.Fatalf("Parse(%q) returned %d ids", list, len(ids))
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if id == "" || len(id) > declared.MaxIDLen || seen[id] || strings.ContainsAny(id, ", \t\n") {
				t.Fatalf("Parse(%q) returned bad or repeated id %q", list, id)
			}
			seen[id] = true
		}
		again, err := declared.Parse(declared.Join(ids))
		if err != nil || !slices.Equal(again, ids) {
			t.Fatalf("round trip of %q: %q, %v", ids, again, err)
		}
		devs, err := declared.Devices(declared.Join(ids), "m")
		if err != nil || len(devs) != len(ids) {
			t.Fatalf("Devices: %d devices, %v", len(devs), err)
		}
	})
}
