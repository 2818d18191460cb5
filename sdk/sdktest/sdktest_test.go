package sdktest_test

import (
	"context"
	"testing"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

type describer struct{ sdk.UnsupportedAdapter }

func (describer) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{ID: "demo", Version: "0.1.0", ProtocolVersion: sdk.ProtocolVersion}, nil
}

func (describer) Configure(context.Context, sdk.ConfigureRequest) error { return nil }

func TestConnect(t *testing.T) {
	c := sdktest.Connect(t, describer{})
	d, err := c.Describe(t.Context())
	if err != nil || d.ID != "demo" {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	// UnsupportedAdapter's answers keep their kind over the wire.
	if _, err := c.DiscoverDevices(t.Context(), sdk.DiscoverRequest{}); !sdk.IsKind(err, sdk.KindUnsupported) {
		t.Errorf("DiscoverDevices err = %v, want unsupported", err)
	}
}
