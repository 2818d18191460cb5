package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestCommandTakesOneIdempotencyKey: a command's Idempotency-Key is what keeps an
// actuator's send at most once, so a request carrying two is refused (400) before
// anything is queued: the host deduped on the first while a proxy, a gateway adding a
// key of its own, or the client's log could go by the other.
func TestCommandTakesOneIdempotencyKey(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{ingest: true})
		f := e.fixture()
		body := `{"command": "pump.set", "params": {"on": true}}`
		hr, err := http.NewRequest("POST", e.srv.URL+fmt.Sprintf("/v1/pools/%d/equipment/%d/commands", f.pool, f.equip), strings.NewReader(body))
		must(t, err)
		hr.Header.Set("Authorization", "Bearer "+f.users["owner"].Token)
		hr.Header.Set("Content-Type", "application/json")
		hr.Header.Add("Idempotency-Key", "first")
		hr.Header.Add("Idempotency-Key", "second")
		resp, err := (&http.Client{Transport: specTransport{t: t, base: http.DefaultTransport}}).Do(hr)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("two Idempotency-Key headers: %d %s, want a 400 problem", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		// One key is the usual request (the fixture's equipment is bound to nothing: 409).
		e.must(409, req{method: "POST", path: fmt.Sprintf("/v1/pools/%d/equipment/%d/commands", f.pool, f.equip),
			token: f.users["owner"].Token, body: body, header: map[string]string{"Idempotency-Key": "one"}})
	})
}
