package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTTNMessagePathsEndToEnd drives the built host and the real ttn plugin binary the
// way The Things Stack posts when its webhook form has a path per message type: the
// path is appended to the base URL (the account's or the provider's webhook URL), and
// each such POST is delivered as to the URL itself. The suffix authenticates nothing
// (a wrong secret is still 401), and only one segment is taken.
func TestTTNMessagePathsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every binary; skipped in -short mode")
	}
	b := buildE2E(t)
	c, _, api := serveAsAdmin(t, b, nil)
	providerSecret, err := os.ReadFile(filepath.Join(filepath.Dir(c.path), "data", "dev-ttn.secret"))
	if err != nil {
		t.Fatal(err)
	}

	var pool struct{ ID int64 }
	api.must(http.StatusCreated, "POST", "/v1/pools", map[string]any{"name": "Backyard"}, &pool)
	acct := api.connectTTN("pool-probe-9", "")
	api.must(http.StatusOK, "PUT", fmt.Sprintf("/v1/devices/%d/link", acct.deviceID), map[string]any{"poolId": pool.ID}, nil)

	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	uplink := ttnMessage(acct.providerDevID, "as:up:01JE2Q7Z3XKQ9V8W1N5B6C7D9A", at, "uplink_message",
		fmt.Sprintf(`{"f_port":2,"f_cnt":7,"frm_payload":"AQID","decoded_payload":{"ph":7.28,"redox":690},"received_at":%q}`, at.Format(time.RFC3339Nano)))
	join := ttnMessage(acct.providerDevID, "as:up:01JE2Q7Z3XKQ9V8W1N5B6C7D9B", at, "join_accept",
		`{"session_key_id":"AXBSH1Pk6Z0G166z3zBjCg==","received_at":"`+at.Format(time.RFC3339Nano)+`"}`)
	post := func(path, secret, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", c.baseURL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name, path, secret, body string
		want                     int
		wantBody                 string
	}{
		{"uplink on the account URL + /uplink", acct.hookPath + "/uplink", acct.secret, uplink, http.StatusOK, `"accepted":2`},
		{"join accept on the account URL + /join", acct.hookPath + "/join", acct.secret, join, http.StatusOK, `"accepted":0`},
		{"the same uplink on the account URL itself", acct.hookPath, acct.secret, uplink, http.StatusOK, `"duplicates":2`},
		{"a wrong secret on the account URL + /uplink", acct.hookPath + "/uplink", "not-the-secret", uplink, http.StatusUnauthorized, ""},
		// No route (answered as any unknown path with a bearer that is no poolhost token).
		{"two more segments", acct.hookPath + "/uplink/more", acct.secret, uplink, http.StatusUnauthorized, `"instance":"` + acct.hookPath + `/uplink/more"`},
		{"uplink on the provider URL + /uplink", "/v1/webhooks/ttn/uplink", strings.TrimSpace(string(providerSecret)), uplink, http.StatusOK, ""},
		{"a wrong secret on the provider URL + /uplink", "/v1/webhooks/ttn/uplink", "not-the-secret", uplink, http.StatusUnauthorized, ""},
		{"an account URL without its id", "/v1/webhooks/ttn/accounts", strings.TrimSpace(string(providerSecret)), uplink, http.StatusNotFound, ""},
	} {
		code, body := post(tc.path, tc.secret, tc.body)
		if code != tc.want || !strings.Contains(body, tc.wantBody) {
			t.Errorf("%s (POST %s): %d %s, want %d %s", tc.name, tc.path, code, body, tc.want, tc.wantBody)
		}
	}
	var readings struct {
		Readings []struct {
			Metric string
			Value  float64
		}
	}
	api.must(http.StatusOK, "GET", fmt.Sprintf("/v1/pools/%d/readings", pool.ID), nil, &readings)
	if len(readings.Readings) != 2 {
		t.Errorf("stored readings %+v, want the uplink's ph and orp once", readings.Readings)
	}
}
