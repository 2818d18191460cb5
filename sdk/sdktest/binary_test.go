package sdktest_test

import (
	"testing"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

func TestLaunchBinary(t *testing.T) {
	t.Setenv("SDKTEST_PROBE", "leaked")
	bin := sdktest.BuildBinary(t, "./testdata/envprobe")
	c := sdktest.LaunchBinary(t, bin)

	d, err := c.Describe(t.Context())
	if err != nil || d.ID != "envprobe" {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	res, err := c.DiscoverDevices(t.Context(), sdk.DiscoverRequest{})
	if err != nil || len(res.Devices) != 1 {
		t.Fatalf("DiscoverDevices = %+v, %v", res, err)
	}
	// Like the host, the helper passes only an allow-list of variables to the plugin.
	if got := res.Devices[0].Name; got != "env:" {
		t.Errorf("plugin saw SDKTEST_PROBE: device name %q", got)
	}
	// Errors keep their kind across the real process boundary.
	if _, err := c.PollReadings(t.Context(), sdk.PollRequest{}); !sdk.IsKind(err, sdk.KindUnsupported) {
		t.Errorf("PollReadings err = %v, want unsupported", err)
	}
}
