package ondilotest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"testing"

	"github.com/poolhost/poolhost/plugins/ondilo/ondilotest"
)

// TestServesDocumentedShapes checks the fake answers exactly the documented samples.
func TestServesDocumentedShapes(t *testing.T) {
	srv := ondilotest.NewServer(t)
	access, _ := srv.IssueTokens()
	const pool = "/api/customer/v1/pools/234"
	tests := []struct{ path, fixture string }{
		{"/api/customer/v1/pools", "pools.json"},
		{pool + "/device", "device.json"},
		{pool + "/lastmeasures?types[]=temperature&types[]=ph&types[]=orp&types[]=salt&types[]=tds&types[]=battery&types[]=rssi", "lastmeasures.json"},
		{pool + "/configuration", "configuration.json"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			want, err := ondilotest.Fixture(tt.fixture)
			if err != nil {
				t.Fatal(err)
			}
			got := get(t, srv.URL+tt.path, access, http.StatusOK)
			if !jsonEqual(t, got, want) {
				t.Errorf("GET %s =\n%s\nwant\n%s", tt.path, got, want)
			}
		})
	}
}

func TestAPIAuth(t *testing.T) {
	srv := ondilotest.NewServer(t)
	access, _ := srv.IssueTokens()
	get(t, srv.URL+"/api/customer/v1/pools", "", http.StatusUnauthorized)
	get(t, srv.URL+"/api/customer/v1/pools", access, http.StatusOK)
	srv.ExpireAccessTokens()
	get(t, srv.URL+"/api/customer/v1/pools", access, http.StatusUnauthorized)
	srv.SetQuotaExceeded(http.StatusTooManyRequests)
	if b := get(t, srv.URL+"/api/customer/v1/pools", access, http.StatusTooManyRequests); !jsonEqual(t, b, []byte(`{"message":"Limit Exceeded"}`)) {
		t.Errorf("quota body = %s", b)
	}
}

func get(t *testing.T, url, token string, status int) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("GET %s: HTTP %d, want %d: %s", url, resp.StatusCode, status, b)
	}
	return b
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}
