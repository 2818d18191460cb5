// Command envprobe is a plugin for sdktest's own tests: its one device is named after
// the SDKTEST_PROBE environment variable, which shows whether the host's environment
// leaked into the plugin process.
package main

import (
	"context"
	"os"

	"github.com/poolhost/poolhost/sdk"
)

type probe struct{ sdk.UnsupportedAdapter }

func (probe) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{ID: "envprobe", Version: "0.1.0", ProtocolVersion: sdk.ProtocolVersion}, nil
}

func (probe) Configure(context.Context, sdk.ConfigureRequest) error { return nil }

func (probe) DiscoverDevices(context.Context, sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
	return sdk.DiscoverResult{Devices: []sdk.Device{{ProviderDeviceID: "probe", Name: "env:" + os.Getenv("SDKTEST_PROBE")}}}, nil
}

func main() { sdk.Serve(probe{}) }
