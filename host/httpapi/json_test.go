package httpapi_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/httpapi"
)

// TestDecodeJSONSaysWhatIsWrong: a body refused by DecodeJSON is answered with what was
// wrong in it — the unknown field and the ones the route takes, the field of the wrong
// type and the type it needs, where the JSON breaks — never just "not valid".
func TestDecodeJSONSaysWhatIsWrong(t *testing.T) {
	type result struct {
		Metric string  `json:"metric"`
		Value  float64 `json:"value"`
	}
	type body struct {
		PoolID  int64     `json:"poolId"`
		Name    string    `json:"name,omitempty"`
		At      time.Time `json:"at"`
		Results []result  `json:"results"`
		Flag    bool      `json:"flag"`
		Input   map[string]string
		ignored int
	}
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`{"pool_id": 1}`, []string{`unknown field "pool_id"`, "poolId, name, at, results, flag, Input"}},
		{`{"poolId": "1"}`, []string{`"poolId" must be a whole number, not a string`}},
		{`{"poolId": 1.5}`, []string{`"poolId" must be a whole number`}},
		{`{"poolId": 1e30}`, []string{`"poolId" must be a whole number within range`}},
		{`{"name": ["x"]}`, []string{`"name" must be a string, not an array`}},
		{`{"flag": 1}`, []string{`"flag" must be true or false, not a number`}},
		{`{"results": {}}`, []string{`"results" must be an array, not an object`}},
		{`{"results": [{"value": "7"}]}`, []string{`"results.value" must be a number, not a string`}},
		{`{"Input": {"a": 1}}`, []string{`"Input" must be an object whose values are strings; one is a number`}},
		{`{"at": "yesterday"}`, []string{"not RFC 3339", `"yesterday"`}},
		{`[1]`, []string{"must be a JSON object, not an array"}},
		{`null`, []string{"must be a JSON object, not null"}},
		{"{\"name\": \"caf\xe9\"}", []string{"not valid UTF-8", "byte at 13"}},
		// Half a surrogate pair, as an escape: encoding/json stored U+FFFD for it, as it
		// did for a bad byte, so the name kept was not the one sent.
		{`{"name": "Pool \ud83c"}`, []string{"half a UTF-16 surrogate pair", "byte 15"}},
		{`{"name": "\udfca pool"}`, []string{"half a UTF-16 surrogate pair", "byte 10"}},
		{`{"name": "\uD83C\u0041"}`, []string{"half a UTF-16 surrogate pair"}},
		{`{"results": [{"metric": "p\ud800h", "value": 1}]}`, []string{"half a UTF-16 surrogate pair"}},
		{`{"Input": {"k\udbff": "v"}}`, []string{"half a UTF-16 surrogate pair"}},
		{`{"poolId": 1`, []string{"ends before its JSON value is complete"}},
		{`{"poolId": 1,}`, []string{"not valid JSON", "byte 14"}},
		{`{"poolId": 1} {}`, []string{"more than one JSON value"}},
		{``, []string{"empty"}},
		{`{"poolId": 1, "name": "a", "poolId": 2}`, []string{`field "poolId" is given more than once`}},
		{`{"results": [{"metric": "ph", "value": 1, "metric": "orp"}]}`, []string{`field "metric" is given more than once`}},
		{`{"Input": {"a": "1"}, "results": [], "Input": {"a": "2"}}`, []string{`field "Input" is given more than once`}},
		{`{"` + strings.Repeat("x", 500) + `": 1}`, []string{`unknown field "xxxx`, "…"}},
		// A field has one spelling: encoding/json takes any case, so "PoolId" set poolId
		// where a proxy's rule reading "poolId" saw nothing, and a second spelling got
		// past the duplicate check (the host kept the last).
		{`{"PoolId": 7}`, []string{`unknown field "PoolId"`, "case-sensitive", `did you mean "poolId"`}},
		{`{"poolId": 1, "POOLID": 2}`, []string{`unknown field "POOLID"`, `did you mean "poolId"`}},
		{`{"results": [{"metric": "ph", "value": 1}, {"Metric": "orp", "value": 2}]}`, []string{`unknown field "Metric"`, `did you mean "metric"`}},
		{`{"input": {"a": "1"}}`, []string{`unknown field "input"`, `did you mean "Input"`}},
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tc.in))
		var v body
		err := httpapi.DecodeJSON(r, &v)
		if host.ErrorCode(err) != host.EINVALID {
			t.Errorf("%s: %v, want EINVALID", tc.in, err)
			continue
		}
		msg := host.ErrorMessage(err)
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%.40s: %q does not say %q", tc.in, msg, w)
			}
		}
		if len(msg) > 400 {
			t.Errorf("%.40s: a message of %d bytes", tc.in, len(msg))
		}
	}
	// The same name in different objects, or nested under itself, is no duplicate; a
	// map's keys in any case are no field.
	for _, ok := range []string{
		`{"results": [{"metric": "ph", "value": 1}, {"metric": "orp", "value": 2}]}`,
		`{"Input": {"Input": "x", "name": "y"}, "name": "z"}`,
		`{"results": [[], {}, {"metric": "ph"}], "flag": true}`,
		`{"Input": {"INPUT": "x", "input": "y", "Name": "z"}}`, // a map's keys are the client's own
	} {
		var v body
		if err := httpapi.DecodeJSON(httptest.NewRequest("POST", "/", strings.NewReader(ok)), &v); err != nil &&
			(strings.Contains(host.ErrorMessage(err), "more than once") || strings.Contains(host.ErrorMessage(err), "case-sensitive")) {
			t.Errorf("%s: %v", ok, err)
		}
	}
	// A whole pair, escaped or not, and text that only looks like an escape, are taken
	// as written.
	for in, want := range map[string]string{
		`{"name": "Pool \ud83c\udfca"}`:  "Pool 🏊",
		`{"name": "Pool \uD83C\uDFCA!"}`: "Pool 🏊!",
		`{"name": "Pool 🏊 \u00e9"}`:      "Pool 🏊 é",
		`{"name": "a\\ud800"}`:           `a\ud800`,
		`{"name": "\"\\\ud83c\udfca"}`:   `"\🏊`,
	} {
		var v body
		if err := httpapi.DecodeJSON(httptest.NewRequest("POST", "/", strings.NewReader(in)), &v); err != nil || v.Name != want {
			t.Errorf("%s: %q, %v; want %q", in, v.Name, err, want)
		}
	}
	// A map body (PATCH routes take one) has no fields to list.
	var m map[string]any
	err := httpapi.DecodeJSON(httptest.NewRequest("POST", "/", strings.NewReader(`"x"`)), &m)
	if msg := host.ErrorMessage(err); !strings.Contains(msg, "must be a JSON object, not a string") {
		t.Errorf("a string for a map body: %q", msg)
	}
}

// TestDecodeJSONRefusesMiscasedFieldsAlike: a body naming several fields in other case is
// refused for the same one every time. keyCase walked the body's keys in Go's map order,
// so the same request was answered 'unknown field "NAME"' once and 'unknown field
// "FLAG"' the next, which a client's retry, a log search or a golden test could not rely on.
func TestDecodeJSONRefusesMiscasedFieldsAlike(t *testing.T) {
	type body struct {
		PoolID int64  `json:"poolId"`
		Name   string `json:"name"`
		Flag   bool   `json:"flag"`
		Note   string `json:"note"`
	}
	const in = `{"NAME": "a", "POOLID": 1, "NOTE": "n", "FLAG": true}`
	seen := map[string]bool{}
	for range 40 {
		var v body
		seen[host.ErrorMessage(httpapi.DecodeJSON(httptest.NewRequest("POST", "/", strings.NewReader(in)), &v))] = true
	}
	if len(seen) != 1 {
		t.Fatalf("one body, %d refusals: %v", len(seen), seen)
	}
	for msg := range seen {
		if !strings.Contains(msg, `unknown field "FLAG"`) || !strings.Contains(msg, `did you mean "flag"`) {
			t.Errorf("refusal %q, want the first key in order, FLAG", msg)
		}
	}
}
