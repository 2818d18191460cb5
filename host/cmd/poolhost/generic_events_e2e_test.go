package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk/signature"
)

// TestGenericEventsEndToEnd drives the built host and the real generic plugin binary with
// deliveries in the payload structure Standard Webhooks recommends ({"type", "timestamp",
// "data"}): a report wrapped in data is stored; a ping and a test event, which carry no
// report, are answered 200 and kept nowhere (no dead letter for an operator to discard);
// a copy of a delivery under a new webhook-id stores nothing twice.
func TestGenericEventsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every binary; skipped in -short mode")
	}
	b := buildE2E(t)
	_, _, api := serveAsAdmin(t, b, nil)

	var pool struct{ ID int64 }
	api.must(http.StatusCreated, "POST", "/v1/pools", map[string]any{"name": "Backyard"}, &pool)
	var conn struct {
		Account struct{ ID int64 } `json:"account"`
		Webhook struct{ URL, Secret string }
	}
	api.must(http.StatusCreated, "POST", "/v1/providers/generic/connect", map[string]any{"input": map[string]string{"devices": "probe-1"}}, &conn)
	var disc struct{ Devices []struct{ ID int64 } }
	api.must(http.StatusOK, "POST", fmt.Sprintf("/v1/accounts/%d/discover", conn.Account.ID), nil, &disc)
	if len(disc.Devices) != 1 {
		t.Fatalf("discovered %+v", disc)
	}
	api.must(http.StatusOK, "PUT", fmt.Sprintf("/v1/devices/%d/link", disc.Devices[0].ID), map[string]any{"poolId": pool.ID}, nil)
	signer, err := signature.NewStandardWebhooks(conn.Webhook.Secret)
	if err != nil {
		t.Fatal(err)
	}
	post := func(id, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", conn.Webhook.URL, strings.NewReader(body))
		for k, v := range signer.Headers(id, time.Now(), []byte(body)) {
			req.Header[k] = v
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}

	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Second).Format(time.RFC3339)
	report := fmt.Sprintf(`{"device_id":"probe-1","readings":[{"metric":"ph","value":7.4,"recorded_at":%q},{"metric":"orp","value":705,"recorded_at":%q}]}`, at, at)
	for _, d := range []struct{ name, id, body, want string }{
		{"ping", "msg_ping", `{"type":"ping","timestamp":"` + at + `"}`, `"accepted":0`},
		{"test event", "msg_test", `{"type":"endpoint.test","timestamp":"` + at + `","data":{"message":"hello"}}`, `"accepted":0`},
		{"report in data", "msg_1", `{"type":"reading.created","timestamp":"` + at + `","data":` + report + `}`, `"accepted":2`},
		{"the same report under a new id", "msg_2", `{"type":"reading.created","timestamp":"` + at + `","data":` + report + `}`, `"duplicates":2`},
	} {
		if code, body := post(d.id, d.body); code != http.StatusOK || !strings.Contains(body, d.want) {
			t.Errorf("%s: %d %s, want 200 with %s", d.name, code, body, d.want)
		}
	}
	var readings struct{ Readings []json.RawMessage }
	api.must(http.StatusOK, "GET", fmt.Sprintf("/v1/pools/%d/readings", pool.ID), nil, &readings)
	if len(readings.Readings) != 2 {
		t.Errorf("stored readings %s, want ph and orp once", readings.Readings)
	}
	var failures struct{ Failures []json.RawMessage }
	api.must(http.StatusOK, "GET", "/v1/admin/failures", nil, &failures)
	if len(failures.Failures) != 0 {
		t.Errorf("dead letters or retries: %s", failures.Failures)
	}
}
