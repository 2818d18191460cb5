package ondilo_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/plugins/ondilo"
	"github.com/poolhost/poolhost/sdk"
)

// answers is a stand-in for Ondilo's API at the transport: /pools and
// /pools/{id}/lastmeasures answer the fuzzer's bytes, every pool has the same ICO.
type answers struct{ pools, measures []byte }

func (a answers) RoundTrip(r *http.Request) (*http.Response, error) {
	body := []byte(`{"uuid":"ICO-1","serial_number":"S","sw_version":"1"}`)
	switch p := r.URL.Path; {
	case strings.HasSuffix(p, "/pools"):
		body = a.pools
	case strings.HasSuffix(p, "/lastmeasures"):
		body = a.measures
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(string(body))), Request: r}, nil
}

// FuzzPollResponse: whatever Ondilo answers and whatever cursor the host hands back, a
// poll fails with an error or returns readings of the pool's ICO in known metrics and
// a cursor under which the same answers yield nothing new. It never panics.
func FuzzPollResponse(f *testing.F) {
	pools := []byte(`[{"id":234,"name":"Pool","type":"outdoor_inground_pool"}]`)
	f.Add(pools, []byte(`[{"data_type":"ph","value":7.3,"value_time":"2026-11-28 10:00:00","is_valid":true,"exclusion_reason":null}]`), "")
	f.Add(pools, []byte(`[{"data_type":"temperature","value":26.1,"value_time":"2026-11-28T10:00:00+02:00"},{"data_type":"TEMPERATURE","value":1,"value_time":"2026-11-28 09:00:00"},{"data_type":"x"},7,null]`), `{"v":1,"pools":{"234":{"device":"ICO-1","device_checked_at":"2026-11-28T00:00:00Z"}}}`)
	f.Add(pools, []byte(`[{"data_type":"orp","value":650,"value_time":"0000-01-01T00:00:00+01:00"}]`), "")
	f.Add([]byte(`[{"id":1},{"id":1}]`), []byte(`{}`), `{"v":2}`)
	f.Add([]byte(`not json`), []byte(``), `{`)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	acct := sdk.Account{ExternalAccountID: "a", Credentials: sdk.Credentials{
		"access_token": "t", "refresh_token": "r", "expiry": now.Add(time.Hour).Format(time.RFC3339)}}
	f.Fuzz(func(t *testing.T, poolsBody, measuresBody []byte, cursor string) {
		a := ondilo.New(ondilo.WithHTTPClient(&http.Client{Transport: answers{poolsBody, measuresBody}}),
			ondilo.WithRequestSpacing(0), ondilo.WithClock(func() time.Time { return now }))
		ctx := context.Background()
		res, err := a.PollReadings(ctx, sdk.PollRequest{Account: acct, Cursor: cursor})
		if err != nil {
			return
		}
		for _, r := range res.Readings {
			if r.ProviderDeviceID != "ICO-1" || r.Metric == "" || r.RecordedAt.IsZero() {
				t.Fatalf("reading %+v", r)
			}
		}
		again, err := a.PollReadings(ctx, sdk.PollRequest{Account: acct, Cursor: res.NextCursor})
		if err != nil || len(again.Readings) != 0 {
			t.Fatalf("same answers under the returned cursor: %d readings, %v", len(again.Readings), err)
		}
	})
}
