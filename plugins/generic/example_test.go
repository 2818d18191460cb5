package generic_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/poolhost/poolhost/plugins/generic"
	"github.com/poolhost/poolhost/sdk/signature"
)

// A device (or gateway script) written in Go builds a report, signs it with the secret
// its poolhost account was given at connect, and POSTs it to the account's webhook URL.
func ExampleReport() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // from the account's linkage
	ph := 7.4
	body, _ := json.Marshal(generic.Report{
		DeviceID: "pool-probe-1",
		Readings: []generic.ReportReading{{Metric: "ph", Value: &ph, RecordedAt: "2026-01-01T00:00:00Z"}},
	})

	signer, err := signature.NewStandardWebhooks(secret)
	if err != nil {
		panic(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "https://poolhost.example/v1/webhooks/generic/accounts/acc-1", bytes.NewReader(body))
	// Reuse the same id when retrying a delivery: it is the idempotency key.
	for k, v := range signer.Headers("msg_2026-01-01T00:00:00Z_1", time.Now(), body) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")

	fmt.Println(string(body))
	fmt.Println(req.Header.Get("webhook-id") != "", req.Header.Get("webhook-signature")[:3])
	// Output:
	// {"device_id":"pool-probe-1","readings":[{"metric":"ph","value":7.4,"recorded_at":"2026-01-01T00:00:00Z"}]}
	// true v1,
}
