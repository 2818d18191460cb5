package iopool_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/plugins/iopool"
	"github.com/poolhost/poolhost/sdk"
)

// poolsAnswer stands in for GET /v1/pools at the transport, answering the fuzzer's bytes.
type poolsAnswer []byte

func (b poolsAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(string(b))), Request: r}, nil
}

// FuzzPollResponse: whatever iopool answers and whatever cursor the host hands back, a
// poll fails with an error or returns readings of listed pools and a cursor under which
// the same answer yields nothing new. It never panics.
func FuzzPollResponse(f *testing.F) {
	f.Add([]byte(`[{"id":"p1","title":"Pool","mode":"STANDARD","latestMeasure":{"temperature":26.5,"ph":7.2,"orp":650,"mode":"standard","isValid":true,"ecoId":"e","measuredAt":"2026-11-28T10:00:00.000Z"}}]`), "")
	f.Add([]byte(`[{"id":"p1","latestMeasure":{"ph":7,"measuredAt":"2026-11-28T11:00:00Z"}},{"id":"p1","latestMeasure":{"ph":6,"measuredAt":"2026-11-28T10:00:00Z"}}]`), `{"p1":"2026-11-28T09:00:00Z"}`)
	f.Add([]byte(`[{"id":"p1","latestMeasure":{"ph":7,"measuredAt":"0000-01-01T00:00:00+01:00"}}]`), "")
	f.Add([]byte(`[{"id":"","latestMeasure":null},{}]`), `garbage`)
	f.Add([]byte(`{"id":1}`), ``)
	acct := sdk.Account{ExternalAccountID: "a", Credentials: sdk.Credentials{"api_key": "k"}}
	f.Fuzz(func(t *testing.T, body []byte, cursor string) {
		a := iopool.New(iopool.WithHTTPClient(&http.Client{Transport: poolsAnswer(body)}))
		ctx := context.Background()
		res, err := a.PollReadings(ctx, sdk.PollRequest{Account: acct, Cursor: cursor})
		if err != nil {
			return
		}
		// The SDK refuses an answer whose ids do not survive JSON intact (invalid UTF-8
		// becomes U+FFFD) before the host sees it; such an answer never reaches a pool.
		if res.Check() != nil {
			for _, r := range res.Readings {
				if sdk.CheckID("device id", r.ProviderDeviceID) == nil && !strings.Contains(string(body), r.ProviderDeviceID) {
					t.Fatalf("reading %+v", r)
				}
			}
			return
		}
		for _, r := range res.Readings {
			if r.ProviderDeviceID == "" || r.Metric == "" || !strings.Contains(string(body), r.ProviderDeviceID) {
				t.Fatalf("reading %+v", r)
			}
		}
		again, err := a.PollReadings(ctx, sdk.PollRequest{Account: acct, Cursor: res.NextCursor})
		if err != nil || len(again.Readings) != 0 {
			t.Fatalf("same answer under the returned cursor: %d readings, %v", len(again.Readings), err)
		}
	})
}
