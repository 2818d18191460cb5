package iopooltest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"testing"

	"github.com/poolhost/poolhost/plugins/iopool/iopooltest"
)

// TestServesDocumentedShapes checks the fake answers exactly the documented samples.
func TestServesDocumentedShapes(t *testing.T) {
	srv := iopooltest.NewServer(t)
	tests := []struct{ path, fixture string }{
		{"/v1/pools", "pools.json"},
		{"/v1/pool/" + iopooltest.SamplePoolID, "pool.json"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			want, err := iopooltest.Fixture(tt.fixture)
			if err != nil {
				t.Fatal(err)
			}
			got := get(t, srv.URL+tt.path, iopooltest.APIKey, http.StatusOK)
			if !jsonEqual(t, got, want) {
				t.Errorf("GET %s =\n%s\nwant\n%s", tt.path, got, want)
			}
		})
	}
}

func TestRejectsUnknownKey(t *testing.T) {
	srv := iopooltest.NewServer(t)
	get(t, srv.URL+"/v1/pools", "", http.StatusUnauthorized)
	srv.SetRejectStatus(http.StatusForbidden)
	get(t, srv.URL+"/v1/pools", "wrong", http.StatusForbidden)
}

func get(t *testing.T, url, key string, status int) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("x-api-key", key)
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
