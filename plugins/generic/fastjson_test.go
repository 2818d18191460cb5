package generic

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/poolhost/poolhost/sdk"
)

// fastCases are payloads in wire form; fast says whether decodeFast must take them.
var fastCases = []struct {
	body string
	fast bool
}{
	{`{"device_id":"d1","readings":[{"metric":"ph","value":7.2,"unit":"pH","recorded_at":"2026-03-01T12:00:00Z"},{"metric":"orp","value":-0.5e+2,"unit":"mV","recorded_at":"2026-03-01T12:00:00Z","quality":"suspect","qualifier":"above"}]}`, true},
	{` [ {"device_id" : "d1" , "readings" : [ ] } , {"readings":[{"metric":"salt","value":0}]} ] `, true},
	{`[]`, true},
	{`{}`, true},
	{`{"device_id":"d1","readings":[{}]}`, true},
	{`{"device_id":"dé","readings":[{"metric":"x","value":1E3,"unit":"made-up unit"}]}`, true},
	// keys out of their usual order, white space before a colon, a key that starts like
	// the one expected: the expected key's shortcut must not take them for it.
	{`{"device_id":"d1","readings":[{"value":1,"metric":"ph"},{"metric" :"orp","value" : 2},{"metricx":1,"metric":"salt","value":3}]}`, true},
	{`{"readings":[{"metric":"ph","value":1}],"device_id":"d1"}`, true},
	{`{"device_id":"d1","readings":[{"metric":"ph","metric":"orp","value":1}]}`, false},
	{`{"device_id":"d1","readings":[{"metric":"ph","value":1,"value":2}]}`, false},
	{`{"device_id":"d1","readings":[{"metric":"ph","Value":1}]}`, false},
	// encoding/json's to decode (and to refuse):
	{`{"Device_ID":"d1"}`, false},
	{`{"device_id":"d1","device_id":"d2"}`, false},
	{`{"seq":1,"device_id":"d1","extra":{"a":[true,false,null,-1.5e3,"\u00e9\n\"",{}],"b":[]},"readings":[{"metric":"ph","value":7,"note":"x"}]}`, true},
	{`{"DEVICE_ID":"d1"}`, false},
	{`{"device_\u0069d":"d1"}`, false},
	{"{\"\u212aey\":1}", false}, // not ASCII: Unicode folding is encoding/json's
	{`{"extra":"\x"}`, false},
	{`{"extra":tru}`, false},
	{`{"extra":[1,]}`, false},
	{`{"readings":[{"Metric":"ph"}]}`, false},
	{`{"device_id":null}`, false},
	{`{"device_id":"d\u00e9"}`, false},
	{`{"device_id":"d1","readings":[{"metric":"ph","value":null}]}`, false},
	{`{"device_id":"d1","readings":[{"metric":"ph","value":"7"}]}`, false},
	{`{"device_id":"d1","readings":[{"metric":"ph","value":01}]}`, false},
	{`{"device_id":"d1","readings":[{"metric":"ph","value":+1}]}`, false},
	{`{"device_id":"d1","readings":[{"metric":"ph","value":1e999}]}`, false},
	{`{"device_id":"d1","readings":null}`, false},
	{`{"device_id":"d1","test_sessions":[]}`, false},
	{`{"device_id":"d1"} x`, false},
	{`[{"device_id":"d1"},]`, false},
	{`[null]`, false},
	{"{\"device_id\":\"\xff\"}", false},
	{`{"device_id":"d1"`, false},
}

// slow is what encoding/json decodes body to, as decodeReports calls it (body trimmed).
func slow(body []byte) ([]Report, error) {
	var reports []Report
	if body[0] == '[' {
		err := json.Unmarshal(body, &reports)
		return reports, err
	}
	reports = make([]Report, 1)
	err := json.Unmarshal(body, &reports[0])
	return reports, err
}

// TestFastKeysAreEveryField: decodeFast skips a key it does not know, so it must know
// every key encoding/json would decode.
func TestFastKeysAreEveryField(t *testing.T) {
	for _, c := range []struct {
		v    any
		keys []string
	}{{Report{}, reportKeys}, {ReportReading{}, readingKeys}} {
		typ := reflect.TypeOf(c.v)
		var tags []string
		for i := range typ.NumField() {
			tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			tags = append(tags, tag)
		}
		if !reflect.DeepEqual(tags, c.keys) {
			t.Errorf("%s's json keys are %q, decodeFast knows %q", typ.Name(), tags, c.keys)
		}
	}
}

func TestDecodeFastEqualsEncodingJSON(t *testing.T) {
	for _, c := range fastCases {
		var fast []Report
		took := decodeFast(bytes.TrimSpace([]byte(c.body)), &fast)
		if took != c.fast {
			t.Errorf("%s: fast path taken: %v, want %v", c.body, took, c.fast)
		}
		want, err := slow(bytes.TrimSpace([]byte(c.body)))
		if took && (err != nil || !reflect.DeepEqual(fast, want)) {
			t.Errorf("%s: fast path decoded %+v, encoding/json %+v (%v)", c.body, fast, want, err)
		}
	}
}

// TestDecodeReportsReusesStorage: a delivery decoded fast into storage an earlier one
// (fast or not) left behind keeps nothing of it.
func TestDecodeReportsReusesStorage(t *testing.T) {
	var into []Report
	for _, c := range fastCases {
		for _, d := range fastCases {
			if _, err := decodeReports([]byte(c.body), &into); err != nil {
				continue
			}
			got, err := decodeReports([]byte(d.body), &into)
			want, werr := slow(bytes.TrimSpace([]byte(d.body)))
			if (err == nil) != (werr == nil) {
				t.Fatalf("%s after %s: error %v, encoding/json's %v", d.body, c.body, err, werr)
			}
			if err == nil && !equalReports(got, want) {
				t.Fatalf("%s after %s: decoded %+v, encoding/json %+v", d.body, c.body, got, want)
			}
		}
	}
}

// equalReports compares what Webhook reads: lengths and values, a NaN value as absent.
func equalReports(a, b []Report) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.DeviceID != y.DeviceID || len(x.Readings) != len(y.Readings) || len(x.TestSessions) != len(y.TestSessions) {
			return false
		}
		for j := range x.Readings {
			r, s := x.Readings[j], y.Readings[j]
			if present(r.Value) != present(s.Value) || present(r.Value) && *r.Value != *s.Value {
				return false
			}
			r.Value, s.Value = nil, nil
			if r != s {
				return false
			}
		}
	}
	return true
}

func FuzzDecodeFast(f *testing.F) {
	for _, c := range fastCases {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		body = bytes.TrimSpace(body) // as decodeReports hands it over
		if len(body) == 0 {
			return
		}
		var fast []Report
		if !decodeFast(body, &fast) {
			return
		}
		want, err := slow(body)
		if err != nil {
			t.Fatalf("fast path took what encoding/json refuses (%v): %+v", err, fast)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("fast path decoded %+v, encoding/json %+v", fast, want)
		}
	})
}

// TestNumberEqualsParseFloat: the exact shortcut for plain decimals gives what
// strconv.ParseFloat (encoding/json's) gives, to the bit, and sign of zero included.
func TestNumberEqualsParseFloat(t *testing.T) {
	nums := []string{"0", "-0", "0.0", "-0.0", "7.4", "700", "27.5", "-12.25", "0.1", "0.3", "3200",
		"123456789012345", "12345678901234.5", "0.000000000000001", "999999999999999", "1234567890123456",
		"9007199254740993", "0.00000000000000000000001", "1.7976931348623157", "5e-324", "1e22", "1.5E3"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		whole := strconv.FormatUint(rng.Uint64N(1_000_000_000), 10)
		frac := strconv.FormatUint(rng.Uint64N(1_000_000), 10)
		nums = append(nums, whole+"."+strings.Repeat("0", rng.IntN(8))+frac)
	}
	for _, n := range nums {
		want, err := strconv.ParseFloat(n, 64)
		if err != nil {
			t.Fatal(err)
		}
		s := scanner{b: []byte(n)}
		got, ok := s.number()
		if !ok || s.i != len(n) || math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("%s: %v (%v), ParseFloat %v", n, got, ok, want)
		}
	}
}

// TestInternTable: the table finds every interned string, as the string interned (the
// same bytes in memory, not a copy), and nothing else.
func TestInternTable(t *testing.T) {
	for s := range interned {
		if s == "" {
			continue
		}
		got, ok := internedTable.find([]byte(s))
		if !ok || got != s || unsafe.StringData(got) != unsafe.StringData(interned[s]) {
			t.Errorf("find(%q) = %q, %v; want the interned string", s, got, ok)
		}
	}
	for _, s := range []string{"", "bench-dev-1", "PH", "ph ", "p", "free_chlorinE", "2026-12-07T08:00:00Z"} {
		if got, ok := internedTable.find([]byte(s)); ok {
			t.Errorf("find(%q) = %q, true; it is not interned", s, got)
		}
	}
}

// TestQuality: the quality names the format has, and nothing else (not another case,
// not with spaces).
func TestQuality(t *testing.T) {
	for in, want := range map[string]sdk.Quality{"": sdk.QualityUnknown, "good": sdk.QualityGood, "suspect": sdk.QualitySuspect, "out_of_range": sdk.QualityOutOfRange} {
		if q, ok := quality(in); !ok || q != want {
			t.Errorf("quality(%q) = %q, %v; want %q", in, q, ok, want)
		}
	}
	for _, in := range []string{"Good", "good ", "unknown", "bad"} {
		if q, ok := quality(in); ok {
			t.Errorf("quality(%q) = %q, true; want refused", in, q)
		}
	}
}
