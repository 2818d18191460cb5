package pluginmgr_test

import (
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/sdk"
)

// TestAnswerCapsCoverTestSessions: a test session's results count against the readings'
// cap, and its strings are capped like a reading's.
func TestAnswerCapsCoverTestSessions(t *testing.T) {
	lim := config.Plugins{MaxReadingsPerCall: 5, MaxDeviceIDBytes: 8, MaxDeliveryIDBytes: 8, MaxMetricBytes: 16, MaxUnitBytes: 4, MaxRawPayloadBytes: 8}
	results := func(n int) []sdk.TestResult { return make([]sdk.TestResult, n) }
	tests := []struct {
		name   string
		rs     []sdk.Reading
		ss     []sdk.TestSession
		limit  string
		reason string
	}{
		{"within", make([]sdk.Reading, 1), []sdk.TestSession{{ProviderDeviceID: "p", Results: results(3)}}, "", ""},
		{"sessions and results over the cap", make([]sdk.Reading, 1), []sdk.TestSession{{Results: results(4)}}, "readings", "exceed plugins.max_readings_per_call (5)"},
		{"device id", nil, []sdk.TestSession{{ProviderDeviceID: "much-too-long"}}, "device_id", "test session 0 has a device_id"},
		{"notes", nil, []sdk.TestSession{{Notes: strings.Repeat("n", 2001)}}, "notes", "notes of 2001 bytes"},
		{"metric", nil, []sdk.TestSession{{Results: []sdk.TestResult{{Metric: strings.Repeat("m", 17)}}}}, "metric", "result 0 has a metric"},
		{"unit", nil, []sdk.TestSession{{Results: []sdk.TestResult{{Metric: "ph", Unit: "pHpHpH"}}}}, "unit", "result 0 has a unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit, err := pluginmgr.CheckAnswer(lim, "", "", tt.rs, tt.ss)
			if limit != tt.limit || (tt.reason == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.reason)) {
				t.Fatalf("CheckAnswer = %q, %v; want %q, %q", limit, err, tt.limit, tt.reason)
			}
			if err != nil && !sdk.IsKind(err, sdk.KindPermanent) {
				t.Fatalf("refusal %v is not permanent", err)
			}
		})
	}
}
