package iopool_test

import (
	"testing"
	"time"

	"github.com/poolhost/poolhost/plugins/iopool"
	"github.com/poolhost/poolhost/plugins/iopool/iopooltest"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// TestConformance runs the SDK's conformance suite, polling the fake iopool: the sample
// pool with a measure taken ten minutes ago, which a first poll answers and a poll with
// its cursor does not answer again.
func TestConformance(t *testing.T) {
	srv := iopooltest.NewServer(t)
	cfg := sdk.ConfigureRequest{Settings: map[string]string{iopool.SettingBaseURL: srv.URL}}
	fx := sdktest.Fixtures{Configure: &cfg}
	fx.Poll = func() (sdk.PollRequest, error) {
		srv.SetLatestMeasure(iopooltest.SamplePoolID, &iopooltest.Measure{
			Temperature: iopooltest.Float(24.5), PH: iopooltest.Float(7.3), ORP: iopooltest.Float(700),
			Mode: "standard", IsValid: true, EcoID: "0C6rSuWJ",
			MeasuredAt: time.Now().UTC().Add(-10 * time.Minute).Format("2006-01-02T15:04:05.000Z"),
		})
		return sdk.PollRequest{Account: account(iopooltest.APIKey)}, nil
	}
	sdktest.Run(t, iopool.New(), fx)
}
