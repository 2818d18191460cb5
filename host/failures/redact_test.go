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
