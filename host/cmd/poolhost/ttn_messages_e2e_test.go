package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ttnMessage is one application-layer message of The Things Stack for device dev, in
// the shape its webhooks send (the stack's ApplicationUp as JSON): field is the message
// type, inner its content.
func ttnMessage(dev, asUp string, at time.Time, field, inner string) string {
	return fmt.Sprintf(`{"end_device_ids":{"device_id":%q,"application_ids":{"application_id":"pool-app"},"dev_eui":"0004A30B001C0530"},`+
		`"correlation_ids":["gs:uplink:01JE2Q0000000000000000GS00","ns:uplink:01JE2Q0000000000000000NS00",%q],"received_at":%q,%q:%s}`,
		dev, asUp, at.Format(time.RFC3339Nano), field, inner)
}

// postTTN posts a message to an account's webhook URL and returns the status and body.
func postTTN(t *testing.T, base string, acct ttnAccount, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+acct.hookPath, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+acct.secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue is the value of one series of the host's /metrics, 0 when absent.
func metricValue(t *testing.T, base, series string) float64 {
	t.Helper()
	_, body := get(t, base+"/metrics", "")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	var v float64
	fmt.Sscan(string(m[1]), &v)
	return v
}

// TestTTNMessagesEndToEnd drives the built host and the real ttn plugin binary with the
// messages a webhook of The Things Stack sends besides uplinks. The stack publishes a
// location solved from the payload and one normalized uplink per measurement with the
// correlation ids of the uplink they derive from, before the uplink itself; a join
// accept and a downlink queued come on their own. Each is answered 200, none is taken
// for a replay nor kept as a dead letter, and the uplink's readings are stored once,
// however often the stack sends it.
func TestTTNMessagesEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every binary; skipped in -short mode")
	}
	b := buildE2E(t)
	c, _, api := serveAsAdmin(t, b, nil)

	var pool struct{ ID int64 }
	api.must(http.StatusCreated, "POST", "/v1/pools", map[string]any{"name": "Backyard"}, &pool)
	acct := api.connectTTN("pool-probe-1", "")
	api.must(http.StatusOK, "PUT", fmt.Sprintf("/v1/devices/%d/link", acct.deviceID), map[string]any{"poolId": pool.ID}, nil)

	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	const asUp = "as:up:01JE2Q7Z3XKQ9V8W1N5B6C7D8E"
	messages := []struct{ name, body string }{
		{"location solved from the payload", ttnMessage(acct.providerDevID, asUp, at, "location_solved",
			`{"service":"frm-payload","location":{"latitude":43.61,"longitude":5.31,"source":"SOURCE_GPS"}}`)},
		{"normalized uplink, first measurement", ttnMessage(acct.providerDevID, asUp, at, "uplink_normalized",
			fmt.Sprintf(`{"f_port":2,"f_cnt":41,"frm_payload":"AQID","normalized_payload":{"air":{"temperature":24.5}},"received_at":%q}`, at.Format(time.RFC3339Nano)))},
		{"normalized uplink, second measurement", ttnMessage(acct.providerDevID, asUp, at, "uplink_normalized",
			fmt.Sprintf(`{"f_port":2,"f_cnt":41,"frm_payload":"AQID","normalized_payload":{"air":{"relativeHumidity":61}},"received_at":%q}`, at.Format(time.RFC3339Nano)))},
		{"uplink", ttnMessage(acct.providerDevID, asUp, at, "uplink_message",
			fmt.Sprintf(`{"f_port":2,"f_cnt":41,"frm_payload":"AQID","decoded_payload":{"ph":7.31,"temp":26.5,"redox":702},"received_at":%q}`, at.Format(time.RFC3339Nano)))},
		{"the same uplink again", ttnMessage(acct.providerDevID, asUp, at, "uplink_message",
			fmt.Sprintf(`{"f_port":2,"f_cnt":41,"frm_payload":"AQID","decoded_payload":{"ph":7.31,"temp":26.5,"redox":702},"received_at":%q}`, at.Format(time.RFC3339Nano)))},
		{"join accept", ttnMessage(acct.providerDevID, "as:up:01JE2Q7Z3XKQ9V8W1N5B6C7D00", at, "join_accept",
			`{"session_key_id":"AXBSH1Pk6Z0G166z3zBjCg==","received_at":"`+at.Format(time.RFC3339Nano)+`"}`)},
		{"downlink queued", strings.Replace(ttnMessage(acct.providerDevID, "as:downlink:01JE2Q7Z3XKQ9V8W1N5B6C7D01", at, "downlink_queued",
			`{"f_port":10,"frm_payload":"AQ==","priority":"NORMAL","correlation_ids":["as:downlink:01JE2Q7Z3XKQ9V8W1N5B6C7D01"]}`), "gs:uplink", "rpc:push", 1)},
	}
	replays := `poolhost_webhook_replays_total{provider="ttn"}`
	for _, m := range messages {
		code, body := postTTN(t, c.baseURL, acct, m.body)
		if code != http.StatusOK {
			t.Errorf("%s: %d %s, want 200", m.name, code, body)
		}
		if m.name == "uplink" && !strings.Contains(body, `"accepted":3`) {
			t.Errorf("uplink: %s, want its 3 readings accepted", body)
		}
	}
	var readings struct {
		Readings []struct {
			Metric     string
			Value      float64
			RecordedAt time.Time `json:"recordedAt"`
		}
	}
	api.must(http.StatusOK, "GET", fmt.Sprintf("/v1/pools/%d/readings", pool.ID), nil, &readings)
	got := map[string]float64{}
	for _, r := range readings.Readings {
		if _, dup := got[r.Metric]; dup {
			t.Errorf("%s stored twice", r.Metric)
		}
		got[r.Metric] = r.Value
		if !r.RecordedAt.Equal(at) {
			t.Errorf("%s recorded at %v, want the uplink's %v", r.Metric, r.RecordedAt, at)
		}
	}
	if want := map[string]float64{"ph": 7.31, "temperature": 26.5, "orp": 702}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored readings %v, want %v", got, want)
	}
	// Only the uplink's second copy is a replay.
	if n := metricValue(t, c.baseURL, replays); n != 1 {
		t.Errorf("%s = %v, want 1", replays, n)
	}
	var failures struct{ Failures []json.RawMessage }
	api.must(http.StatusOK, "GET", "/v1/admin/failures", nil, &failures)
	if len(failures.Failures) != 0 {
		t.Errorf("dead letters or retries: %s", failures.Failures)
	}
}
