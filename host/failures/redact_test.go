package failures_test

import (
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/store"
)

func TestInspectRedacts(t *testing.T) {
	f := store.Failure{
		Headers: store.Headers{
			"Content-Type":      {"application/json"},
			"Webhook-Signature": {"v1,abc"},
			"X-Api-Key":         {"k"},
			"Webhook-Id":        {"msg_1"},
		},
		Payload: []byte(`{"device_id":"d1","api_key":"sk_live_1","nested":[{"access_token":"t","value":7.4}]}`),
	}
	in := failures.Inspect(f)
	var got []string
	for _, h := range in.Headers {
		got = append(got, h.Name+"="+strings.Join(h.Values, ","))
	}
	if strings.Join(got, " ") != "Content-Type=application/json Webhook-Id=msg_1 Webhook-Signature=[redacted] X-Api-Key=[redacted]" {
		t.Errorf("headers %v", got)
	}
	if !in.JSON || in.Redacted != 2 || strings.Contains(in.Payload, "sk_live_1") || strings.Contains(in.Payload, `"t"`) ||
		!strings.Contains(in.Payload, `"device_id": "d1"`) || !strings.Contains(in.Payload, "7.4") {
		t.Errorf("payload (%d redacted):\n%s", in.Redacted, in.Payload)
	}

	if in := failures.Inspect(store.Failure{Payload: []byte("not json")}); in.JSON || in.Payload != "not json" {
		t.Errorf("text payload: %+v", in)
	}
	if in := failures.Inspect(store.Failure{Payload: []byte{0xff, 0xfe, 0}}); !in.Binary || in.Payload != "" {
		t.Errorf("binary payload: %+v", in)
	}
}

// TestInspectRedactsWhatIsNotJSON: a dead letter is often a payload that does not parse
// (truncated, trailing bytes, nested deeper than the decoder goes), and such a payload
// was shown as it was, its tokens and keys included. Its sensitive values are redacted
// all the same, JSON-like ("name": value) and form-like (name=value); the rest is
// shown.
func TestInspectRedactsWhatIsNotJSON(t *testing.T) {
	deep := `{"device_id":"d9","x":` + strings.Repeat("[", 20000) + `{"refresh_token":"rt_deep"}` + strings.Repeat("]", 20000) + `}`
	for _, tc := range []struct {
		name, payload string
		secrets       []string
		kept          []string
	}{
		{"truncated", `{"device_id":"d1","access_token":"tok_123","reading":{"ph":7.4},"api_key":"sk_live_9`, []string{"tok_123", "sk_live_9"}, []string{`"device_id":"d1"`, "7.4"}},
		{"trailing bytes", `{"device_id":"d2","client_secret" : "cs_abc\"q"} junk`, []string{"cs_abc"}, []string{`"device_id":"d2"`, "junk"}},
		{"number and literal values", `{"session_id": 1234567, "password":true, "n": 5,`, []string{"1234567", "true"}, []string{`"n": 5`}},
		{"form", `device=d3&access_token=tok_form&value=7.1`, []string{"tok_form"}, []string{"device=d3", "value=7.1"}},
		{"credentials", `{"device_id":"d4","credentials":"user:pw_77","passwd":"pw_88"`, []string{"pw_77", "pw_88"}, []string{`"device_id":"d4"`}},
		{"too deep to parse", deep, []string{"rt_deep"}, []string{`"device_id":"d9"`}},
	} {
		in := failures.InspectAll(store.Failure{Payload: []byte(tc.payload)})
		for _, s := range tc.secrets {
			if strings.Contains(in.Payload, s) {
				t.Errorf("%s: %q shown: %.200s", tc.name, s, in.Payload)
			}
		}
		for _, k := range tc.kept {
			if !strings.Contains(in.Payload, k) {
				t.Errorf("%s: %q not shown: %.200s", tc.name, k, in.Payload)
			}
		}
		if in.JSON || in.Redacted != len(tc.secrets) || !strings.Contains(in.Payload, failures.Redacted) {
			t.Errorf("%s: JSON %v, %d redacted, want %d", tc.name, in.JSON, in.Redacted, len(tc.secrets))
		}
	}
}
