package ondilo_test

import (
	"testing"
	"time"

	"github.com/poolhost/poolhost/plugins/ondilo"
	"github.com/poolhost/poolhost/plugins/ondilo/ondilotest"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// TestConformance runs the SDK's conformance suite, polling the fake Ondilo as the real
// API behaves: refresh tokens rotate, and the account's access token has expired, so
// the first poll refreshes it and must hand the new pair back for the polls after it.
// The sample pool's last measures were taken twenty minutes ago.
func TestConformance(t *testing.T) {
	srv := ondilotest.NewServer(t)
	srv.RotateRefreshTokens()
	cfg := sdk.ConfigureRequest{Settings: map[string]string{ondilo.SettingBaseURL: srv.URL}}
	expired := func() sdk.PollRequest {
		return sdk.PollRequest{Account: account(srv, time.Now().Add(-time.Minute))}
	}
	fx := sdktest.Fixtures{Configure: &cfg}
	fx.Poll = func() (sdk.PollRequest, error) {
		at := time.Now().UTC().Add(-20 * time.Minute).Format("2006-01-02 15:04:05")
		var ms []ondilotest.Measure
		for typ, v := range map[string]float64{"temperature": 26.5, "ph": 7.3, "orp": 700, "tds": 845, "battery": 80, "rssi": 60} {
			ms = append(ms, ondilotest.Measure{DataType: typ, Value: ondilotest.Float(v), ValueTime: at, IsValid: true})
		}
		srv.SetMeasures(ondilotest.SamplePoolID, ms)
		return expired(), nil
	}
	fx.Refresh = func() (sdktest.RefreshCall, error) {
		req := expired()
		return sdktest.RefreshCall{Poll: &req}, nil
	}
	sdktest.Run(t, ondilo.New(ondilo.WithRequestSpacing(0)), fx)
}
